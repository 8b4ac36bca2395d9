package edge_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/fault"
)

type body struct {
	Name  string   `json:"name"`
	Count int      `json:"count"`
	Tags  []string `json:"tags"`
}

func req(ctype, b string) *http.Request {
	r := httptest.NewRequest("POST", "/x", strings.NewReader(b))
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	return r
}

func TestDecodeJSON(t *testing.T) {
	cases := []struct {
		name, ctype, body string
		status            int // 0: ok
		detail            string
	}{
		{"ok/plain", "application/json", `{"name":"a","count":2,"tags":["x"]}`, 0, ""},
		{"ok/charset", "application/json; charset=utf-8", `{"name":"a"}`, 0, ""},
		{"ok/vendor-json", "application/merge-patch+json", `{"name":"a"}`, 0, ""},
		{"ok/whitespace-after", "application/json", "{\"name\":\"a\"}\n\t ", 0, ""},
		{"fail/no-content-type", "", `{}`, 415, `got ""`},
		{"fail/form", "application/x-www-form-urlencoded", `name=a`, 415, "x-www-form-urlencoded"},
		{"fail/bad-media-type", "application/", `{}`, 415, "application/"},
		{"fail/empty", "application/json", ``, 400, "empty"},
		{"fail/blank", "application/json", "  \n", 400, "empty"},
		{"fail/syntax", "application/json", "{\n  \"name\": \"a\",\n}", 400, "line 3"},
		{"fail/truncated", "application/json", `{"name":"a"`, 400, "truncated"},
		{"fail/unknown-field", "application/json", `{"name":"a","admin":true}`, 400, `Unknown field "admin"`},
		{"fail/type", "application/json", `{"count":"two"}`, 400, `Field "count" must be a number, not string`},
		{"fail/array-type", "application/json", `{"tags":"x"}`, 400, `Field "tags" must be an array, not string`},
		{"fail/not-object", "application/json", `"hello"`, 400, "must be a JSON object, not string"},
		{"fail/two-values", "application/json", `{"name":"a"} {"name":"b"}`, 400, "more than one"},
		{"fail/too-large", "application/json", `{"name":"` + strings.Repeat("x", edge.MaxBodyBytes) + `"}`, 413, "larger than"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var v body
			err := edge.DecodeJSON(req(c.ctype, c.body), &v, 0)
			if c.status == 0 {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				if v.Name != "a" {
					t.Fatalf("decoded %+v", v)
				}
				return
			}
			p := edge.ProblemFor(err)
			if p.Status != c.status {
				t.Fatalf("status %d, want %d (%v)", p.Status, c.status, err)
			}
			if !strings.Contains(p.Detail, c.detail) {
				t.Fatalf("detail %q lacks %q", p.Detail, c.detail)
			}
		})
	}
}

func TestProblemFor(t *testing.T) {
	t.Run("fail/internal-error-text-never-shown", func(t *testing.T) {
		p := edge.ProblemFor(fmt.Errorf("dial tcp 10.1.2.3:443: secret-arn arn:aws:kms:..."))
		if p.Status != 500 || strings.Contains(p.Detail, "arn:") || strings.Contains(p.Detail, "10.1.2.3") {
			t.Fatalf("%+v", p)
		}
	})
	t.Run("fail/5xx-detail-is-constant", func(t *testing.T) {
		p := edge.ProblemFor(fault.Wrap(fault.ErrUnavailable, errors.New("table signum-prod throttled"), "table signum-prod is throttled"))
		if p.Status != 503 || strings.Contains(p.Detail, "signum-prod") {
			t.Fatalf("%+v", p)
		}
	})
	t.Run("ok/bad-gateway-detail", func(t *testing.T) {
		p := edge.ProblemFor(fault.Wrap(fault.ErrBadGateway, errors.New("dial tcp 10.0.0.1:80"), "the time-stamping authority http://tsa.example/ answered HTTP 503"))
		if p.Status != 502 || !strings.Contains(p.Detail, "tsa.example") || strings.Contains(p.Detail, "10.0.0.1") {
			t.Fatalf("%+v", p)
		}
	})
	t.Run("ok/public-detail", func(t *testing.T) {
		p := edge.ProblemFor(fmt.Errorf("layer: %w", fault.Newf(fault.ErrConflict, "domain taken")))
		if p.Status != 409 || p.Detail != "domain taken" || !strings.HasSuffix(p.Type, "#conflict") {
			t.Fatalf("%+v", p)
		}
	})
	t.Run("ok/fields", func(t *testing.T) {
		var f fault.Fields
		f.Add("a", "is required")
		f.Add("b", "is too long")
		p := edge.ProblemFor(fmt.Errorf("wrapped: %w", f.Err()))
		if p.Status != 400 || len(p.InvalidParams) != 2 || p.InvalidParams[1].Name != "b" {
			t.Fatalf("%+v", p)
		}
	})
	t.Run("ok/cause-hidden", func(t *testing.T) {
		p := edge.ProblemFor(fault.Wrap(fault.ErrInvalid, errors.New("internal parser state 0xdead"), "The body is bad."))
		if p.Detail != "The body is bad." {
			t.Fatalf("%+v", p)
		}
	})
}

func quiet() *slog.Logger { return slog.New(slog.NewJSONHandler(io.Discard, nil)) }

func invoke(t *testing.T, h http.Handler, ev events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	t.Helper()
	resp, err := edge.Lambda(h)(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func event(method, path string) events.APIGatewayV2HTTPRequest {
	return events.APIGatewayV2HTTPRequest{
		Version: "2.0", RawPath: path, Headers: map[string]string{},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RequestID: "req-1", DomainName: "api.example.com",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: path, SourceIP: "198.51.100.9"},
		},
	}
}

func TestRouter(t *testing.T) {
	rt := edge.NewRouter(quiet())
	rt.Handle("GET /things/{id}", func(w http.ResponseWriter, r *http.Request) error {
		edge.WriteJSON(w, 200, map[string]string{"id": r.PathValue("id")})
		return nil
	})
	rt.Handle("POST /things", func(w http.ResponseWriter, r *http.Request) error { panic("boom: secret") })
	rt.Handle("GET /fail", func(w http.ResponseWriter, r *http.Request) error {
		return fault.Newf(fault.ErrNotFound, "No thing 7.")
	})

	if r := invoke(t, rt, event("GET", "/things/42")); r.StatusCode != 200 || !strings.Contains(r.Body, `"id":"42"`) {
		t.Fatalf("ok/path-value: %d %s", r.StatusCode, r.Body)
	}
	cases := []struct {
		name, method, path string
		status             int
		has                string
	}{
		{"fail/unknown-route", "GET", "/nothing", 404, "No route serves GET /nothing"},
		{"fail/wrong-method", "DELETE", "/things/1", 405, "allowed: GET."},
		{"fail/panic", "POST", "/things", 500, "has been logged"},
		{"fail/handler-error", "GET", "/fail", 404, "No thing 7."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := invoke(t, rt, event(c.method, c.path))
			if r.StatusCode != c.status || r.Headers["Content-Type"] != "application/problem+json" {
				t.Fatalf("%d %v %s", r.StatusCode, r.Headers, r.Body)
			}
			var p edge.Problem
			if err := json.Unmarshal([]byte(r.Body), &p); err != nil {
				t.Fatal(err)
			}
			if p.Status != c.status || !strings.Contains(p.Detail, c.has) || p.Instance != "req-1" {
				t.Fatalf("%+v", p)
			}
			if strings.Contains(r.Body, "secret") {
				t.Fatalf("panic text leaked: %s", r.Body)
			}
		})
	}
}

// TestGatewayContextIsNotFromHeaders: the proxy library can also read the request context
// from a header; a client can send that header, so the edge must never trust it.
func TestGatewayContextIsNotFromHeaders(t *testing.T) {
	rt := edge.NewRouter(quiet())
	rt.Handle("GET /who", func(w http.ResponseWriter, r *http.Request) error {
		ip, _ := edge.SourceIP(r)
		caller := "none"
		if c := edge.IAMCaller(r); c != nil {
			caller = c.AccountID
		}
		edge.WriteJSON(w, 200, map[string]string{"ip": ip.String(), "caller": caller, "cert": edge.ClientCertificatePEM(r)})
		return nil
	})
	ev := event("GET", "/who")
	ev.Headers["x-golambdaproxy-apigw-context"] = `{"http":{"sourceIp":"10.0.0.1"},"authorizer":{"iam":{"accountId":"999999999999"}},"authentication":{"clientCert":{"clientCertPem":"FORGED"}}}`
	r := invoke(t, rt, ev)
	var got map[string]string
	_ = json.Unmarshal([]byte(r.Body), &got)
	if got["ip"] != "198.51.100.9" || got["caller"] != "none" || got["cert"] != "" {
		t.Fatalf("forged header trusted: %v", got)
	}
}

// FuzzDecodeJSON: whatever the body and content type, decoding never panics and every
// refusal is a 4xx problem with a detail.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"name":"a","count":1,"tags":["x"]}`, `{`, `[]`, `{"count":1e999}`, `{"name":"\ud800"}`, `{"tags":[1]}`, "\x00", `{"name":"a"}{}`, `null`} {
		f.Add("application/json", s)
	}
	f.Add("text/plain", `{}`)
	f.Add("application/json; charset=\"", `{}`)
	f.Fuzz(func(t *testing.T, ctype, b string) {
		var v body
		err := edge.DecodeJSON(req(ctype, b), &v, 1024)
		if err == nil {
			return
		}
		p := edge.ProblemFor(err)
		if p.Status < 400 || p.Status > 499 || p.Detail == "" {
			t.Fatalf("refusal %v became %+v", err, p)
		}
	})
}

// TestProblemTypesAreDocumented: every problem type URI points at a section of
// docs/problems.md.
func TestProblemTypesAreDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/problems.md")
	if err != nil {
		t.Fatal(err)
	}
	kinds := []error{edge.ErrTooLarge, edge.ErrUnsupportedMediaType, edge.ErrRouteNotFound, edge.ErrMethodNotAllowed,
		fault.ErrInvalid, fault.ErrUnauthenticated, fault.ErrForbidden, fault.ErrNotFound, fault.ErrConflict,
		fault.ErrPrecondition, fault.ErrGone, fault.ErrUnprocessable, fault.ErrTooManyRequests, fault.ErrUnavailable, fault.ErrBadGateway, errors.New("anything else")}
	seen := map[string]bool{}
	for _, k := range kinds {
		p := edge.ProblemFor(k)
		anchor := strings.TrimPrefix(p.Type, edge.ProblemTypeBase)
		if !strings.Contains(string(doc), `<a id="`+anchor+`"></a>`) {
			t.Errorf("problem type %s (%d) has no section in docs/problems.md", anchor, p.Status)
		}
		seen[p.Type] = true
	}
	if len(seen) != len(kinds) {
		t.Errorf("%d kinds map to %d problem types: two kinds share a row or a kind fell through to internal", len(kinds), len(seen))
	}
}

// TestLambdaReservesTimeToAnswer: the handler's context ends before the Lambda's, so that a
// hung dependency still leaves time to send a 503.
func TestLambdaReservesTimeToAnswer(t *testing.T) {
	var handlerDeadline time.Time
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handlerDeadline, _ = r.Context().Deadline()
		w.WriteHeader(http.StatusNoContent)
	})
	lambdaDeadline := time.Now().Add(10 * time.Second)
	ctx, cancel := context.WithDeadline(context.Background(), lambdaDeadline)
	defer cancel()
	if _, err := edge.Lambda(h)(ctx, event("GET", "/")); err != nil {
		t.Fatal(err)
	}
	if got := lambdaDeadline.Sub(handlerDeadline); got < edge.DeadlineReserve-time.Millisecond || got > edge.DeadlineReserve+time.Millisecond {
		t.Fatalf("handler deadline %v before the Lambda's, want %v", got, edge.DeadlineReserve)
	}
}

func TestHandlerThatWritesNothingIsAServerFault(t *testing.T) {
	rt := edge.NewRouter(quiet())
	rt.Handle("GET /silent", func(http.ResponseWriter, *http.Request) error { return nil })
	r := invoke(t, rt, event("GET", "/silent"))
	if r.StatusCode != 500 || r.Headers["Content-Type"] != "application/problem+json" {
		t.Fatalf("%d %v", r.StatusCode, r.Headers)
	}
}

// A 429 or 503 that says when to retry gets a Retry-After header in whole seconds, rounded up;
// other statuses never do, and the cause stays out of a 503's detail.
func TestRetryAfterHeader(t *testing.T) {
	for name, c := range map[string]struct {
		err    error
		status int
		header string
	}{
		"ok/429":           {fault.RetryLater(fault.Newf(fault.ErrTooManyRequests, "Slow down."), 1500*time.Millisecond), 429, "2"},
		"ok/503":           {fault.RetryLater(fault.Wrap(fault.ErrUnavailable, errors.New("ThrottlingException: arn:aws:kms:…"), "KMS is busy."), 200*time.Millisecond), 503, "1"},
		"fail/403-no-hint": {fault.RetryLater(fault.Newf(fault.ErrForbidden, "No."), time.Minute), 403, ""},
		"fail/429-no-time": {fault.Newf(fault.ErrTooManyRequests, "Slow down."), 429, ""},
	} {
		rec := httptest.NewRecorder()
		edge.WriteProblem(rec, httptest.NewRequest("GET", "/", nil), c.err)
		if rec.Code != c.status || rec.Header().Get("Retry-After") != c.header {
			t.Errorf("%s: %d Retry-After %q, want %d %q", name, rec.Code, rec.Header().Get("Retry-After"), c.status, c.header)
		}
		if strings.Contains(rec.Body.String(), "arn:aws") {
			t.Errorf("%s: cause leaked: %s", name, rec.Body.String())
		}
	}
}
