package local_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/opensignum/signum/lib/local"
)

// client calls the local API as a browser or CLI would: to a host (the deployment's domain
// for console routes), with an optional bearer token.
type client struct {
	t     testing.TB
	srv   *local.Server
	host  string
	token string
	// cert, when set, sends the request to the mutual-TLS port with this client certificate.
	cert *tls.Certificate
}

// withCert returns c calling the mutual-TLS port with cert.
func (c client) withCert(cert tls.Certificate) client { c.cert = &cert; return c }

// httpClient is the HTTP client of c: the default one, or a mutual-TLS one trusting the
// local server's CA.
func (c client) httpClient() (*http.Client, string) {
	if c.cert == nil {
		return http.DefaultClient, c.srv.URL
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(c.srv.TLSCA)
	cert := *c.cert
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: roots, GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil },
	}}}, c.srv.TLSURL
}

type resp struct {
	status int
	header http.Header
	body   string
}

// json decodes the body into v and returns v.
func (r resp) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.body), v); err != nil {
		t.Fatalf("response %d %q: %v", r.status, r.body, err)
	}
}

// problemType is the anchor of a problem response's type.
func (r resp) problemType() string {
	var p struct{ Type string }
	_ = json.Unmarshal([]byte(r.body), &p)
	if i := strings.LastIndexByte(p.Type, '#'); i >= 0 {
		return p.Type[i+1:]
	}
	return ""
}

func (c client) as(tok string) client { c.token = tok; return c }

func (c client) at(host string) client { c.host = host; return c }

func (c client) do(method, path string, body any, hdr ...string) resp {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = strings.NewReader(string(raw))
	}
	hc, base := c.httpClient()
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.host != "" {
		req.Host = c.host
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header, string(b)}
}

// must fails the test unless the response has status.
func (r resp) must(t testing.TB, status int, what string) resp {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d: %s", what, r.status, status, r.body)
	}
	return r
}
