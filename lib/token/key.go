package token

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/opensignum/signum/lib/fault"
)

// refetchEvery bounds how often a kid other than the cached key's triggers a GetPublicKey:
// enough to pick up a rotation within a minute, too rare for forged kids to load KMS.
const refetchEvery = time.Minute

// errUnknownKey means a token names a key other than the one the configured id names.
var errUnknownKey = errors.New("token signed by a key other than the service key")

// publicKey is the service key's public half and its key ARN, which tokens carry as kid.
type publicKey struct {
	kid string
	key *ecdsa.PublicKey
}

// keyCache holds the service key's public key. Lookups for the cached kid never wait on KMS:
// mu guards the state only briefly, while fetchMu makes concurrent fetches wait for one
// another instead of all calling KMS.
type keyCache struct {
	kms   KMS
	keyID string
	now   func() time.Time

	fetchMu sync.Mutex

	mu        sync.Mutex
	cur       *publicKey
	fetchedAt time.Time // of the last fetch attempt, successful or not, once a key is cached
}

func newKeyCache(k KMS, keyID string, now func() time.Time) *keyCache {
	return &keyCache{kms: k, keyID: keyID, now: now}
}

func (c *keyCache) cached() *publicKey {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur
}

// current returns the cached key, fetching it when none is cached. A failed fetch is not
// cached: the next call tries again.
func (c *keyCache) current(ctx context.Context) (*publicKey, error) {
	if pk := c.cached(); pk != nil {
		return pk, nil
	}
	c.fetchMu.Lock()
	defer c.fetchMu.Unlock()
	if pk := c.cached(); pk != nil {
		return pk, nil // fetched while we waited
	}
	return c.fetch(ctx)
}

// forKID returns the key for a token whose header names kid. A kid other than the cached
// key's triggers a refetch, at most once per refetchEvery; if the key is still not kid's,
// the token is not ours (errUnknownKey).
func (c *keyCache) forKID(ctx context.Context, kid string) (*ecdsa.PublicKey, error) {
	if pk := c.cached(); pk != nil && pk.kid == kid {
		return pk.key, nil
	}
	c.fetchMu.Lock()
	defer c.fetchMu.Unlock()
	c.mu.Lock()
	pk, last := c.cur, c.fetchedAt
	c.mu.Unlock()
	switch {
	case pk != nil && pk.kid == kid:
		return pk.key, nil // fetched while we waited
	case pk != nil && c.now().Sub(last) < refetchEvery:
		return nil, errUnknownKey
	}
	pk, err := c.fetch(ctx)
	if err != nil {
		return nil, err
	}
	if pk.kid != kid {
		return nil, errUnknownKey
	}
	return pk.key, nil
}

// refresh fetches the key now, whatever the rate limit: for the issuer, when KMS has just
// shown (Sign's KeyId) that the configured alias names another key.
func (c *keyCache) refresh(ctx context.Context) (*publicKey, error) {
	c.fetchMu.Lock()
	defer c.fetchMu.Unlock()
	return c.fetch(ctx)
}

// fetch calls GetPublicKey and, on success, caches the result; fetchMu must be held. Every
// failure is fault.ErrUnavailable: KMS being down and the key being unusable (wrong spec,
// disabled, deleted) are both the service's problem, not the caller's.
func (c *keyCache) fetch(ctx context.Context) (*publicKey, error) {
	pk, err := c.get(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur != nil {
		// Rate-limit refetches by attempt, not success: while KMS is down, tokens with a
		// foreign kid must not turn into one KMS call each. The first fetch is not limited,
		// since without a key nothing verifies.
		c.fetchedAt = c.now()
	}
	if err != nil {
		return nil, retryAdvice(fault.Wrap(fault.ErrUnavailable, err, detailUnavailable))
	}
	c.cur, c.fetchedAt = pk, c.now()
	return pk, nil
}

func (c *keyCache) get(ctx context.Context) (*publicKey, error) {
	out, err := c.kms.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(c.keyID)})
	if err != nil {
		return nil, fmt.Errorf("get public key of KMS key %s: %w", c.keyID, err)
	}
	// Check the key is what tokens need before trusting anything it verifies, so that a
	// misconfigured key id fails loudly at first use rather than oddly later.
	if out.KeySpec != kmstypes.KeySpecEccNistP256 || out.KeyUsage != kmstypes.KeyUsageTypeSignVerify ||
		!slices.Contains(out.SigningAlgorithms, kmstypes.SigningAlgorithmSpecEcdsaSha256) {
		return nil, fmt.Errorf("KMS key %s is %s/%s; tokens need %s/%s", c.keyID, out.KeySpec, out.KeyUsage,
			kmstypes.KeySpecEccNistP256, kmstypes.KeyUsageTypeSignVerify)
	}
	if out.KeyId == nil || *out.KeyId == "" {
		return nil, fmt.Errorf("KMS key %s: GetPublicKey returned no key id", c.keyID)
	}
	pub, err := x509.ParsePKIXPublicKey(out.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("KMS key %s: parse public key: %w", c.keyID, err)
	}
	ec, ok := pub.(*ecdsa.PublicKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, fmt.Errorf("KMS key %s: public key is %T, not P-256", c.keyID, pub)
	}
	return &publicKey{kid: *out.KeyId, key: ec}, nil
}
