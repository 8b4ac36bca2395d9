package store

import (
	"context"
	"reflect"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/readcache"
)

// maxCached bounds the items a store keeps for readcache requests (a warm signer holds a few
// per deployment, user and certificate that signs).
const maxCached = 20000

func cacheKey(pk, sk string) string { return pk + "\x00" + sk }

// cachedGet is getItem, except that a request carrying a readcache record may be answered
// with the item as this store last read it; the request must then ConfirmReads before it acts
// on it. Items read from the table refresh the cache. Absent items are never cached.
func (s *Store) cachedGet(ctx context.Context, pk, sk, op string) (map[string]types.AttributeValue, error) {
	rec := readcache.From(ctx)
	if rec.MayServe() {
		if v, ok := s.reads.Load(cacheKey(pk, sk)); ok {
			item := v.(map[string]types.AttributeValue)
			rec.Served(pk, sk, item)
			return item, nil
		}
	}
	item, err := s.getItem(ctx, pk, sk, op)
	if err == nil && rec != nil {
		s.remember(cacheKey(pk, sk), item)
	}
	return item, err
}

// cachedBatchGet is batchGet under the same rule as cachedGet: answered from the cache only
// when every key is there.
func (s *Store) cachedBatchGet(ctx context.Context, op string, ks []map[string]types.AttributeValue) ([]map[string]types.AttributeValue, error) {
	rec := readcache.From(ctx)
	if rec.MayServe() {
		items := make([]map[string]types.AttributeValue, 0, len(ks))
		for _, k := range ks {
			v, ok := s.reads.Load(cacheKey(keyString(k, attrPK), keyString(k, attrSK)))
			if !ok {
				items = nil
				break
			}
			items = append(items, v.(map[string]types.AttributeValue))
		}
		if items != nil {
			for i, k := range ks {
				rec.Served(keyString(k, attrPK), keyString(k, attrSK), items[i])
			}
			return items, nil
		}
	}
	items, err := s.batchGet(ctx, op, ks)
	if err != nil || rec == nil {
		return items, err
	}
	found := map[string]map[string]types.AttributeValue{}
	for _, it := range items {
		found[cacheKey(keyString(it, attrPK), keyString(it, attrSK))] = it
	}
	for _, k := range ks {
		ck := cacheKey(keyString(k, attrPK), keyString(k, attrSK))
		s.remember(ck, found[ck])
	}
	return items, nil
}

// remember keeps item as the cached state of ck (nil: forgets it).
func (s *Store) remember(ck string, item map[string]types.AttributeValue) {
	if item == nil {
		if _, had := s.reads.LoadAndDelete(ck); had {
			s.cached.Add(-1)
		}
		return
	}
	if _, had := s.reads.Swap(ck, item); !had && s.cached.Add(1) > maxCached {
		s.reads.Range(func(k, _ any) bool { s.reads.Delete(k); return true })
		s.cached.Store(0)
	}
}

// ConfirmReads reads again, in one consistent call, every item the cache answered for this
// request and not yet confirmed: nil when each is as it was served, readcache.ErrStale when
// one changed or is gone (the cache now holds the new state), or the read's error. Without
// such items it makes no call.
func (s *Store) ConfirmReads(ctx context.Context) error {
	reads := readcache.From(ctx).Unconfirmed()
	if len(reads) == 0 {
		return nil
	}
	ks := make([]map[string]types.AttributeValue, len(reads))
	for i, r := range reads {
		ks[i] = key(r.PK, r.SK)
	}
	items, err := s.batchGet(ctx, "confirm reads", ks)
	if err != nil {
		return err
	}
	now := map[string]map[string]types.AttributeValue{}
	for _, it := range items {
		now[cacheKey(keyString(it, attrPK), keyString(it, attrSK))] = it
	}
	stale := false
	for _, r := range reads {
		ck := cacheKey(r.PK, r.SK)
		cur := now[ck]
		s.remember(ck, cur)
		if cur == nil || !reflect.DeepEqual(cur, r.Item) {
			stale = true
		}
	}
	if stale {
		return readcache.ErrStale
	}
	return nil
}

func keyString(item map[string]types.AttributeValue, attr string) string {
	if v, ok := item[attr].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}
