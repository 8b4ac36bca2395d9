package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/fault"
)

// The reads and writes of items that the access patterns share: the conditional create, the
// versioned put, the transaction whose failed conditions have meanings, and the consistent
// read whose absent item is an error.

// keyIsFree is the condition of a create: no item has the key yet.
const keyIsFree = "attribute_not_exists(PK)"

// conditionFailed is the cancellation reason of a transaction item whose condition failed.
const conditionFailed = "ConditionalCheckFailed"

// marshal is the item v. An empty list is left out of every map in it, as a nil one is: it
// reads back as none either way, and the DynamoDB stand-in mishandles empty lists (at the top
// of an item it stores a value it can neither return nor query, so that a certificate created
// with "sans": [] could not be read or listed; inside a map it returns the neighbouring
// list's contents, so that a policy's empty "groups" read back as its certificates).
func marshal(v any) map[string]types.AttributeValue {
	av, err := attributevalue.MarshalMap(v)
	if err != nil {
		// Only the item structs of this package are marshalled; they always marshal.
		panic(fmt.Sprintf("marshal %T: %v", v, err))
	}
	dropEmptyLists(av)
	return av
}

// dropEmptyLists removes the empty lists of m and of the maps within it.
func dropEmptyLists(m map[string]types.AttributeValue) {
	for k, a := range m {
		switch x := a.(type) {
		case *types.AttributeValueMemberL:
			if len(x.Value) == 0 {
				delete(m, k)
				continue
			}
			for _, e := range x.Value {
				if em, ok := e.(*types.AttributeValueMemberM); ok {
					dropEmptyLists(em.Value)
				}
			}
		case *types.AttributeValueMemberM:
			dropEmptyLists(x.Value)
		}
	}
}

// putNew is the put of a new item in a transaction: on condition that no item has its key.
func (s *Store) putNew(item any) types.TransactWriteItem {
	return types.TransactWriteItem{Put: &types.Put{TableName: &s.table, Item: marshal(item), ConditionExpression: aws.String(keyIsFree)}}
}

// putVersioned puts item if the stored item's version is still version.
func (s *Store) putVersioned(item any, version int64) types.TransactWriteItem {
	return types.TransactWriteItem{Put: &types.Put{
		TableName: &s.table, Item: marshal(item),
		ConditionExpression:       aws.String("attribute_exists(PK) AND version = :v"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: strconv.FormatInt(version, 10)}},
	}}
}

// create writes item, a new item, and along with it (a log entry, counters, other new items)
// in one transaction; with nothing along, in one conditional PutItem. When an item has the key
// already, the answer is taken: the error the caller must see (ErrConflict with what is
// taken, in the caller's words). Any other failure is classified (see conditional).
func (s *Store) create(ctx context.Context, op string, item any, taken error, along ...types.TransactWriteItem) error {
	if len(along) > 0 {
		items := append([]types.TransactWriteItem{s.putNew(item)}, along...)
		return s.conditional(ctx, op, items, map[int]error{0: taken})
	}
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: marshal(item), ConditionExpression: aws.String(keyIsFree)})
	switch {
	case isConditionFailed(err):
		return taken
	case err != nil:
		return unavailable(op, err)
	}
	return nil
}

// conditional runs a transaction whose failed conditions have meanings: when the condition of
// items[i] fails and failed[i] is set, the answer is failed[i] (for the first such i). A
// cancellation for any other reason is classified by cancelled, other errors by unavailable.
// The failed errors are built before the call: they are the caller's constant words, and a
// write costs a round trip anyway.
func (s *Store) conditional(ctx context.Context, op string, items []types.TransactWriteItem, failed map[int]error) error {
	err := s.transact(ctx, op, items)
	codes := cancellationCodes(err)
	if codes == nil {
		return err // nil, or classified by transact
	}
	for i, c := range codes {
		if c == conditionFailed && failed[i] != nil {
			return failed[i]
		}
	}
	return cancelled(op, err, codes)
}

// transact runs a transaction; a cancellation is returned as is (callers read its reasons),
// other errors are classified. The log entries among items get the request's source address
// (stampLogs).
func (s *Store) transact(ctx context.Context, op string, items []types.TransactWriteItem) error {
	stampLogs(ctx, items)
	_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items, ClientRequestToken: requestToken()})
	if err == nil || cancellationCodes(err) != nil {
		return err
	}
	return unavailable(op, err)
}

// get reads the item at pk, sk (a consistent GetItem) and decodes it. An absent item is the
// error missing returns, or, when missing is nil, the zero T (for items that are absent until
// first written, such as a counter). op names the read in errors.
//
// missing is called only when the item is absent, so that reads on a request's path do not
// format a not-found detail they will not use.
func get[T any](ctx context.Context, s *Store, pk, sk, op string, decode func(map[string]types.AttributeValue) (T, error), missing func() error) (T, error) {
	item, err := s.getItem(ctx, pk, sk, op)
	return found(item, err, decode, missing)
}

// getCached is get through the read cache: a request that carries a readcache record may be
// answered with the item as this store last read it, and must confirm it before acting on it
// (see cachedGet).
func getCached[T any](ctx context.Context, s *Store, pk, sk, op string, decode func(map[string]types.AttributeValue) (T, error), missing func() error) (T, error) {
	item, err := s.cachedGet(ctx, pk, sk, op, false)
	return found(item, err, decode, missing)
}

// found is what get and getCached make of the item they read.
func found[T any](item map[string]types.AttributeValue, err error, decode func(map[string]types.AttributeValue) (T, error), missing func() error) (T, error) {
	var zero T
	switch {
	case err != nil:
		return zero, err
	case item == nil && missing != nil:
		return zero, missing()
	case item == nil:
		return zero, nil
	}
	return decode(item)
}

// notFound is the missing of get for an item the caller asked for by id: ErrNotFound with a
// detail for the caller.
func notFound(format string, args ...any) func() error {
	return func() error { return fault.Newf(ErrNotFound, format, args...) }
}

// decodeAs decodes an item into its item struct T; what names it in errors.
func decodeAs[T any](what string) func(map[string]types.AttributeValue) (T, error) {
	return func(av map[string]types.AttributeValue) (T, error) {
		var it T
		if err := attributevalue.UnmarshalMap(av, &it); err != nil {
			return it, fmt.Errorf("decode %s: %w", what, err)
		}
		return it, nil
	}
}

// getItem is a consistent GetItem returning nil when there is no item.
func (s *Store) getItem(ctx context.Context, pk, sk, op string) (map[string]types.AttributeValue, error) {
	if len(pk)+len(sk) > 1024 {
		return nil, nil // over DynamoDB's key size: cannot exist
	}
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: key(pk, sk), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, unavailable(op, err)
	}
	if len(out.Item) == 0 {
		return nil, nil
	}
	return out.Item, nil
}

// batchGet reads items of the table by key with consistent BatchGetItem calls, 100 keys at a
// time, asking again for the keys DynamoDB leaves unprocessed (a few times, then the table is
// reported unavailable). Missing items are simply absent from the answer.
func (s *Store) batchGet(ctx context.Context, op string, ks []map[string]types.AttributeValue) ([]map[string]types.AttributeValue, error) {
	var items []map[string]types.AttributeValue
	for len(ks) > 0 {
		n := min(len(ks), 100)
		batch := ks[:n]
		ks = ks[n:]
		for attempt := 0; len(batch) > 0; attempt++ {
			if attempt == 5 {
				return nil, fault.Wrap(ErrUnavailable, fmt.Errorf("%s: keys left unprocessed", op), "The service is busy; retry.")
			}
			out, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
				s.table: {Keys: batch, ConsistentRead: aws.Bool(true)}}})
			if err != nil {
				return nil, unavailable(op, err)
			}
			items = append(items, out.Responses[s.table]...)
			batch = out.UnprocessedKeys[s.table].Keys
			if len(batch) > 0 {
				select {
				case <-time.After(time.Duration(attempt+1) * 10 * time.Millisecond):
				case <-ctx.Done():
					return nil, unavailable(op, ctx.Err())
				}
			}
		}
	}
	return items, nil
}
