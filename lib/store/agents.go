package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// agentSlotsGrace keeps a user's slots item an hour past its newest lease, so that TTL (which
// runs late anyway, and on AWS's clock) never removes an item whose leases still count.
const agentSlotsGrace = time.Hour

// AgentSlot is one signing request's place among the requests its user has in flight, under
// the per-user concurrency limit of the user's login domain (domains.Domain.AgentConcurrency).
type AgentSlot struct {
	// Slot is which of the limit's slots (0 to limit-1) the request holds.
	Slot int
	// Lease is what the slot holds while the request runs: its expiry in Unix milliseconds,
	// fixed width, then "#" and a random nonce. A release removes the slot only while it still
	// holds this lease; another request takes the slot over once the expiry has passed.
	Lease string
	// Expires is when the lease ends.
	Expires time.Time
}

// AgentSlots is the outcome of AcquireAgentSlot.
type AgentSlots struct {
	// Acquired says the request holds Slot until it releases it or the lease ends.
	Acquired bool
	Slot     AgentSlot
	// InFlight is, for a refusal, how many unexpired leases the user's item held when it was
	// last read: the user's signing requests in flight.
	InFlight int
}

// leaseTime is t as the fixed-width Unix milliseconds that leases begin with: string order is
// time order, so a condition compares a lease with the time now as strings. (A lease whose
// expiry equals now is longer than now's string and sorts after it: not yet expired.)
func leaseTime(t time.Time) string { return fmt.Sprintf("%015d", t.UnixMilli()) }

// AcquireAgentSlot takes one of limit slots for a signing request of user userID of deployment
// dep, for lease (longer than the request can run). The user's item (PK=DEP#<dep>,
// SK=AGENTS#<userId>) holds a map of slot number → lease; a slot is taken by one conditional
// UpdateItem that writes it only if it is free or its lease has expired, so that concurrent
// requests on any number of instances never hold more than limit slots, and a slot of an
// instance that died mid-request is taken over once its lease ends. Slots are tried in a
// random order, so that concurrent requests seldom race for one: a failed write answers the
// item as it was (ReturnValuesOnConditionCheckFailure), and the next write goes only to a slot
// that was free or expired in it; an item whose unexpired leases fill the limit is a refusal,
// with how many it held. A refusal writes nothing. The first request of a user writes the map
// itself (attribute_not_exists(slots)). At most limit+1 writes in all; with a free slot and
// no race, one. A limit of 0 or less limits nothing and makes no call (Slot -1).
//
// A limit that was lowered applies to slots as they free: leases held in slots at or above
// the new limit still run to their end, but no new request takes a slot there.
//
// (One write with a list of leases, appended under a size(...) < :limit condition, is not
// exact: size counts expired leases too, and a condition cannot drop them in the same write,
// so a dead instance's lease would block its user until something else cleaned it.)
func (s *Store) AcquireAgentSlot(ctx context.Context, dep, userID string, limit int, lease time.Duration, now time.Time) (AgentSlots, error) {
	if limit <= 0 {
		return AgentSlots{Acquired: true, Slot: AgentSlot{Slot: -1}}, nil
	}
	var nonce [8]byte
	_, _ = rand.Read(nonce[:])
	expires := now.Add(lease)
	held := AgentSlot{Lease: leaseTime(expires) + "#" + hex.EncodeToString(nonce[:]), Expires: expires}
	at := leaseTime(now)
	k := key(deploymentPK(dep), agentSlotsSK(userID))
	leaseValue := &types.AttributeValueMemberS{Value: held.Lease}
	values := map[string]types.AttributeValue{
		":t": &types.AttributeValueMemberS{Value: "agentSlots"},
		":e": &types.AttributeValueMemberN{Value: strconv.FormatInt(expires.Add(agentSlotsGrace).Unix(), 10)},
	}
	names := map[string]string{"#t": "type", "#e": attrTTL}
	order := mathrand.Perm(limit)
	inFlight := limit
	// noMap: the user's item has no slots map (its first request, or the item expired).
	noMap, mapTried := false, false
	for writes := 0; writes <= limit && len(order) > 0; writes++ {
		slot := order[0]
		var in *dynamodb.UpdateItemInput
		if noMap {
			mapTried = true
			in = &dynamodb.UpdateItemInput{TableName: &s.table, Key: k,
				UpdateExpression:         aws.String("SET slots = :m, #t = :t, #e = :e"),
				ConditionExpression:      aws.String("attribute_not_exists(slots)"),
				ExpressionAttributeNames: names,
				ExpressionAttributeValues: withValue(values, ":m", &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
					strconv.Itoa(slot): leaseValue}}),
				ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
			}
		} else {
			in = &dynamodb.UpdateItemInput{TableName: &s.table, Key: k,
				UpdateExpression:                    aws.String("SET slots.#s = :lease, #t = :t, #e = :e"),
				ConditionExpression:                 aws.String("attribute_exists(slots) AND (attribute_not_exists(slots.#s) OR slots.#s < :now)"),
				ExpressionAttributeNames:            withName(names, "#s", strconv.Itoa(slot)),
				ExpressionAttributeValues:           withValue(withValue(values, ":lease", leaseValue), ":now", &types.AttributeValueMemberS{Value: at}),
				ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
			}
		}
		_, err := s.db.UpdateItem(ctx, in)
		if err == nil {
			held.Slot = slot
			return AgentSlots{Acquired: true, Slot: held}, nil
		}
		old, failed := conditionItem(err)
		if !failed {
			return AgentSlots{}, unavailable("acquire agent slot", err)
		}
		slots, ok := old["slots"].(*types.AttributeValueMemberM)
		if !ok {
			switch {
			case !noMap && !mapTried:
				// No map: write it, with this slot, once.
				noMap = true
			case noMap:
				// Beaten by another request's map write: take the slot in that map.
				noMap = false
			default:
				// A target that does not answer the item as it was: the next slot.
				order = order[1:]
			}
			continue
		}
		noMap = false
		// The item as it was when the write failed: a refusal if its unexpired leases fill the
		// limit, else the next write goes to a slot that was free or expired in it.
		inFlight = 0
		for _, v := range slots.Value {
			if l, ok := v.(*types.AttributeValueMemberS); ok && l.Value > at {
				inFlight++
			}
		}
		if inFlight >= limit {
			return AgentSlots{InFlight: inFlight}, nil
		}
		order = slices.DeleteFunc(order, func(n int) bool {
			l, ok := slots.Value[strconv.Itoa(n)].(*types.AttributeValueMemberS)
			return ok && l.Value > at
		})
	}
	return AgentSlots{InFlight: inFlight}, nil
}

// ReleaseAgentSlot frees a slot AcquireAgentSlot gave: one UpdateItem that removes the slot
// only while it holds the request's lease, so that a request whose lease ran out and was
// taken over never frees another's. A slot that holds another lease, or an item that is gone,
// is no error. Releasing is not needed for correctness (the lease ends by itself), only for
// the user's next request not to wait for it.
func (s *Store) ReleaseAgentSlot(ctx context.Context, dep, userID string, slot AgentSlot) error {
	if slot.Slot < 0 {
		return nil
	}
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &s.table, Key: key(deploymentPK(dep), agentSlotsSK(userID)),
		UpdateExpression:          aws.String("REMOVE slots.#s"),
		ConditionExpression:       aws.String("slots.#s = :lease"),
		ExpressionAttributeNames:  map[string]string{"#s": strconv.Itoa(slot.Slot)},
		ExpressionAttributeValues: map[string]types.AttributeValue{":lease": &types.AttributeValueMemberS{Value: slot.Lease}},
	})
	if err != nil && !isConditionFailed(err) {
		return unavailable("release agent slot", err)
	}
	return nil
}

// conditionItem reports whether err is a failed condition, and the item as it was then
// (empty when there was none).
func conditionItem(err error) (map[string]types.AttributeValue, bool) {
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		return nil, false
	}
	return ccf.Item, true
}

func withName(m map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for n, x := range m {
		out[n] = x
	}
	out[k] = v
	return out
}

func withValue(m map[string]types.AttributeValue, k string, v types.AttributeValue) map[string]types.AttributeValue {
	out := make(map[string]types.AttributeValue, len(m)+1)
	for n, x := range m {
		out[n] = x
	}
	out[k] = v
	return out
}
