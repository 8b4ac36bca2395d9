package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/opensignum/signum/lib/wire"
)

// What `signum doctor` and `--dry-run` ask of the service and of the local files, step by
// step, so that each step's failure can be told apart from the others'.

// Verdict is what POST /sign would decide for the caller (POST /sign/evaluate).
type Verdict = wire.Verdict

// Evaluate asks what a signing request by the caller with certificate certID, reporting
// process and commandLine, would get; nothing is signed or recorded.
func (c *Client) Evaluate(ctx context.Context, certID, process, commandLine string) (Verdict, error) {
	var out Verdict
	err := c.do(ctx, "POST", "/sign/evaluate", wire.Evaluation{CertificateID: certID, Process: process, CommandLine: commandLine}, &out)
	return out, err
}

// Session is who the service takes the caller for (GET /console/session).
type Session struct {
	UserID       string   `json:"userId"`
	Name         string   `json:"name"`
	DeploymentID string   `json:"deploymentId"`
	Roles        []string `json:"roles"`
}

// Session asks who the caller is. A CI job's signing session is refused it (403): it may
// only sign.
func (c *Client) Session(ctx context.Context) (Session, error) {
	var out Session
	err := c.do(ctx, "GET", "/console/session", nil, &out)
	return out, err
}

// Reachability is what a request without credentials learned of the server.
type Reachability struct {
	// Status is the HTTP status the service answered (401 is expected: no credentials were
	// sent); 0 when the TLS handshake itself asked for a client certificate.
	Status int
	// Server is the server's certificate, when the connection is TLS.
	Server *x509.Certificate
	// ClientCertRequired: the server refused the handshake without a client certificate
	// (a mutual-TLS host in AWS); its own certificate was trusted before that.
	ClientCertRequired bool
}

// Reach connects to cfg's server without any credential: whether its name resolves,
// something answers, and its certificate is trusted (cfg.CAFile, else the system's roots).
// The error says which of those failed (ErrUnreachable, ErrConfig for a bad CA file).
func Reach(ctx context.Context, cfg Config) (Reachability, error) {
	bare := Config{URL: cfg.URL, Host: cfg.Host, CAFile: cfg.CAFile}
	c, err := New(bare)
	if err != nil {
		return Reachability{}, err
	}
	// The server's certificate as the handshake verified it (VerifyConnection runs after the
	// chain and name are checked), also when the server then refuses the handshake.
	var server *x509.Certificate
	if tr, ok := c.http.Transport.(*http.Transport); ok {
		tr.TLSClientConfig.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) > 0 {
				server = cs.PeerCertificates[0]
			}
			return nil
		}
	}
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimRight(cfg.URL, "/")+"/sign/certificates", nil)
	if err != nil {
		return Reachability{}, err
	}
	req.Header.Set("User-Agent", "signum-cli/1")
	if cfg.Host != "" {
		req.Host = cfg.Host
	}
	res, err := c.http.Do(req)
	if err != nil {
		err = explainTransport(bare, err)
		if errors.Is(err, ErrAuth) {
			// The client verifies the server's certificate before the server asks for one:
			// a refusal for want of a client certificate means the server was trusted.
			return Reachability{ClientCertRequired: true, Server: server}, nil
		}
		return Reachability{}, err
	}
	defer res.Body.Close()
	return Reachability{Status: res.StatusCode, Server: server}, nil
}

// OpenP12 opens the .p12 at path with password and returns its client certificate: the
// errors name what is wrong (unreadable, wrong password, not a PKCS#12 file), as New's do.
func OpenP12(path, password string) (*x509.Certificate, error) {
	_, leaf, err := loadP12(path, password)
	return leaf, err
}

// Validity says how a certificate's validity stands at now: expired or not yet valid (err,
// ErrAuth), or valid with left until it expires.
func Validity(c *x509.Certificate, now time.Time) (left time.Duration, err error) {
	switch {
	case now.After(c.NotAfter):
		return 0, fmt.Errorf("%w: the client certificate expired on %s; ask your console admin for a new one", ErrAuth, c.NotAfter.UTC().Format("2006-01-02"))
	case now.Before(c.NotBefore):
		return 0, fmt.Errorf("%w: the client certificate is not valid before %s", ErrAuth, c.NotBefore.UTC().Format(time.RFC3339))
	}
	return c.NotAfter.Sub(now), nil
}
