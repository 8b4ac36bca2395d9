package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/audit"
	"github.com/opensignum/signum/lib/fault"
)

// Signing events live in lanes: PK=DEP#<dep>#LANE#<n>, SK=EVT#<seq, 20 digits>; each lane's
// head (last seq and hash) is PK=DEP#<dep>, SK=EVHEAD#<n>; GSI1 lists a deployment's events by
// time: GSI1PK=EVENTS#<dep>, GSI1SK=<time>#<id>.
const (
	eventSKPrefix  = "EVT#"
	eventHeadSK    = "EVHEAD#"
	eventsByTimePK = "EVENTS#"
)

func eventLanePK(dep string, lane int) string {
	return deploymentPK(dep) + "#LANE#" + strconv.Itoa(lane)
}
func eventSK(seq int64) string { return fmt.Sprintf("%s%020d", eventSKPrefix, seq) }
func eventHeadKey(dep string, lane int) map[string]types.AttributeValue {
	return key(deploymentPK(dep), eventHeadSK+strconv.Itoa(lane))
}

type eventItem struct {
	PK, SK, GSI1PK, GSI1SK string
	Type                   string `dynamodbav:"type"`
	Event                  string `dynamodbav:"event"` // the event's canonical JSON, as hashed
}

// eventIDItem finds an event by id (PK=EVID#<dep>#<id>, SK=EVID); it is written in the same
// transaction as the event, so that a writer whose answer was lost can learn whether its
// event was recorded.
type eventIDItem struct {
	PK, SK string
	Type   string `dynamodbav:"type"`
	Lane   int    `dynamodbav:"lane"`
	Seq    int64  `dynamodbav:"seq"`
}

func eventIDKey(dep, id string) map[string]types.AttributeValue {
	return key("EVID#"+dep+"#"+id, "EVID")
}

type eventHeadItem struct {
	PK, SK string
	Type   string `dynamodbav:"type"`
	Seq    int64  `dynamodbav:"seq"`
	Hash   string `dynamodbav:"hash"`
}

// MaxAppendAttempts bounds the retries of an append that lost the race for its lane's head.
const MaxAppendAttempts = 20

// AppendEvent seals e after the last event of its lane and writes both the event and the new
// lane head in one transaction whose condition is that the head did not move: two concurrent
// appends cannot both link to the same predecessor, so the chain never forks. A lost race is
// retried with the new head.
func (s *Store) AppendEvent(ctx context.Context, e audit.Event) (audit.Event, error) {
	for attempt := 0; attempt < MaxAppendAttempts; attempt++ {
		item, err := s.getItem(ctx, deploymentPK(e.DeploymentID), eventHeadSK+strconv.Itoa(e.Lane), "get event head")
		if err != nil {
			return audit.Event{}, err
		}
		var head eventHeadItem
		var prev *audit.Event
		cond := "attribute_not_exists(PK)"
		vals := map[string]types.AttributeValue{}
		if item != nil {
			if err := attributevalue.UnmarshalMap(item, &head); err != nil {
				return audit.Event{}, fmt.Errorf("decode event head: %w", err)
			}
			prev = &audit.Event{Seq: head.Seq, Hash: head.Hash}
			cond = "seq = :seq"
			vals[":seq"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(head.Seq, 10)}
		}
		sealed := e
		sealed.Seal(prev)
		body, err := jsonString(sealed)
		if err != nil {
			return audit.Event{}, err
		}
		put := types.Put{TableName: &s.table, ConditionExpression: &cond,
			Item: marshal(eventHeadItem{PK: deploymentPK(e.DeploymentID), SK: eventHeadSK + strconv.Itoa(e.Lane), Type: "eventHead", Seq: sealed.Seq, Hash: sealed.Hash})}
		if len(vals) > 0 {
			put.ExpressionAttributeValues = vals
		}
		items := []types.TransactWriteItem{
			{Put: &put},
			{Put: &types.Put{TableName: &s.table, ConditionExpression: aws.String("attribute_not_exists(PK)"),
				Item: marshal(eventItem{PK: eventLanePK(e.DeploymentID, e.Lane), SK: eventSK(sealed.Seq), Type: "signingEvent",
					GSI1PK: eventsByTimePK + e.DeploymentID, GSI1SK: sealed.At.UTC().Format(sortableTime) + "#" + sealed.ID, Event: body})}},
			{Put: &types.Put{TableName: &s.table, ConditionExpression: aws.String("attribute_not_exists(PK)"),
				Item: marshal(eventIDItem{PK: "EVID#" + e.DeploymentID + "#" + e.ID, SK: "EVID", Type: "eventId", Lane: e.Lane, Seq: sealed.Seq})}},
		}
		err = s.transact(ctx, "append event", items)
		if err == nil {
			return sealed, nil
		}
		codes := cancellationCodes(err)
		if codes == nil {
			return audit.Event{}, err
		}
		if len(codes) > 2 && codes[2] == "ConditionalCheckFailed" {
			// The id is taken: this very event was written by an earlier attempt.
			return audit.Event{}, fault.Newf(ErrConflict, "Event %s was already recorded.", e.ID)
		}
		if codes[0] != "ConditionalCheckFailed" && codes[0] != "TransactionConflict" {
			return audit.Event{}, cancelled("append event", err, codes)
		}
		// Another append won the head: read it again.
	}
	return audit.Event{}, fault.Wrap(ErrUnavailable, fmt.Errorf("append event: lane %d stayed contended", e.Lane), "The event log is busy; retry.")
}

// EventFilter narrows a listing of signing events.
type EventFilter struct {
	From, To      time.Time
	UserID        string
	CertificateID string
	Decision      string
}

// ListEvents lists a deployment's events oldest first within the filter's time range.
func (s *Store) ListEvents(ctx context.Context, dep string, f EventFilter, pr PageRequest) (Page[audit.Event], error) {
	from, to := "0", "9"
	if !f.From.IsZero() {
		from = f.From.UTC().Format(sortableTime)
	}
	if !f.To.IsZero() {
		// Inclusive: the sort key goes on with "#<id>", and "~" sorts after every id.
		to = f.To.UTC().Format(sortableTime) + "#~"
	}
	in := &dynamodb.QueryInput{
		IndexName:              aws.String(gsi1),
		KeyConditionExpression: aws.String("GSI1PK = :pk AND GSI1SK BETWEEN :from AND :to"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk":   &types.AttributeValueMemberS{Value: eventsByTimePK + dep},
			":from": &types.AttributeValueMemberS{Value: from}, ":to": &types.AttributeValueMemberS{Value: to},
		},
	}
	// The filters apply to the event JSON's fields; the scope binds the cursor to them.
	var conds []string
	for name, v := range map[string]string{"userId": f.UserID, "certificateId": f.CertificateID, "decision": f.Decision} {
		if v != "" {
			conds = append(conds, "contains(event, :"+name+")")
			frag, _ := jsonString(map[string]string{name: v})
			in.ExpressionAttributeValues[":"+name] = &types.AttributeValueMemberS{Value: strings.Trim(frag, "{}")}
		}
	}
	if len(conds) > 0 {
		in.FilterExpression = aws.String(strings.Join(conds, " AND "))
	}
	scope := fmt.Sprintf("events:%s:%s:%s:%+v", dep, from, to, f)
	return query(ctx, s, scope, in, []string{attrPK, attrSK, attrGSI1PK, attrGSI1SK}, pr, decodeEvent)
}

func decodeEvent(av map[string]types.AttributeValue) (audit.Event, error) {
	var it eventItem
	if err := attributevalue.UnmarshalMap(av, &it); err != nil {
		return audit.Event{}, fmt.Errorf("decode event: %w", err)
	}
	var e audit.Event
	if err := jsonUnmarshal(it.Event, &e); err != nil {
		return audit.Event{}, fmt.Errorf("decode event body: %w", err)
	}
	return e, nil
}

// VerifyEvents walks every lane of a deployment's event log (lanes 0..lanes-1) and reports
// every break in the chains, and how many events it checked.
func (s *Store) VerifyEvents(ctx context.Context, dep string, lanes int) ([]audit.Problem, int, error) {
	var problems []audit.Problem
	total := 0
	for lane := 0; lane < lanes; lane++ {
		item, err := s.getItem(ctx, deploymentPK(dep), eventHeadSK+strconv.Itoa(lane), "get event head")
		if err != nil {
			return nil, 0, err
		}
		var head eventHeadItem
		if item != nil {
			if err := attributevalue.UnmarshalMap(item, &head); err != nil {
				return nil, 0, fmt.Errorf("decode event head: %w", err)
			}
		}
		var events []audit.Event
		in := &dynamodb.QueryInput{
			TableName:              &s.table,
			KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :p)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk": &types.AttributeValueMemberS{Value: eventLanePK(dep, lane)}, ":p": &types.AttributeValueMemberS{Value: eventSKPrefix},
			},
			ConsistentRead: aws.Bool(true),
		}
		for {
			out, err := s.db.Query(ctx, in)
			if err != nil {
				return nil, 0, unavailable("query events", err)
			}
			for _, av := range out.Items {
				e, err := decodeEvent(av)
				if err != nil {
					problems = append(problems, audit.Problem{Lane: lane, Detail: "an event does not decode: " + err.Error()})
					continue
				}
				events = append(events, e)
			}
			if len(out.LastEvaluatedKey) == 0 {
				break
			}
			in.ExclusiveStartKey = out.LastEvaluatedKey
		}
		total += len(events)
		problems = append(problems, audit.VerifyLane(lane, events, head.Seq, head.Hash)...)
	}
	return problems, total, nil
}

func jsonString(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// EventWritten reports whether the event with id was recorded (a consistent read of its id
// item): a writer whose append failed without an answer asks before it decides what to return.
func (s *Store) EventWritten(ctx context.Context, dep, id string) (bool, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: eventIDKey(dep, id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return false, unavailable("get event id", err)
	}
	return len(out.Item) > 0, nil
}
