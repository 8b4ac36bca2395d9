package health

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/truststore"
)

// How long the caches in front of the service-wide sources hold an answer. A health check is
// a portal page that any tenant's Viewer may load as often as they like, and the truststore's
// check lists every deployment's registrations and calls S3 and API Gateway; a key state is a
// KMS call counted against the account's quota. Without a cache, one tenant reloading the page
// would drive work proportional to every tenant's data and eat quotas all tenants share.
const (
	// TruststoreCacheTTL is how long a truststore check is reused: the truststore is published
	// within a quarter of an hour of a change, so a minute-old answer says the same.
	TruststoreCacheTTL = time.Minute
	// TruststoreErrorTTL is how long a failed check is reused: short, so that a passing
	// failure is not shown for long, but long enough that a failing source is not hammered.
	TruststoreErrorTTL = 5 * time.Second
	// TruststoreCheckTimeout bounds a shared check, which no single caller's context cancels.
	TruststoreCheckTimeout = 30 * time.Second
	// KeyStateCacheTTL is how long a key's state is reused.
	KeyStateCacheTTL = 30 * time.Second
	// MaxCachedKeyStates bounds the key state cache of an instance (it serves every tenant).
	MaxCachedKeyStates = 10000
)

// CachedTruststore is a Truststore that asks its Source at most once per TruststoreCacheTTL
// (a failure: once per TruststoreErrorTTL). Callers that arrive while a check runs share it.
// Its zero value is not usable: make it with NewCachedTruststore.
type CachedTruststore struct {
	source Truststore
	now    func() time.Time

	mu     sync.Mutex
	held   bool
	until  time.Time
	st     truststore.Status
	err    error
	flight *truststoreFlight
}

type truststoreFlight struct {
	done chan struct{}
	st   truststore.Status
	err  error
}

// NewCachedTruststore caches source's checks per the clock now (time.Now when nil).
func NewCachedTruststore(source Truststore, now func() time.Time) *CachedTruststore {
	if now == nil {
		now = time.Now
	}
	return &CachedTruststore{source: source, now: now}
}

// Check returns the held status while it is fresh; otherwise it joins the check in flight or
// starts one. The check runs apart from ctx (bounded by TruststoreCheckTimeout), so that a
// caller that gives up does not fail the others who wait for it; the caller itself stops
// waiting when ctx ends.
func (c *CachedTruststore) Check(ctx context.Context) (truststore.Status, error) {
	c.mu.Lock()
	if c.held && c.now().Before(c.until) {
		st, err := c.st, c.err
		c.mu.Unlock()
		return cloneStatus(st), err
	}
	f := c.flight
	if f == nil {
		f = &truststoreFlight{done: make(chan struct{})}
		c.flight = f
		go c.run(context.WithoutCancel(ctx), f)
	}
	c.mu.Unlock()
	select {
	case <-f.done:
		return cloneStatus(f.st), f.err
	case <-ctx.Done():
		return truststore.Status{}, ctx.Err()
	}
}

func (c *CachedTruststore) run(ctx context.Context, f *truststoreFlight) {
	ctx, cancel := context.WithTimeout(ctx, TruststoreCheckTimeout)
	defer cancel()
	f.st, f.err = c.source.Check(ctx)
	ttl := TruststoreCacheTTL
	if f.err != nil {
		ttl = TruststoreErrorTTL
	}
	c.mu.Lock()
	c.held, c.st, c.err, c.until, c.flight = true, f.st, f.err, c.now().Add(ttl), nil
	c.mu.Unlock()
	close(f.done)
}

// cloneStatus copies the slices of a status, so that no caller can change what others read.
func cloneStatus(st truststore.Status) truststore.Status {
	st.Reasons, st.Warnings = slices.Clone(st.Reasons), slices.Clone(st.Warnings)
	if st.LastPublish != nil {
		lp := *st.LastPublish
		st.LastPublish = &lp
	}
	return st
}

// CachedKeyStates is a KeyStates that reuses a key's state for KeyStateCacheTTL. Errors are
// not kept: the next check asks again. Nor are a disabled key's and one pending deletion:
// those are what the health page asks a person to fix, and who fixes one reloads the page at
// once to see it fixed. Tenants cannot put their keys in those states (a deleted
// certificate's key is not checked), so they are rare and leaving them out costs no quota;
// an unreachable key service is kept, since asking again while KMS throttles makes it worse.
// Its zero value is not usable: make it with NewCachedKeyStates.
type CachedKeyStates struct {
	source KeyStates
	now    func() time.Time

	mu sync.Mutex
	m  map[string]cachedKeyState
}

type cachedKeyState struct {
	state keys.State
	until time.Time
}

// NewCachedKeyStates caches source's key states per the clock now (time.Now when nil).
func NewCachedKeyStates(source KeyStates, now func() time.Time) *CachedKeyStates {
	if now == nil {
		now = time.Now
	}
	return &CachedKeyStates{source: source, now: now, m: map[string]cachedKeyState{}}
}

// State returns the state of the key at uri, from the cache while it is fresh.
func (c *CachedKeyStates) State(ctx context.Context, uri string) (keys.State, error) {
	c.mu.Lock()
	e, ok := c.m[uri]
	c.mu.Unlock()
	if ok && c.now().Before(e.until) {
		return e.state, nil
	}
	s, err := c.source.State(ctx, uri)
	if err != nil || s.Status == keys.StatusDisabled || s.Status == keys.StatusPendingDeletion {
		return s, err
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= MaxCachedKeyStates {
		for k, e := range c.m {
			if !now.Before(e.until) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= MaxCachedKeyStates {
			// Every entry is fresh: more keys than the bound were asked within a TTL. Starting
			// over costs a round of KMS calls, and keeps the memory bounded.
			clear(c.m)
		}
	}
	c.m[uri] = cachedKeyState{state: s, until: now.Add(KeyStateCacheTTL)}
	return s, nil
}
