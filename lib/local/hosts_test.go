package local_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestHostsAndIdempotencyKeys drives two findings of the security review (#12) through the
// whole local stack: the gateway and the real functions.
//
// A Host header with percent escapes was a 500 (the Lambda adapter could not make a URL of
// it): it is a 400 problem naming Host. "demo.localhost." was a 404 (no deployment has that
// name): it is the demo deployment, as DNS makes it the same name as "demo.localhost".
//
// An Idempotency-Key with a comma reached the functions cut at the comma, so "a,b" and "a,c"
// were one key and the second request got the first one's answer: it is refused with a 400
// on Idempotency-Key.
func TestHostsAndIdempotencyKeys(t *testing.T) {
	srv := startLocal(t)
	addr := strings.TrimPrefix(srv.URL, "http://")
	raw := func(host string) (int, string, string) {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, "GET /console/session HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header.Get("Content-Type"), string(b)
	}
	// The demo deployment answers (401: no token) under every spelling of its name; a name
	// no deployment has is a 404.
	for _, host := range []string{"demo.localhost", "demo.localhost.", "DEMO.localhost.", "demo.localhost.:80"} {
		if status, _, body := raw(host); status != http.StatusUnauthorized {
			t.Errorf("host %q: %d %s, want 401 from the demo deployment", host, status, body)
		}
	}
	if status, _, body := raw("other.localhost."); status != http.StatusNotFound {
		t.Errorf("unknown host: %d %s", status, body)
	}
	for _, host := range []string{"de%41mo.localhost", "demo%2elocalhost", "%zz", "demo..localhost"} {
		status, ctype, body := raw(host)
		if status != http.StatusBadRequest || ctype != "application/problem+json" || !strings.Contains(body, `"name":"Host"`) {
			t.Errorf("host %q: %d %s %s, want a 400 problem on Host", host, status, ctype, body)
		}
	}

	// Two creations with keys that differ after a comma are not one request.
	for _, k := range []string{"k,1", "k,2"} {
		r := call(t, srv, "POST", "/operator/deployments", "application/json", `{"name":"Comma"}`, true, "Idempotency-Key", k)
		if r.status != http.StatusBadRequest || !strings.Contains(r.body, `"name":"Idempotency-Key"`) {
			t.Errorf("key %q: %d %s, want a 400 on Idempotency-Key", k, r.status, r.body)
		}
	}
}
