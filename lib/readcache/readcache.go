// Package readcache lets one request accept items its store read for earlier requests, on
// one condition: the request confirms them (the store reads them again, in one call) before
// it acts on them. A request that finds them changed is run again from the start with every
// read going to the table.
//
// The signer uses it to take its reads (deployment, user, certificate, policies' version)
// off the path to the decision: the decision event is written while those items are read
// again, and the key is used only after the items that decided are confirmed current. The
// guarantee is the one of reading them first: what decided was the stored state at a moment
// after the request arrived and before the key signed.
package readcache

import (
	"context"
	"errors"
	"reflect"
	"sync"
)

// ErrStale is returned by a handler whose cached reads turned out changed before it acted on
// them; its route runs it again with Fresh. It never reaches a caller.
var ErrStale = errors.New("readcache: items read from the cache have changed")

// Reads is one request's record of the items its store served from the cache.
type Reads struct {
	fresh bool
	mu    sync.Mutex
	used  map[string]Read
	mixed bool // one key was served two different items
}

// Read is an item served from the cache: its key and what it was.
type Read struct {
	PK, SK string
	Item   any // the store's own representation; compared by the store
}

type ctxKey struct{}

// With returns ctx with a new record: the store may serve cached items to this request.
func With(ctx context.Context) context.Context {
	return context.WithValue(ctx, ctxKey{}, &Reads{used: map[string]Read{}})
}

// Fresh returns ctx with a record that takes nothing from the cache (the request is run
// again after ErrStale); what it reads still refreshes the cache.
func Fresh(ctx context.Context) context.Context {
	return context.WithValue(ctx, ctxKey{}, &Reads{fresh: true, used: map[string]Read{}})
}

// From is ctx's record, nil when the request may not use the cache at all.
func From(ctx context.Context) *Reads {
	r, _ := ctx.Value(ctxKey{}).(*Reads)
	return r
}

// MayServe reports whether the cache may answer this request's reads.
func (r *Reads) MayServe() bool { return r != nil && !r.fresh }

// Served records that the item at pk, sk was answered from the cache as item. A key served
// two different items (the cache moved between two reads of one request) makes the request
// stale (Mixed): what it decided on may be either.
func (r *Reads) Served(pk, sk string, item any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := pk + "\x00" + sk
	if prev, ok := r.used[k]; ok && !reflect.DeepEqual(prev.Item, item) {
		r.mixed = true
		return
	}
	r.used[k] = Read{PK: pk, SK: sk, Item: item}
}

// Mixed reports whether one key was served two different items since the last Unconfirmed.
func (r *Reads) Mixed() bool {
	if r == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mixed
}

// Unconfirmed returns the items served from the cache and not yet confirmed, and forgets
// them (a confirmation covers them).
func (r *Reads) Unconfirmed() []Read {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Read, 0, len(r.used))
	for k, v := range r.used {
		out = append(out, v)
		delete(r.used, k)
	}
	r.mixed = false
	return out
}

// Pending reports whether some items served from the cache are not confirmed yet.
func (r *Reads) Pending() bool {
	if r == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.used) > 0
}
