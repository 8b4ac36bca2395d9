package edge_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/fault"
)

// TestIdempotencyKeyWhole: a key is taken whole or refused, never cut. API Gateway joins a
// repeated header with commas and the Lambda adapter splits header values at commas, so a key
// with a comma would arrive as several values, of which only the first was read: "a,b" and
// "a,c" were both the key "a", and the second request got the first one's answer. Keys are
// visible ASCII without commas, one value.
func TestIdempotencyKeyWhole(t *testing.T) {
	// Through the Lambda adapter, as in AWS and behind the local gateway.
	h := edge.Lambda(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k, err := edge.IdempotencyKey(r)
		if err != nil {
			edge.WriteProblem(w, r, err)
			return
		}
		edge.WriteJSON(w, http.StatusOK, map[string]string{"key": k})
	}))
	call := func(t *testing.T, header string) (int, string, edge.Problem) {
		t.Helper()
		ev := events.APIGatewayV2HTTPRequest{Version: "2.0", RawPath: "/x", Headers: map[string]string{"host": "demo.localhost"},
			RequestContext: events.APIGatewayV2HTTPRequestContext{DomainName: "demo.localhost", HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST", Path: "/x"}}}
		if header != "" {
			ev.Headers["idempotency-key"] = header
		}
		resp, err := h(context.Background(), ev)
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			Key string `json:"key"`
		}
		var p edge.Problem
		_ = json.Unmarshal([]byte(resp.Body), &out)
		_ = json.Unmarshal([]byte(resp.Body), &p)
		return resp.StatusCode, out.Key, p
	}
	for _, k := range []string{"", "k1", "0b5e5a3c-3a47-4e8c-9c2b-2f8d3f7f9a11", "a;b=c|d", strings.Repeat("x", edge.MaxIdempotencyKey)} {
		if status, got, _ := call(t, k); status != http.StatusOK || got != k {
			t.Errorf("key %q: %d %q", k, status, got)
		}
	}
	// API Gateway's form of a repeated header is the same joined value: refused too.
	for _, k := range []string{"a,b", "a,c", "a, b", "a,", ",a", "a,a", strings.Repeat("x", edge.MaxIdempotencyKey+1), "a b", "ключ"} {
		status, got, p := call(t, k)
		if status != http.StatusBadRequest || len(p.InvalidParams) != 1 || p.InvalidParams[0].Name != "Idempotency-Key" {
			t.Errorf("key %q: %d key %q problem %+v, want a 400 on Idempotency-Key", k, status, got, p)
		}
	}

	// Straight over HTTP (no adapter): a comma in the value, or the header twice.
	for _, vals := range [][]string{{"a,b"}, {"a", "b"}, {"a", "a"}} {
		r := httptest.NewRequest("POST", "/x", nil)
		r.Header["Idempotency-Key"] = vals
		if _, err := edge.IdempotencyKey(r); !fault.HasField(err, "Idempotency-Key") {
			t.Errorf("header %q: %v, want a field error", vals, err)
		}
	}
}
