package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/audit"
	"github.com/opensignum/signum/lib/fault"
)

// A filtered listing of signing events reads only the events it lists, and a few more: each
// combination of filters has partitions that hold exactly its events in time order (keys.go):
//
//	no user, no certificate   GSI1 EVENTS#<dep>#<decision>
//	user                      GSI2 EVUSER#<dep>#<decision>#<user>
//	certificate               GSI3 EVCERT#<dep>#<decision>#<certificate>
//	user and certificate      GSI4 EVUSERCERT#<dep>#<decision>#<user>#<certificate>
//
// A decision filter picks one partition; without one the listing merges the four decisions'
// (allow, deny, pending: held for approval, none: completions and approvals have no decision),
// reading each in chunks of a part of a page, so that a page of n events reads at most about
// 2n + 5 items whatever the size of the log.
// Four indexes (three more than before) would have been one per combination and decision; the
// decision in the partition key instead makes the merge do for the decision's absence.
//
// Their cost is writes: an event item is written to the table and to each index it is in —
// GSI1 always, GSI2 with a user, GSI3 with a certificate, GSI4 with both: five writes for a
// decision or completion (each one write unit up to 1 KB, as the item is projected whole),
// against two before, and five copies stored. Projecting keys only would halve the copies'
// size but make a page read each event again from the table (a third read per event listed).

// filtersIndexed is an event item's filters attribute when it is in the partitions and
// indexes above (1: it has the filter attributes but was indexed before the split).
const filtersIndexed = 2

// eventStream is one partition a listing merges, in GSI1SK (time) order.
type eventStream struct {
	index, pkAttr, pk string
	// filter, for the partition of events indexed before the split, matches the listing's
	// filters item by item (that partition holds every event of those days).
	filter *dynamodb.QueryInput
}

// eventStreams are the partitions that together hold exactly the events of dep that f's
// user, certificate and decision match.
func eventStreams(dep string, f EventFilter) []eventStream {
	decisions := []string{audit.Allow, audit.Deny, audit.Pending, ""}
	if f.Decision != "" {
		decisions = []string{f.Decision}
	}
	out := make([]eventStream, 0, len(decisions))
	for _, d := range decisions {
		switch {
		case f.UserID != "" && f.CertificateID != "":
			out = append(out, eventStream{index: gsi4, pkAttr: attrGSI4PK, pk: eventsByUserCertPK(dep, d, f.UserID, f.CertificateID)})
		case f.UserID != "":
			out = append(out, eventStream{index: gsi2, pkAttr: attrGSI2PK, pk: eventsByUserPK(dep, d, f.UserID)})
		case f.CertificateID != "":
			out = append(out, eventStream{index: gsi3, pkAttr: attrGSI3PK, pk: eventsByCertPK(dep, d, f.CertificateID)})
		default:
			out = append(out, eventStream{index: gsi1, pkAttr: attrGSI1PK, pk: eventsByDecisionPK(dep, d)})
		}
	}
	return out
}

// legacyEventStream is the GSI1 partition of dep's events indexed before the split by
// decision, with f as a filter: it reads every event of the time range to find the ones f
// matches, as every filtered listing did before, which is why it is read only until the index
// migration has moved those events (EventsIndexed). The filters match the items' own
// attributes; events written before those existed are matched, as they were, on their JSON's
// text.
func legacyEventStream(dep string, f EventFilter) eventStream {
	st := eventStream{index: gsi1, pkAttr: attrGSI1PK, pk: eventsByTimePK(dep)}
	var conds []string
	names := map[string]string{}
	values := map[string]types.AttributeValue{}
	for i, c := range []struct{ name, v string }{{"userId", f.UserID}, {"certificateId", f.CertificateID}, {"decision", f.Decision}} {
		if c.v == "" {
			continue
		}
		n, v, frag := fmt.Sprintf("#f%d", i), fmt.Sprintf(":f%d", i), fmt.Sprintf(":t%d", i)
		names[n], names["#fv"] = c.name, "filters"
		conds = append(conds, fmt.Sprintf("(%s = %s OR (attribute_not_exists(#fv) AND contains(event, %s)))", n, v, frag))
		text, _ := jsonString(map[string]string{c.name: c.v})
		values[v] = &types.AttributeValueMemberS{Value: c.v}
		values[frag] = &types.AttributeValueMemberS{Value: strings.Trim(text, "{}")}
	}
	if len(conds) > 0 {
		st.filter = &dynamodb.QueryInput{FilterExpression: aws.String(strings.Join(conds, " AND ")),
			ExpressionAttributeNames: names, ExpressionAttributeValues: values}
	}
	return st
}

// streamState is a stream being merged: its query, the items read and not yet taken.
type streamState struct {
	in   *dynamodb.QueryInput
	buf  []map[string]types.AttributeValue
	done bool
}

// mergeEvents lists the events of streams between from and to (GSI1SK bounds), oldest first,
// a page at a time: it reads each stream in chunks, only when its next item is needed, and
// takes the oldest next item of all. The cursor is the GSI1SK of the page's last event,
// sealed with scope (so bound to the listing's filters), and the next page reads each stream
// after it; a cursor of the listing before the merge (an index key with GSI1SK) resumes here.
func (s *Store) mergeEvents(ctx context.Context, scope string, streams []eventStream, from, to string, pr PageRequest) (Page[audit.Event], error) {
	limit := pr.Limit
	if limit == 0 {
		limit = DefaultPageSize
	}
	if limit < 1 || limit > MaxPageSize {
		return Page[audit.Event]{}, fault.Newf(fault.ErrInvalid, "limit must be between 1 and %d", MaxPageSize)
	}
	cursors, err := s.codec(ctx)
	if err != nil {
		return Page[audit.Event]{}, err
	}
	after := ""
	if pr.Cursor != "" {
		k, err := cursors.open(scope, pr.Cursor)
		sk, ok := k[attrGSI1SK].(*types.AttributeValueMemberS)
		if err != nil || !ok {
			return Page[audit.Event]{}, fault.Newf(ErrInvalidCursor, "The cursor is not valid for this listing; start again without one.")
		}
		after = sk.Value
	}
	// Each stream is read a share of the page at a time: what is read and not listed is at
	// most a chunk per stream, so a page reads at most twice its size and a few items more.
	chunk := (limit + len(streams)) / len(streams)
	states := make([]*streamState, len(streams))
	for i, st := range streams {
		in := &dynamodb.QueryInput{TableName: &s.table, IndexName: aws.String(st.index),
			ExpressionAttributeNames:  map[string]string{"#pk": st.pkAttr, "#sk": attrGSI1SK},
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: st.pk}}}
		if after == "" {
			in.KeyConditionExpression = aws.String("#pk = :pk AND #sk BETWEEN :from AND :to")
			in.ExpressionAttributeValues[":from"] = &types.AttributeValueMemberS{Value: from}
			in.ExpressionAttributeValues[":to"] = &types.AttributeValueMemberS{Value: to}
		} else {
			// After the cursor, to the end of the range: a key condition has one bound
			// besides BETWEEN, so the items past to end the stream as they come.
			in.KeyConditionExpression = aws.String("#pk = :pk AND #sk > :after")
			in.ExpressionAttributeValues[":after"] = &types.AttributeValueMemberS{Value: after}
		}
		if f := st.filter; f != nil {
			in.FilterExpression = f.FilterExpression
			for k, v := range f.ExpressionAttributeNames {
				in.ExpressionAttributeNames[k] = v
			}
			for k, v := range f.ExpressionAttributeValues {
				in.ExpressionAttributeValues[k] = v
			}
		}
		states[i] = &streamState{in: in}
	}
	next := func(st *streamState) error {
		st.in.Limit = aws.Int32(int32(chunk))
		out, err := s.db.Query(ctx, st.in)
		if err != nil {
			return unavailable("query "+scope, err)
		}
		st.buf = out.Items
		st.done = len(out.LastEvaluatedKey) == 0
		st.in.ExclusiveStartKey = out.LastEvaluatedKey
		return nil
	}
	// Every stream's first chunk is needed: they are read at the same time.
	errs := make(chan error, len(states))
	for _, st := range states {
		go func() { errs <- next(st) }()
	}
	for range states {
		if e := <-errs; e != nil {
			err = e
		}
	}
	if err != nil {
		return Page[audit.Event]{}, err
	}
	var raw []map[string]types.AttributeValue
	for len(raw) <= limit {
		best := -1
		for i, st := range states {
			// A filtered stream may answer a chunk with nothing and a key to go on from.
			for len(st.buf) == 0 && !st.done {
				if err := next(st); err != nil {
					return Page[audit.Event]{}, err
				}
			}
			if len(st.buf) == 0 {
				continue
			}
			if timeKey(st.buf[0]) > to {
				st.buf, st.done = nil, true
				continue
			}
			if best < 0 || timeKey(st.buf[0]) < timeKey(states[best].buf[0]) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		raw = append(raw, states[best].buf[0])
		states[best].buf = states[best].buf[1:]
	}
	var page Page[audit.Event]
	if len(raw) > limit {
		raw = raw[:limit]
		if page.Next, err = cursors.seal(scope, map[string]types.AttributeValue{attrGSI1SK: raw[limit-1][attrGSI1SK]}); err != nil {
			return Page[audit.Event]{}, err
		}
	}
	page.Items = make([]audit.Event, 0, len(raw))
	for _, item := range raw {
		e, err := decodeEvent(item)
		if err != nil {
			return Page[audit.Event]{}, err
		}
		page.Items = append(page.Items, e)
	}
	return page, nil
}

// timeKey is an event item's GSI1SK.
func timeKey(item map[string]types.AttributeValue) string {
	if v, ok := item[attrGSI1SK].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// EventsIndexed reports whether every event of dep is in the partitions and indexes of
// filtered listings (new deployments; old ones once IndexEventsStep went over all their
// lanes). A yes is remembered: the mark is never taken back.
func (s *Store) EventsIndexed(ctx context.Context, dep string) (bool, error) {
	if _, ok := s.indexedDeps.Load(dep); ok {
		return true, nil
	}
	item, err := s.getItem(ctx, deploymentPK(dep), eventsIndexedSK, "get event index migration")
	if err != nil || item == nil {
		return false, err
	}
	s.indexedDeps.Store(dep, true)
	return true, nil
}

// IndexEventsStep does one bounded batch of the event index migration of deployment dep: it
// goes over at most limit events of its lanes from cursor ("" at the start; "<lane>/<seq>",
// the last event gone over) and writes, into each event item that lacks them, the partitions
// and indexes of filtered listings (its GSI1 partition by decision, GSI2-4), taken from the
// event's JSON. After the last lane it marks the deployment (EventsIndexed), and listings stop
// reading the old partition. A write changes only index attributes, on condition that the
// event is as read: done again after a crash, it finds the items of the batch indexed and
// writes nothing to them.
func (s *Store) IndexEventsStep(ctx context.Context, dep, cursor string, limit int) (next string, processed int, done bool, err error) {
	lane, after, err := parseIndexCursor(cursor)
	if err != nil {
		return "", 0, false, err
	}
	for lane < audit.Lanes && processed < limit {
		in := s.laneAfterQuery(dep, lane, after)
		in.Limit = aws.Int32(int32(limit - processed))
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return "", processed, false, unavailable("query events to index", err)
		}
		for _, av := range out.Items {
			processed++
			var it eventItem
			if err := attributevalue.UnmarshalMap(av, &it); err != nil {
				continue // not an event item: nothing to index
			}
			if seq, err := strconv.ParseInt(strings.TrimPrefix(it.SK, eventSKPrefix), 10, 64); err == nil {
				after = seq
			}
			if err := s.indexEvent(ctx, dep, av, it); err != nil {
				return "", processed, false, err
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			lane, after = lane+1, 0
		}
	}
	if lane < audit.Lanes {
		return fmt.Sprintf("%d/%d", lane, after), processed, false, nil
	}
	err = s.createOrKeep(ctx, "mark events indexed", migrationItem{PK: deploymentPK(dep), SK: eventsIndexedSK, Type: "migration", At: formatTime(s.now())})
	return "", processed, err == nil, err
}

func parseIndexCursor(cursor string) (lane int, after int64, err error) {
	if cursor == "" {
		return 0, 0, nil
	}
	l, a, ok := strings.Cut(cursor, "/")
	lane, err1 := strconv.Atoi(l)
	after, err2 := strconv.ParseInt(a, 10, 64)
	if !ok || err1 != nil || err2 != nil || lane < 0 || after < 0 {
		return 0, 0, fmt.Errorf("event index migration: cursor %q is not <lane>/<seq>", cursor)
	}
	return lane, after, nil
}

// indexEvent writes the index attributes of event item av (it, decoded) of dep, unless it
// has them. An item whose event does not decode is left as it is (verification reports it).
//
// The item is put again whole, with the attributes added, on condition that its event and
// expiry are as read (nothing else of an event item changes): an UpdateItem that puts an item
// into a GSI it was not in corrupts the DynamoDB stand-in's index (minidyn v0.8.2 overwrites
// another entry's place), and DynamoDB charges either write by the whole item.
func (s *Store) indexEvent(ctx context.Context, dep string, av map[string]types.AttributeValue, it eventItem) error {
	if it.Filters == filtersIndexed {
		return nil
	}
	var e audit.Event
	if err := jsonUnmarshal(it.Event, &e); err != nil {
		return nil
	}
	e.DeploymentID = dep // the lane's deployment, whatever the JSON says
	rec := eventRecord(e, it.Event)
	item := make(map[string]types.AttributeValue, len(av)+8)
	for k, v := range av {
		item[k] = v
	}
	for k, v := range marshal(rec) {
		if k != attrPK && k != attrSK && k != "type" && k != "event" {
			item[k] = v
		}
	}
	cond, values := "event = :ev AND attribute_not_exists(#ttl)", map[string]types.AttributeValue{":ev": av["event"]}
	if exp, ok := av[attrTTL]; ok {
		cond, values[":exp"] = "event = :ev AND #ttl = :exp", exp
	}
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: item, ConditionExpression: aws.String(cond),
		ExpressionAttributeNames: map[string]string{"#ttl": attrTTL}, ExpressionAttributeValues: values})
	if err != nil && !isConditionFailed(err) { // else gone (expired) or changed since read: left alone
		return unavailable("index event", err)
	}
	return nil
}

// createOrKeep puts item unless its key is taken; taken is success.
func (s *Store) createOrKeep(ctx context.Context, op string, item any) error {
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: marshal(item), ConditionExpression: aws.String(keyIsFree)})
	if err != nil && !isConditionFailed(err) {
		return unavailable(op, err)
	}
	return nil
}
