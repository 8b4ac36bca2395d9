package token

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/opensignum/signum/lib/fault"
)

// maxTokenLen caps the raw token Verify parses. Ours are well under 1 KiB even with many
// roles; the cap bounds the base64 and JSON work an unauthenticated caller can cause.
const maxTokenLen = 8 << 10

// leeway is the clock skew allowed between the issuing and the verifying instance.
const leeway = 30 * time.Second

// Caller-safe details. They say what the client should do (sign in again, fix its clock, use
// the right system) and nothing about why a signature failed.
const (
	detailInvalid     = "The token is not valid."
	detailMissing     = "The token is missing."
	detailExpired     = "The token has expired."
	detailNotYet      = "The token is not valid yet."
	detailWrongSystem = "The token is not valid for this system."
	detailUnavailable = "The token service is temporarily unavailable."
)

// Verifier checks tokens against the public key of the service key, fetched from KMS on first
// use and cached. It is safe for concurrent use.
type Verifier struct {
	now  func() time.Time
	keys *keyCache
	// verified remembers tokens whose signature and claims verified (verifiedToken by the
	// SHA-256 of the token and the system): an agent sends the same token with every request,
	// and the signature is checked once per instance, not once per request. Their times, and
	// that their key is still the trusted one, are checked again on every use. size counts
	// them; the map is emptied past maxVerified.
	verified sync.Map
	size     atomic.Int64
}

// verifiedToken is a token that verified, as Verify returned it, with the key that signed it
// and from when it may be used.
type verifiedToken struct {
	claims    Claims
	kid       string
	notBefore time.Time
}

// maxVerified bounds the verified tokens a Verifier remembers.
const maxVerified = 10000

// NewVerifier returns a Verifier that trusts the KMS key keyID (id, ARN or alias; the key it
// names when the public key is fetched) and checks times against now(). A nil now means
// time.Now.
func NewVerifier(k KMS, keyID string, now func() time.Time) *Verifier {
	if now == nil {
		now = time.Now
	}
	return &Verifier{now: now, keys: newKeyCache(k, keyID, now)}
}

// Verify parses and checks token raw for audience sys: the signature (ES256 by the service
// key only: "none", HMAC, RSA and other algorithms are refused, so neither the public key
// nor an outside key can forge one; and low S only, so a token has one valid spelling), issuer "signum", audience, exp/nbf/iat with 30 s of
// leeway, and the required claims (sub, dep, sys matching the audience, jti).
//
// Every refusal wraps fault.ErrUnauthenticated with a caller-safe detail; the error never
// contains the token. When the public key cannot be fetched from KMS the error wraps
// fault.ErrUnavailable instead: the token may be fine, and the client should retry.
func (v *Verifier) Verify(ctx context.Context, raw string, sys System) (Claims, error) {
	switch {
	case raw == "":
		return Claims{}, fault.Newf(fault.ErrUnauthenticated, detailMissing)
	case len(raw) > maxTokenLen:
		return Claims{}, fault.Wrap(fault.ErrUnauthenticated, fmt.Errorf("token of %d bytes exceeds %d", len(raw), maxTokenLen), detailInvalid)
	case !compact(raw):
		return Claims{}, fault.Wrap(fault.ErrUnauthenticated, errors.New("token has characters outside base64url and '.'"), detailInvalid)
	case !sys.valid():
		return Claims{}, fault.Wrap(fault.ErrUnauthenticated, fmt.Errorf("verify token: unknown system %q", sys), detailInvalid)
	case highS(raw):
		// ECDSA signatures are malleable: (r, n-s) verifies wherever (r, s) does. Issue
		// emits low S only, so the twin is not a token we issued.
		return Claims{}, fault.Wrap(fault.ErrUnauthenticated, errors.New("token signature has a high S"), detailInvalid)
	}
	sum := sha256.Sum256([]byte(raw))
	ck := string(sum[:]) + string(sys)
	now := v.now()
	if c, ok := v.verified.Load(ck); ok {
		vt := c.(verifiedToken)
		switch {
		case now.After(vt.claims.ExpiresAt.Add(leeway)):
			v.forget(ck)
			return Claims{}, fault.Wrap(fault.ErrUnauthenticated, jwt.ErrTokenExpired, detailExpired)
		case now.Before(vt.notBefore.Add(-leeway)):
			return Claims{}, fault.Wrap(fault.ErrUnauthenticated, jwt.ErrTokenNotValidYet, detailNotYet)
		}
		// The key that signed it must still be the trusted one (see the package comment on
		// rotation).
		if _, err := v.keys.forKID(ctx, vt.kid); err != nil {
			if errors.Is(err, fault.ErrUnavailable) {
				return Claims{}, err
			}
			v.forget(ck)
			return Claims{}, fault.Wrap(fault.ErrUnauthenticated, err, detailInvalid)
		}
		return vt.claims, nil
	}
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithAudience(sys.audience()),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(v.now),
		jwt.WithExpirationRequired(),
		jwt.WithNotBeforeRequired(),
		jwt.WithIssuedAt(),
		// One encoding per token: no padding, no stray bits, so a token cannot be altered
		// in transit and still verify.
		jwt.WithStrictDecoding(),
	)
	// The key function runs only for well-formed ES256 tokens, so garbage never reaches KMS.
	// Its error is kept here because the parser folds it into its own.
	var keyErr error
	var signedBy string
	wc := &wireClaims{want: sys}
	_, err := p.ParseWithClaims(raw, wc, func(t *jwt.Token) (any, error) {
		if typ, ok := t.Header["typ"]; ok && typ != "JWT" {
			keyErr = errors.New("token header typ is not JWT")
			return nil, keyErr
		}
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			keyErr = errors.New("token header has no kid")
			return nil, keyErr
		}
		key, err := v.keys.forKID(ctx, kid)
		if err != nil {
			keyErr = err
			return nil, err
		}
		signedBy = kid
		return key, nil
	})
	if errors.Is(keyErr, fault.ErrUnavailable) {
		return Claims{}, keyErr // the key could not be fetched: not the token's fault
	}
	if err != nil {
		return Claims{}, fault.Wrap(fault.ErrUnauthenticated, err, detailFor(err))
	}
	c := Claims{
		Subject:    wc.Subject,
		System:     wc.System,
		Deployment: wc.Deployment,
		Roles:      wc.Roles,
		Name:       wc.Name,
		Generation: wc.Generation,
		Workload:   wc.Workload,
		ID:         wc.ID,
		IssuedAt:   wc.IssuedAt.UTC(),
		ExpiresAt:  wc.ExpiresAt.UTC(),
	}
	vt := verifiedToken{claims: c, kid: signedBy, notBefore: wc.NotBefore.UTC()}
	if _, had := v.verified.Swap(ck, vt); !had && v.size.Add(1) > maxVerified {
		v.verified.Range(func(k, _ any) bool { v.verified.Delete(k); return true })
		v.size.Store(0)
	}
	return c, nil
}

// forget drops a remembered token.
func (v *Verifier) forget(ck string) {
	if _, had := v.verified.LoadAndDelete(ck); had {
		v.size.Add(-1)
	}
}

// compact says whether raw has only the characters of a compact JWS: base64url and '.'.
// Go's base64 decoder skips CR and LF even in strict mode, so without this check a token with
// line breaks in its signature would verify; one spelling per token keeps logs, caches and
// deny lists keyed on the token honest.
func compact(raw string) bool {
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}

// detailFor picks the caller-safe detail for a parse error. Time and audience errors come
// only from claims checks, which run after the signature verified: a forged token always
// gets detailInvalid.
func detailFor(err error) string {
	switch {
	case !errors.Is(err, jwt.ErrTokenInvalidClaims):
		return detailInvalid
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return detailWrongSystem
	case errors.Is(err, jwt.ErrTokenExpired):
		return detailExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return detailNotYet
	}
	return detailInvalid
}

// Validate is called by the parser after the registered claims passed (jwt.ClaimsValidator):
// it checks what only this service requires.
func (c wireClaims) Validate() error {
	var errs []error
	for _, f := range []struct{ name, v string }{{"sub", c.Subject}, {"dep", c.Deployment}, {"jti", c.ID}} {
		if f.v == "" {
			errs = append(errs, fmt.Errorf("%w: %s", jwt.ErrTokenRequiredClaimMissing, f.name))
		}
	}
	if c.IssuedAt == nil {
		errs = append(errs, fmt.Errorf("%w: iat", jwt.ErrTokenRequiredClaimMissing))
	}
	// One audience, and sys agreeing with it: a token for both systems is not one we issue.
	if len(c.Audience) > 1 { // none is reported by the parser
		errs = append(errs, fmt.Errorf("%w: %d audiences", jwt.ErrTokenInvalidAudience, len(c.Audience)))
	}
	if c.System != c.want {
		errs = append(errs, fmt.Errorf("system %q does not match audience %q", c.System, c.want.audience()))
	}
	return errors.Join(errs...)
}
