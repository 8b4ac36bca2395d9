package local_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/local"
	"github.com/opensignum/signum/lib/store"
)

func envFor(srv *local.Server) function.Env {
	return function.Env{Config: srv.Config, Clients: srv.Clients, Log: function.NewLogger(io.Discard, "error"), Now: time.Now}
}

func startLocal(t *testing.T) *local.Server {
	t.Helper()
	return startLocalLogging(t, os.Stderr, "error")
}

func startLocalLogging(t testing.TB, w io.Writer, level string) *local.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := local.Start(ctx, local.Options{Addr: "127.0.0.1:0", TLSAddr: "127.0.0.1:0", Log: function.NewLogger(w, level)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	t.Cleanup(func() { checkGrants(t, srv) })
	return srv
}

// checkGrants fails the test when a function made an AWS call its IAM policy in
// template.yaml does not allow: it works against the stand-ins and fails in AWS.
func checkGrants(t testing.TB, srv *local.Server) {
	t.Helper()
	for _, id := range srv.Calls.Functions() {
		grants, err := srv.Template.Grants(id)
		if err != nil {
			t.Error(err)
			continue
		}
		for _, a := range srv.Calls.Of(id) {
			if !grants[a] {
				t.Errorf("%s calls %s, which its policy in template.yaml does not allow", id, a)
			}
		}
	}
}

type reply struct {
	status int
	header http.Header
	body   string
}

// call sends a request to the local API, SigV4-signed as the local operator when sign is true.
func call(t *testing.T, srv *local.Server, method, path, ctype, body string, sign bool, hdr ...string) reply {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if sign {
		sum := sha256.Sum256([]byte(body))
		creds := aws.Credentials{AccessKeyID: local.OperatorAccessKey, SecretAccessKey: srv.OperatorSecret}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "execute-api", devstack.Region, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, string(b)}
}

func health(t *testing.T, srv *local.Server) (int, map[string]string) {
	t.Helper()
	r := call(t, srv, "GET", "/health", "", "", false)
	var rep struct {
		Status       string
		Dependencies map[string]struct{ Status string }
	}
	if err := json.Unmarshal([]byte(r.body), &rep); err != nil {
		t.Fatalf("health body %q: %v", r.body, err)
	}
	deps := map[string]string{"": rep.Status}
	for k, v := range rep.Dependencies {
		deps[k] = v.Status
	}
	return r.status, deps
}

func TestHealthFollowsStandins(t *testing.T) {
	srv := startLocal(t)
	if code, deps := health(t, srv); code != 200 || deps["table"] != "ok" || deps["kms"] != "ok" {
		t.Fatalf("healthy stack: %d %v", code, deps)
	}
	srv.Stack.KMS.Stop()
	if code, deps := health(t, srv); code != 503 || deps["kms"] != "unavailable" || deps["table"] != "ok" || deps[""] != "unavailable" {
		t.Fatalf("KMS down: %d %v", code, deps)
	}
	if err := srv.Stack.KMS.Start(); err != nil {
		t.Fatal(err)
	}
	if code, _ := health(t, srv); code != 200 {
		t.Fatalf("KMS back: %d", code)
	}
	srv.Stack.DynamoDB.Stop()
	code, deps := health(t, srv)
	if code != 503 || deps["table"] != "unavailable" || deps["kms"] != "ok" {
		t.Fatalf("table down: %d %v", code, deps)
	}
	if err := srv.Stack.DynamoDB.Start(); err != nil {
		t.Fatal(err)
	}
	if code, _ := health(t, srv); code != 200 {
		t.Fatalf("table back: %d", code)
	}
}

func problem(t *testing.T, r reply) map[string]any {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q for status %d: %s", ct, r.status, r.body)
	}
	var p map[string]any
	if err := json.Unmarshal([]byte(r.body), &p); err != nil {
		t.Fatal(err)
	}
	if int(p["status"].(float64)) != r.status {
		t.Fatalf("problem status %v != HTTP status %d", p["status"], r.status)
	}
	return p
}

func TestBadInputGetsItsOwnProblem(t *testing.T) {
	srv := startLocal(t)
	const json = "application/json"
	cases := []struct {
		name, method, path, ctype, body string
		status                          int
		detail                          string
	}{
		{"fail/malformed-json", "POST", "/operator/deployments", json, `{"name": "x",}`, 400, "not valid JSON"},
		{"fail/truncated-json", "POST", "/operator/deployments", json, `{"name": "x"`, 400, "truncated"},
		{"fail/unknown-field", "POST", "/operator/deployments", json, `{"name": "x", "owner": "me"}`, 400, `Unknown field "owner"`},
		{"fail/wrong-type", "POST", "/operator/deployments", json, `{"name": 7}`, 400, `Field "name" must be a string, not number`},
		{"fail/not-an-object", "POST", "/operator/deployments", json, `[1,2]`, 400, "must be a JSON object"},
		{"fail/two-values", "POST", "/operator/deployments", json, `{"name":"a"}{"name":"b"}`, 400, "more than one JSON value"},
		{"fail/empty-body", "POST", "/operator/deployments", json, ``, 400, "empty"},
		{"fail/oversized", "POST", "/operator/deployments", json, `{"name":"` + strings.Repeat("a", 70<<10) + `"}`, 413, "larger than"},
		{"fail/wrong-content-type", "POST", "/operator/deployments", "text/plain", `{"name":"x"}`, 415, "text/plain"},
		{"fail/no-content-type", "POST", "/operator/deployments", "", `{"name":"x"}`, 415, "Content-Type must be application/json"},
		{"fail/invalid-fields", "POST", "/operator/deployments", json, `{"name":"x","ipAllowlist":["300.1.1.1"]}`, 400, "ipAllowlist"},
		{"fail/unknown-route", "GET", "/nowhere", "", "", 404, "No route serves GET /nowhere"},
		{"fail/unknown-method", "PUT", "/operator/deployments", json, `{}`, 405, "PUT is not allowed"},
		{"fail/bad-limit", "GET", "/operator/deployments?limit=1000", "", "", 400, "limit"},
		{"fail/tampered-cursor", "GET", "/operator/deployments?cursor=AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "", "", 400, "cursor"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := call(t, srv, c.method, c.path, c.ctype, c.body, true)
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
			}
			p := problem(t, r)
			if d, _ := p["detail"].(string); !strings.Contains(d, c.detail) {
				t.Fatalf("detail %q lacks %q", d, c.detail)
			}
		})
	}
	// Nothing of the refused requests was written: only the demo deployment exists.
	r := call(t, srv, "GET", "/operator/deployments", "", "", true)
	var list struct{ Items []struct{ ID string } }
	_ = jsonUnmarshal(r.body, &list)
	if r.status != 200 || len(list.Items) != 1 || list.Items[0].ID != srv.Demo.ID {
		t.Fatalf("after refused requests: %d %s", r.status, r.body)
	}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// syncBuffer is a log sink shared by the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestOperatorRoutesNeedSigV4(t *testing.T) {
	logs := &syncBuffer{}
	srv := startLocalLogging(t, logs, "debug")
	defer func() {
		// Nothing secret reaches the logs: not the operator secret, not signatures; every
		// request line carries its request id.
		out := logs.String()
		for _, secret := range []string{srv.OperatorSecret, "Signature=", "wrong"} {
			if strings.Contains(out, secret) {
				t.Errorf("logs contain %q", secret)
			}
		}
		if !strings.Contains(out, `"msg":"request"`) || strings.Contains(out, `"requestId":""`) {
			t.Errorf("request log lines lack request ids:\n%s", out)
		}
	}()
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/operator/deployments", ""},
		{"GET", "/operator/deployments/" + srv.Demo.ID, ""},
		{"POST", "/operator/deployments", `{"name":"x"}`},
	} {
		r := call(t, srv, c.method, c.path, "application/json", c.body, false)
		if r.status != 403 {
			t.Errorf("unsigned %s %s: %d %s", c.method, c.path, r.status, r.body)
		}
	}
	// A wrong secret is refused too.
	good := srv.OperatorSecret
	srv.OperatorSecret = "wrong"
	r := call(t, srv, "GET", "/operator/deployments", "", "", true)
	srv.OperatorSecret = good
	if r.status != 403 {
		t.Fatalf("wrong secret: %d", r.status)
	}
	// ok: the right secret passes.
	if r := call(t, srv, "GET", "/operator/deployments/"+srv.Demo.ID, "", "", true); r.status != 200 {
		t.Fatalf("signed: %d %s", r.status, r.body)
	}
}

func TestProvisionPaginateAndOutage(t *testing.T) {
	srv := startLocal(t)
	// ok: create through the API, then read it back.
	r := call(t, srv, "POST", "/operator/deployments", "application/json",
		`{"name":"Acme","plan":"enterprise","domainName":"Acme.Localhost.","ipAllowlist":["192.0.2.7","2001:db8::/48"]}`, true,
		"Idempotency-Key", "k-1")
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var d struct {
		ID, DomainName string
		IPAllowlist    []string
	}
	_ = jsonUnmarshal(r.body, &d)
	if d.DomainName != "acme.localhost" || strings.Join(d.IPAllowlist, ",") != "192.0.2.7/32,2001:db8::/48" {
		t.Fatalf("not normalised: %+v", d)
	}
	if loc := r.header.Get("Location"); loc != "/operator/deployments/"+d.ID {
		t.Fatalf("Location %q", loc)
	}
	if g := call(t, srv, "GET", "/operator/deployments/"+d.ID, "", "", true); g.status != 200 || !strings.Contains(g.body, d.ID) || g.header.Get("ETag") != `"1"` {
		t.Fatalf("get: %d %s %v", g.status, g.body, g.header)
	}
	// ok: a retry with the same key answers the first deployment; fail: the same key with
	// another body is refused (422), and a malformed key is named.
	if again := call(t, srv, "POST", "/operator/deployments", "application/json",
		`{"name":"Acme","plan":"enterprise","domainName":"acme.localhost","ipAllowlist":["2001:db8::/48","192.0.2.7/32"]}`, true,
		"Idempotency-Key", "k-1"); again.status != 200 || !strings.Contains(again.body, d.ID) {
		t.Fatalf("idempotent retry: %d %s", again.status, again.body)
	}
	if reuse := call(t, srv, "POST", "/operator/deployments", "application/json", `{"name":"Not Acme"}`, true, "Idempotency-Key", "k-1"); reuse.status != 422 {
		t.Fatalf("key reuse: %d %s", reuse.status, reuse.body)
	}
	if bad := call(t, srv, "POST", "/operator/deployments", "application/json", `{"name":"x"}`, true, "Idempotency-Key", strings.Repeat("k", 201)); bad.status != 400 || !strings.Contains(bad.body, "Idempotency-Key") {
		t.Fatalf("long key: %d %s", bad.status, bad.body)
	}
	// fail: the same domain for another deployment is a conflict.
	if c := call(t, srv, "POST", "/operator/deployments", "application/json", `{"name":"Other","domainName":"acme.localhost"}`, true); c.status != 409 {
		t.Fatalf("domain conflict: %d %s", c.status, c.body)
	}

	// Pagination through the API: 3 deployments in pages of 2.
	if c := call(t, srv, "POST", "/operator/deployments", "application/json", `{"name":"Third"}`, true); c.status != 201 {
		t.Fatalf("third: %d %s", c.status, c.body)
	}
	seen := map[string]bool{}
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		p := call(t, srv, "GET", "/operator/deployments?limit=2&cursor="+cursor, "", "", true)
		var page struct {
			Items []struct{ ID string }
			Next  string
		}
		if err := jsonUnmarshal(p.body, &page); err != nil || p.status != 200 {
			t.Fatalf("page: %d %s", p.status, p.body)
		}
		for _, it := range page.Items {
			if seen[it.ID] {
				t.Fatalf("repeat %s", it.ID)
			}
			seen[it.ID] = true
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	if len(seen) != 3 {
		t.Fatalf("walked %d deployments, want 3", len(seen))
	}

	// fault: the table is down during a create: 503 with a constant message, nothing written.
	srv.Stack.DynamoDB.Stop()
	o := call(t, srv, "POST", "/operator/deployments", "application/json", `{"name":"Outage","domainName":"outage.localhost"}`, true, "Idempotency-Key", "k-outage")
	if o.status != 503 {
		t.Fatalf("create during outage: %d %s", o.status, o.body)
	}
	p := problem(t, o)
	for _, leak := range []string{"dynamodb", "127.0.0.1", "connection refused", "operation error"} {
		if strings.Contains(strings.ToLower(o.body), leak) {
			t.Fatalf("503 leaks %q: %s", leak, o.body)
		}
	}
	if p["detail"] == "" {
		t.Fatal("503 without detail")
	}
	if err := srv.Stack.DynamoDB.Start(); err != nil {
		t.Fatal(err)
	}
	// The retry after the outage creates it exactly once.
	again := call(t, srv, "POST", "/operator/deployments", "application/json", `{"name":"Outage","domainName":"outage.localhost"}`, true, "Idempotency-Key", "k-outage")
	if again.status != 201 {
		t.Fatalf("retry after outage: %d %s", again.status, again.body)
	}
	list := call(t, srv, "GET", "/operator/deployments?limit="+strconv.Itoa(store.MaxPageSize), "", "", true)
	if n := strings.Count(list.body, `"name":"Outage"`); n != 1 {
		t.Fatalf("outage deployment stored %d times", n)
	}
}
