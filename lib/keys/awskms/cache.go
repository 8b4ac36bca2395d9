package awskms

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/keys"
)

// maxCachedKeys bounds the public-key cache of a long-lived process (the local server) that
// opens many keys. An entry is well under a kilobyte; when the cache is full, an arbitrary
// entry makes room, which costs at most one more GetPublicKey later.
const maxCachedKeys = 4096

// publicInfo is what GetPublicKey says about a key; none of it ever changes.
type publicInfo struct {
	alg keys.Algorithm
	pub crypto.PublicKey
}

// publicKeys caches publicInfo by the key reference (key id or ARN) that KMS is asked with.
// Concurrent first opens of one key share one GetPublicKey; a failed fetch is not cached.
type publicKeys struct {
	mu sync.Mutex
	m  map[string]*fetch
}

// fetch is one GetPublicKey, in flight until done is closed.
type fetch struct {
	done chan struct{}
	pk   *publicInfo
	err  error
	// abandoned means the fetch failed because the context of the caller that made it ended:
	// callers who waited for it must not inherit that, and fetch again.
	abandoned bool
}

func (c *publicKeys) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, id)
}

// publicKey returns the public half of key id, from the cache or from KMS.
func (b *Backend) publicKey(ctx context.Context, id string) (*publicInfo, error) {
	c := &b.pubs
	for {
		c.mu.Lock()
		f, ok := c.m[id]
		if !ok {
			f = &fetch{done: make(chan struct{})}
			if c.m == nil {
				c.m = map[string]*fetch{}
			}
			if len(c.m) >= maxCachedKeys {
				for k := range c.m {
					delete(c.m, k)
					break
				}
			}
			c.m[id] = f
			c.mu.Unlock()
			f.pk, f.err = b.getPublicKey(ctx, id)
			if f.err != nil {
				f.abandoned = ctx.Err() != nil
				c.mu.Lock()
				if c.m[id] == f {
					delete(c.m, id)
				}
				c.mu.Unlock()
			}
			close(f.done)
			return f.pk, f.err
		}
		c.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, mapError("get public key of KMS key "+id, ctx.Err())
		}
		if f.err == nil || !f.abandoned {
			return f.pk, f.err
		}
	}
}

// getPublicKey asks KMS for the public half of key id and checks that it is a signing key
// of an algorithm this service supports.
func (b *Backend) getPublicKey(ctx context.Context, id string) (*publicInfo, error) {
	out, err := b.kms.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(id)})
	if err != nil {
		return nil, mapError("get public key of KMS key "+id, err)
	}
	if out.KeyUsage != kmstypes.KeyUsageTypeSignVerify {
		return nil, fault.Wrap(keys.ErrUnsupported, fmt.Errorf("KMS key %s has key usage %s", id, out.KeyUsage),
			"The key is not a signing key.")
	}
	alg, ok := algorithms[out.KeySpec]
	if !ok {
		return nil, fault.Wrap(keys.ErrUnsupported, fmt.Errorf("KMS key %s has key spec %s", id, out.KeySpec),
			fmt.Sprintf("The key's type is not supported; supported are %s.", supported()))
	}
	if len(out.PublicKey) == 0 {
		return nil, fmt.Errorf("KMS key %s: GetPublicKey returned no public key", id)
	}
	pub, err := x509.ParsePKIXPublicKey(out.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("KMS key %s: parse public key: %w", id, err)
	}
	// KMS says the spec; the key itself must agree, or signatures would not verify.
	if got, err := keys.AlgorithmOf(pub); err != nil || got != alg {
		return nil, errors.Join(fmt.Errorf("KMS key %s: key spec %s but the public key is %T (%s)", id, out.KeySpec, pub, got), err)
	}
	return &publicInfo{alg: alg, pub: pub}, nil
}
