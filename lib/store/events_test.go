package store_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/audit"
	"github.com/opensignum/signum/lib/certificates"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

const lanes = 4

// eventsAt is when the fixture events happen.
var eventsAt = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// counted appends an event to lane of dep with the lane's checkpoint and use counted in the
// same write, as the signer records a request's outcome.
func counted(t *testing.T, s *store.Store, dep string, lane int, use store.Use) audit.Event {
	t.Helper()
	e := decision(dep, lane)
	e.Lane = lane
	sealed, uncounted, err := s.AppendEventCounting(context.Background(), e, nil, use)
	if err != nil || uncounted != nil {
		t.Fatalf("append counting: %v (uncounted: %v)", err, uncounted)
	}
	return sealed
}

func decision(dep string, i int) audit.Event {
	return audit.Event{ID: tenant.NewID("evt_"), DeploymentID: dep, Lane: i % lanes, Kind: audit.KindDecision,
		At:     eventsAt.Add(time.Duration(i) * time.Second),
		UserID: fmt.Sprintf("cu_user%d", i%3), CertificateID: "crt_a", Decision: []string{audit.Allow, audit.Deny}[i%2],
		Digest: strings.Repeat("ab", 32), DigestAlgorithm: "SHA256", Reason: `policy "p" matched`}
}

// Patterns 21 to 23 together: concurrent appends from two instances, checkpoints, listings,
// and verification finding tampering.
func TestEventChain(t *testing.T) {
	f := newFixture(t)
	s, tg := f.s, f.tg
	ctx := context.Background()
	dep := tenant.NewID("dep_")

	// Concurrent appends, several to one lane at once: the chains must not fork.
	// Two stores stand for two function instances: they do not share what they cached.
	other := store.New(tg.Clients.DynamoDB, tg.Table, randomKey())
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	sealed := make([]audit.Event, 64)
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			w := s
			if i%2 == 1 {
				w = other
			}
			var err error
			if sealed[i], err = w.AppendEvent(ctx, decision(dep, i)); err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Checkpoints move forward only: an older one after a newer one changes nothing.
	if err := s.CheckpointEvents(ctx, nil, sealed...); err != nil {
		t.Fatal(err)
	}
	if err := other.CheckpointEvents(ctx, nil, sealed[:8]...); err != nil {
		t.Fatal(err)
	}
	problems, n, err := audit.Verify(ctx, s, dep, lanes)
	if err != nil || len(problems) != 0 || n != 64 {
		t.Fatalf("intact log: %d events, problems %+v, %v", n, problems, err)
	}

	// Filters and pagination of the listing (of the time index, which lags in AWS: each
	// listing is asked again until it shows what it must).
	all := map[string]bool{}
	f.indexed(func() bool {
		clear(all)
		cursor := ""
		for {
			page, err := s.ListEvents(ctx, dep, store.EventFilter{}, store.PageRequest{Limit: 10, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range page.Items {
				all[e.ID] = true
			}
			if page.Next == "" {
				return len(all) >= 64
			}
			cursor = page.Next
		}
	})
	if len(all) != 64 {
		t.Fatalf("listed %d events", len(all))
	}
	// Denials (odd i) of cu_user1 (i%3 == 1): i = 1, 7, ..., 61.
	var denied store.Page[audit.Event]
	f.indexed(func() bool {
		var err error
		if denied, err = s.ListEvents(ctx, dep, store.EventFilter{Decision: audit.Deny, UserID: "cu_user1"}, store.PageRequest{Limit: 100}); err != nil {
			t.Fatal(err)
		}
		return len(denied.Items) >= 11
	})
	for _, e := range denied.Items {
		if e.Decision != audit.Deny || e.UserID != "cu_user1" {
			t.Fatalf("filter let through %+v", e)
		}
	}
	if len(denied.Items) != 11 {
		t.Fatalf("filter found %d events, want 11", len(denied.Items))
	}
	var window store.Page[audit.Event]
	f.indexed(func() bool {
		var err error
		if window, err = s.ListEvents(ctx, dep, store.EventFilter{From: time.Date(2026, 11, 28, 12, 0, 10, 0, time.UTC), To: time.Date(2026, 11, 28, 12, 0, 19, 0, time.UTC)}, store.PageRequest{Limit: 100}); err != nil {
			t.Fatal(err)
		}
		return len(window.Items) >= 10
	})
	if len(window.Items) != 10 {
		t.Fatalf("time window: %d events, want 10", len(window.Items))
	}

	// Tampering is detected: an altered event, a deleted event in the middle, the last event
	// removed.
	k := func(lane, seq int) map[string]types.AttributeValue { return store.EventKey(dep, lane, int64(seq)) }
	out, err := tg.Clients.DynamoDB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(tg.Table), Key: k(0, 3)})
	if err != nil || out.Item == nil {
		t.Fatalf("read event: %v", err)
	}
	body := out.Item["event"].(*types.AttributeValueMemberS).Value
	altered := strings.Replace(body, `"decision":"deny"`, `"decision":"allow"`, 1)
	altered = strings.Replace(altered, `"decision":"allow","policyId"`, `"decision":"allow","policyId"`, 1)
	if altered == body {
		altered = strings.Replace(body, `"decision":"allow"`, `"decision":"deny"`, 1)
	}
	if _, err := tg.Clients.DynamoDB.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(tg.Table), Key: k(0, 3),
		UpdateExpression: aws.String("SET event = :e"), ExpressionAttributeValues: map[string]types.AttributeValue{":e": &types.AttributeValueMemberS{Value: altered}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := tg.Clients.DynamoDB.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(tg.Table), Key: k(1, 5)}); err != nil {
		t.Fatal(err)
	}
	if _, err := tg.Clients.DynamoDB.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(tg.Table), Key: k(2, 16)}); err != nil {
		t.Fatal(err)
	}
	problems, _, err = audit.Verify(ctx, s, dep, lanes)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, p := range problems {
		found[fmt.Sprintf("%d/%d", p.Lane, p.Seq)] = true
	}
	for _, want := range []string{"0/3", "1/5", "2/16"} {
		if !found[want] {
			t.Errorf("tampering at lane/seq %s not reported: %+v", want, problems)
		}
	}
	if found["3/1"] {
		t.Errorf("untouched lane reported: %+v", problems)
	}
}

// SettleEvent gives the place of an event whose write had no answer to exactly one event:
// the event itself if it landed, else the void written in its stead, which keeps it out.
func TestSettleEvent(t *testing.T) {
	s := newFixture(t).s
	ctx := context.Background()
	dep := tenant.NewID("dep_")
	first, err := s.AppendEvent(ctx, decision(dep, 0))
	if err != nil {
		t.Fatal(err)
	}
	// Landed: the settlement finds it.
	void := audit.Event{ID: tenant.NewID("evt_"), Kind: audit.KindCompletion, Outcome: audit.Failed, At: time.Now()}
	held, err := s.SettleEvent(ctx, first, void)
	if err != nil || held.ID != first.ID {
		t.Fatalf("landed event: held by %s, %v", held.ID, err)
	}
	// Not landed: the void takes its place, links to the same predecessor, and the event
	// cannot land any more.
	ghost := decision(dep, 4) // lane 0, like the first
	ghost.Seal(&first)
	held, err = s.SettleEvent(ctx, ghost, void)
	if err != nil || held.ID != void.ID || held.Seq != ghost.Seq || held.PrevHash != first.Hash {
		t.Fatalf("lost event: held by %+v, %v", held, err)
	}
	if written, err := s.EventWritten(ctx, ghost); err != nil || written {
		t.Fatalf("the lost event counts as written: %v %v", written, err)
	}
	next, err := s.AppendEvent(ctx, decision(dep, 8))
	if err != nil || next.Seq != ghost.Seq+1 {
		t.Fatalf("append after a settlement: seq %d, %v", next.Seq, err)
	}
	if err := s.CheckpointEvents(ctx, nil, next); err != nil {
		t.Fatal(err)
	}
	problems, n, err := audit.Verify(ctx, s, dep, lanes)
	if err != nil || len(problems) != 0 || n != 3 {
		t.Fatalf("log after a settlement: %d events, %+v, %v", n, problems, err)
	}
}

// A certificate's usage is counted in the lanes' items with their checkpoints: summed over
// the lanes, counted even when the lane's checkpoint is ahead already (the checkpoint stays
// where it is); the last use is the latest.
func TestUsageCountedWithCheckpoints(t *testing.T) {
	f := newFixture(t)
	s, tg := f.s, f.tg
	ctx := context.Background()
	dep := tenant.NewID("dep_")
	for i := 0; i < 6; i++ {
		e := decision(dep, 0)
		e.Lane = i % 2
		if _, err := s.AppendEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	at := eventsAt.Add(time.Hour)
	last0 := counted(t, s, dep, 0, store.Use{CertificateID: "crt_a", N: 2, At: at})
	counted(t, s, dep, 1, store.Use{CertificateID: "crt_a", N: 1, At: at.Add(time.Second)})
	last0 = counted(t, s, dep, 0, store.Use{CertificateID: "crt_a", N: 3, At: at.Add(-time.Hour)})
	cs := []certificates.Certificate{{ID: "crt_a"}, {ID: "crt_b"}}
	if err := s.WithUsage(ctx, dep, cs); err != nil {
		t.Fatal(err)
	}
	if cs[0].UsageCount != 6 || !cs[0].LastUsedAt.Equal(at.Add(time.Second)) || cs[1].UsageCount != 0 || !cs[1].LastUsedAt.IsZero() {
		t.Fatalf("usage: %+v %+v", cs[0], cs[1])
	}
	// The checkpoints are where the latest counted write put them: lane 0 at its last event.
	if _, err := tg.Clients.DynamoDB.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(tg.Table), Key: store.EventKey(dep, 0, last0.Seq)}); err != nil {
		t.Fatal(err)
	}
	problems, _, err := audit.Verify(ctx, s, dep, 2)
	if err != nil || len(problems) != 1 || problems[0].Lane != 0 || !strings.Contains(problems[0].Detail, "removed") {
		t.Fatalf("after removing lane 0's checkpointed last event: %+v %v", problems, err)
	}
}

// The contract tests of the patterns, case by case.

// Pattern 21: append a signing event; whether an event landed; settle an unknown outcome.
func TestAppendEvent(t *testing.T) {
	f := newFixture(t)
	dep := tenant.NewID("dep_")
	other := store.New(f.tg.Clients.DynamoDB, f.tg.Table, randomKey()) // another instance
	var chain []audit.Event                                            // lane 0 as the cases append it
	appendTo := func(s *store.Store, i int) func(context.Context) (audit.Event, error) {
		return func(ctx context.Context) (audit.Event, error) { return s.AppendEvent(ctx, decision(dep, i)) }
	}
	links := func(seq int64) func(*testing.T, audit.Event) {
		return func(t *testing.T, got audit.Event) {
			prev := audit.Genesis
			if len(chain) > 0 {
				prev = chain[len(chain)-1].Hash
			}
			if got.Seq != seq || got.PrevHash != prev || got.Hash != got.ComputeHash() {
				t.Fatalf("appended seq %d after %s, want seq %d after %s", got.Seq, got.PrevHash, seq, prev)
			}
			chain = append(chain, got)
		}
	}
	run(t, f, []contract[audit.Event]{
		{name: "ok/first", call: appendTo(f.s, 0), want: links(1)},
		{name: "ok/next-after-first", call: appendTo(f.s, lanes), want: links(2)},
		{name: "ok/another-instance-reads-the-last", call: appendTo(other, 2*lanes), want: links(3)},
		// f.s remembers seq 2 as the last: its write at 3 loses, it reads the lane and retries.
		{name: "ok/stale-head-retries", call: appendTo(f.s, 3*lanes), want: links(4)},
		{name: "ok/lanes-apart", call: appendTo(f.s, 1), want: func(t *testing.T, got audit.Event) {
			if got.Lane != 1 || got.Seq != 1 || got.PrevHash != audit.Genesis {
				t.Fatalf("first event of lane 1: %+v", got)
			}
		}},
	})

	written := func(e func() audit.Event) func(context.Context) (bool, error) {
		return func(ctx context.Context) (bool, error) { return f.s.EventWritten(ctx, e()) }
	}
	is := func(want bool) func(*testing.T, bool) {
		return func(t *testing.T, got bool) {
			if got != want {
				t.Fatalf("written %v, want %v", got, want)
			}
		}
	}
	// link is the i-th event the append cases wrote to lane 0.
	link := func(i int) audit.Event {
		if i >= len(chain) {
			f.t.Fatalf("the append cases wrote %d events", len(chain))
		}
		return chain[i]
	}
	unwritten := func() audit.Event { e := decision(dep, 4*lanes); last := link(3); e.Seal(&last); return e }
	impostor := func() audit.Event { e := decision(dep, 5*lanes); e.Seal(nil); return e } // at place 1, taken by another
	run(t, f, []contract[bool]{
		{name: "ok/written", call: written(func() audit.Event { return link(1) }), want: is(true)},
		{name: "ok/never-written", call: written(unwritten), want: is(false)},
		{name: "ok/place-holds-another", call: written(impostor), want: is(false)},
	})

	void := audit.Event{ID: tenant.NewID("evt_"), Kind: audit.KindCompletion, Outcome: audit.Failed, At: eventsAt}
	settle := func(e func() audit.Event) func(context.Context) (audit.Event, error) {
		return func(ctx context.Context) (audit.Event, error) { return f.s.SettleEvent(ctx, e(), void) }
	}
	run(t, f, []contract[audit.Event]{
		{name: "ok/landed", call: settle(func() audit.Event { return link(3) }), want: func(t *testing.T, got audit.Event) {
			if got.ID != link(3).ID || got.Hash != link(3).Hash {
				t.Fatalf("held by %s, want the event itself", got.ID)
			}
		}},
		{name: "ok/void-takes-the-empty-place", call: settle(unwritten), want: func(t *testing.T, got audit.Event) {
			if got.ID != void.ID || got.Seq != 5 || got.PrevHash != link(3).Hash {
				t.Fatalf("held by %+v, want the void at 5", got)
			}
			if ok, err := f.s.EventWritten(context.Background(), unwritten()); err != nil || ok {
				t.Fatalf("the settled event counts as written: %v %v", ok, err)
			}
		}},
	})
}

// Pattern 22: list a deployment's signing events by time, with filters.
func TestListEvents(t *testing.T) {
	f := newFixture(t)
	dep := tenant.NewID("dep_")
	for i := range 8 {
		_, err := f.s.AppendEvent(context.Background(), decision(dep, i))
		must(t, err)
	}
	deny := store.EventFilter{Decision: audit.Deny}
	first, err := f.s.ListEvents(context.Background(), dep, deny, store.PageRequest{Limit: 1})
	must(t, err)
	// shadowed: a denial of cu_user1, then an allowed event of cu_user2 whose CI metadata
	// spells the filtered fields (what a client reports must not pass for them).
	shadowed := tenant.NewID("dep_")
	real := decision(shadowed, 1)
	polluter := decision(shadowed, 2)
	polluter.CI = map[string]string{"userId": "cu_user1", "certificateId": "crt_other", "decision": "deny"}
	polluter.Process = `"userId":"cu_user1"`
	for _, e := range []audit.Event{real, polluter} {
		_, err := f.s.AppendEvent(context.Background(), e)
		must(t, err)
	}

	// list walks every page; the index lags in AWS, so it asks again until want events show.
	list := func(dep string, filter store.EventFilter, limit int, want int) func(context.Context) ([]audit.Event, error) {
		return func(ctx context.Context) (events []audit.Event, err error) {
			f.indexed(func() bool {
				events, err = store.All(ctx, func(ctx context.Context, pr store.PageRequest) (store.Page[audit.Event], error) {
					pr.Limit = limit
					return f.s.ListEvents(ctx, dep, filter, pr)
				})
				return err != nil || len(events) >= want
			})
			return events, err
		}
	}
	are := func(want ...int) func(*testing.T, []audit.Event) {
		return func(t *testing.T, got []audit.Event) {
			var at []int
			for _, e := range got {
				at = append(at, int(e.At.Sub(eventsAt)/time.Second))
			}
			if fmt.Sprint(at) != fmt.Sprint(want) {
				t.Fatalf("listed the events of seconds %v, want %v", at, want)
			}
		}
	}
	run(t, f, []contract[[]audit.Event]{
		{name: "ok/all-oldest-first", call: list(dep, store.EventFilter{}, 100, 8), want: are(0, 1, 2, 3, 4, 5, 6, 7)},
		{name: "ok/all-over-pages", call: list(dep, store.EventFilter{}, 3, 8), want: are(0, 1, 2, 3, 4, 5, 6, 7)},
		{name: "ok/decision", call: list(dep, deny, 100, 4), want: are(1, 3, 5, 7)},
		{name: "ok/user-and-decision", call: list(dep, store.EventFilter{UserID: "cu_user1", Decision: audit.Deny}, 100, 2), want: are(1, 7)},
		{name: "ok/certificate", call: list(dep, store.EventFilter{CertificateID: "crt_other"}, 100, 0), want: are()},
		{name: "ok/time-window-inclusive", call: list(dep, store.EventFilter{From: eventsAt.Add(2 * time.Second), To: eventsAt.Add(5 * time.Second)}, 100, 4),
			want: are(2, 3, 4, 5)},
		{name: "ok/other-deployment", call: list(tenant.NewID("dep_"), store.EventFilter{}, 100, 0), want: are()},
		{name: "ok/ci-does-not-shadow-the-user", call: list(shadowed, store.EventFilter{UserID: "cu_user1"}, 100, 1), want: are(1)},
		{name: "ok/ci-does-not-shadow-the-decision", call: list(shadowed, deny, 100, 1), want: are(1)},
		{name: "ok/ci-does-not-shadow-the-certificate", call: list(shadowed, store.EventFilter{CertificateID: "crt_other"}, 100, 0), want: are()},
		{name: "fail/cursor-of-other-filter", call: func(ctx context.Context) ([]audit.Event, error) {
			page, err := f.s.ListEvents(ctx, dep, store.EventFilter{}, store.PageRequest{Limit: 1, Cursor: first.Next})
			return page.Items, err
		}, wantErr: store.ErrInvalidCursor},
	})
}

// verified is what audit.Verify returns over the store's lanes.
type verified struct {
	problems []audit.Problem
	n        int
}

// Pattern 23: verify a deployment's event log against its lanes' checkpoints.
func TestVerifyEvents(t *testing.T) {
	f := newFixture(t)
	// logged writes 6 events over 2 lanes of a new deployment, checkpointed, and changes the
	// table with tamper.
	logged := func(tamper func(ctx context.Context, dep string) error) func(context.Context) (verified, error) {
		return func(ctx context.Context) (verified, error) {
			dep := tenant.NewID("dep_")
			var events []audit.Event
			for i := range 6 {
				e := decision(dep, i)
				e.Lane = i % 2
				sealed, err := f.s.AppendEvent(ctx, e)
				if err != nil {
					return verified{}, err
				}
				events = append(events, sealed)
			}
			if err := f.s.CheckpointEvents(ctx, nil, events...); err != nil {
				return verified{}, err
			}
			if err := tamper(ctx, dep); err != nil {
				return verified{}, err
			}
			problems, n, err := audit.Verify(ctx, f.s, dep, 2)
			return verified{problems, n}, err
		}
	}
	db := f.tg.Clients.DynamoDB
	remove := func(lane int, seq int64) func(context.Context, string) error {
		return func(ctx context.Context, dep string) error {
			_, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(f.tg.Table), Key: store.EventKey(dep, lane, seq)})
			return err
		}
	}
	found := func(n int, want ...string) func(*testing.T, verified) {
		return func(t *testing.T, v verified) {
			got := v.problems
			if v.n != n {
				t.Fatalf("verified %d events, want %d", v.n, n)
			}
			var at []string
			for _, p := range got {
				at = append(at, fmt.Sprintf("%d/%d", p.Lane, p.Seq))
			}
			if fmt.Sprint(at) != fmt.Sprint(want) {
				t.Fatalf("problems at %v (%+v), want %v", at, got, want)
			}
		}
	}
	run(t, f, []contract[verified]{
		{name: "ok/intact", call: logged(func(context.Context, string) error { return nil }), want: found(6)},
		{name: "ok/appended-after-the-checkpoint", call: logged(func(ctx context.Context, dep string) error {
			e := decision(dep, 0)
			e.Lane = 1
			_, err := f.s.AppendEvent(ctx, e)
			return err
		}), want: found(7)},
		{name: "fail/altered", call: logged(func(ctx context.Context, dep string) error {
			out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(f.tg.Table), Key: store.EventKey(dep, 0, 2), ConsistentRead: aws.Bool(true)})
			if err != nil {
				return err
			}
			body := out.Item["event"].(*types.AttributeValueMemberS).Value
			_, err = db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(f.tg.Table), Key: store.EventKey(dep, 0, 2),
				UpdateExpression:          aws.String("SET event = :e"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":e": &types.AttributeValueMemberS{Value: strings.Replace(body, "cu_user", "cu_else", 1)}}})
			return err
		}), want: found(6, "0/2")},
		{name: "fail/removed-in-the-middle", call: logged(remove(0, 2)), want: found(5, "0/2")},
		{name: "fail/last-removed", call: logged(remove(0, 3)), want: func(t *testing.T, v verified) {
			got := v.problems
			if len(got) != 1 || got[0].Lane != 0 || !strings.Contains(got[0].Detail, "removed") {
				t.Fatalf("problems %+v, want one saying lane 0's last event was removed", got)
			}
		}},
	})
}

// Pattern 29: a certificate's usage, counted in the lanes' items with their checkpoints.
func TestCertificateUsage(t *testing.T) {
	f := newFixture(t)
	dep := tenant.NewID("dep_")
	at := eventsAt.Add(time.Hour)
	usage := func(n int, at time.Time, lane int) func(context.Context) ([]certificates.Certificate, error) {
		return func(ctx context.Context) ([]certificates.Certificate, error) {
			e := decision(dep, lane)
			e.Lane = lane
			if _, _, err := f.s.AppendEventCounting(ctx, e, nil, store.Use{CertificateID: "crt_a", N: n, At: at}); err != nil {
				return nil, err
			}
			cs := []certificates.Certificate{{ID: "crt_a"}, {ID: "crt_b"}}
			return cs, f.s.WithUsage(ctx, dep, cs)
		}
	}
	// ahead moves lane 0's checkpoint past its end by hand (as a checkpoint written alone
	// after events appended without one could be): the next count is written without moving
	// it.
	ahead := func(ctx context.Context) ([]certificates.Certificate, error) {
		if _, err := f.tg.Clients.DynamoDB.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(f.tg.Table), Key: store.EventHeadKey(dep, 0),
			UpdateExpression: aws.String("SET seq = :s"), ExpressionAttributeValues: map[string]types.AttributeValue{":s": &types.AttributeValueMemberN{Value: "1000"}}}); err != nil {
			return nil, err
		}
		return usage(3, at.Add(-time.Hour), 0)(ctx)
	}
	is := func(count int64, last time.Time) func(*testing.T, []certificates.Certificate) {
		return func(t *testing.T, got []certificates.Certificate) {
			if got[0].UsageCount != count || !got[0].LastUsedAt.Equal(last) || got[1].UsageCount != 0 || !got[1].LastUsedAt.IsZero() {
				t.Fatalf("usage %d last %v (other %d), want %d last %v", got[0].UsageCount, got[0].LastUsedAt, got[1].UsageCount, count, last)
			}
		}
	}
	run(t, f, []contract[[]certificates.Certificate]{
		{name: "ok/counted", call: usage(2, at, 0), want: is(2, at)},
		{name: "ok/summed-over-lanes", call: usage(1, at.Add(time.Second), 1), want: is(3, at.Add(time.Second))},
		// The lane's checkpoint is ahead already: the count is written alone, the last use stays
		// the latest.
		{name: "ok/checkpoint-ahead", call: ahead, want: is(6, at.Add(time.Second))},
		{name: "ok/taken-back", call: usage(-1, at.Add(time.Hour), 1), want: is(5, at.Add(time.Second))},
		{name: "ok/no-certificates", call: func(ctx context.Context) ([]certificates.Certificate, error) {
			return nil, f.s.WithUsage(ctx, dep, nil)
		}, want: succeeds[[]certificates.Certificate]},
	})
}
