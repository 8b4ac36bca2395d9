package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/opensignum/signum/lib/activity"
	"github.com/opensignum/signum/lib/audit"
	"github.com/opensignum/signum/lib/fault"
)

// AppendEventCounting appends e as AppendEvent does and, in the same write (one
// TransactWriteItems), moves its lane's checkpoint to it, sealed by seal, counts use in the
// lane's item (a certificate's usage) and use.Activity in the lane's activity item of the
// day (activity.go). The signer records a request's outcome with it: the completion, the
// checkpoint that covers it and the statistics are one round trip, and either all are
// written or none.
//
// The statistics never hold the event back: when the activity count cannot be written (its
// item grown too large, say), the event and the checkpoint are written without it and the
// lost count is returned as uncounted. err is as AppendEvent's: on an error the sealed event
// of the last attempt is returned too (its write may have landed with only the answer lost).
func (s *Store) AppendEventCounting(ctx context.Context, e audit.Event, seal Sealer, use Use) (sealed audit.Event, uncounted, err error) {
	hk := headKey(e.DeploymentID, e.Lane)
	defer s.lockLane(hk)()
	mode := countNone
	if counts(use.Activity) {
		mode = s.agentMode(e.DeploymentID, e.Lane, *use.Activity)
	}
	checkpoint := true
	for attempt := 0; attempt < MaxAppendAttempts; attempt++ {
		prev, err := s.lastEvent(ctx, e.DeploymentID, e.Lane)
		if err != nil {
			return audit.Event{}, uncounted, err
		}
		sealed = e
		sealed.Seal(prev)
		body, err := jsonString(sealed)
		if err != nil {
			return audit.Event{}, uncounted, err
		}
		items := []types.TransactWriteItem{{Put: &types.Put{TableName: &s.table, ConditionExpression: aws.String(keyIsFree),
			Item: marshal(eventRecord(sealed, body))}}}
		if head := s.headUpdate(sealed, seal, use, checkpoint); head != nil {
			items = append(items, transactUpdate(head))
		}
		activityAt := -1
		if mode != countNone {
			activityAt = len(items)
			items = append(items, transactUpdate(s.activityAction(e.DeploymentID, e.Lane, *use.Activity, mode)))
		}
		_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		if err == nil {
			s.heads.Store(hk, laneHead{sealed.Seq, sealed.Hash})
			if mode == countKnown || mode == countFresh {
				s.knowAgent(e.DeploymentID, e.Lane, *use.Activity)
			}
			return sealed, uncounted, nil
		}
		codes := cancellationCodes(err)
		switch {
		case codes == nil && mode != countNone && isValidation(err):
			// One of the writes is refused as invalid (some DynamoDB emulators answer so for
			// an item grown too large, where DynamoDB cancels the transaction with the
			// reason): the statistics go, never the event.
			uncounted, mode = unavailable("count signing activity", err), countNone
		case codes == nil:
			s.heads.Delete(hk)
			return sealed, uncounted, unavailable("append event", err)
		case slices.ContainsFunc(codes, retryable):
			// Throttled, or another transaction had one of the items: nothing was written,
			// and the SDK does not retry a cancelled transaction.
			if err := pause(ctx, attempt); err != nil {
				return sealed, uncounted, unavailable("append event", err)
			}
		case codes[0] == conditionFailed:
			// The place is taken: by this very event (the SDK retried a write whose answer
			// was lost), or by another writer's.
			s.heads.Delete(hk)
			mine, err := s.EventWritten(ctx, sealed)
			if err != nil {
				return sealed, uncounted, err
			}
			if mine {
				s.heads.Store(hk, laneHead{sealed.Seq, sealed.Hash})
				return sealed, uncounted, nil
			}
		case len(codes) > 1 && codes[1] == conditionFailed && checkpoint:
			// A later checkpoint is there already (one written alone, after events appended
			// without one): the count goes alone.
			checkpoint = false
		case activityAt >= 0 && activityAt < len(codes) && codes[activityAt] == conditionFailed:
			mode = s.afterFreshRefused(err, activityAt, *use.Activity)
		case activityAt >= 0 && activityAt < len(codes) && codes[activityAt] != "None":
			uncounted, mode = unavailable("count signing activity", fmt.Errorf("activity item refused: %s", codes[activityAt])), countNone
		default:
			s.heads.Delete(hk)
			return sealed, uncounted, unavailable("append event", err)
		}
	}
	return sealed, uncounted, fault.Wrap(ErrUnavailable, fmt.Errorf("append event: lane %d stayed contended", e.Lane), "The event log is busy; retry.")
}

// headUpdate is the update of sealed's lane item: its checkpoint moved to sealed with seal's
// seal (when checkpoint), and use counted (when not 0); nil for neither.
func (s *Store) headUpdate(sealed audit.Event, seal Sealer, use Use, checkpoint bool) *dynamodb.UpdateItemInput {
	if !checkpoint {
		if use.N == 0 {
			return nil
		}
		return s.useUpdate(sealed.DeploymentID, sealed.Lane, use)
	}
	var sl string
	if seal != nil {
		if x := seal(sealed); x != nil {
			raw, _ := json.Marshal(x)
			sl = string(raw)
		}
	}
	return s.checkpointUseUpdate(sealed, sl, use)
}

// checkpointUseUpdate moves e's lane's checkpoint to e (never back), with its seal when
// sealed is set, and counts use.N (when not 0), in one update.
func (s *Store) checkpointUseUpdate(e audit.Event, sealed string, use Use) *dynamodb.UpdateItemInput {
	both := s.checkpointUpdate(e, sealed)
	if use.N == 0 {
		return both
	}
	count := s.useUpdate(e.DeploymentID, e.Lane, use)
	both.UpdateExpression = aws.String(strings.Replace(*count.UpdateExpression, "SET #t = :t", *both.UpdateExpression, 1))
	for k, v := range count.ExpressionAttributeNames {
		both.ExpressionAttributeNames[k] = v
	}
	for k, v := range count.ExpressionAttributeValues {
		both.ExpressionAttributeValues[k] = v
	}
	return both
}

// transactUpdate is in as a transaction's action.
func transactUpdate(in *dynamodb.UpdateItemInput) types.TransactWriteItem {
	return types.TransactWriteItem{Update: &types.Update{TableName: in.TableName, Key: in.Key, UpdateExpression: in.UpdateExpression,
		ConditionExpression: in.ConditionExpression, ExpressionAttributeNames: in.ExpressionAttributeNames,
		ExpressionAttributeValues: in.ExpressionAttributeValues, ReturnValuesOnConditionCheckFailure: in.ReturnValuesOnConditionCheckFailure}}
}

// retryable reports whether a transaction's cancellation reason is worth another try.
func retryable(code string) bool { return code == "ThrottlingError" || code == "TransactionConflict" }

// pause waits before another try of a cancelled transaction: a little longer each time, with
// jitter, so that competing writers spread out.
func pause(ctx context.Context, attempt int) error {
	d := time.Duration(attempt+1)*5*time.Millisecond + time.Duration(rand.Int64N(int64(5*time.Millisecond)))
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func isValidation(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == "ValidationException"
}

// How a request's activity is counted in its lane's item of the day (activity.go): the agent
// name of its signatures, when it has one, is counted under its name when the item has it or
// room for it (MaxActivityAgents), else under OtherAgents.
type countMode int

const (
	countNone  countMode = iota // not counted
	countPlain                  // no agent name to count
	countKnown                  // the item counts the agent already
	countFresh                  // a name new to the item, on condition that it has room
	countOther                  // under OtherAgents
)

// agentMode is how t is counted first: known when this store has seen the item count its
// agent, else as new (a refused condition says which it is).
func (s *Store) agentMode(dep string, lane int, t activity.Tally) countMode {
	if t.Signed == 0 || t.Agent == "" {
		return countPlain
	}
	if _, ok := s.agents.Load(agentKey(dep, lane, t)); ok {
		return countKnown
	}
	return countFresh
}

// activityAction is the update that counts t in dep's lane's activity item, by mode.
func (s *Store) activityAction(dep string, lane int, t activity.Tally, mode countMode) *dynamodb.UpdateItemInput {
	in, add := s.activityUpdate(dep, lane, t)
	agent := "a:" + clipName(t.Agent)
	switch mode {
	case countKnown:
		add(agent, t.Signed)
	case countFresh:
		add(agent, t.Signed)
		add("agents", 1)
		in.ConditionExpression = aws.String("attribute_not_exists(#ag) AND (attribute_not_exists(#agents) OR #agents < :cap)")
		in.ExpressionAttributeNames["#ag"], in.ExpressionAttributeNames["#agents"] = agent, "agents"
		in.ExpressionAttributeValues[":cap"] = &types.AttributeValueMemberN{Value: strconv.Itoa(MaxActivityAgents)}
		in.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld
	case countOther:
		add("a:"+OtherAgents, t.Signed)
	}
	return in
}

// afterFreshRefused is how t is counted after the item refused its agent as a new name: the
// item returned with the refusal says whether it counts the name already (another request
// brought it) or is full.
func (s *Store) afterFreshRefused(err error, at int, t activity.Tally) countMode {
	var tce *types.TransactionCanceledException
	if errors.As(err, &tce) && at < len(tce.CancellationReasons) {
		if _, ok := tce.CancellationReasons[at].Item["a:"+clipName(t.Agent)]; ok {
			return countKnown
		}
	}
	return countOther
}

// maxKnownAgents bounds the agent names a store remembers as counted (it forgets them all
// when past: they are learnt again at the cost of a refused condition each).
const maxKnownAgents = 10000

func agentKey(dep string, lane int, t activity.Tally) string {
	return dep + "#" + t.At.UTC().Format(activity.DateLayout) + "#" + strconv.Itoa(lane) + "#" + clipName(t.Agent)
}

func (s *Store) knowAgent(dep string, lane int, t activity.Tally) {
	if _, had := s.agents.LoadOrStore(agentKey(dep, lane, t), true); !had && s.knownAgents.Add(1) > maxKnownAgents {
		s.agents.Range(func(k, _ any) bool { s.agents.Delete(k); return true })
		s.knownAgents.Store(0)
	}
}
