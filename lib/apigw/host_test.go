package apigw_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/opensignum/signum/lib/edge"
)

// rawRequest sends a GET for path with the Host header host as written, which net/http's
// client would refuse or rewrite, and returns the status, content type and body.
func rawRequest(t *testing.T, addr, host, path string) (int, string, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = io.Copy(&b, resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), b.String()
}

// TestGatewayHost: the gateway hands the functions the host a request was sent to in its
// canonical form — lower case, without the port and without a trailing dot, the form
// deployment domain names are kept in (tenant.NormalizeDomainName) — so that
// "demo.localhost." reaches the same deployment as "demo.localhost", as DNS makes them the
// same name. A Host that is no host name or IP address (percent escapes, say) is refused with
// a 400 problem naming Host, and no function is invoked (it was a 500: the Lambda adapter
// could not build a URL from it).
func TestGatewayHost(t *testing.T) {
	srv, rc := newGateway(t)
	addr := strings.TrimPrefix(srv.URL, "http://")
	for _, tt := range []struct{ host, domain string }{
		{"demo.localhost", "demo.localhost"},
		{"demo.localhost.", "demo.localhost"},
		{"Demo.LocalHost.:8080", "demo.localhost"},
		{"console.example.com.", "console.example.com"},
		{"localhost", "localhost"},
		{"127.0.0.1:8080", "127.0.0.1"},
		{"[::1]:8080", "::1"},
	} {
		n := len(rc.events)
		if status, _, body := rawRequest(t, addr, tt.host, "/things/1"); status != 201 || len(rc.events) != n+1 {
			t.Fatalf("host %q: %d %s", tt.host, status, body)
		}
		ev := rc.events[n]
		if ev.RequestContext.DomainName != tt.domain || ev.RequestContext.DomainPrefix != strings.SplitN(tt.domain, ".", 2)[0] {
			t.Errorf("host %q: domainName %q, prefix %q; want %q", tt.host, ev.RequestContext.DomainName, ev.RequestContext.DomainPrefix, tt.domain)
		}
	}
	for _, host := range []string{
		"demo%2elocalhost", "de%41mo.localhost", "%zz", "demo.localhost%00", "demo..localhost", ".demo.localhost",
		"demo.localhost..", "-demo.localhost", "demo_x.localhost", "demo.localhost:http", "demo.localhost:99999",
		"[::1", "[demo]:80", strings.Repeat("a", 64) + ".localhost", "a!b.localhost", "a(b).localhost",
	} {
		n := len(rc.events)
		status, ctype, body := rawRequest(t, addr, host, "/things/1")
		var p edge.Problem
		_ = json.Unmarshal([]byte(body), &p)
		if status != http.StatusBadRequest || ctype != "application/problem+json" || p.Type != edge.ProblemTypeBase+"invalid-request" ||
			len(p.InvalidParams) != 1 || p.InvalidParams[0].Name != "Host" {
			t.Errorf("host %q: %d %s %s, want a 400 problem on Host", host, status, ctype, body)
		}
		if len(rc.events) != n {
			t.Errorf("host %q: a function was invoked", host)
		}
	}
}
