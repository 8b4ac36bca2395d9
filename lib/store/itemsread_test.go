package store_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/opensignum/signum/lib/audit"
	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// readCounter counts the items DynamoDB reads for a client's calls, as it charges them: a
// Query's or Scan's ScannedCount (every item evaluated, matched by a filter or not), each item a
// GetItem found, each item of a BatchGetItem's answer. The DynamoDB stand-in answers no
// ScannedCount; there a call's Count stands in for it, which is the same number for a call
// without a FilterExpression and too low for one with it: such calls are counted in filtered,
// so that a test can require there were none.
type readCounter struct {
	mu       sync.Mutex
	items    int
	calls    int
	filtered int
	writes   int // write calls that succeeded
}

// counting is a client like db whose reads c counts.
func (c *readCounter) counting(db *dynamodb.Client) *dynamodb.Client {
	return dynamodb.New(db.Options(), func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Initialize.Add(middleware.InitializeMiddlewareFunc("countItemsRead",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					out, md, err := next.HandleInitialize(ctx, in)
					if err == nil {
						c.add(in.Parameters, out.Result)
					}
					return out, md, err
				}), middleware.After)
		})
	})
}

func (c *readCounter) add(params, result any) {
	n, filtered := 0, false
	switch r := result.(type) {
	case *dynamodb.QueryOutput:
		n = int(max(r.ScannedCount, r.Count))
		filtered = params.(*dynamodb.QueryInput).FilterExpression != nil && r.ScannedCount == 0
	case *dynamodb.ScanOutput:
		n = int(max(r.ScannedCount, r.Count))
		filtered = params.(*dynamodb.ScanInput).FilterExpression != nil && r.ScannedCount == 0
	case *dynamodb.GetItemOutput:
		if len(r.Item) > 0 {
			n = 1
		}
	case *dynamodb.BatchGetItemOutput:
		for _, items := range r.Responses {
			n += len(items)
		}
	default:
		c.mu.Lock()
		c.writes++
		c.mu.Unlock()
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.items += n
	c.calls++
	if filtered {
		c.filtered++
	}
}

// reads is what was counted since the last call of reads, and starts again.
func (c *readCounter) reads() (items, calls, filtered int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	items, calls, filtered = c.items, c.calls, c.filtered
	c.items, c.calls, c.filtered = 0, 0, 0
	return
}

// eventLog writes synthetic event logs into a table in batches, in the items' own shape
// (store.EventItem), chained lane by lane as the store chains them: the filtered listings
// and verification see a log that AppendEvent could have written.
type eventLog struct {
	db    *dynamodb.Client
	table string
	dep   string
	at    time.Time
	n     int // events written
	last  [audit.Lanes]*audit.Event
	// batch is what was put since the last flush.
	batch []types.WriteRequest
}

func newEventLog(db *dynamodb.Client, table, dep string) *eventLog {
	return &eventLog{db: db, table: table, dep: dep, at: time.Date(2027, 1, 4, 9, 0, 0, 0, time.UTC)}
}

// event is the synthetic log's event i: of user i%7 and certificate i%5, so that every
// filter has events all along the log. Every third event is the signed completion of the
// event before it (no decision); the others alternate allow and deny. Its lane is i%8, and its
// id one of that lane (audit.LaneOf), as the signer's ids are.
func (l *eventLog) event(i int) audit.Event {
	e := audit.Event{ID: eventID(i), DeploymentID: l.dep, Lane: i % audit.Lanes, Kind: audit.KindDecision,
		At: l.at.Add(time.Duration(i) * time.Millisecond), UserID: fmt.Sprintf("cu_user%d", i%7), CertificateID: fmt.Sprintf("crt_%d", i%5),
		Digest: strings.Repeat("ab", 32), DigestAlgorithm: "SHA256", Reason: `policy "p" matched`}
	switch i % 3 {
	case 2:
		e.Kind, e.Outcome, e.Of = audit.KindCompletion, audit.Signed, eventID(i-1)
	case 0:
		e.Decision = audit.Allow
	default:
		e.Decision = audit.Deny
	}
	return e
}

// eventID is the id of the synthetic log's event i: "evt_<i, 12 digits>_<k>", the first k
// that puts it in lane i%8.
func eventID(i int) string {
	for k := 0; ; k++ {
		if id := fmt.Sprintf("evt_%012d_%d", i, k); audit.LaneOf(id) == i%audit.Lanes {
			return id
		}
	}
}

// append writes n more events, 25 to a BatchWriteItem call, and returns them.
func (l *eventLog) append(ctx context.Context, n int, item func(audit.Event) map[string]types.AttributeValue) ([]audit.Event, error) {
	var out []audit.Event
	for range n {
		e := l.event(l.n)
		e.Seal(l.last[e.Lane])
		l.last[e.Lane] = &e
		l.n++
		out = append(out, e)
		l.batch = append(l.batch, types.WriteRequest{PutRequest: &types.PutRequest{Item: item(e)}})
		if len(l.batch) == 25 {
			if err := l.flush(ctx); err != nil {
				return nil, err
			}
		}
	}
	return out, l.flush(ctx)
}

func (l *eventLog) flush(ctx context.Context) error {
	for attempt := 0; len(l.batch) > 0; attempt++ {
		if attempt > 10 {
			return fmt.Errorf("batch write: items left unprocessed")
		}
		out, err := l.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{l.table: l.batch}})
		if err != nil {
			return err
		}
		l.batch = out.UnprocessedItems[l.table]
	}
	return nil
}

// written is the number of write calls that succeeded since the last call of written.
func (c *readCounter) written() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.writes
	c.writes = 0
	return n
}

// readsCounted is a store on tg whose reads are counted.
func readsCounted(tg *devstack.Target) (*store.Store, *readCounter) {
	c := &readCounter{}
	return store.New(c.counting(tg.Clients.DynamoDB), tg.Table, randomKey()), c
}

// markIndexed marks dep as a deployment whose events are all indexed, as provisioning does.
func markIndexed(ctx context.Context, t testing.TB, s *store.Store, dep string) {
	t.Helper()
	_, _, done, err := s.IndexEventsStep(ctx, dep, "", 100)
	must(t, err)
	if !done {
		t.Fatal("the index migration of a deployment without events took more than a step")
	}
}

// Pattern 22: a page of a filtered listing, and the next, read at most about twice the page
// whatever the size of the log: the same number of items in a log of 1,200 events as in one
// of 6,000, for every combination of filters (each has more than two pages of events in
// both).
func TestListEventsReadsBoundedItems(t *testing.T) {
	tg := devstack.NewTarget(t)
	s, c := readsCounted(tg)
	ctx := context.Background()
	const page = 5
	at := newEventLog(nil, "", "").at
	filters := []struct {
		name string
		f    store.EventFilter
	}{
		{"none", store.EventFilter{}},
		{"user", store.EventFilter{UserID: "cu_user3"}},
		{"certificate", store.EventFilter{CertificateID: "crt_2"}},
		{"decision", store.EventFilter{Decision: audit.Deny}},
		{"user-decision", store.EventFilter{UserID: "cu_user3", Decision: audit.Allow}},
		{"certificate-decision", store.EventFilter{CertificateID: "crt_2", Decision: audit.Deny}},
		{"user-certificate", store.EventFilter{UserID: "cu_user3", CertificateID: "crt_2"}},
		{"user-certificate-decision", store.EventFilter{UserID: "cu_user3", CertificateID: "crt_2", Decision: audit.Deny}},
		{"user-time", store.EventFilter{UserID: "cu_user3", From: at.Add(300 * time.Millisecond), To: at.Add(time.Hour)}},
	}
	reads := map[string][]int{}
	for _, n := range []int{1200, 6000} {
		dep := tenant.NewID("dep_")
		markIndexed(ctx, t, s, dep)
		log := newEventLog(tg.Clients.DynamoDB, tg.Table, dep)
		written, err := log.append(ctx, n, store.EventItem)
		must(t, err)
		for _, fc := range filters {
			t.Run(fmt.Sprintf("%s/%d", fc.name, n), func(t *testing.T) {
				var want []string // the ids the first two pages must list
				for _, e := range written {
					if matches(fc.f, e) && len(want) < 2*page {
						want = append(want, e.ID)
					}
				}
				// The indexes lag in AWS: the count starts once the first page shows.
				for tries := 0; tg.Stack == nil && tries < 30; tries++ {
					p, err := s.ListEvents(ctx, dep, fc.f, store.PageRequest{Limit: page})
					if err == nil && len(p.Items) == page && p.Items[page-1].ID == want[page-1] {
						break
					}
					time.Sleep(time.Second)
				}
				c.reads()
				first, err := s.ListEvents(ctx, dep, fc.f, store.PageRequest{Limit: page})
				must(t, err)
				items1, calls1, filtered1 := c.reads()
				if first.Next == "" {
					t.Fatalf("one page of %d events: the case lists fewer than 2 pages", len(first.Items))
				}
				second, err := s.ListEvents(ctx, dep, fc.f, store.PageRequest{Limit: page, Cursor: first.Next})
				must(t, err)
				items2, calls2, filtered2 := c.reads()
				var got []string
				for _, e := range append(first.Items, second.Items...) {
					got = append(got, e.ID)
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("listed %v, want %v", got, want)
				}
				if filtered1+filtered2 > 0 {
					t.Fatalf("%d queries with a filter: their items read are not counted", filtered1+filtered2)
				}
				for i, items := range []int{items1, items2} {
					if items > 2*page+4 {
						t.Errorf("page %d read %d items, more than 2 × %d + 4", i+1, items, page)
					}
				}
				t.Logf("pages of %d read %d and %d items in %d queries", page, items1, items2, calls1+calls2)
				reads[fc.name] = append(reads[fc.name], items1, items2)
			})
		}
	}
	for name, r := range reads {
		if len(r) == 4 && (r[0] != r[2] || r[1] != r[3]) {
			t.Errorf("%s: pages read %d and %d items of 1,200 events, %d and %d of 6,000", name, r[0], r[1], r[2], r[3])
		}
	}
}

// matches reports whether f's user, certificate, decision and time range match e.
func matches(f store.EventFilter, e audit.Event) bool {
	return (f.UserID == "" || e.UserID == f.UserID) && (f.CertificateID == "" || e.CertificateID == f.CertificateID) &&
		(f.Decision == "" || e.Decision == f.Decision) && (f.From.IsZero() || !e.At.Before(f.From)) && (f.To.IsZero() || !e.At.After(f.To))
}

// Pattern 22, before and after the index migration: a deployment whose events were indexed
// before the filter indexes (in GSI1's one partition, without filter attributes) lists them,
// with the events written since, by filtering that partition; the migration, in bounded
// batches, moves them into the indexes and marks the deployment, and from then on a page reads
// a bounded number of items and lists the same events. Done again, it writes nothing.
func TestIndexEventsMigration(t *testing.T) {
	tg := devstack.NewTarget(t)
	s, c := readsCounted(tg)
	ctx := context.Background()
	dep := tenant.NewID("dep_")
	log := newEventLog(tg.Clients.DynamoDB, tg.Table, dep)
	old, err := log.append(ctx, 90, store.LegacyEventItem)
	must(t, err)
	recent, err := log.append(ctx, 30, store.EventItem)
	must(t, err)
	all := append(old, recent...)
	filters := []store.EventFilter{{}, {UserID: "cu_user3"}, {CertificateID: "crt_2", Decision: audit.Deny}, {UserID: "cu_user1", CertificateID: "crt_1"}}
	// listed lists every page of f, 4 events a page, and checks the events against the log.
	listed := func(t *testing.T, f store.EventFilter) {
		t.Helper()
		var want, got []string
		for _, e := range all {
			if matches(f, e) {
				want = append(want, e.ID)
			}
		}
		f2 := f
		var events []audit.Event
		f2ok := func() bool {
			events, err = store.All(ctx, func(ctx context.Context, pr store.PageRequest) (store.Page[audit.Event], error) {
				pr.Limit = 4
				return s.ListEvents(ctx, dep, f2, pr)
			})
			return err != nil || len(events) >= len(want)
		}
		for tries := 0; !f2ok() && tg.Stack == nil && tries < 30; tries++ {
			time.Sleep(time.Second)
		}
		must(t, err)
		for _, e := range events {
			got = append(got, e.ID)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%+v listed %v, want %v", f, got, want)
		}
	}
	for _, f := range filters {
		listed(t, f)
	}
	indexed, err := s.EventsIndexed(ctx, dep)
	if err != nil || indexed {
		t.Fatalf("indexed before the migration: %v %v", indexed, err)
	}
	cursor, steps, total := "", 0, 0
	c.written()
	for done := false; !done; steps++ {
		var n int
		cursor, n, done, err = s.IndexEventsStep(ctx, dep, cursor, 25)
		must(t, err)
		if n > 25 {
			t.Fatalf("a batch of 25 went over %d events", n)
		}
		total += n
	}
	if total != len(all) {
		t.Fatalf("the migration went over %d events, the log has %d", total, len(all))
	}
	if w := c.written(); w != len(old)+1 {
		t.Fatalf("the migration made %d writes, want one per old event and the mark (%d)", w, len(old)+1)
	}
	if indexed, err = s.EventsIndexed(ctx, dep); err != nil || !indexed {
		t.Fatalf("not indexed after the migration: %v %v", indexed, err)
	}
	for _, f := range filters {
		listed(t, f)
		c.reads()
		_, err := s.ListEvents(ctx, dep, f, store.PageRequest{Limit: 4})
		must(t, err)
		if items, _, filtered := c.reads(); items > 2*4+4 || filtered > 0 {
			t.Fatalf("%+v: a page of 4 read %d items in %d filtered queries after the migration", f, items, filtered)
		}
	}
	// Done again from the start, it writes nothing (the mark's put is refused: it is there).
	for cursor, done := "", false; !done; {
		cursor, _, done, err = s.IndexEventsStep(ctx, dep, cursor, 50)
		must(t, err)
	}
	if w := c.written(); w != 0 {
		t.Fatalf("the migration done again made %d writes", w)
	}
}
