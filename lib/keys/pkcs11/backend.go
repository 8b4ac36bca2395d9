//go:build cgo

package pkcs11

import (
	"context"
	"crypto"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/ThalesGroup/crypto11"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/keys"
)

// idLen is the length of the random CKA_ID of a generated key.
const idLen = 16

// Backend is a keys.Backend on one PKCS#11 token. It is safe for concurrent use: crypto11
// keeps one logged-in session open for the Backend's lifetime and lends each operation a
// session from a pool of at most Config.MaxSessions-1.
type Backend struct {
	ctx    *crypto11.Context
	token  string
	tok    tokenKey
	closed atomic.Bool
	once   sync.Once
	// genMu serialises Generate's "label unused?" check with the generation, so two
	// Generates on this Backend cannot both create a label. Another Backend or process can
	// still race us: PKCS#11 has no conditional create.
	genMu sync.Mutex
}

var _ keys.Backend = (*Backend)(nil)

// New loads the PKCS#11 module, finds the token labelled cfg.TokenLabel and logs in with
// cfg.PIN. The token being absent, the PIN being wrong or the module failing are
// keys.ErrUnavailable; a bad cfg is fault.ErrInvalid. No error contains the PIN.
//
// Several Backends of one process may use the same token, with the same PIN: PKCS#11 login
// state belongs to the module instance, which crypto11 shares per LibraryPath, so the token
// would accept any PIN while one Backend is logged in (it answers
// CKR_USER_ALREADY_LOGGED_IN, which crypto11 takes for success). New therefore refuses a PIN
// other than the one the open Backends of that token logged in with.
func New(cfg Config) (*Backend, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	tok := tokenKey{cfg.LibraryPath, cfg.TokenLabel}
	pin := sha256.Sum256([]byte(cfg.PIN))
	logins.Lock()
	defer logins.Unlock()
	if l, ok := logins.m[tok]; ok && subtle.ConstantTimeCompare(l.pin[:], pin[:]) != 1 {
		return nil, fault.Newf(keys.ErrUnavailable, "cannot log in to PKCS#11 token %q: this process is logged in to it with another PIN; close that Backend first", cfg.TokenLabel)
	}
	c, err := crypto11.Configure(&crypto11.Config{
		Path:        cfg.LibraryPath,
		TokenLabel:  cfg.TokenLabel,
		Pin:         cfg.PIN,
		MaxSessions: cfg.MaxSessions,
	})
	if err != nil {
		return nil, redactPIN(mapError(err, fmt.Sprintf("cannot log in to PKCS#11 token %q with module %s", cfg.TokenLabel, cfg.LibraryPath)), cfg.PIN)
	}
	logins.m[tok] = login{pin: pin, n: logins.m[tok].n + 1}
	return &Backend{ctx: c, token: cfg.TokenLabel, tok: tok}, nil
}

// logins are the tokens this process's open Backends are logged in to, with a hash of the
// PIN they used.
var logins = struct {
	sync.Mutex
	m map[tokenKey]login
}{m: map[tokenKey]login{}}

type tokenKey struct{ library, token string }

type login struct {
	pin [sha256.Size]byte
	n   int // open Backends
}

// Close logs out and unloads the module once no other Backend of the process uses it. It
// waits for operations in flight. Operations after Close fail with keys.ErrUnavailable.
func (b *Backend) Close() error {
	var err error
	b.once.Do(func() {
		b.closed.Store(true)
		logins.Lock()
		defer logins.Unlock()
		err = b.ctx.Close()
		if l := logins.m[b.tok]; l.n > 1 {
			logins.m[b.tok] = login{pin: l.pin, n: l.n - 1}
		} else {
			delete(logins.m, b.tok)
		}
	})
	return err
}

// Scheme is "pkcs11".
func (b *Backend) Scheme() string { return Scheme }

// Generate makes a key pair on the token with a fresh random 16-byte CKA_ID and req.Label as
// CKA_LABEL. The private half is a token object that is private, sensitive, non-extractable
// and may only sign; the public half may only verify. A label that a key pair on the token
// already has is fault.ErrConflict. req.Tags are ignored: PKCS#11 has nowhere to put them.
func (b *Backend) Generate(ctx context.Context, req keys.GenerateRequest) (keys.Key, error) {
	if !req.Algorithm.Valid() {
		return nil, fault.Newf(keys.ErrUnsupported, "key algorithm %.32q is not supported", string(req.Algorithm))
	}
	if err := checkLabel(req.Label); err != nil {
		return nil, err
	}
	if err := b.usable(ctx); err != nil {
		return nil, err
	}
	id := make([]byte, idLen)
	if _, err := rand.Read(id); err != nil {
		return nil, fmt.Errorf("pkcs11: key id: %w", err)
	}

	b.genMu.Lock()
	defer b.genMu.Unlock()
	existing, err := b.ctx.FindKeyPairs(nil, []byte(req.Label))
	if err != nil {
		return nil, mapError(err, "cannot look up the key label")
	}
	if len(existing) > 0 {
		return nil, fault.Newf(fault.ErrConflict, "a key labelled %q already exists on token %q", req.Label, b.token)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("pkcs11: generate: %w", err)
	}

	pub, priv, err := templates(id, req.Label, req.Algorithm)
	if err != nil {
		return nil, err
	}
	var s crypto11.Signer
	switch req.Algorithm {
	case keys.RSA2048, keys.RSA3072, keys.RSA4096:
		s, err = b.ctx.GenerateRSAKeyPairWithAttributes(pub, priv, rsaBits[req.Algorithm])
	case keys.ECP256, keys.ECP384:
		s, err = b.ctx.GenerateECDSAKeyPairWithAttributes(pub, priv, curves[req.Algorithm])
	}
	if err != nil {
		return nil, mapError(err, fmt.Sprintf("cannot generate a %s key", req.Algorithm))
	}
	return &key{b: b, s: s, alg: req.Algorithm, uri: URI{Token: b.token, Object: req.Label, ID: id}.String()}, nil
}

var rsaBits = map[keys.Algorithm]int{keys.RSA2048: 2048, keys.RSA3072: 3072, keys.RSA4096: 4096}

var curves = map[keys.Algorithm]elliptic.Curve{keys.ECP256: elliptic.P256(), keys.ECP384: elliptic.P384()}

// templates are the attributes of a new key pair. crypto11 adds class, key type, modulus
// size or curve; it would also default CKA_SENSITIVE and CKA_EXTRACTABLE as here, but
// CKA_DECRYPT (and CKA_ENCRYPT on the public half) to true, so the templates say everything a
// signing key needs rather than rely on those defaults.
func templates(id []byte, label string, alg keys.Algorithm) (pub, priv crypto11.AttributeSet, err error) {
	pub, priv = crypto11.NewAttributeSet(), crypto11.NewAttributeSet()
	set := func(a crypto11.AttributeSet, t crypto11.AttributeType, v any) {
		if err == nil {
			err = a.Set(t, v)
		}
	}
	for _, a := range []crypto11.AttributeSet{pub, priv} {
		set(a, crypto11.CkaId, id)
		set(a, crypto11.CkaLabel, []byte(label))
		set(a, crypto11.CkaToken, true)
	}
	set(pub, crypto11.CkaVerify, true)
	set(priv, crypto11.CkaPrivate, true)
	set(priv, crypto11.CkaSign, true)
	set(priv, crypto11.CkaSensitive, true)
	set(priv, crypto11.CkaExtractable, false)
	if alg.IsRSA() {
		set(pub, crypto11.CkaEncrypt, false)
		set(priv, crypto11.CkaDecrypt, false)
	} else {
		set(priv, crypto11.CkaDerive, false)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("pkcs11: key template: %w", err)
	}
	return pub, priv, nil
}

func checkLabel(l string) error {
	switch {
	case l == "":
		return fault.Newf(fault.ErrInvalid, "a PKCS#11 key needs a label")
	case len(l) > maxKeyLabel:
		return fault.Newf(fault.ErrInvalid, "a PKCS#11 key label is at most %d bytes, not %d", maxKeyLabel, len(l))
	case !isText(l):
		return fault.Newf(fault.ErrInvalid, "a PKCS#11 key label must be UTF-8 text without control characters")
	}
	return nil
}

// Open finds the key pair uri names on the configured token. A URI of another token, a
// malformed URI and a key that is not there are keys.ErrNotFound; a URI that matches more
// than one key pair (possible only without id) is fault.ErrConflict.
func (b *Backend) Open(ctx context.Context, uri string) (keys.Key, error) {
	s, u, err := b.find(ctx, uri)
	if err != nil {
		return nil, err
	}
	alg, err := keys.AlgorithmOf(s.Public())
	if err != nil {
		return nil, fmt.Errorf("pkcs11: key %s: %w", uri, err)
	}
	if u.Object == "" || len(u.ID) == 0 {
		// Give the key its full URI, so that what is stored names exactly one key pair.
		attrs, err := b.ctx.GetAttributes(s, []crypto11.AttributeType{crypto11.CkaId, crypto11.CkaLabel})
		if err != nil {
			return nil, mapError(err, "cannot read the key's id and label")
		}
		u.ID, u.Object = attrs[crypto11.CkaId].Value, string(attrs[crypto11.CkaLabel].Value)
	}
	u.Token = b.token
	return &key{b: b, s: s, alg: alg, uri: u.String()}, nil
}

// ScheduleDeletion destroys the key pair uri names, at once: PKCS#11 has no pending
// deletion. Afterwards Open(uri) is keys.ErrNotFound.
func (b *Backend) ScheduleDeletion(ctx context.Context, uri string) error {
	s, _, err := b.find(ctx, uri)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pkcs11: delete: %w", err)
	}
	if err := s.Delete(); err != nil {
		return mapError(err, fmt.Sprintf("cannot delete key %s", uri))
	}
	return nil
}

// find parses uri and finds exactly one key pair for it.
func (b *Backend) find(ctx context.Context, uri string) (crypto11.Signer, URI, error) {
	u, err := ParseURI(uri)
	if err != nil {
		return nil, u, err
	}
	if u.Token != "" && u.Token != b.token {
		return nil, u, notFoundf("key %s is on token %q; this service uses token %q", uri, u.Token, b.token)
	}
	if err := b.usable(ctx); err != nil {
		return nil, u, err
	}
	found, err := b.ctx.FindKeyPairs(u.ID, []byte(u.Object))
	if err != nil {
		return nil, u, mapError(err, fmt.Sprintf("cannot look up key %s", uri))
	}
	switch len(found) {
	case 0:
		return nil, u, notFoundf("no key %s", uri)
	case 1:
		return found[0], u, nil
	}
	return nil, u, fault.Newf(fault.ErrConflict, "%d key pairs match %s; name the key by object and id", len(found), uri)
}

// usable fails when ctx is done or b is closed, so that no call reaches the token then.
func (b *Backend) usable(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pkcs11: %w", err)
	}
	if b.closed.Load() {
		return fault.Newf(keys.ErrUnavailable, "the PKCS#11 backend is closed")
	}
	return nil
}

// key is a key pair on the token.
type key struct {
	b   *Backend
	s   crypto11.Signer
	alg keys.Algorithm
	uri string
}

func (k *key) Public() crypto.PublicKey  { return k.s.Public() }
func (k *key) URI() string               { return k.uri }
func (k *key) Algorithm() keys.Algorithm { return k.alg }
func (k *key) String() string            { return k.uri }

// Sign implements crypto.Signer; rand is unused, the token draws its own randomness.
func (k *key) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return k.SignContext(context.Background(), digest, opts)
}

// SignContext signs digest on the token: PKCS#1 v1.5 (opts a crypto.Hash) or PSS (opts an
// *rsa.PSSOptions whose salt is as long as the hash; rsa.PSSSaltLengthAuto is taken to mean
// that too) with an RSA key, ECDSA with an EC key, ASN.1 DER like crypto/ecdsa. The token
// draws its own randomness. ctx is checked before the token is called; a signature in
// progress is not interrupted (PKCS#11 has no cancel).
func (k *key) SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if err := keys.CheckDigest(digest, opts); err != nil {
		return nil, err
	}
	h := opts.HashFunc()
	switch scheme := keys.SchemeOf(k.alg, opts); {
	case scheme == keys.PSS && !k.alg.IsRSA():
		return nil, fault.Newf(keys.ErrUnsupported, "a %s key cannot sign with %s", k.alg, scheme)
	case scheme == keys.PSS:
		switch salt := opts.(*rsa.PSSOptions).SaltLength; salt {
		case rsa.PSSSaltLengthAuto, rsa.PSSSaltLengthEqualsHash, h.Size():
			opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h}
		default:
			return nil, fault.Newf(keys.ErrUnsupported, "a PSS salt of %d bytes is not supported; the salt is as long as the hash (%d bytes)", salt, h.Size())
		}
	default:
		// crypto11 signs PKCS#1 v1.5 for anything but *rsa.PSSOptions and ignores opts for
		// ECDSA; pass the bare hash so that no other SignerOpts type reaches it.
		opts = h
	}
	if err := k.b.usable(ctx); err != nil {
		return nil, err
	}
	sig, err := k.s.Sign(nil, digest, opts)
	if err != nil {
		return nil, mapError(err, fmt.Sprintf("cannot sign with key %s", k.uri))
	}
	return sig, nil
}

// Compile-time check that Backend tells key states.
var _ keys.Stater = (*Backend)(nil)

// State finds the key pair uri names on the token: one found is enabled (PKCS#11 has no
// disabled or pending state: a key there can sign, a destroyed one is gone); none is missing;
// a token, module or login that is not working (or a closed Backend) is unreachable; a URI
// naming more than one key pair stays an error.
func (b *Backend) State(ctx context.Context, uri string) (keys.State, error) {
	if _, _, err := b.find(ctx, uri); err != nil {
		return keys.StateOf(err)
	}
	return keys.State{Status: keys.StatusEnabled}, nil
}
