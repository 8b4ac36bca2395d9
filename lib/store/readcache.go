package store

import (
	"context"
	"errors"
	"reflect"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/readcache"
)

// maxCached bounds the entries a store keeps for readcache requests (a warm signer holds a
// few per deployment, user, certificate and client credential that signs); it is emptied
// when it grows past.
const maxCached = 20000

// cached is what the cache holds for one key or one query, and what a request was served.
type cached struct {
	item  map[string]types.AttributeValue   // a GetItem's answer; nil when absent
	query *dynamodb.QueryInput              // for a query: the query, to run again
	items []map[string]types.AttributeValue // its one page of items
}

func cacheKey(pk, sk string) string { return pk + "\x00" + sk }

// cachedGet is getItem, except that a request carrying a readcache record may be answered
// with the item as this store last read it; the request must then ConfirmReads before it
// acts on it. Items read from the table refresh the cache. Absent items are cached only with
// keepAbsent (for keys that are absent in the common case, like a revocation).
func (s *Store) cachedGet(ctx context.Context, pk, sk, op string, keepAbsent bool) (map[string]types.AttributeValue, error) {
	rec := readcache.From(ctx)
	ck := cacheKey(pk, sk)
	if rec.MayServe() {
		if v, ok := s.reads.Load(ck); ok {
			c := v.(cached)
			rec.Served(pk, sk, c)
			return c.item, nil
		}
	}
	item, err := s.getItem(ctx, pk, sk, op)
	if err == nil && rec != nil {
		s.remember(ck, cached{item: item}, item != nil || keepAbsent)
	}
	return item, err
}

// cachedBatchGet is batchGet under the same rule as cachedGet: answered from the cache only
// when every key is there.
func (s *Store) cachedBatchGet(ctx context.Context, op string, ks []map[string]types.AttributeValue) ([]map[string]types.AttributeValue, error) {
	rec := readcache.From(ctx)
	if rec.MayServe() {
		items := make([]map[string]types.AttributeValue, 0, len(ks))
		var served []cached
		for _, k := range ks {
			v, ok := s.reads.Load(cacheKey(keyString(k, attrPK), keyString(k, attrSK)))
			if !ok {
				served = nil
				break
			}
			served = append(served, v.(cached))
		}
		if served != nil {
			for i, k := range ks {
				rec.Served(keyString(k, attrPK), keyString(k, attrSK), served[i])
				if served[i].item != nil {
					items = append(items, served[i].item)
				}
			}
			return items, nil
		}
	}
	items, err := s.batchGet(ctx, op, ks)
	if err != nil || rec == nil {
		return items, err
	}
	found := byKey(items)
	for _, k := range ks {
		ck := cacheKey(keyString(k, attrPK), keyString(k, attrSK))
		s.remember(ck, cached{item: found[ck]}, found[ck] != nil)
	}
	return items, nil
}

// cachedQuery runs in, the consistent query of the items of partition pk whose sort keys
// begin with prefix, under the same rule as cachedGet; its answer must fit one page (a query
// with more pages is never answered from the cache). It returns the items and whether more
// pages followed.
func (s *Store) cachedQuery(ctx context.Context, pk, prefix string, in *dynamodb.QueryInput, op string) ([]map[string]types.AttributeValue, bool, error) {
	rec := readcache.From(ctx)
	sk := "\x00query\x00" + prefix
	ck := cacheKey(pk, sk)
	if rec.MayServe() {
		if v, ok := s.reads.Load(ck); ok {
			c := v.(cached)
			rec.Served(pk, sk, c)
			return c.items, false, nil
		}
	}
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return nil, false, unavailable(op, err)
	}
	more := len(out.LastEvaluatedKey) > 0
	if rec != nil {
		s.remember(ck, cached{query: in, items: out.Items}, !more)
	}
	return out.Items, more, nil
}

// remember keeps c as the cached state of ck when keep is set, else forgets ck.
func (s *Store) remember(ck string, c cached, keep bool) {
	if !keep {
		if _, had := s.reads.LoadAndDelete(ck); had {
			s.cached.Add(-1)
		}
		return
	}
	if _, had := s.reads.Swap(ck, c); !had && s.cached.Add(1) > maxCached {
		s.reads.Range(func(k, _ any) bool { s.reads.Delete(k); return true })
		s.cached.Store(0)
	}
}

// ConfirmReads reads again every item and query the cache answered for this request and not
// yet confirmed — the items in one consistent BatchGetItem, each query again, all at once —
// and returns nil when each is as it was served, readcache.ErrStale when one changed (the
// cache now holds the new state), or the reads' error. Without such reads it makes no call.
func (s *Store) ConfirmReads(ctx context.Context) error {
	rec := readcache.From(ctx)
	mixed := rec.Mixed()
	reads := rec.Unconfirmed()
	if len(reads) == 0 && !mixed {
		return nil
	}
	var ks []map[string]types.AttributeValue
	var gets, queries []readcache.Read
	for _, r := range reads {
		if r.Item.(cached).query != nil {
			queries = append(queries, r)
		} else {
			gets = append(gets, r)
			ks = append(ks, key(r.PK, r.SK))
		}
	}
	var (
		mu    sync.Mutex
		stale = mixed
		errs  []error
		wg    sync.WaitGroup
	)
	note := func(changed bool, err error) {
		mu.Lock()
		defer mu.Unlock()
		stale = stale || changed
		if err != nil {
			errs = append(errs, err)
		}
	}
	for _, q := range queries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := q.Item.(cached)
			out, err := s.db.Query(ctx, c.query)
			if err != nil {
				note(false, unavailable("confirm reads", err))
				return
			}
			more := len(out.LastEvaluatedKey) > 0
			s.remember(cacheKey(q.PK, q.SK), cached{query: c.query, items: out.Items}, !more)
			note(more || !sameItems(out.Items, c.items), nil)
		}()
	}
	if len(ks) > 0 {
		items, err := s.batchGet(ctx, "confirm reads", ks)
		if err != nil {
			note(false, err)
		} else {
			now := byKey(items)
			for _, r := range gets {
				ck := cacheKey(r.PK, r.SK)
				was := r.Item.(cached).item
				s.remember(ck, cached{item: now[ck]}, now[ck] != nil || was == nil)
				note(!reflect.DeepEqual(now[ck], was), nil)
			}
		}
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if stale {
		return readcache.ErrStale
	}
	return nil
}

// byKey indexes items by their cache key.
func byKey(items []map[string]types.AttributeValue) map[string]map[string]types.AttributeValue {
	out := make(map[string]map[string]types.AttributeValue, len(items))
	for _, it := range items {
		out[cacheKey(keyString(it, attrPK), keyString(it, attrSK))] = it
	}
	return out
}

func keyString(item map[string]types.AttributeValue, attr string) string {
	if v, ok := item[attr].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func sameItems(a, b []map[string]types.AttributeValue) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !reflect.DeepEqual(a[i], b[i]) {
			return false
		}
	}
	return true
}
