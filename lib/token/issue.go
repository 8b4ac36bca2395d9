package token

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/golang-jwt/jwt/v5"

	"github.com/opensignum/signum/lib/fault"
)

// Issuer issues tokens, signing each with one KMS Sign call. It is safe for concurrent use.
type Issuer struct {
	keyID string
	ttl   time.Duration
	now   func() time.Time
	kms   KMS
	keys  *keyCache
}

// NewIssuer returns an Issuer that signs with the KMS key keyID (id, ARN or alias of an
// ECC_NIST_P256 SIGN_VERIFY key) tokens valid for ttl from now(). A nil now means time.Now.
func NewIssuer(k KMS, keyID string, ttl time.Duration, now func() time.Time) *Issuer {
	if now == nil {
		now = time.Now
	}
	return &Issuer{keyID: keyID, ttl: ttl, now: now, kms: k, keys: newKeyCache(k, keyID, now)}
}

// Issue signs c (setting ID, IssuedAt, ExpiresAt = now+ttl, or now+c.Lifetime when that is
// shorter) and returns the compact JWT and the claims it carries. Times are whole seconds, as in the token. Claims without subject,
// deployment or a known system are refused with a plain error: they are a bug in the
// caller, not something a client sent. KMS failures wrap fault.ErrUnavailable.
func (i *Issuer) Issue(ctx context.Context, c Claims) (string, Claims, error) {
	switch {
	case c.Subject == "":
		return "", Claims{}, errors.New("issue token: empty subject")
	case c.Deployment == "":
		return "", Claims{}, errors.New("issue token: empty deployment")
	case !c.System.valid():
		return "", Claims{}, fmt.Errorf("issue token: unknown system %q", c.System)
	case i.ttl < time.Second:
		return "", Claims{}, fmt.Errorf("issue token: ttl %s is under a second", i.ttl)
	case c.Lifetime != 0 && c.Lifetime < time.Second:
		return "", Claims{}, fmt.Errorf("issue token: lifetime %s is under a second", c.Lifetime)
	}
	ttl := i.ttl
	if c.Lifetime > 0 && c.Lifetime < ttl {
		ttl = c.Lifetime
	}
	// Truncate first so that the claims returned equal those Verify returns.
	iat := i.now().UTC().Truncate(time.Second)
	c.IssuedAt, c.ExpiresAt, c.Lifetime = iat, iat.Add(ttl).Truncate(time.Second), 0
	// 130 bits from crypto/rand: unguessable and, in practice, unique.
	c.ID = rand.Text()
	wc := &wireClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    issuer,
			Subject:   c.Subject,
			Audience:  jwt.ClaimStrings{c.System.audience()},
			ExpiresAt: jwt.NewNumericDate(c.ExpiresAt),
			NotBefore: jwt.NewNumericDate(c.IssuedAt),
			IssuedAt:  jwt.NewNumericDate(c.IssuedAt),
			ID:        c.ID,
		},
		Deployment: c.Deployment, System: c.System, Roles: c.Roles, Name: c.Name, Generation: c.Generation, Workload: c.Workload,
	}
	pk, err := i.keys.current(ctx)
	if err != nil {
		return "", Claims{}, err
	}
	// The header names the key that signs, but is itself signed, so the key must be known
	// first: it is the cached key's ARN. If Sign reports another key (the alias moved since
	// the key was cached), learn the new key and sign once more.
	for attempt := 0; ; attempt++ {
		raw, signedBy, err := i.sign(ctx, wc, pk)
		if err != nil {
			return "", Claims{}, err
		}
		if signedBy == pk.kid {
			return raw, c, nil
		}
		if attempt > 0 {
			return "", Claims{}, fault.Wrap(fault.ErrUnavailable,
				fmt.Errorf("issue token: KMS key %s signed with %s, not %s", i.keyID, signedBy, pk.kid), detailUnavailable)
		}
		if pk, err = i.keys.refresh(ctx); err != nil {
			return "", Claims{}, err
		}
	}
}

// sign returns the compact token for wc with kid pk.kid, and the ARN of the key KMS signed
// it with.
func (i *Issuer) sign(ctx context.Context, wc *wireClaims, pk *publicKey) (string, string, error) {
	t := jwt.NewWithClaims(jwt.SigningMethodES256, wc)
	t.Header["kid"] = pk.kid
	signing, err := t.SigningString()
	if err != nil {
		return "", "", fmt.Errorf("issue token: encode: %w", err)
	}
	if n := len(signing) + 1 + base64.RawURLEncoding.EncodedLen(2*p256Size); n > maxTokenLen {
		// Verify would refuse it; better to fail here, where the cause is clear.
		return "", "", fmt.Errorf("issue token: %d bytes exceed the %d Verify accepts", n, maxTokenLen)
	}
	digest := sha256.Sum256([]byte(signing))
	out, err := i.kms.Sign(ctx, &kms.SignInput{
		KeyId: aws.String(i.keyID), Message: digest[:],
		MessageType: kmstypes.MessageTypeDigest, SigningAlgorithm: kmstypes.SigningAlgorithmSpecEcdsaSha256,
	})
	if err != nil {
		return "", "", retryAdvice(fault.Wrap(fault.ErrUnavailable, fmt.Errorf("issue token: sign with KMS key %s: %w", i.keyID, err),
			detailUnavailable))
	}
	sig, err := derToRaw(out.Signature)
	if err != nil {
		return "", "", fault.Wrap(fault.ErrUnavailable, fmt.Errorf("issue token: KMS signature: %w", err),
			detailUnavailable)
	}
	signedBy := aws.ToString(out.KeyId)
	if signedBy == pk.kid {
		// Check the signature before handing the token out: a token that cannot verify
		// (a bad conversion, a key mix-up) would otherwise surface as a confusing 401 later.
		if err := jwt.SigningMethodES256.Verify(signing, sig, pk.key); err != nil {
			return "", "", fmt.Errorf("issue token: KMS signature does not verify with key %s: %w", pk.kid, err)
		}
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig), signedBy, nil
}
