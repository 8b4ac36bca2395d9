package local_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/apigw"
	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/local"
	"github.com/opensignum/signum/lib/oidcidp"
	"github.com/opensignum/signum/lib/workload"
)

// production serves srv's API from functions built as in AWS: the same template, stand-ins
// and table, but without the local server's mutual-TLS port, which is what lets the
// functions fetch from loopback and private addresses (the local server always sets it, so
// this test builds the functions itself). It answers like srv's API.
func production(t *testing.T, srv *local.Server) string {
	t.Helper()
	cfg := srv.Config
	cfg.LocalSignerPort = ""
	env := function.Env{Config: cfg, Clients: srv.Clients, Log: function.NewLogger(os.Stderr, "error"), Now: time.Now}
	handlers := map[string]edge.LambdaHandler{}
	for id, build := range local.Builds {
		h, err := build(t.Context(), env)
		if err != nil {
			t.Fatalf("build %s: %v", id, err)
		}
		handlers[id] = edge.Lambda(h)
	}
	gw, err := apigw.NewGateway(srv.Template, handlers, apigw.Options{Region: devstack.Region, AccountID: devstack.AccountID, Log: env.Log})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(gw)
	t.Cleanup(hs.Close)
	return hs.URL
}

// exchange posts a workload token to the API at base, as the demo deployment's host.
func exchange(t *testing.T, base, tok string) (int, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"token": tok})
	req, err := http.NewRequest("POST", base+"/console/workload-session", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = local.DemoDomain
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// countingListener stands for an address only the service can reach (the Lambda Runtime API
// on 127.0.0.1:9001, a VPC-internal host): it counts the connections made to it and drops
// them.
func countingListener(t *testing.T) (addr string, conns *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	conns = &atomic.Int64{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			c.Close()
		}
	}()
	return ln.Addr().String(), conns
}

// TestSSRFWorkloadIssuer: a Signum Administrator can save a CI domain whose issuer is on
// loopback (Validate admits it, for the local server), but the functions as built for AWS
// refuse to fetch from it when an anonymous caller presents a token naming that issuer:
// the exchange is a 401 that says why, and nothing connects to the address. The same
// exchange on the local server does connect, so the test can fail.
func TestSSRFWorkloadIssuer(t *testing.T) {
	srv := startLocal(t)
	sa := consoleAdmin(t, srv)
	anon := client{t: t, srv: srv, host: local.DemoDomain}
	prod := production(t, srv)

	// A CI domain trusting https://127.0.0.1:<port>, a stand-in for an internal address, with
	// tokens from an issuer stand-in that claims that issuer (their signatures never get
	// checked: the keys are never fetched).
	internal, conns := countingListener(t)
	issuer := "https://" + internal
	idp, err := oidcidp.Start(t.Context(), oidcidp.Options{PublicURL: issuer})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idp.Close() })
	sa.do("POST", "/console/users", map[string]any{"username": "ci-internal", "name": "CI", "roles": []string{"signer"}}).must(t, 201, "user")
	sa.do("POST", "/console/domains", map[string]any{"kind": "ci", "name": "Internal", "alias": "internal", "ci": map[string]any{
		"issuer": issuer, "audience": "signum", "rules": []map[string]any{
			{"name": "app", "claims": map[string]string{"repository": "acme/app"}, "user": "ci-internal"},
		}}}).must(t, 201, "CI domain at a loopback issuer")
	req, err := idp.RegisterJob(oidcidp.Job{Repository: "acme/app"})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(req.URL) // names the claimed issuer: ask the stand-in itself
	u.Scheme, u.Host = "http", idp.Addr()
	tok, err := workload.RequestGitHubActionsToken(t.Context(), nil, u.String(), req.Token, "signum")
	if err != nil {
		t.Fatal(err)
	}

	status, body := exchange(t, prod, tok)
	if status != http.StatusUnauthorized {
		t.Fatalf("in AWS: %d %s, want 401", status, body)
	}
	for _, want := range []string{"domain internal", "cannot be used", "refused to fetch from " + issuer, "a loopback address"} {
		if !strings.Contains(body, want) {
			t.Errorf("in AWS: %s does not say %q", body, want)
		}
	}
	if n := conns.Load(); n != 0 {
		t.Fatalf("in AWS: %d connections to the internal address, want none", n)
	}
	// The refusal is in the system log, for the administrator to fix the domain.
	if e, ok := find(systemLog(t, sa, url.Values{"section": {"login"}, "limit": {"100"}}), "workload.refused", "workload:repo:acme/app:ref:refs/heads/main"); !ok ||
		!strings.Contains(e.Detail, "a loopback address") {
		t.Errorf("system log: %+v", e)
	}

	// The local server (its mutual-TLS port set) does fetch from loopback: it connects, and,
	// as the address speaks no TLS, cannot get the keys (503).
	r := anon.do("POST", "/console/workload-session", map[string]string{"token": tok})
	if r.status != http.StatusServiceUnavailable || conns.Load() == 0 {
		t.Fatalf("local server: %d (%d connections), want 503 after connecting: %s", r.status, conns.Load(), r.body)
	}

	// The local GitHub Actions stand-in, on plain http: refused in AWS for its scheme, and
	// accepted by the local server.
	sa.do("POST", "/console/domains", map[string]any{"kind": "ci", "name": "Local Actions", "alias": "actions", "ci": map[string]any{
		"issuer": srv.Actions.Issuer(), "audience": "signum", "rules": []map[string]any{
			{"name": "app", "claims": map[string]string{"repository": "acme/app"}, "user": "ci-internal"},
		}}}).must(t, 201, "CI domain at the local stand-in")
	tok = jobToken(t, srv.Actions, oidcidp.Job{Repository: "acme/app"}, "signum")
	status, body = exchange(t, prod, tok)
	if status != http.StatusUnauthorized || !strings.Contains(body, `the scheme \"http\"`) {
		t.Fatalf("in AWS, an http issuer: %d %s, want 401 naming the scheme", status, body)
	}
	anon.do("POST", "/console/workload-session", map[string]string{"token": tok}).must(t, 200, "local server, the local stand-in")
}

// TestSSRFOIDCIssuer: an OIDC domain whose issuer is on loopback is saved, but the functions
// as built for AWS refuse to fetch its discovery document when anyone starts a login: a 401
// that says why, and nothing connects to the address.
func TestSSRFOIDCIssuer(t *testing.T) {
	srv := startLocal(t)
	sa := consoleAdmin(t, srv)
	prod := production(t, srv)
	internal, conns := countingListener(t)
	sa.do("POST", "/console/domains", map[string]any{"kind": "oidc", "name": "Internal IdP", "alias": "internal",
		"oidc": map[string]any{"issuer": "https://" + internal, "clientId": "console"}}).must(t, 201, "OIDC domain at a loopback issuer")

	req, err := http.NewRequest("GET", prod+"/console/domains/internal/login", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = local.DemoDomain
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(b), "refused to fetch from https://"+internal+", a loopback address") {
		t.Fatalf("in AWS: %d %s, want a 401 naming the refused address", resp.StatusCode, b)
	}
	if n := conns.Load(); n != 0 {
		t.Fatalf("in AWS: %d connections to the internal address, want none", n)
	}
	// The local server fetches from it (and fails: it speaks no TLS).
	client{t: t, srv: srv, host: local.DemoDomain}.do("GET", "/console/domains/internal/login", nil).must(t, 503, "local server")
	if conns.Load() == 0 {
		t.Fatal("the local server did not connect: the test proves nothing")
	}
}
