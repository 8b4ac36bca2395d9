package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/activity"
	"github.com/opensignum/signum/lib/audit"
	"github.com/opensignum/signum/lib/fault"
)

// Signing events live in lanes, each a hash chain; GSI1 lists a deployment's events by time.
// Each lane's checkpoint (a sequence number and the hash of the event there) is an item of the
// deployment (keys.go has the layout).
//
// Appending is one conditional PutItem: the event's key is its place in the chain, so two
// writers that link to the same predecessor compete for the same key and only one wins; the
// chain cannot fork, and no transaction is needed. The checkpoint only ever moves forward,
// after the event is written, and lets verification notice events removed from a lane's end.
type eventItem struct {
	PK, SK, GSI1PK, GSI1SK string
	Type                   string `dynamodbav:"type"`
	Event                  string `dynamodbav:"event"` // the event's JSON (audit.Event.ComputeHash says how it is hashed)
	// The fields a listing filters on, as attributes of their own: a filter matches them, not
	// text inside the event's JSON, where a client's CI metadata could spell them. Filters
	// marks items that have them (events written before they existed have none):
	// filtersIndexed, items that are in the filter indexes too (eventindex.go).
	UserID        string `dynamodbav:"userId,omitempty"`
	CertificateID string `dynamodbav:"certificateId,omitempty"`
	Decision      string `dynamodbav:"decision,omitempty"`
	Filters       int    `dynamodbav:"filters,omitempty"`
	// The filter indexes' partitions (sparse: an event without a user or certificate is not
	// in the indexes that need it).
	GSI2PK string `dynamodbav:",omitempty"`
	GSI3PK string `dynamodbav:",omitempty"`
	GSI4PK string `dynamodbav:",omitempty"`
}

type eventHeadItem struct {
	PK, SK string
	Type   string `dynamodbav:"type"`
	Seq    int64  `dynamodbav:"seq"`
	Hash   string `dynamodbav:"hash"`
	// Seal is the lane's signed checkpoint (an audit.Seal's JSON), written with seq and hash
	// when the writer can seal; it may name an earlier event than they do.
	Seal string `dynamodbav:"seal,omitempty"`
}

// MaxAppendAttempts bounds the retries of an append that lost the race for its lane's head.
const MaxAppendAttempts = 20

// laneHead is the last event of a lane as this store last wrote or read it.
type laneHead struct {
	seq  int64
	hash string
}

func headKey(dep string, lane int) string { return dep + "#" + strconv.Itoa(lane) }

// lastEvent is the last event of a lane (nil for an empty lane): the one this store last
// appended there, else read. A stale answer costs nothing but a retry: the append that links
// to it loses the conditional write.
func (s *Store) lastEvent(ctx context.Context, dep string, lane int) (*audit.Event, error) {
	if v, ok := s.heads.Load(headKey(dep, lane)); ok {
		h := v.(laneHead)
		return &audit.Event{Seq: h.seq, Hash: h.hash}, nil
	}
	in := s.laneQuery(dep, lane)
	in.ScanIndexForward, in.Limit = aws.Bool(false), aws.Int32(1)
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return nil, unavailable("read last event", err)
	}
	if len(out.Items) == 0 {
		return nil, nil
	}
	last, err := decodeEvent(out.Items[0])
	if err != nil {
		return nil, err
	}
	return &last, nil
}

// laneQuery is a consistent query of a lane's events in sequence order.
func (s *Store) laneQuery(dep string, lane int) *dynamodb.QueryInput {
	in := listPrefixInput(eventLanePK(dep, lane), eventSKPrefix)
	in.TableName, in.ConsistentRead = &s.table, aws.Bool(true)
	return in
}

// lockLane makes this store's writes to one lane take turns; it returns the unlock.
func (s *Store) lockLane(hk string) func() {
	mu, _ := s.laneLocks.LoadOrStore(hk, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	return mu.(*sync.Mutex).Unlock
}

// AppendEvent seals e after the last event of its lane and writes it where the chain's next
// event goes, on condition that nothing is there yet. A lost race is retried after the new
// last event. On an error the sealed event of the last attempt is returned too: its write may
// have landed with only the answer lost, which EventWritten tells.
func (s *Store) AppendEvent(ctx context.Context, e audit.Event) (audit.Event, error) {
	hk := headKey(e.DeploymentID, e.Lane)
	// Appends of this process to one lane take turns, so that they do not race each other for
	// the same place; other processes' appends still can, and the condition settles those.
	defer s.lockLane(hk)()
	var sealed audit.Event
	for attempt := 0; attempt < MaxAppendAttempts; attempt++ {
		prev, err := s.lastEvent(ctx, e.DeploymentID, e.Lane)
		if err != nil {
			return audit.Event{}, err
		}
		sealed = e
		sealed.Seal(prev)
		body, err := jsonString(sealed)
		if err != nil {
			return audit.Event{}, err
		}
		err = s.putEvent(ctx, sealed, body)
		if err == nil {
			s.heads.Store(hk, laneHead{sealed.Seq, sealed.Hash})
			return sealed, nil
		}
		s.heads.Delete(hk)
		if !isConditionFailed(err) {
			return sealed, unavailable("append event", err)
		}
		// The place is taken: by this very event (the SDK retried a write whose answer was
		// lost), or by another writer's.
		mine, err := s.EventWritten(ctx, sealed)
		if err != nil {
			return sealed, err
		}
		if mine {
			s.heads.Store(hk, laneHead{sealed.Seq, sealed.Hash})
			return sealed, nil
		}
	}
	return sealed, fault.Wrap(ErrUnavailable, fmt.Errorf("append event: lane %d stayed contended", e.Lane), "The event log is busy; retry.")
}

// putEvent writes sealed at its place in its lane if the place is empty.
func (s *Store) putEvent(ctx context.Context, sealed audit.Event, body string) error {
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, ConditionExpression: aws.String(keyIsFree),
		Item: marshal(eventRecord(sealed, body))})
	return err
}

// eventRecord is the item of sealed, an event whose JSON is body: in its lane, in GSI1 under
// its decision, and in the filter indexes its user and certificate put it in.
func eventRecord(sealed audit.Event, body string) eventItem {
	dep, d := sealed.DeploymentID, sealed.Decision
	it := eventItem{PK: eventLanePK(dep, sealed.Lane), SK: eventSK(sealed.Seq), Type: "signingEvent",
		GSI1PK: eventsByDecisionPK(dep, d), GSI1SK: eventsByTimeSK(sealed.At, sealed.ID), Event: body,
		UserID: sealed.UserID, CertificateID: sealed.CertificateID, Decision: d, Filters: filtersIndexed}
	if sealed.UserID != "" {
		it.GSI2PK = eventsByUserPK(dep, d, sealed.UserID)
	}
	if sealed.CertificateID != "" {
		it.GSI3PK = eventsByCertPK(dep, d, sealed.CertificateID)
	}
	if sealed.UserID != "" && sealed.CertificateID != "" {
		it.GSI4PK = eventsByUserCertPK(dep, d, sealed.UserID, sealed.CertificateID)
	}
	return it
}

// SettleEvent decides the place of sealed, an event whose write has an unknown outcome (its
// answer was lost): it writes void there, linked to the same predecessor, on condition that
// the place is still empty, and returns the event that holds the place — void if its write
// won (sealed can then never land), sealed if that landed first, or another writer's event
// (sealed never landed). Conditional writes to one item are serialised, so the answer is
// final.
func (s *Store) SettleEvent(ctx context.Context, sealed, void audit.Event) (audit.Event, error) {
	hk := headKey(sealed.DeploymentID, sealed.Lane)
	defer s.lockLane(hk)()
	void.DeploymentID, void.Lane = sealed.DeploymentID, sealed.Lane
	var prev *audit.Event
	if sealed.Seq > 1 {
		prev = &audit.Event{Seq: sealed.Seq - 1, Hash: sealed.PrevHash}
	}
	void.Seal(prev)
	body, err := jsonString(void)
	if err != nil {
		return audit.Event{}, err
	}
	s.heads.Delete(hk)
	err = s.putEvent(ctx, void, body)
	if err == nil {
		return void, nil
	}
	if !isConditionFailed(err) {
		return audit.Event{}, unavailable("settle event", err)
	}
	return get(ctx, s, eventLanePK(sealed.DeploymentID, sealed.Lane), eventSK(sealed.Seq), "get event", decodeEvent, func() error {
		return fault.Wrap(ErrUnavailable, fmt.Errorf("settle event: place %d of lane %d is empty after a failed condition", sealed.Seq, sealed.Lane), "The event log is busy; retry.")
	})
}

// EventWritten reports whether the sealed event e is recorded at its place in its lane (a
// consistent read): a writer whose append failed without an answer asks before it decides
// what to return.
func (s *Store) EventWritten(ctx context.Context, e audit.Event) (bool, error) {
	item, err := s.getItem(ctx, eventLanePK(e.DeploymentID, e.Lane), eventSK(e.Seq), "get event")
	if err != nil || item == nil {
		return false, err
	}
	got, err := decodeEvent(item)
	if err != nil {
		return false, err
	}
	return got.ID == e.ID && got.Hash == e.Hash, nil
}

// Sealer seals the checkpoint of a lane at its event e (audit.Notary); nil, or a nil seal,
// writes the checkpoint unsealed and leaves the lane's last seal as it is.
type Sealer func(e audit.Event) *audit.Seal

// CheckpointEvents moves the checkpoints of the lanes of events forward to the latest of
// them (never back), in parallel, each with its seal. Events after a lane's checkpoint are
// still verified link by link; the checkpoint is what reveals events removed from the end of
// a lane, and its seal what reveals a lane rewritten by someone who cannot seal.
func (s *Store) CheckpointEvents(ctx context.Context, seal Sealer, events ...audit.Event) error {
	if len(events) == 0 {
		return nil
	}
	latest := audit.Latest(events)
	errs := make(chan error, len(latest))
	for _, e := range latest {
		go func() {
			var sealed string
			if seal != nil {
				if sl := seal(e); sl != nil {
					raw, _ := json.Marshal(sl)
					sealed = string(raw)
				}
			}
			_, err := s.db.UpdateItem(ctx, s.checkpointUpdate(e, sealed))
			if err != nil && !isConditionFailed(err) { // else a later checkpoint is there already
				err = unavailable("checkpoint events", err)
			} else {
				err = nil
			}
			errs <- err
		}()
	}
	var all []error
	for range latest {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}

// Use is signatures made with a certificate, counted in a lane's item (AppendEventCounting):
// a certificate's usage is the sum over the lanes' items (WithUsage), so the signer counts it
// without a call of its own.
type Use struct {
	CertificateID string
	N             int // negative: signatures counted before that were not returned
	At            time.Time
	// Activity, when set, is the request as the deployment's activity counts it (its lane's
	// activity item of the day, written beside the checkpoint: see activity.go).
	Activity *activity.Tally
}

func useAttrs(certID string) (count, last string) { return "use_" + certID, "lastUse_" + certID }

// useUpdate is the update that counts use in a lane's item: ADD to the certificate's count,
// and its last use when signatures were made.
func (s *Store) useUpdate(dep string, lane int, use Use) *dynamodb.UpdateItemInput {
	count, last := useAttrs(use.CertificateID)
	in := &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(deploymentPK(dep), eventHeadSK(lane)),
		UpdateExpression:         aws.String("SET #t = :t ADD #u :n"),
		ExpressionAttributeNames: map[string]string{"#t": "type", "#u": count},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":t": &types.AttributeValueMemberS{Value: "eventHead"}, ":n": &types.AttributeValueMemberN{Value: strconv.Itoa(use.N)},
		},
	}
	if use.N > 0 {
		in.UpdateExpression = aws.String("SET #t = :t, #l = :at ADD #u :n")
		in.ExpressionAttributeNames["#l"] = last
		in.ExpressionAttributeValues[":at"] = &types.AttributeValueMemberS{Value: formatTime(use.At)}
	}
	return in
}

// checkpointUpdate moves e's lane's checkpoint to e, never back, with its seal (JSON) when
// sealed is set.
func (s *Store) checkpointUpdate(e audit.Event, sealed string) *dynamodb.UpdateItemInput {
	in := &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(deploymentPK(e.DeploymentID), eventHeadSK(e.Lane)),
		UpdateExpression:         aws.String("SET #t = :t, seq = :s, #h = :h"),
		ConditionExpression:      aws.String("attribute_not_exists(PK) OR seq < :s"),
		ExpressionAttributeNames: map[string]string{"#t": "type", "#h": "hash"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":t": &types.AttributeValueMemberS{Value: "eventHead"}, ":h": &types.AttributeValueMemberS{Value: e.Hash},
			":s": &types.AttributeValueMemberN{Value: strconv.FormatInt(e.Seq, 10)},
		},
	}
	if sealed != "" {
		in.UpdateExpression = aws.String("SET #t = :t, seq = :s, #h = :h, #sl = :sl")
		in.ExpressionAttributeNames["#sl"] = "seal"
		in.ExpressionAttributeValues[":sl"] = &types.AttributeValueMemberS{Value: sealed}
	}
	return in
}

// EventFilter narrows a listing of signing events.
type EventFilter struct {
	From, To      time.Time
	UserID        string
	CertificateID string
	Decision      string
}

// ListEvents lists a deployment's events oldest first within the filter's time range. Each
// combination of filters is read from partitions that hold exactly the events it matches, in
// time order, merged (eventindex.go): a page reads at most about twice its size, however large
// the log.
func (s *Store) ListEvents(ctx context.Context, dep string, f EventFilter, pr PageRequest) (Page[audit.Event], error) {
	from, to := eventsFrom(f.From), eventsTo(f.To)
	streams := eventStreams(dep, f)
	indexed, err := s.EventsIndexed(ctx, dep)
	if err != nil {
		return Page[audit.Event]{}, err
	}
	if !indexed {
		// Events indexed before the split are still in the old partition (until the index
		// migration moves them), where only a filter finds them.
		streams = append(streams, legacyEventStream(dep, f))
	}
	// The scope binds the cursor to the filters.
	scope := fmt.Sprintf("events:%s:%s:%s:%+v", dep, from, to, f)
	return s.mergeEvents(ctx, scope, streams, from, to, pr)
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

// ReadLane reads one lane of a deployment's event log for verification (audit.Verify): its
// checkpoint and all its events in sequence order (a consistent Query, page by page). An item
// that does not decode is reported in the lane, not returned as an error: it is what a
// verification must show.
func (s *Store) ReadLane(ctx context.Context, dep string, lane int) (audit.Lane, error) {
	return s.readLane(ctx, dep, lane, 0)
}

// readLane is ReadLane of the events after sequence number after.
func (s *Store) readLane(ctx context.Context, dep string, lane int, after int64) (audit.Lane, error) {
	out, err := s.laneHead(ctx, dep, lane)
	if err != nil {
		return audit.Lane{}, err
	}
	in := s.laneQuery(dep, lane)
	if after > 0 {
		in = s.laneAfterQuery(dep, lane, after)
	}
	// About DynamoDB's 1 MB page anyway; the stand-in, which has no such limit, would
	// otherwise answer a long lane in one response too slow to wait for.
	in.Limit = aws.Int32(1000)
	for {
		page, err := s.db.Query(ctx, in)
		if err != nil {
			return audit.Lane{}, unavailable("query events", err)
		}
		addEvents(&out, page.Items)
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// laneHead is a lane read for verification without its events: its checkpoint and seal.
func (s *Store) laneHead(ctx context.Context, dep string, lane int) (audit.Lane, error) {
	head, err := get(ctx, s, deploymentPK(dep), eventHeadSK(lane), "get event head", decodeAs[eventHeadItem]("event head"), nil)
	if err != nil {
		return audit.Lane{}, err
	}
	out := audit.Lane{Number: lane, HeadSeq: head.Seq, HeadHash: head.Hash}
	if head.Seal != "" {
		var sl audit.Seal
		if err := jsonUnmarshal(head.Seal, &sl); err != nil {
			out.SealError = err.Error()
		} else {
			out.Seal = &sl
		}
	}
	return out, nil
}

// addEvents adds the event items items to l, those that do not decode as undecodable.
func addEvents(l *audit.Lane, items []map[string]types.AttributeValue) {
	for _, av := range items {
		e, err := decodeEvent(av)
		if err != nil {
			l.Undecodable = append(l.Undecodable, err.Error())
			continue
		}
		l.Events = append(l.Events, e)
	}
}

func jsonString(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
