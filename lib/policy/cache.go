package policy

// A Cache keeps each deployment's compiled policy set in memory between requests of a warm
// function. A decision reads the deployment's policy counter (one GetItem) and
// reloads the policies only when it moved, so the cost of a decision does not grow with the
// number of policies.

import (
	"context"
	"sync"
)

// Source is where policies come from (store.Store).
type Source interface {
	PoliciesVersion(ctx context.Context, dep string) (int64, error)
	Lister
}

type cacheEntry struct {
	version int64
	set     *Set
}

// Cache is safe for concurrent use.
type Cache struct {
	src Source
	mu  sync.Mutex
	m   map[string]cacheEntry
}

// NewCache returns an empty cache over src.
func NewCache(src Source) *Cache { return &Cache{src: src, m: map[string]cacheEntry{}} }

// Set returns dep's current policy set.
func (c *Cache) Set(ctx context.Context, dep string) (*Set, error) {
	v, err := c.src.PoliciesVersion(ctx, dep)
	if err != nil {
		return nil, err
	}
	return c.SetAt(ctx, dep, v)
}

// SetAt returns dep's policy set at version v, which the caller read just now (with
// something else it needed, in one call).
func (c *Cache) SetAt(ctx context.Context, dep string, v int64) (*Set, error) {
	c.mu.Lock()
	e, ok := c.m[dep]
	c.mu.Unlock()
	if ok && e.version == v {
		return e.set, nil
	}
	ps, err := Load(ctx, c.src, dep)
	if err != nil {
		return nil, err
	}
	set := NewSet(ps)
	c.mu.Lock()
	// Keep the newest: a slower reload of an older version must not replace a newer one.
	if cur, ok := c.m[dep]; !ok || cur.version <= v {
		c.m[dep] = cacheEntry{version: v, set: set}
	}
	c.mu.Unlock()
	return set, nil
}
