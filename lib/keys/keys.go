// Package keys is the service's key custody: private keys are generated in, and never leave,
// AWS KMS or a CloudHSM (PKCS#11). A Key is a crypto.Signer with a context-aware Sign; keys
// are addressed by URI ("awskms:///<key-id>", "pkcs11:token=<label>;object=<label>;id=<hex>"),
// stored on the certificate, so a certificate knows where its key lives. No operation returns
// private key material: backends expose Generate, Open, Sign, Public and ScheduleDeletion only.
//
// Backends live in sub-packages (keys/awskms, keys/pkcs11) and are linked only into the
// functions that need them; keys.Registry dispatches by URI scheme.
package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"fmt"
	"strings"

	"github.com/opensignum/signum/lib/fault"
)

// Algorithm is a key type and size.
type Algorithm string

// Supported key algorithms.
const (
	RSA2048 Algorithm = "RSA_2048"
	RSA3072 Algorithm = "RSA_3072"
	RSA4096 Algorithm = "RSA_4096"
	ECP256  Algorithm = "EC_P256"
	ECP384  Algorithm = "EC_P384"
)

// Algorithms lists every supported algorithm.
var Algorithms = []Algorithm{RSA2048, RSA3072, RSA4096, ECP256, ECP384}

// Valid reports whether a is supported.
func (a Algorithm) Valid() bool {
	for _, v := range Algorithms {
		if v == a {
			return true
		}
	}
	return false
}

// IsRSA reports whether a is an RSA algorithm.
func (a Algorithm) IsRSA() bool { return strings.HasPrefix(string(a), "RSA_") }

// Scheme is a signature scheme.
type Scheme string

// Signature schemes: PKCS#1 v1.5 and PSS for RSA keys, ECDSA for EC keys.
const (
	PKCS1v15 Scheme = "RSASSA_PKCS1_V1_5"
	PSS      Scheme = "RSASSA_PSS"
	ECDSA    Scheme = "ECDSA"
)

// Hashes are the digest algorithms keys sign: SHA-256, SHA-384, SHA-512 (never SHA-1).
var Hashes = []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512}

// SchemesFor lists the schemes a key of algorithm a signs with.
func SchemesFor(a Algorithm) []Scheme {
	if a.IsRSA() {
		return []Scheme{PKCS1v15, PSS}
	}
	return []Scheme{ECDSA}
}

// Opts returns the crypto.SignerOpts that ask for scheme s with hash h. PSS uses a salt as
// long as the hash, which is what KMS and PKCS#11 tokens produce and verifiers expect.
func Opts(s Scheme, h crypto.Hash) crypto.SignerOpts {
	if s == PSS {
		return &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h}
	}
	return h
}

// SchemeOf tells which scheme opts ask for from a key of algorithm a.
func SchemeOf(a Algorithm, opts crypto.SignerOpts) Scheme {
	if _, ok := opts.(*rsa.PSSOptions); ok {
		return PSS
	}
	if a.IsRSA() {
		return PKCS1v15
	}
	return ECDSA
}

// CheckDigest refuses digests whose length does not match opts' hash, and hashes this service
// does not sign with.
func CheckDigest(digest []byte, opts crypto.SignerOpts) error {
	h := opts.HashFunc()
	ok := false
	for _, v := range Hashes {
		ok = ok || v == h
	}
	if !ok {
		return fault.Newf(ErrUnsupported, "digest algorithm %v is not supported; use SHA-256, SHA-384 or SHA-512", h)
	}
	if len(digest) != h.Size() {
		return fault.Newf(fault.ErrInvalid, "a %v digest is %d bytes, not %d", h, h.Size(), len(digest))
	}
	return nil
}

// AlgorithmOf tells the algorithm of a public key.
func AlgorithmOf(pub crypto.PublicKey) (Algorithm, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		switch k.N.BitLen() {
		case 2048:
			return RSA2048, nil
		case 3072:
			return RSA3072, nil
		case 4096:
			return RSA4096, nil
		}
	case *ecdsa.PublicKey:
		switch k.Curve.Params().Name {
		case "P-256":
			return ECP256, nil
		case "P-384":
			return ECP384, nil
		}
	}
	return "", fault.Newf(ErrUnsupported, "unsupported public key %T", pub)
}

// Errors of key backends; each wraps a fault kind.
var (
	// ErrNotFound means no key has the URI (or it was deleted).
	ErrNotFound = fmt.Errorf("keys: %w", fault.ErrNotFound)
	// ErrDisabled means the key exists but may not be used (disabled, pending deletion).
	ErrDisabled = fmt.Errorf("keys: key disabled: %w", fault.ErrConflict)
	// ErrUnsupported means the algorithm, scheme or hash is not supported by the key.
	ErrUnsupported = fmt.Errorf("keys: unsupported: %w", fault.ErrInvalid)
	// ErrUnavailable means the backend is down or throttling; the call may be retried.
	ErrUnavailable = fmt.Errorf("keys: %w", fault.ErrUnavailable)
)

// Key is a private key held by a backend.
type Key interface {
	crypto.Signer
	// SignContext signs digest (already hashed with opts.HashFunc()) with the scheme opts
	// name: a crypto.Hash for PKCS#1 v1.5 or ECDSA, *rsa.PSSOptions for PSS. ECDSA signatures
	// are ASN.1 DER, as crypto/ecdsa makes them.
	SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error)
	// URI is where the key lives; Open(URI) gives the key back.
	URI() string
	// Algorithm is the key's type and size.
	Algorithm() Algorithm
}

// GenerateRequest asks a backend for a new key.
type GenerateRequest struct {
	Algorithm Algorithm
	// Label names the key in the backend (KMS description and tag, PKCS#11 label); it must
	// be unique in the backend. The service uses the certificate id.
	Label string
	// Tags are attached where the backend supports them (KMS), e.g. the deployment id that
	// IAM policies can match on.
	Tags map[string]string
}

// Backend generates and opens keys.
type Backend interface {
	// Scheme is the URI scheme of the backend's keys ("awskms", "pkcs11").
	Scheme() string
	Generate(ctx context.Context, req GenerateRequest) (Key, error)
	Open(ctx context.Context, uri string) (Key, error)
	// ScheduleDeletion makes the key unusable and deletes it (KMS: after the minimum
	// waiting period; PKCS#11: at once).
	ScheduleDeletion(ctx context.Context, uri string) error
}

// Registry dispatches to backends by URI scheme.
type Registry struct{ backends map[string]Backend }

// NewRegistry returns a registry of backends.
func NewRegistry(bs ...Backend) *Registry {
	r := &Registry{backends: map[string]Backend{}}
	for _, b := range bs {
		r.backends[b.Scheme()] = b
	}
	return r
}

// Backend returns the backend of scheme.
func (r *Registry) Backend(scheme string) (Backend, error) {
	b, ok := r.backends[scheme]
	if !ok {
		return nil, fault.Newf(ErrUnsupported, "the key backend %q is not available in this deployment", scheme)
	}
	return b, nil
}

// Open opens the key at uri with the backend its scheme names.
func (r *Registry) Open(ctx context.Context, uri string) (Key, error) {
	scheme, _, ok := strings.Cut(uri, ":")
	if !ok {
		return nil, fault.Newf(ErrNotFound, "%q is not a key URI", uri)
	}
	b, err := r.Backend(scheme)
	if err != nil {
		return nil, err
	}
	return b.Open(ctx, uri)
}

// ScheduleDeletion deletes the key at uri with its backend.
func (r *Registry) ScheduleDeletion(ctx context.Context, uri string) error {
	scheme, _, _ := strings.Cut(uri, ":")
	b, err := r.Backend(scheme)
	if err != nil {
		return err
	}
	return b.ScheduleDeletion(ctx, uri)
}
