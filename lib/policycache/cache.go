// Package policycache keeps each deployment's compiled policy set in memory between requests
// of a warm function. A decision reads the deployment's policy counter (one GetItem) and
// reloads the policies only when it moved, so the cost of a decision does not grow with the
// number of policies.
package policycache

import (
	"context"
	"sync"

	"github.com/opensignum/signum/lib/policy"
)

// Source is where policies come from (store.Store).
type Source interface {
	PoliciesVersion(ctx context.Context, dep string) (int64, error)
	AllPolicies(ctx context.Context, dep string) ([]policy.Policy, error)
}

type entry struct {
	version int64
	set     *policy.Set
}

// Cache is safe for concurrent use.
type Cache struct {
	src Source
	mu  sync.Mutex
	m   map[string]entry
}

// New returns an empty cache over src.
func New(src Source) *Cache { return &Cache{src: src, m: map[string]entry{}} }

// Set returns dep's current policy set.
func (c *Cache) Set(ctx context.Context, dep string) (*policy.Set, error) {
	v, err := c.src.PoliciesVersion(ctx, dep)
	if err != nil {
		return nil, err
	}
	return c.SetAt(ctx, dep, v)
}

// SetAt returns dep's policy set at version v, which the caller read just now (with
// something else it needed, in one call).
func (c *Cache) SetAt(ctx context.Context, dep string, v int64) (*policy.Set, error) {
	c.mu.Lock()
	e, ok := c.m[dep]
	c.mu.Unlock()
	if ok && e.version == v {
		return e.set, nil
	}
	ps, err := c.src.AllPolicies(ctx, dep)
	if err != nil {
		return nil, err
	}
	for i := range ps {
		_ = ps[i].Validate() // one that no longer validates fails closed in the engine
	}
	set := policy.NewSet(ps)
	c.mu.Lock()
	// Keep the newest: a slower reload of an older version must not replace a newer one.
	if cur, ok := c.m[dep]; !ok || cur.version <= v {
		c.m[dep] = entry{version: v, set: set}
	}
	c.mu.Unlock()
	return set, nil
}
