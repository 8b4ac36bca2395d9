package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/audit"
	"github.com/opensignum/signum/lib/fault"
)

// The reads and writes of the event log's checks that do not read it whole: the incremental
// check (audit.VerifySince) reads each lane after the position where it was last found
// intact, kept per lane; the full check in the background (lib/eventcheck) reads a page of a
// lane at a time.

// laneAfterQuery is a consistent query of a lane's events after sequence number after.
func (s *Store) laneAfterQuery(dep string, lane int, after int64) *dynamodb.QueryInput {
	return &dynamodb.QueryInput{TableName: &s.table, ConsistentRead: aws.Bool(true),
		KeyConditionExpression: aws.String("PK = :pk AND SK > :after"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: eventLanePK(dep, lane)}, ":after": &types.AttributeValueMemberS{Value: eventSK(after)},
		}}
}

// ReadLaneAfter is ReadLane of the lane's events after sequence number after only.
func (s *Store) ReadLaneAfter(ctx context.Context, dep string, lane int, after int64) (audit.Lane, error) {
	return s.readLane(ctx, dep, lane, after)
}

// ReadLanePage is ReadLane of at most limit of the lane's events after sequence number after
// (one consistent Query); last is the sequence number of the last item read (an event that
// does not decode too), more that the lane may go on after it (audit.PageReader). The
// checkpoint is read first, so that it never names an event written after the page was read.
func (s *Store) ReadLanePage(ctx context.Context, dep string, lane int, after int64, limit int) (l audit.Lane, last int64, more bool, err error) {
	if l, err = s.laneHead(ctx, dep, lane); err != nil {
		return audit.Lane{}, 0, false, err
	}
	in := s.laneAfterQuery(dep, lane, after)
	in.Limit = aws.Int32(int32(limit))
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return audit.Lane{}, 0, false, unavailable("query events", err)
	}
	addEvents(&l, out.Items)
	last = after
	if n := len(out.Items); n > 0 {
		if sk, ok := out.Items[n-1][attrSK].(*types.AttributeValueMemberS); ok {
			last, _ = strconv.ParseInt(strings.TrimPrefix(sk.Value, eventSKPrefix), 10, 64)
		}
	}
	return l, last, len(out.LastEvaluatedKey) > 0, nil
}

// eventCheckItem is the state of a deployment's full check of its event log (audit.FullCheck,
// as JSON), one per deployment: a new check replaces the last.
type eventCheckItem struct {
	PK, SK  string
	Type    string `dynamodbav:"type"`
	Check   string `dynamodbav:"check"`
	Version int    `dynamodbav:"version"`
}

// GetEventCheck is dep's full check of its event log (the running one or the last), or
// ErrNotFound.
func (s *Store) GetEventCheck(ctx context.Context, dep string) (audit.FullCheck, error) {
	it, err := get(ctx, s, deploymentPK(dep), eventCheckSK, "get event check", decodeAs[eventCheckItem]("event check"),
		notFound("The signing event log has not been checked in full yet."))
	if err != nil {
		return audit.FullCheck{}, err
	}
	var c audit.FullCheck
	if err := jsonUnmarshal(it.Check, &c); err != nil {
		return audit.FullCheck{}, fmt.Errorf("decode event check: %w", err)
	}
	c.Version = it.Version
	return c, nil
}

// SaveEventCheck stores c as dep's full check over the revision read (c.Version; 0: there was
// none) and returns it with its new revision; a revision that is not the stored one is ErrStale
// (another worker, or a new check, saved since).
func (s *Store) SaveEventCheck(ctx context.Context, dep string, c audit.FullCheck) (audit.FullCheck, error) {
	read := c.Version
	c.Version = read + 1
	raw, err := jsonString(c)
	if err != nil {
		return audit.FullCheck{}, err
	}
	in := &dynamodb.PutItemInput{TableName: &s.table, Item: marshal(eventCheckItem{PK: deploymentPK(dep), SK: eventCheckSK, Type: "eventCheck", Check: raw, Version: c.Version}),
		ConditionExpression: aws.String(keyIsFree)}
	if read > 0 {
		in.ConditionExpression = aws.String("version = :v")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: strconv.Itoa(read)}}
	}
	if _, err := s.db.PutItem(ctx, in); err != nil {
		if isConditionFailed(err) {
			return audit.FullCheck{}, fault.Newf(ErrStale, "The check of the event log was saved by another worker since it was read.")
		}
		return audit.FullCheck{}, unavailable("save event check", err)
	}
	return c, nil
}

// FindEvents reports which of ids are events of a lane of dep, looking back from sequence
// number upTo, or, when upTo is 0, from the last event stamped by at (plus the window, for
// clocks: the lane's events are in time order but for the clocks of the instances that wrote
// them), found by a binary search of GetItems (about 17 for a lane of 100,000 events), through
// the events stamped at or after since (audit.EventFinder). It reads the lane backwards in
// pages of 2, 4, 8, ... up to 64 events (consistent: a decision is usually just before the
// place it is looked for from) and stops when every id is found.
func (s *Store) FindEvents(ctx context.Context, dep string, lane int, upTo int64, at, since time.Time, ids []string) (map[string]bool, error) {
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	found := map[string]bool{}
	if upTo == 0 {
		var err error
		if upTo, err = s.seqAt(ctx, dep, lane, at.Add(audit.CompletionWindow)); err != nil || upTo == 0 {
			return found, err
		}
	}
	in := &dynamodb.QueryInput{TableName: &s.table, ConsistentRead: aws.Bool(true), ScanIndexForward: aws.Bool(false),
		KeyConditionExpression: aws.String("PK = :pk AND SK BETWEEN :lo AND :hi"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: eventLanePK(dep, lane)},
			":lo": &types.AttributeValueMemberS{Value: eventSK(0)}, ":hi": &types.AttributeValueMemberS{Value: eventSK(upTo)},
		}}
	for page := int32(2); len(found) < len(want); page = min(2*page, 64) {
		in.Limit = aws.Int32(page)
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, unavailable("find events", err)
		}
		for _, av := range out.Items {
			e, err := decodeEvent(av)
			if err != nil {
				continue
			}
			if want[e.ID] {
				found[e.ID] = true
			}
			if e.At.Before(since) {
				return found, nil
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	return found, nil
}

// seqAt is the sequence number of the last event of the lane stamped at or before at, by a
// binary search (0: none).
func (s *Store) seqAt(ctx context.Context, dep string, lane int, at time.Time) (int64, error) {
	last, err := s.lastEvent(ctx, dep, lane)
	if err != nil || last == nil {
		return 0, err
	}
	lo, hi := int64(1), last.Seq // the answer is in [lo-1, hi]
	for lo <= hi {
		mid := lo + (hi-lo)/2
		item, err := s.getItem(ctx, eventLanePK(dep, lane), eventSK(mid), "get event")
		if err != nil {
			return 0, err
		}
		if e, derr := decodeEvent(item); item != nil && derr == nil && e.At.After(at) {
			hi = mid - 1
		} else {
			lo = mid + 1 // a missing event counts as earlier: the look back starts later
		}
	}
	return hi, nil
}

// eventVerifiedItem is where a check last found a lane intact: a signed checkpoint of the
// lane (its position is seq and hash), which whoever can write the table cannot make.
type eventVerifiedItem struct {
	PK, SK string
	Type   string `dynamodbav:"type"`
	Seq    int64  `dynamodbav:"seq"`
	Hash   string `dynamodbav:"hash"`
	Seal   string `dynamodbav:"seal"`
	At     string `dynamodbav:"at"`
}

// VerifiedLanes is, per lane (audit.Lanes), the signed checkpoint at which a check last found
// the lane intact (SaveVerified), nil for a lane never found intact or whose item does not
// decode; the checker verifies each seal before it trusts it (audit.VerifySince). One
// consistent Query of the deployment's EVVERIFIED# items.
func (s *Store) VerifiedLanes(ctx context.Context, dep string) ([]*audit.Seal, error) {
	in := listPrefixInput(deploymentPK(dep), eventVerifiedPrefix)
	in.TableName, in.ConsistentRead = &s.table, aws.Bool(true)
	out := make([]*audit.Seal, audit.Lanes)
	for {
		page, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, unavailable("query verified lanes", err)
		}
		for _, av := range page.Items {
			it, err := decodeAs[eventVerifiedItem]("verified lane")(av)
			if err != nil {
				continue
			}
			lane, err := strconv.Atoi(strings.TrimPrefix(it.SK, eventVerifiedPrefix))
			var sl audit.Seal
			if err != nil || lane < 0 || lane >= audit.Lanes || jsonUnmarshal(it.Seal, &sl) != nil {
				continue
			}
			out[lane] = &sl
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// SaveVerified keeps seal, a lane's signed checkpoint, as where a check found the lane intact,
// unless a later position is kept already (PutItem on attribute_not_exists(PK) OR seq < :seq).
func (s *Store) SaveVerified(ctx context.Context, dep string, seal audit.Seal) error {
	if len(seal.Statement.Events) != 1 {
		return fmt.Errorf("save verified lane: a checkpoint names one event, this seal %d", len(seal.Statement.Events))
	}
	p := seal.Statement.Events[0]
	raw, err := jsonString(seal)
	if err != nil {
		return err
	}
	it := eventVerifiedItem{PK: deploymentPK(dep), SK: eventVerifiedSK(p.Lane), Type: "eventVerified", Seq: p.Seq, Hash: p.Hash, Seal: raw, At: formatTime(s.now())}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: marshal(it),
		ConditionExpression:       aws.String("attribute_not_exists(PK) OR seq < :s"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":s": &types.AttributeValueMemberN{Value: strconv.FormatInt(p.Seq, 10)}}})
	if err != nil && !isConditionFailed(err) {
		return unavailable("save verified lane", err)
	}
	return nil
}
