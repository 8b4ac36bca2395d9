package edge_test

import (
	"net/http"
	"testing"

	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/tenant"
)

// The router puts API Gateway's source address on the request's context, for the system log
// entries the request writes; a header cannot set it.
func TestRouterCarriesSourceIP(t *testing.T) {
	rt := edge.NewRouter(quiet())
	var got string
	rt.Handle("GET /who", func(w http.ResponseWriter, r *http.Request) error {
		got = tenant.SourceIPFrom(r.Context())
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
	ev := event("GET", "/who")
	ev.Headers["X-Forwarded-For"] = "203.0.113.66"
	if resp := invoke(t, rt, ev); resp.StatusCode != http.StatusNoContent || got != "198.51.100.9" {
		t.Fatalf("status %d, source %q", resp.StatusCode, got)
	}
	ev.RequestContext.HTTP.SourceIP = "::ffff:192.0.2.1"
	if invoke(t, rt, ev); got != "192.0.2.1" {
		t.Fatalf("mapped IPv4 source %q", got)
	}
}
