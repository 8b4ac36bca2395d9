package oidclogin

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/oidcidp"
	"github.com/opensignum/signum/lib/safehttp"
)

// TestSSRFLoopbackIssuer: with the service's HTTP client, a domain whose issuer is plain
// http on loopback (which Validate admits, for the local server) is refused at Start with a
// 401 that says why, and no Retry-After, since waiting will not help; the local server's
// client reaches it.
func TestSSRFLoopbackIssuer(t *testing.T) {
	idp := startIdP(t, oidcidp.Options{})
	cfg := Config{Issuer: idp.Issuer(), ClientID: "console", RedirectURL: callback}

	_, _, err := NewClient(Options{HTTPClient: safehttp.New(safehttp.Options{})}).Start(t.Context(), cfg)
	wantUnauthenticated(t, "fail/loopback-http", err, `the identity provider's discovery document cannot be fetched: the service refused to fetch from `+idp.Issuer()+`, the scheme "http"`)
	if _, ok := fault.RetryAfter(err); ok {
		t.Errorf("a refusal says to retry: %v", err)
	}
	if _, _, err := NewClient(Options{HTTPClient: safehttp.New(safehttp.Options{AllowPrivate: true})}).Start(t.Context(), cfg); err != nil {
		t.Fatalf("the local server's client: %v", err)
	}
}

// publicHost is the stand-in IdP as if it were at https://idp.example.test, a public
// address: requests for that host go to the stand-in directly, every other one through the
// service's client (base). The discovery document's fields in override are replaced, as an
// IdP's administrator could.
type publicHost struct {
	idp      *oidcidp.IdP
	override map[string]string
	base     http.RoundTripper
}

const publicIssuer = "https://idp.example.test"

func (p publicHost) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host != "idp.example.test" {
		return p.base.RoundTrip(r)
	}
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host = "http", p.idp.Addr()
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil || r.URL.Path != "/.well-known/openid-configuration" || len(p.override) == 0 {
		return resp, err
	}
	var doc map[string]any
	err = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	for k, v := range p.override {
		doc[k] = v
	}
	b, _ := json.Marshal(doc)
	resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
	resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
	return resp, nil
}

// TestSSRFDiscoveredEndpoints: an IdP at a public https address whose discovery document
// names its token, keys or userinfo endpoint at an internal address (the Lambda Runtime API,
// the instance metadata, the VPC) is refused with a 401 naming the endpoint and why, before
// anything connects there; an authorization endpoint that is not an http(s) URL is refused at
// Start.
func TestSSRFDiscoveredEndpoints(t *testing.T) {
	for name, tc := range map[string]struct {
		thin     bool // the stand-in leaves the person's claims to userinfo
		override map[string]string
		start    string // the detail of Start's refusal; "" when Start succeeds
		finish   string // the detail of Finish's refusal
	}{
		"fail/token-runtime-api": {override: map[string]string{"token_endpoint": "https://127.0.0.1:9001/2018-06-01/runtime/invocation/next"},
			finish: "the identity provider's token endpoint cannot be fetched: the service refused to fetch from https://127.0.0.1:9001, a loopback address"},
		"fail/token-plain-http": {override: map[string]string{"token_endpoint": "http://tokens.example.test/token"},
			finish: `the identity provider's token endpoint cannot be fetched: the service refused to fetch from http://tokens.example.test, the scheme "http"`},
		"fail/keys-metadata": {override: map[string]string{"jwks_uri": "https://169.254.169.254/latest/meta-data/"},
			finish: "the identity provider's keys cannot be fetched: the service refused to fetch from the jwks_uri"},
		"fail/userinfo-vpc": {thin: true, override: map[string]string{"userinfo_endpoint": "https://10.0.12.34/userinfo"},
			finish: "the identity provider's userinfo endpoint cannot be fetched: the service refused to fetch from https://10.0.12.34, a private address"},
		"fail/authorize-javascript": {override: map[string]string{"authorization_endpoint": "javascript:alert(1)"},
			start: "the authorization_endpoint of the identity provider's discovery document is not an absolute URL"},
		"fail/authorize-plain-http": {override: map[string]string{"authorization_endpoint": "http://login.example.test/authorize"},
			start: "the authorization_endpoint of the identity provider's discovery document must be https"},
		"ok/public": {thin: true},
	} {
		idp := startIdP(t, oidcidp.Options{PublicURL: publicIssuer, ThinIDTokens: tc.thin})
		sc := safehttp.New(safehttp.Options{})
		hc := &http.Client{Transport: publicHost{idp: idp, override: tc.override, base: sc.Transport}, CheckRedirect: sc.CheckRedirect, Timeout: sc.Timeout}
		browser := &http.Client{Transport: publicHost{idp: idp, base: http.DefaultTransport}}
		cfg := Config{Issuer: publicIssuer, ClientID: "console", RedirectURL: callback}
		c := NewClient(Options{HTTPClient: hc})

		authURL, pending, err := c.Start(t.Context(), cfg)
		if tc.start != "" {
			wantUnauthenticated(t, name, err, tc.start)
			continue
		}
		if err != nil {
			t.Fatalf("%s: start: %v", name, err)
		}
		cb := browse(t, browser, authURL, "alice", "alice-pw")
		per, err := c.Finish(t.Context(), cfg, pending, cb.Get("code"), cb.Get("state"))
		if tc.finish == "" {
			if err != nil || per.Username != "alice" {
				t.Errorf("%s: %+v %v", name, per, err)
			}
			continue
		}
		wantUnauthenticated(t, name, err, tc.finish, cb.Get("code"))
		if !errors.Is(err, safehttp.ErrRefused) && !strings.Contains(err.Error(), safehttp.ErrRefused.Error()) {
			t.Errorf("%s: the cause is lost: %v", name, err)
		}
		if _, ok := fault.RetryAfter(err); ok {
			t.Errorf("%s: a refusal says to retry", name)
		}
	}
}
