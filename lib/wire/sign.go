// Package wire holds the public API's JSON bodies that more than one side uses, so that the
// sides cannot drift apart: the bodies of POST /sign, POST /sign/evaluate and
// GET /sign/certificates (the signer,
// lib/api/signer, and its clients, lib/client and the CLI), the deployment (the operator and
// portal APIs) and the bearer-token answer (portal and console logins). It depends on the
// standard library, lib/tenant and lib/fault only, so a client does not link the service.
package wire

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
)

// Digest is one digest to sign.
type Digest struct {
	Digest          string `json:"digest"` // base64
	DigestAlgorithm string `json:"digestAlgorithm"`
	// FileName names the file this digest is of (else context.fileName applies).
	FileName string `json:"fileName,omitempty"`
}

// Context is what the client reports about where the request comes from.
type Context struct {
	Process     string            `json:"process,omitempty"`
	CommandLine string            `json:"commandLine,omitempty"`
	FileName    string            `json:"fileName,omitempty"`
	AgentID     string            `json:"agentId,omitempty"`
	CI          map[string]string `json:"ci,omitempty"`
}

// Request is the body of POST /sign.
type Request struct {
	CertificateID   string   `json:"certificateId"`
	SignatureScheme string   `json:"signatureScheme,omitempty"`
	Digests         []Digest `json:"digests"`
	Context         Context  `json:"context"`
}

// Signature is one signed digest.
type Signature struct {
	Digest    string `json:"digest"`
	Signature string `json:"signature"`
	EventID   string `json:"eventId"`
	// TimestampToken, when the policy that allowed the request requires timestamps, is the
	// base64 DER of an RFC 3161 TimeStampToken (a CMS ContentInfo) over the signature value:
	// its message imprint is the hash of the signature's bytes with the request's digest
	// algorithm, ready to embed as an Authenticode or CMS timestamp countersignature.
	TimestampToken string `json:"timestampToken,omitempty"`
}

// Response is the answer to POST /sign.
type Response struct {
	CertificateID   string      `json:"certificateId"`
	Algorithm       string      `json:"keyAlgorithm"`
	SignatureScheme string      `json:"signatureScheme"`
	Signatures      []Signature `json:"signatures"`
	ChainPEM        string      `json:"chainPem"`
	// Receipt is the service's signed statement of where the request's decision and
	// completion events are in the deployment's log (a seal, lib/audit): the client keeps it,
	// and "signum events verify --receipts" checks an export of the log against it offline.
	Receipt json.RawMessage `json:"receipt,omitempty"`
}

// Chain parses the answer's certificate chain (leaf first).
func (r Response) Chain() ([]*x509.Certificate, error) { return ParseChain(r.ChainPEM) }

// Certificate is a certificate the caller may sign with (GET /sign/certificates).
type Certificate struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Algorithm  string   `json:"keyAlgorithm"`
	Schemes    []string `json:"signatureSchemes"`
	Subject    string   `json:"subject"`
	Thumbprint string   `json:"thumbprintSha256"`
	NotAfter   string   `json:"notAfter"`
	// Owner says the caller may sign by owning the certificate (no policy matched). Which
	// policy allows is not said: signers may not be allowed to read policies.
	Owner bool `json:"owner"`
	// ChainPEM is the certificate chain (leaf first), which clients embed in what they sign.
	ChainPEM string `json:"chainPem"`
}

// Evaluation is the body of POST /sign/evaluate: a signing request the caller would send,
// to be decided without signing or recording anything.
type Evaluation struct {
	CertificateID string `json:"certificateId"`
	// Process and CommandLine are what the request would report in its context.
	Process     string `json:"process,omitempty"`
	CommandLine string `json:"commandLine,omitempty"`
}

// Verdict is the answer to POST /sign/evaluate: what POST /sign would decide.
type Verdict struct {
	Allowed bool `json:"allowed"`
	// PolicyID and PolicyName name the policy that would allow the request; a denial names
	// none (Reason says whether a policy denies or none allows), as POST /sign's does.
	PolicyID   string `json:"policyId,omitempty"`
	PolicyName string `json:"policyName,omitempty"`
	// Owner says the caller would sign by owning the certificate (no policy matched).
	Owner  bool   `json:"owner"`
	Reason string `json:"reason"`
	// ApprovalsRequired: the request would be held (202) until that many approvers approve
	// it. TimestampRequired: its signatures would carry a time-stamping authority's token.
	ApprovalsRequired int  `json:"approvalsRequired,omitempty"`
	TimestampRequired bool `json:"timestampRequired,omitempty"`
}

// Chain parses the certificate's chain (leaf first).
func (c Certificate) Chain() ([]*x509.Certificate, error) { return ParseChain(c.ChainPEM) }

// ParseChain parses a PEM certificate chain; it holds at least one certificate.
func ParseChain(chainPEM string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := []byte(chainPEM)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("the certificate chain does not parse: %w", err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("the answer has no certificate chain")
	}
	return out, nil
}
