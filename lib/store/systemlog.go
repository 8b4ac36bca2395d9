package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/tenant"
)

// logRetention is how long system log entries live before DynamoDB's TTL removes them.
const logRetention = 400 * 24 * time.Hour

// systemLogType is the type attribute of log items; transact finds them by it.
const systemLogType = "systemLog"

// logItem is a system log entry: PK=DEP#<id>, SK=LOG#<time>#<entry id>, expiring by TTL.
// section, object and sourceIp came later: entries written before have none, and get the
// derived ones when read (tenant.LogEntry.Derived).
type logItem struct {
	PK        string `dynamodbav:"PK"`
	SK        string `dynamodbav:"SK"`
	Type      string `dynamodbav:"type"`
	ID        string `dynamodbav:"id"`
	At        string `dynamodbav:"at"`
	Actor     string `dynamodbav:"actor"`
	Action    string `dynamodbav:"action"`
	Detail    string `dynamodbav:"detail,omitempty"`
	Section   string `dynamodbav:"section,omitempty"`
	Object    string `dynamodbav:"object,omitempty"`
	SourceIP  string `dynamodbav:"sourceIp,omitempty"`
	ExpiresAt int64  `dynamodbav:"expiresAt"`
}

func (s *Store) logItem(deploymentID string, e tenant.LogEntry) logItem {
	if e.ID == "" {
		e.ID = tenant.NewID("log_")
	}
	if e.At.IsZero() {
		e.At = s.now()
	}
	e = e.Derived()
	return logItem{
		PK: deploymentPK(deploymentID), SK: logSK(e.At, e.ID), Type: systemLogType, ID: e.ID,
		At: e.At.UTC().Format(time.RFC3339Nano), Actor: e.Actor, Action: e.Action, Detail: e.Detail,
		Section: e.Section, Object: e.Object, SourceIP: e.SourceIP,
		ExpiresAt: e.At.Add(logRetention).Unix(),
	}
}

// putLog is a log entry as an item of a transaction. It has no context: the transaction
// records the request's source address in it when it runs (stampLogs).
func (s *Store) putLog(deploymentID string, e tenant.LogEntry) types.TransactWriteItem {
	return s.putNew(s.logItem(deploymentID, e))
}

// stampLogs records the source address of the request on ctx (tenant.WithSourceIP) in the
// log entries among items that do not name one: every change is logged inside its own
// transaction, built by functions that have no context, so the address is added here, once,
// rather than passed through every call site.
func stampLogs(ctx context.Context, items []types.TransactWriteItem) {
	ip := tenant.SourceIPFrom(ctx)
	if ip == "" {
		return
	}
	for _, it := range items {
		if it.Put == nil {
			continue
		}
		if t, ok := it.Put.Item["type"].(*types.AttributeValueMemberS); !ok || t.Value != systemLogType {
			continue
		}
		if _, ok := it.Put.Item["sourceIp"]; !ok {
			it.Put.Item["sourceIp"] = &types.AttributeValueMemberS{Value: ip}
		}
	}
}

// AppendLog adds an entry to a deployment's system log. An entry without a source address
// gets the one of the request on ctx.
func (s *Store) AppendLog(ctx context.Context, deploymentID string, e tenant.LogEntry) error {
	if e.SourceIP == "" {
		e.SourceIP = tenant.SourceIPFrom(ctx)
	}
	given := e.ID != ""
	it := s.logItem(deploymentID, e)
	err := s.create(ctx, "append log", it, fmt.Errorf("append log: entry %s exists: %w", it.ID, ErrConflict))
	if errors.Is(err, ErrConflict) && !given {
		// The id is new and random (130 bits): an entry under it is this one, written by an
		// attempt the SDK retried after its answer was lost (seen with large entries under load).
		return nil
	}
	return err
}

// LogFilter narrows a listing of the system log. The zero LogFilter lists everything.
type LogFilter struct {
	// From (inclusive) and To (exclusive) bound the entries' times; zero is open. They bound
	// the query's sort key, so a narrow range reads only its own entries.
	From, To time.Time
	// Actor keeps entries whose actor contains it ("cu_…" finds "console:cu_…").
	Actor string
	// Action keeps entries whose action starts with it ("certificate." or a whole action).
	Action string
	// Section keeps the entries of one of tenant.LogSections.
	Section string
}

// filtered reports whether f has filters beyond the time range.
func (f LogFilter) filtered() bool { return f.Actor != "" || f.Action != "" || f.Section != "" }

// The bounds of the log's sort keys when a filter leaves the range open: before and after
// any entry the service writes.
var (
	logMinTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	logMaxTime = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
)

// Paging of filtered listings. DynamoDB applies Limit before the filter, so a selective
// filter over a long log could read all of it for one page; a filtered page reads at most
// logRounds queries of logRound entries each and then returns what it found, perhaps fewer
// entries than asked for or none, with a cursor that continues the search.
// (Variables, not constants, only so that a test can make them small.)
var (
	logRound  = 200
	logRounds = 5
)

// logQuery is the query of dep's log under f, newest first, and its cursor scope (bound to
// the range and the filters, so that a cursor cannot be replayed on another listing).
func (s *Store) logQuery(dep string, f LogFilter) (*dynamodb.QueryInput, string) {
	from, to := f.From, f.To
	if from.IsZero() {
		from = logMinTime
	}
	if to.IsZero() {
		to = logMaxTime
	}
	pk := deploymentPK(dep)
	// logSK with no id is below every entry of its instant and above every earlier one:
	// BETWEEN them is [from, to).
	lo, hi := logSK(from, ""), logSK(to, "")
	in := &dynamodb.QueryInput{
		TableName:              &s.table,
		KeyConditionExpression: aws.String("PK = :pk AND SK BETWEEN :lo AND :hi"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: pk},
			":lo": &types.AttributeValueMemberS{Value: lo},
			":hi": &types.AttributeValueMemberS{Value: hi},
		},
		ScanIndexForward: aws.Bool(false),
	}
	var conds []string
	names := map[string]string{}
	val := func(name, v string) string {
		in.ExpressionAttributeValues[name] = &types.AttributeValueMemberS{Value: v}
		return name
	}
	if f.Actor != "" {
		names["#actor"] = "actor"
		conds = append(conds, "contains(#actor, "+val(":actor", f.Actor)+")")
	}
	if f.Action != "" {
		names["#action"] = "action"
		conds = append(conds, "begins_with(#action, "+val(":action", f.Action)+")")
	}
	if f.Section != "" {
		// Entries written before sections were stored are matched on their actions' prefixes,
		// as tenant.SectionOf would derive them.
		names["#section"], names["#action"] = "section", "action"
		claimed, inner := tenant.SectionActionPrefixes(f.Section)
		if f.Section == tenant.SectionOther {
			inner = allPrefixes() // what no section claims
		}
		old := []string{"attribute_not_exists(#section)"}
		var anyOf []string
		for i, p := range claimed {
			anyOf = append(anyOf, fmt.Sprintf("begins_with(#action, %s)", val(fmt.Sprintf(":sin%d", i), p)))
		}
		if len(anyOf) > 0 {
			old = append(old, "("+strings.Join(anyOf, " OR ")+")")
		}
		for i, p := range inner {
			old = append(old, fmt.Sprintf("NOT begins_with(#action, %s)", val(fmt.Sprintf(":sout%d", i), p)))
		}
		conds = append(conds, fmt.Sprintf("(#section = %s OR (%s))", val(":section", f.Section), strings.Join(old, " AND ")))
	}
	if len(conds) > 0 {
		in.FilterExpression = aws.String(strings.Join(conds, " AND "))
		in.ExpressionAttributeNames = names
	}
	return in, fmt.Sprintf("log:%s:%s:%s:%q:%q:%q", pk, lo, hi, f.Actor, f.Action, f.Section)
}

// allPrefixes are the action prefixes of every section.
func allPrefixes() []string {
	var out []string
	for _, sec := range tenant.LogSections {
		in, _ := tenant.SectionActionPrefixes(sec)
		out = append(out, in...)
	}
	return out
}

// ListLog lists a deployment's system log, newest first.
func (s *Store) ListLog(ctx context.Context, deploymentID string, pr PageRequest) (Page[tenant.LogEntry], error) {
	return s.SearchLog(ctx, deploymentID, LogFilter{}, pr)
}

// SearchLog lists the entries of a deployment's system log that f keeps, newest first, a
// page at a time. A filtered page may hold fewer entries than the limit, even none, while
// its Next continues the search (see logRounds); only a page without Next is the last.
func (s *Store) SearchLog(ctx context.Context, deploymentID string, f LogFilter, pr PageRequest) (Page[tenant.LogEntry], error) {
	limit := pr.Limit
	if limit == 0 {
		limit = DefaultPageSize
	}
	if limit < 1 || limit > MaxPageSize {
		return Page[tenant.LogEntry]{}, fault.Newf(fault.ErrInvalid, "limit must be between 1 and %d", MaxPageSize)
	}
	cursors, err := s.codec(ctx)
	if err != nil {
		return Page[tenant.LogEntry]{}, err
	}
	in, scope := s.logQuery(deploymentID, f)
	if pr.Cursor != "" {
		start, err := cursors.open(scope, pr.Cursor)
		if err != nil {
			return Page[tenant.LogEntry]{}, fault.Newf(ErrInvalidCursor, "The cursor is not valid for this listing; start again without one.")
		}
		in.ExclusiveStartKey = start
	}
	filtered := f.filtered()
	var (
		raw  []map[string]types.AttributeValue
		last map[string]types.AttributeValue
	)
	for round := 1; ; round++ {
		// One more than the page, to know whether another page exists (no empty last page).
		n := limit + 1 - len(raw)
		if filtered {
			n = max(n, logRound)
		}
		in.Limit = aws.Int32(int32(n))
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return Page[tenant.LogEntry]{}, unavailable("query log", err)
		}
		raw = append(raw, out.Items...)
		last = out.LastEvaluatedKey
		if len(last) == 0 || len(raw) > limit || (filtered && round >= logRounds) {
			break
		}
		in.ExclusiveStartKey = last
	}
	var page Page[tenant.LogEntry]
	var next map[string]types.AttributeValue
	switch {
	case len(raw) > limit:
		raw = raw[:limit]
		next = map[string]types.AttributeValue{attrPK: raw[limit-1][attrPK], attrSK: raw[limit-1][attrSK]}
	case len(last) > 0:
		next = last // a short page of a filtered search: continue after what was read
	}
	if next != nil {
		if page.Next, err = cursors.seal(scope, next); err != nil {
			return Page[tenant.LogEntry]{}, err
		}
	}
	page.Items = make([]tenant.LogEntry, 0, len(raw))
	for _, item := range raw {
		e, err := decodeLog(item)
		if err != nil {
			return Page[tenant.LogEntry]{}, err
		}
		page.Items = append(page.Items, e)
	}
	return page, nil
}

// ErrLogScanLimit means a walk of the log (EachLog) read as many entries as it was allowed to
// without reaching the end of its range.
var ErrLogScanLimit = errors.New("store: log scan limit reached")

// EachLog calls each with every entry of a deployment's system log that f keeps, newest
// first, reading the range page by page (DynamoDB's pages, no cursors); an error from each
// stops the walk and is returned. Its queries read at most maxRead entries in all (those the
// filters drop count too): when the range holds more, it stops with ErrLogScanLimit, so
// that an export of a long range cannot outlast its request.
func (s *Store) EachLog(ctx context.Context, deploymentID string, f LogFilter, maxRead int, each func(tenant.LogEntry) error) error {
	in, _ := s.logQuery(deploymentID, f)
	read := 0
	for {
		if read >= maxRead {
			return ErrLogScanLimit
		}
		// Limit counts the entries a query reads, before the filters: a query that stopped
		// early (DynamoDB's 1 MB pages) is counted as full, the safe side.
		n := min(maxRead-read, 1000)
		in.Limit = aws.Int32(int32(n))
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return unavailable("query log", err)
		}
		read += n
		for _, item := range out.Items {
			e, err := decodeLog(item)
			if err != nil {
				return err
			}
			if err := each(e); err != nil {
				return err
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

func decodeLog(av map[string]types.AttributeValue) (tenant.LogEntry, error) {
	var it logItem
	if err := attributevalue.UnmarshalMap(av, &it); err != nil {
		return tenant.LogEntry{}, fmt.Errorf("decode log entry: %w", err)
	}
	at, err := time.Parse(time.RFC3339Nano, it.At)
	if err != nil {
		return tenant.LogEntry{}, fmt.Errorf("decode log entry %s: %w", it.ID, err)
	}
	return tenant.LogEntry{ID: it.ID, At: at, Actor: it.Actor, Action: it.Action, Detail: it.Detail,
		Section: it.Section, Object: it.Object, SourceIP: it.SourceIP}.Derived(), nil
}
