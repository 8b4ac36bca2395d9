// Package tsastandin is a local RFC 3161 time-stamping authority: what a public TSA (DigiCert,
// Sectigo, a company's own) is to a deployment that requires timestamps. It speaks the
// protocol over HTTP (a DER TimeStampReq posted as application/timestamp-query, a DER
// TimeStampResp answered as application/timestamp-reply) and signs its tokens with a
// throw-away certificate of its own CA, made at start, whose only extended key usage is
// timeStamping, marked critical, as RFC 3161 requires of a TSA's certificate.
//
// The request's decoding and the token's encoding are github.com/digitorus/timestamp's (the
// library sigstore's timestamp-authority serves with); this package only keeps the keys and
// answers.
//
// Fault, for tests, makes the authority answer wrongly on purpose: a token over another
// message imprint, a token without the request's nonce, or an HTTP error.
package tsastandin

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/digitorus/timestamp"
)

// Fault is a way the authority answers wrongly (tests).
type Fault string

// The faults.
const (
	// None answers correctly.
	None Fault = ""
	// OtherImprint answers a valid token over the hash of other bytes.
	OtherImprint Fault = "other-imprint"
	// NoNonce answers a valid token that lacks the request's nonce.
	NoNonce Fault = "no-nonce"
	// Down answers every request with 503.
	Down Fault = "down"
)

// PolicyOID is the TSA policy the stand-in's tokens name (a private arc: it means nothing
// outside this machine).
var PolicyOID = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 3161, 1}

// maxRequest bounds a TimeStampReq: a real one is about a hundred bytes.
const maxRequest = 16 << 10

// TSA is the authority: an http.Handler.
type TSA struct {
	// CAPEM is the PEM certificate of the CA that issued the authority's certificate: the
	// trust root a verifier of its tokens is given (osslsigncode -TSA-CAfile, openssl ts
	// -verify -CAfile).
	CAPEM []byte
	// CertPEM is the authority's own certificate.
	CertPEM []byte
	// URL is where Start serves it ("" for a TSA from New).
	URL string

	cert   *x509.Certificate
	key    crypto.Signer
	mu     sync.Mutex
	fault  Fault
	served int
	srv    *http.Server
}

// New makes an authority with a fresh CA and certificate (ECDSA P-256, valid from an hour ago
// for a year).
func New() (*TSA, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "Signum local TSA root (throw-away)"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTpl, caTpl, caKey.Public(), caKey)
	if err != nil {
		return nil, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	// Go writes the extended key usage extension non-critical; RFC 3161 (2.3) wants it
	// critical, and openssl ts -verify checks that, so the extension is written by hand.
	eku, _ := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})
	tpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "Signum local TSA (throw-away)"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0),
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: eku}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, ca, key.Public(), caKey)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &TSA{cert: cert, key: key,
		CAPEM:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	return n.Add(n, big.NewInt(1))
}

// Start makes an authority and serves it on addr ("127.0.0.1:0" when empty) until Close.
func Start(_ context.Context, addr string) (*TSA, error) {
	t, err := New()
	if err != nil {
		return nil, err
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	t.URL = "http://" + ln.Addr().String() + "/"
	t.srv = &http.Server{Handler: t, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = t.srv.Serve(ln) }()
	return t, nil
}

// Close stops a started authority.
func (t *TSA) Close() error {
	if t.srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return t.srv.Shutdown(ctx)
}

// SetFault makes the authority answer as f says from now on (None: correctly).
func (t *TSA) SetFault(f Fault) {
	t.mu.Lock()
	t.fault = f
	t.mu.Unlock()
}

// Served is how many tokens the authority has answered with.
func (t *TSA) Served() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.served
}

// ServeHTTP answers a POSTed TimeStampReq.
func (t *TSA) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t.mu.Lock()
	fault := t.fault
	t.mu.Unlock()
	if fault == Down {
		http.Error(w, "the time-stamping authority is down (injected)", http.StatusServiceUnavailable)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST a DER TimeStampReq (application/timestamp-query)", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequest+1))
	if err != nil || len(body) > maxRequest {
		http.Error(w, "a TimeStampReq is at most 16 KiB", http.StatusRequestEntityTooLarge)
		return
	}
	resp, err := t.Respond(body, fault)
	if err != nil {
		http.Error(w, "time-stamping failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/timestamp-reply")
	_, _ = w.Write(resp)
}

// Respond answers the DER TimeStampReq der with a DER TimeStampResp: a token over its message
// imprint with its nonce, or a rejection (badDataFormat) when it cannot be parsed.
func (t *TSA) Respond(der []byte, fault Fault) ([]byte, error) {
	req, err := timestamp.ParseRequest(der)
	if err != nil {
		return timestamp.CreateErrorResponse(timestamp.Rejection, timestamp.BadDataFormat)
	}
	if req.HashAlgorithm == 0 || !req.HashAlgorithm.Available() || len(req.HashedMessage) != req.HashAlgorithm.Size() {
		return timestamp.CreateErrorResponse(timestamp.Rejection, timestamp.BadAlgorithm)
	}
	ts := timestamp.Timestamp{HashAlgorithm: req.HashAlgorithm, HashedMessage: req.HashedMessage,
		Time: time.Now().UTC(), Accuracy: time.Second, Nonce: req.Nonce, Policy: PolicyOID,
		// The certificate goes in the token whatever the request asks: tokens are checked
		// against a trust root, not a configured TSA certificate.
		AddTSACertificate: true}
	switch fault {
	case OtherImprint:
		h := req.HashAlgorithm.New()
		h.Write([]byte("not what was asked"))
		ts.HashedMessage = h.Sum(nil)
	case NoNonce:
		ts.Nonce = nil
	}
	out, err := ts.CreateResponseWithOpts(t.cert, t.key, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("tsastandin: sign token: %w", err)
	}
	t.mu.Lock()
	t.served++
	t.mu.Unlock()
	return out, nil
}
