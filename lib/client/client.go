// Package client is the signer API as the `signum` CLI and agents use it: configuration
// (server, mutual-TLS .p12 or bearer token), the certificates the caller may sign with, and
// batches of digests signed in one request. Only digests leave the machine.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/opensignum/signum/lib/wire"
)

// Config says where the service is and how to authenticate.
type Config struct {
	// URL is the service's base URL (https://<deployment host>[:port]).
	URL string `json:"url"`
	// Host, when set, is sent as the Host header (the deployment's domain name) while the
	// connection goes to URL: the local server answers every deployment on one address.
	Host string `json:"host,omitempty"`
	// CAFile is a PEM bundle that verifies the server's certificate (system roots when empty).
	CAFile string `json:"caFile,omitempty"`
	// P12 is a PKCS#12 file with the client certificate and key for mutual TLS.
	P12 string `json:"p12,omitempty"`
	// P12Password is never stored in the configuration file: it comes from
	// SIGNUM_P12_PASSWORD.
	P12Password string `json:"-"`
	// Token is a console bearer token (instead of a client certificate).
	Token string `json:"token,omitempty"`
}

// Errors the CLI turns into exit codes and advice.
var (
	ErrConfig           = errors.New("configuration")
	ErrUnreachable      = errors.New("unreachable")
	ErrAuth             = errors.New("authentication")
	ErrDenied           = errors.New("denied")
	ErrBadRequest       = errors.New("bad request")
	ErrNotFound         = errors.New("not found")
	ErrServer           = errors.New("server")
	ErrWrongP12Password = errors.New("wrong .p12 password")
)

// Problem is an RFC 7807 answer of the service.
type Problem struct {
	Status int    `json:"status"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
	Params []struct {
		Name   string `json:"name"`
		Reason string `json:"reason"`
	} `json:"invalid-params"`
}

func (p *Problem) Error() string {
	msg := p.Detail
	if msg == "" {
		msg = p.Title
	}
	for _, f := range p.Params {
		if part := f.Name + ": " + f.Reason; !strings.Contains(msg, part) {
			msg += " (" + part + ")"
		}
	}
	return msg
}

// Client calls the service.
type Client struct {
	cfg  Config
	http *http.Client
	// Leaf is the client certificate, when mutual TLS is used.
	Leaf *x509.Certificate
	// approval is what Sign does with requests held for approval (approvals.go).
	approval Approval
}

// New checks cfg and builds a client. A .p12 that cannot be opened, an expired client
// certificate or a missing server CA is refused here, before anything is sent.
func New(cfg Config) (*Client, error) {
	if cfg.URL == "" {
		return nil, fmt.Errorf("%w: no server URL; run `signum configure --url https://<deployment host>`", ErrConfig)
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%w: the server URL %q is not an http(s) URL", ErrConfig, cfg.URL)
	}
	if u.Scheme == "http" && !loopback(u.Hostname()) {
		return nil, fmt.Errorf("%w: the server URL %q is not https; credentials and signatures only travel over TLS", ErrConfig, cfg.URL)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		raw, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: cannot read the server CA file: %v", ErrConfig, err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(raw) {
			return nil, fmt.Errorf("%w: %s holds no PEM certificate", ErrConfig, cfg.CAFile)
		}
		tc.RootCAs = roots
	}
	c := &Client{cfg: cfg}
	if cfg.P12 != "" {
		if cfg.Token != "" {
			return nil, fmt.Errorf("%w: both a .p12 and a token are configured; use one", ErrConfig)
		}
		cert, leaf, err := loadP12(cfg.P12, cfg.P12Password)
		if err != nil {
			return nil, err
		}
		now := time.Now()
		if now.After(leaf.NotAfter) {
			return nil, fmt.Errorf("%w: the client certificate in %s expired on %s; ask your console admin for a new one", ErrAuth, cfg.P12, leaf.NotAfter.UTC().Format("2006-01-02"))
		}
		if now.Before(leaf.NotBefore) {
			return nil, fmt.Errorf("%w: the client certificate in %s is not valid before %s", ErrAuth, cfg.P12, leaf.NotBefore.UTC().Format(time.RFC3339))
		}
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
		c.Leaf = leaf
	}
	tr := &http.Transport{TLSClientConfig: tc, Proxy: http.ProxyFromEnvironment, DialContext: (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		TLSHandshakeTimeout: 10 * time.Second, MaxIdleConnsPerHost: 4}
	c.http = &http.Client{Transport: tr, Timeout: 60 * time.Second,
		// A redirect would send the token or the digests somewhere else: refuse it.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return c, nil
}

func loopback(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func loadP12(path, password string) (tls.Certificate, *x509.Certificate, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("%w: cannot read %s: %v", ErrConfig, path, err)
	}
	key, leaf, chain, err := pkcs12.DecodeChain(raw, password)
	if err != nil {
		if errors.Is(err, pkcs12.ErrIncorrectPassword) {
			return tls.Certificate{}, nil, fmt.Errorf("%w: %w for %s; set SIGNUM_P12_PASSWORD to the password it was exported with", ErrConfig, ErrWrongP12Password, path)
		}
		return tls.Certificate{}, nil, fmt.Errorf("%w: %s is not a PKCS#12 file with a key and a certificate: %v", ErrConfig, path, err)
	}
	cert := tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}
	for _, c := range chain {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	return cert, leaf, nil
}

// do sends a request and decodes a JSON answer into out, or the problem into an error.
func (c *Client) do(ctx context.Context, method, path string, body, out any, hdr ...string) error {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.cfg.URL, "/")+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "signum-cli/1")
	if c.cfg.Host != "" {
		req.Host = c.cfg.Host
	}
	if c.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.http.Do(req)
	if err != nil {
		return explainTransport(c.cfg, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 32<<20))
	if err != nil {
		return fmt.Errorf("%w: reading the answer: %v", ErrUnreachable, err)
	}
	if res.StatusCode >= 300 {
		p := &Problem{Status: res.StatusCode}
		if json.Unmarshal(raw, p) != nil || (p.Detail == "" && p.Title == "") {
			p.Title = printable(string(raw), 200)
			if p.Title == "" {
				p.Title = res.Status
			}
		}
		return classify(p)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%w: the answer is not the JSON expected: %v", ErrServer, err)
	}
	return nil
}

// printable is s without control characters, at most n bytes: what an error body may show.
func printable(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

func classify(p *Problem) error {
	switch {
	case p.Status == 401:
		return fmt.Errorf("%w: %w", ErrAuth, p)
	case p.Status == 403:
		return fmt.Errorf("%w: %w", ErrDenied, p)
	case p.Status == 404:
		return fmt.Errorf("%w: %w", ErrNotFound, p)
	case p.Status < 500:
		return fmt.Errorf("%w: %w", ErrBadRequest, p)
	}
	return fmt.Errorf("%w: %w", ErrServer, p)
}

// explainTransport turns a failed connection into advice.
func explainTransport(cfg Config, err error) error {
	var ua x509.UnknownAuthorityError
	var hv x509.HostnameError
	var cv *tls.CertificateVerificationError
	switch {
	case errors.As(err, &ua), errors.As(err, &cv):
		return fmt.Errorf("%w: the server's certificate is not trusted (%v); give its CA with SIGNUM_CA or signum configure --ca", ErrUnreachable, err)
	case errors.As(err, &hv):
		return fmt.Errorf("%w: the server's certificate is not for this address (%v)", ErrUnreachable, err)
	case strings.Contains(err.Error(), "unknown certificate authority"), strings.Contains(err.Error(), "certificate expired"):
		return fmt.Errorf("%w: the server refused the client certificate (%v)", ErrAuth, err)
	case strings.Contains(err.Error(), "certificate required") || strings.Contains(err.Error(), "bad certificate") || strings.Contains(err.Error(), "handshake failure"):
		return fmt.Errorf("%w: the server refused the TLS handshake (%v); it asks for a client certificate: configure one with --p12", ErrAuth, err)
	}
	var dns *net.DNSError
	switch {
	case errors.As(err, &dns):
		return fmt.Errorf("%w: cannot reach %s: the host name %q does not resolve (%v); check the URL's host name and your DNS", ErrUnreachable, cfg.URL, dns.Name, err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w: cannot reach %s: nothing accepts connections there (connection refused); check the URL's port and that the service is running", ErrUnreachable, cfg.URL)
	case errors.Is(err, os.ErrDeadlineExceeded) || strings.Contains(err.Error(), "Client.Timeout"):
		return fmt.Errorf("%w: cannot reach %s: no answer in time (%v); a firewall or proxy may drop the connection", ErrUnreachable, cfg.URL, err)
	}
	return fmt.Errorf("%w: cannot reach %s (%v); check the URL and that the service is running", ErrUnreachable, cfg.URL, err)
}

// The wire types of the signing API are lib/wire's, shared with the service.
type (
	Certificate = wire.Certificate
	Context     = wire.Context
	SignResult  = wire.Response
)

// Certificates lists the certificates the caller may sign with from process/commandLine.
func (c *Client) Certificates(ctx context.Context, process, commandLine string) ([]Certificate, error) {
	var out struct {
		Items []Certificate `json:"items"`
	}
	q := url.Values{}
	if process != "" {
		q.Set("process", process)
	}
	if commandLine != "" {
		q.Set("commandLine", commandLine)
	}
	path := "/sign/certificates"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	err := c.do(ctx, "GET", path, nil, &out)
	return out.Items, err
}

// Digest is one digest to sign.
type Digest struct {
	Digest    []byte
	Algorithm string // SHA256, SHA384, SHA512
	FileName  string
}

// Sign signs digests with certificate certID in one request. idempotencyKey, when set,
// makes a retry return the first answer.
func (c *Client) Sign(ctx context.Context, certID, scheme string, digests []Digest, sc Context, idempotencyKey string) (SignResult, error) {
	body := wire.Request{CertificateID: certID, SignatureScheme: scheme, Context: sc}
	for _, d := range digests {
		body.Digests = append(body.Digests, wire.Digest{Digest: base64.StdEncoding.EncodeToString(d.Digest), DigestAlgorithm: d.Algorithm, FileName: d.FileName})
	}
	var hdr []string
	if idempotencyKey != "" {
		hdr = []string{"Idempotency-Key", idempotencyKey}
	}
	out, err := c.signOrWait(ctx, body, hdr)
	if err != nil {
		return SignResult{}, err
	}
	if len(out.Signatures) != len(digests) {
		return SignResult{}, fmt.Errorf("%w: %d signatures for %d digests", ErrServer, len(out.Signatures), len(digests))
	}
	return out, nil
}
