package safehttp

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
)

// counted is a test server that counts the connections made to it, so that a test can tell
// a refusal before connecting from one after.
type counted struct {
	*httptest.Server
	conns atomic.Int64
}

func serve(t *testing.T, tls bool, h http.HandlerFunc) *counted {
	t.Helper()
	c := &counted{Server: httptest.NewUnstartedServer(h)}
	c.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			c.conns.Add(1)
		}
	}
	if tls {
		c.StartTLS()
	} else {
		c.Start()
	}
	t.Cleanup(c.Close)
	return c
}

func hello(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "hello") }

// trust makes hc trust the test servers' certificate.
func trust(hc *http.Client, s *httptest.Server) {
	hc.Transport.(*guard).base.(*http.Transport).TLSClientConfig = s.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
}

func wantRefused(t *testing.T, err error, says ...string) {
	t.Helper()
	var re *RefusedError
	if !errors.Is(err, ErrRefused) || !errors.As(err, &re) {
		t.Fatalf("error %v, want a refusal", err)
	}
	for _, s := range says {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
}

func TestLoopbackRefused(t *testing.T) {
	srv := serve(t, true, hello)
	hc := New(Options{})
	trust(hc, srv.Server)
	_, err := hc.Get(srv.URL + "/.well-known/openid-configuration?secret=x")
	wantRefused(t, err, srv.Listener.Addr().String(), "a loopback address")
	// (http.Client's *url.Error quotes the URL it was asked for; the refusal itself names
	// only its scheme and host.)
	var re *RefusedError
	if errors.As(err, &re); strings.Contains(re.Error(), "secret") || strings.Contains(re.Error(), "well-known") {
		t.Errorf("the refusal names the path or query: %v", re)
	}
	// A name is checked by the address it resolves to (localhost: 127.0.0.1 or ::1).
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	_, err = hc.Get("https://localhost:" + port + "/")
	wantRefused(t, err, "a loopback address", "https://localhost:"+port)
	if n := srv.conns.Load(); n != 0 {
		t.Errorf("the server saw %d connections; the client must refuse before connecting", n)
	}
}

func TestAllowPrivate(t *testing.T) {
	srv := serve(t, false, hello)
	resp, err := New(Options{AllowPrivate: true}).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); string(b) != "hello" {
		t.Fatalf("body %q", b)
	}
	// The same server, without AllowPrivate: refused for its scheme before anything else.
	_, err = New(Options{}).Get(srv.URL)
	wantRefused(t, err, `the scheme "http"`)
	if n := srv.conns.Load(); n != 1 {
		t.Errorf("the server saw %d connections, want 1 (the allowed request)", n)
	}
}

func TestSchemeRefused(t *testing.T) {
	hc := New(Options{})
	for _, u := range []string{"http://example.com/.well-known/openid-configuration", "http://169.254.169.254/latest/meta-data/"} {
		_, err := hc.Get(u)
		wantRefused(t, err, `the scheme "http"`, "only https")
	}
	// A request made with the transport alone is checked too.
	req, _ := http.NewRequest("GET", "http://127.0.0.1:9001/2018-06-01/runtime/invocation/next", nil)
	_, err := hc.Transport.RoundTrip(req)
	wantRefused(t, err, "refused http://127.0.0.1:9001: ")
	if strings.Contains(err.Error(), "runtime") {
		t.Errorf("the refusal names the path: %v", err)
	}
}

// publicExcept is an address check under which the server at allowed stands for a public
// address: every other address is judged as New judges it.
func publicExcept(allowed string) func(netip.AddrPort) string {
	return func(ap netip.AddrPort) string {
		if ap.String() == allowed {
			return ""
		}
		return refusal(ap.Addr())
	}
}

func TestRedirectRechecked(t *testing.T) {
	inside := serve(t, true, hello) // stands for a VPC-internal or metadata address
	insidePlain := serve(t, false, hello)
	var target atomic.Value
	public := serve(t, true, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/loop" {
			http.Redirect(w, r, "/loop", http.StatusFound)
			return
		}
		http.Redirect(w, r, target.Load().(string), http.StatusFound)
	})
	hc := newClient(Options{}, publicExcept(public.Listener.Addr().String()))
	trust(hc, public.Server)

	// The public server itself is reached.
	target.Store(public.URL + "/loop")
	if _, err := hc.Get(public.URL + "/"); err == nil || errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "stopped after 5 redirects") {
		t.Errorf("a redirect loop: %v", err)
	}
	// A redirect to a private address is refused before connecting to it.
	target.Store(inside.URL + "/latest/meta-data/")
	_, err := hc.Get(public.URL + "/")
	wantRefused(t, err, inside.Listener.Addr().String(), "a loopback address")
	// So is one that leaves https.
	target.Store(insidePlain.URL + "/")
	_, err = hc.Get(public.URL + "/")
	wantRefused(t, err, `the scheme "http"`)
	if n, m := inside.conns.Load(), insidePlain.conns.Load(); n != 0 || m != 0 {
		t.Errorf("the redirect targets saw %d and %d connections, want none", n, m)
	}
	if public.conns.Load() == 0 {
		t.Error("the public server saw no connection: the test proves nothing")
	}
}

func TestRefusal(t *testing.T) {
	for _, c := range []struct {
		addr string
		want string // "" for allowed
	}{
		// Public addresses.
		{"8.8.8.8", ""},
		{"1.1.1.1", ""},
		{"140.82.112.3", ""}, // github.com
		{"100.63.255.255", ""},
		{"100.128.0.0", ""},
		{"172.32.0.1", ""},
		{"2606:4700:4700::1111", ""},
		{"2a00:1450:4001:82b::200e", ""},
		{"::ffff:8.8.8.8", ""},
		{"64:ff9b::808:808", ""}, // NAT64 of 8.8.8.8
		{"2002:808:808::1", ""},  // 6to4 of 8.8.8.8
		// Loopback: the Lambda Runtime API is on 127.0.0.1:9001.
		{"127.0.0.1", "loopback"},
		{"127.1.2.3", "loopback"},
		{"::1", "loopback"},
		{"::ffff:127.0.0.1", "loopback"},
		// Private (RFC 1918, unique local).
		{"10.0.0.1", "private"},
		{"10.255.255.255", "private"},
		{"172.16.0.1", "private"},
		{"172.31.255.255", "private"},
		{"192.168.1.1", "private"},
		{"::ffff:10.1.2.3", "private"},
		{"fd00::1", "private"},
		{"fc00::1", "private"},
		{"fd00:ec2::254", "private"}, // the instance metadata over IPv6
		// Link-local: the instance metadata and the Amazon DNS resolver.
		{"169.254.169.254", "link-local"},
		{"169.254.170.2", "link-local"}, // the ECS task metadata
		{"::ffff:169.254.169.254", "link-local"},
		{"fe80::1", "link-local"},
		{"fe80::1%eth0", "link-local"},
		// Carrier-grade NAT.
		{"100.64.0.1", "carrier-grade NAT"},
		{"100.127.255.255", "carrier-grade NAT"},
		// Unspecified, multicast, broadcast, reserved.
		{"0.0.0.0", "unspecified"},
		{"::", "unspecified"},
		{"0.1.2.3", "reserved"},
		{"224.0.0.1", "multicast"},
		{"ff02::1", "multicast"},
		{"255.255.255.255", "broadcast"},
		{"240.0.0.1", "reserved"},
		{"198.18.0.1", "reserved"},
		{"::7f00:1", "reserved"},            // IPv4-compatible 127.0.0.1
		{"2001:db8::1", "reserved"},         // documentation
		{"2001:0:4136:e378::1", "reserved"}, // Teredo
		{"64:ff9b:1::a00:1", "reserved"},    // local-use NAT64
		// IPv6 forms that a gateway translates to a refused IPv4 address.
		{"64:ff9b::a9fe:a9fe", "NAT64 form of a link-local"},
		{"64:ff9b::7f00:1", "NAT64 form of a loopback"},
		{"2002:a00:1::1", "6to4 form of a private"},
	} {
		got := refusal(netip.MustParseAddr(c.addr))
		switch {
		case c.want == "" && got != "":
			t.Errorf("ok/%s: refused as %s", c.addr, got)
		case c.want != "" && !strings.Contains(got, c.want):
			t.Errorf("fail/%s: %q, want it refused as %s", c.addr, got, c.want)
		}
	}
	if got := refusal(netip.Addr{}); got == "" {
		t.Error("the zero address is allowed")
	}
}

// TestAllowHTTP: AllowHTTP fetches plain http from a public address, and still refuses the
// private ones, redirects included.
func TestAllowHTTP(t *testing.T) {
	hello := func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("hello")) }
	inside := serve(t, false, hello)
	public := serve(t, false, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/away" {
			http.Redirect(w, r, inside.URL+"/", http.StatusFound)
			return
		}
		hello(w, r)
	})
	hc := newClient(Options{AllowHTTP: true}, publicExcept(public.Listener.Addr().String()))
	res, err := hc.Get(public.URL + "/")
	if err != nil {
		t.Fatalf("plain http to a public address: %v", err)
	}
	res.Body.Close()
	_, err = hc.Get(inside.URL + "/")
	wantRefused(t, err, inside.Listener.Addr().String(), "a loopback address")
	_, err = hc.Get(public.URL + "/away")
	wantRefused(t, err, inside.Listener.Addr().String(), "a loopback address")
	if inside.conns.Load() != 0 {
		t.Errorf("the private server saw %d connections", inside.conns.Load())
	}
	// Without it, plain http is refused as before.
	_, err = newClient(Options{}, publicExcept(public.Listener.Addr().String())).Get(public.URL + "/")
	wantRefused(t, err, `the scheme "http"`)
}
