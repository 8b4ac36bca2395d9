// Package timestamping is what a deployment's RFC 3161 time-stamping authorities (TSAs) are to
// the signer: the settings a console admin keeps (which authorities, which roots their tokens
// must chain to) and the client that obtains a token over a signature and checks it before
// the signature may be returned.
//
// A token is over the signature value (its message imprint is the hash of the signature's
// bytes), as Authenticode's and CMS's timestamp countersignatures are, so that a client embeds
// it as it would one it had fetched itself. The request's digest algorithm is the imprint's.
//
// Tokens are checked here, not trusted: the answer is a granted TimeStampResp whose token
// verifies, names the request's nonce and the signature's imprint (a token over other bytes
// or another hash is refused), and whose signer chains to the settings' roots (or the
// system's when none are set) with the timeStamping extended key usage.
//
// The client speaks HTTP to URLs a console admin chose: it is built on lib/safehttp, which
// refuses the service's private addresses.
package timestamping

import (
	"bytes"
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sassoftware/relic/v8/lib/pkcs7"
	"github.com/sassoftware/relic/v8/lib/pkcs9"

	"github.com/opensignum/signum/lib/fault"
)

// Limits on the settings.
const (
	// MaxURLs is how many authorities a deployment lists (tried in order).
	MaxURLs = 4
	// MaxURLLen bounds one URL.
	MaxURLLen = 2048
	// MaxCAPEM bounds the trust roots' PEM.
	MaxCAPEM = 64 << 10
)

// Settings are a deployment's time-stamping authorities.
type Settings struct {
	// URLs are the authorities' RFC 3161 endpoints, tried in this order.
	URLs []string
	// CAPEM, when set, holds the PEM certificates a token's signer must chain to; empty: the
	// system's roots.
	CAPEM     string
	Version   int64
	UpdatedAt time.Time
	UpdatedBy string
}

// Validate checks s as a console admin sent it; errors are fault.Fields ("urls[1]", "caPem").
func Validate(s Settings) (Settings, error) {
	var bad fault.Fields
	if len(s.URLs) > MaxURLs {
		bad.Add("urls", "at most %d authorities", MaxURLs)
	}
	var urls []string
	for i, raw := range s.URLs {
		name := fmt.Sprintf("urls[%d]", i)
		raw = strings.TrimSpace(raw)
		if len(raw) > MaxURLLen {
			bad.Add(name, "is longer than %d bytes", MaxURLLen)
			continue
		}
		u, err := url.Parse(raw)
		switch {
		case err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https"):
			bad.Add(name, "%q is not an http or https URL", fault.Clip(raw, 80))
			continue
		case u.User != nil:
			bad.Add(name, "must not carry a user name or password")
			continue
		case u.Fragment != "":
			bad.Add(name, "must not have a fragment")
			continue
		}
		for _, prev := range urls {
			if prev == raw {
				bad.Add(name, "is listed twice")
			}
		}
		urls = append(urls, raw)
	}
	s.URLs = urls
	s.CAPEM = strings.TrimSpace(s.CAPEM)
	if len(s.CAPEM) > MaxCAPEM {
		bad.Add("caPem", "is longer than %d bytes", MaxCAPEM)
	} else if s.CAPEM != "" {
		if _, err := Roots(s.CAPEM); err != nil {
			bad.Add("caPem", "%s", err.Error())
		}
	}
	if err := bad.Err(); err != nil {
		return Settings{}, err
	}
	return s, nil
}

// Roots parses the PEM certificates of a settings' CAPEM.
func Roots(caPEM string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	rest, n := []byte(caPEM), 0
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("holds a %s block; only CERTIFICATE blocks are trust roots", b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d does not parse", n+1)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 || len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("is not a list of PEM certificates")
	}
	return pool, nil
}

// ErrNoToken is a signature whose token could not be had: the signature is withheld. It is
// a 502 (fault.ErrBadGateway) with a detail that names the problem (Error.Reason).
var ErrNoToken = fmt.Errorf("timestamping: no token: %w", fault.ErrBadGateway)

// Error says why no token could be had, in a sentence fit for the event log and the caller
// (it names the authority's URL, which a console admin configured, and no secret).
type Error struct {
	Reason string
	Cause  error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return "timestamping: " + e.Reason + ": " + e.Cause.Error()
	}
	return "timestamping: " + e.Reason
}

// Unwrap makes an Error an ErrNoToken.
func (e *Error) Unwrap() []error { return []error{ErrNoToken, e.Cause} }

// Fault is the error a caller is given for e: ErrNoToken (502) with e's reason.
func (e *Error) Fault() error {
	return fault.Wrap(ErrNoToken, e, "The signature was withheld: the policy requires a timestamp and "+e.Reason+".")
}

// Timeout bounds one authority's answer; the next one is tried after it.
const Timeout = 5 * time.Second

// maxResponse bounds a TimeStampResp (a token with its chain is a few kilobytes).
const maxResponse = 256 << 10

// Client obtains and checks tokens.
type Client struct {
	http    *http.Client
	timeout time.Duration
}

// NewClient returns a client on hc (a lib/safehttp client in the service), each authority
// bounded by timeout (Timeout when 0).
func NewClient(hc *http.Client, timeout time.Duration) *Client {
	if timeout <= 0 {
		timeout = Timeout
	}
	return &Client{http: hc, timeout: timeout}
}

// Token obtains a checked token over sig (imprint: h of sig) from the first of s's
// authorities that gives one, trying them in order; it returns the token's DER (the
// TimeStampToken, a CMS ContentInfo). When none does, the error is an *Error whose reason
// names the last authority's problem.
func (c *Client) Token(ctx context.Context, s Settings, h crypto.Hash, sig []byte) ([]byte, error) {
	if len(s.URLs) == 0 {
		return nil, &Error{Reason: "the deployment has no time-stamping authority configured (PUT /console/timestamping)"}
	}
	roots, err := c.roots(s)
	if err != nil {
		return nil, &Error{Reason: "the deployment's time-stamping trust roots do not parse", Cause: err}
	}
	var last *Error
	for _, u := range s.URLs {
		tok, err := c.one(ctx, u, roots, h, sig)
		if err == nil {
			return tok, nil
		}
		if !errors.As(err, &last) {
			last = &Error{Reason: "the time-stamping authority " + u + " failed", Cause: err}
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, last
}

func (c *Client) roots(s Settings) (*x509.CertPool, error) {
	if s.CAPEM == "" {
		return x509.SystemCertPool()
	}
	return Roots(s.CAPEM)
}

// one asks the authority at u.
func (c *Client) one(ctx context.Context, u string, roots *x509.CertPool, h crypto.Hash, sig []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	hh := h.New()
	hh.Write(sig)
	msg, req, err := pkcs9.NewRequest(u, h, hh.Sum(nil))
	if err != nil {
		return nil, &Error{Reason: "no time-stamp request could be made for " + h.String(), Cause: err}
	}
	resp, err := c.http.Do(req.WithContext(ctx))
	if err != nil {
		reason := "the time-stamping authority " + u + " could not be reached"
		if errors.Is(err, context.DeadlineExceeded) {
			reason = fmt.Sprintf("the time-stamping authority %s did not answer within %s", u, c.timeout)
		}
		return nil, &Error{Reason: reason, Cause: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	switch {
	case err != nil:
		return nil, &Error{Reason: "the time-stamping authority " + u + " answered incompletely", Cause: err}
	case resp.StatusCode != http.StatusOK:
		return nil, &Error{Reason: fmt.Sprintf("the time-stamping authority %s answered HTTP %d", u, resp.StatusCode)}
	case len(body) > maxResponse:
		return nil, &Error{Reason: "the time-stamping authority " + u + " answered more than 256 KiB"}
	}
	return check(u, msg, body, roots, h, sig)
}

// check accepts body, the authority u's answer to msg, only as a granted token over sig with
// msg's nonce, signed by a timeStamping certificate that chains to roots. (relic's
// TimeStampReq.ParseResponse is not used: it panics on a token without a nonce.)
func check(u string, msg *pkcs9.TimeStampReq, body []byte, roots *x509.CertPool, h crypto.Hash, sig []byte) ([]byte, error) {
	bad := func(what string, err error) error {
		return &Error{Reason: "the time-stamping authority " + u + " " + what, Cause: err}
	}
	var resp pkcs9.TimeStampResp
	if rest, err := asn1.Unmarshal(body, &resp); err != nil || len(rest) != 0 {
		return nil, bad("gave no valid token for this signature", fmt.Errorf("not a TimeStampResp: %v", err))
	}
	if resp.Status.Status > pkcs9.StatusGrantedWithMods {
		return nil, bad(fmt.Sprintf("refused the request (status %d)", resp.Status.Status), nil)
	}
	tok := &resp.TimeStampToken
	info, err := tokenInfo(tok)
	switch {
	case err != nil:
		return nil, bad("gave no valid token for this signature", err)
	case info.Nonce == nil || msg.Nonce.Cmp(info.Nonce) != 0:
		return nil, bad("gave no valid token for this signature", errors.New("the token does not carry the request's nonce"))
	case !hmac.Equal(info.MessageImprint.HashedMessage, msg.MessageImprint.HashedMessage):
		return nil, bad("gave no valid token for this signature", errors.New("the token's imprint is not the signature's"))
	}
	if err := CheckToken(tok, roots, h, sig); err != nil {
		return nil, bad("gave a token that does not check", err)
	}
	der, err := tok.Marshal()
	if err != nil {
		return nil, bad("gave a token that cannot be encoded again", err)
	}
	return der, nil
}

// tokenInfo is the TSTInfo a token signs.
func tokenInfo(tok *pkcs7.ContentInfoSignedData) (*pkcs9.TSTInfo, error) {
	raw, err := tok.Content.ContentInfo.Bytes()
	if err != nil || len(raw) == 0 {
		return nil, fmt.Errorf("no TSTInfo: %v", err)
	}
	if raw[0] == 0x04 { // wrapped in an OCTET STRING
		if _, err := asn1.Unmarshal(raw, &raw); err != nil {
			return nil, fmt.Errorf("TSTInfo: %w", err)
		}
	}
	var info pkcs9.TSTInfo
	if _, err := asn1.Unmarshal(raw, &info); err != nil {
		return nil, fmt.Errorf("TSTInfo: %w", err)
	}
	return &info, nil
}

// CheckToken checks that tok is a token over sig's h hash whose signer chains to roots as a
// time-stamping authority (nil roots: the system's).
func CheckToken(tok *pkcs7.ContentInfoSignedData, roots *x509.CertPool, h crypto.Hash, sig []byte) error {
	cs, err := pkcs9.Verify(tok, sig, nil)
	if err != nil {
		return err
	}
	if cs.Hash != h {
		return fmt.Errorf("the token's imprint is %s, the request's %s", cs.Hash, h)
	}
	return cs.VerifyChain(roots, nil)
}
