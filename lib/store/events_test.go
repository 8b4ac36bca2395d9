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
	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

const lanes = 4

// eventsAt is when the fixture events happen.
var eventsAt = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func decision(dep string, i int) audit.Event {
	return audit.Event{ID: tenant.NewID("evt_"), DeploymentID: dep, Lane: i % lanes, Kind: audit.KindDecision,
		At:     eventsAt.Add(time.Duration(i) * time.Second),
		UserID: fmt.Sprintf("cu_user%d", i%3), CertificateID: "crt_a", Decision: []string{audit.Allow, audit.Deny}[i%2],
		Digest: strings.Repeat("ab", 32), DigestAlgorithm: "SHA256", Reason: `policy "p" matched`}
}

func TestEventChain(t *testing.T) {
	tg := devstack.NewEmbedded(t)
	s := store.New(tg.Clients.DynamoDB, tg.Table, randomKey())
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
	if err := s.CheckpointEvents(ctx, sealed...); err != nil {
		t.Fatal(err)
	}
	if err := other.CheckpointEvents(ctx, sealed[:8]...); err != nil {
		t.Fatal(err)
	}
	problems, n, err := s.VerifyEvents(ctx, dep, lanes)
	if err != nil || len(problems) != 0 || n != 64 {
		t.Fatalf("intact log: %d events, problems %+v, %v", n, problems, err)
	}

	// Filters and pagination of the listing.
	all := map[string]bool{}
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
			break
		}
		cursor = page.Next
	}
	if len(all) != 64 {
		t.Fatalf("listed %d events", len(all))
	}
	denied, err := s.ListEvents(ctx, dep, store.EventFilter{Decision: audit.Deny, UserID: "cu_user1"}, store.PageRequest{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range denied.Items {
		if e.Decision != audit.Deny || e.UserID != "cu_user1" {
			t.Fatalf("filter let through %+v", e)
		}
	}
	if len(denied.Items) == 0 {
		t.Fatal("filter found nothing")
	}
	window, _ := s.ListEvents(ctx, dep, store.EventFilter{From: time.Date(2026, 11, 28, 12, 0, 10, 0, time.UTC), To: time.Date(2026, 11, 28, 12, 0, 19, 0, time.UTC)}, store.PageRequest{Limit: 100})
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
	problems, _, err = s.VerifyEvents(ctx, dep, lanes)
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
	tg := devstack.NewEmbedded(t)
	s := store.New(tg.Clients.DynamoDB, tg.Table, randomKey())
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
	if err := s.CheckpointEvents(ctx, next); err != nil {
		t.Fatal(err)
	}
	problems, n, err := s.VerifyEvents(ctx, dep, lanes)
	if err != nil || len(problems) != 0 || n != 3 {
		t.Fatalf("log after a settlement: %d events, %+v, %v", n, problems, err)
	}
}

// A certificate's usage is counted in the lanes' items with their checkpoints: summed over
// the lanes, counted even when the lane's checkpoint is ahead already (the checkpoint stays
// where it is); the last use is the latest.
func TestUsageCountedWithCheckpoints(t *testing.T) {
	tg := devstack.NewEmbedded(t)
	s := store.New(tg.Clients.DynamoDB, tg.Table, randomKey())
	ctx := context.Background()
	dep := tenant.NewID("dep_")
	var byLane [2][]audit.Event
	for i := 0; i < 6; i++ {
		e := decision(dep, 0)
		e.Lane = i % 2
		sealed, err := s.AppendEvent(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		byLane[e.Lane] = append(byLane[e.Lane], sealed)
	}
	at := eventsAt.Add(time.Hour)
	count := func(n int, at time.Time, events ...audit.Event) {
		t.Helper()
		if err := s.CheckpointEventsCounting(ctx, store.Use{CertificateID: "crt_a", N: n, At: at}, events...); err != nil {
			t.Fatal(err)
		}
	}
	count(2, at, byLane[0][2])                  // lane 0 checkpointed at its last event
	count(1, at.Add(time.Second), byLane[1][0]) // lane 1 at its first
	count(3, at.Add(-time.Hour), byLane[0][0])  // lane 0's checkpoint is ahead: counted alone
	cs := []certificates.Certificate{{ID: "crt_a"}, {ID: "crt_b"}}
	if err := s.WithUsage(ctx, dep, cs); err != nil {
		t.Fatal(err)
	}
	if cs[0].UsageCount != 6 || !cs[0].LastUsedAt.Equal(at.Add(time.Second)) || cs[1].UsageCount != 0 || !cs[1].LastUsedAt.IsZero() {
		t.Fatalf("usage: %+v %+v", cs[0], cs[1])
	}
	// The checkpoints are where the latest counted write put them: lane 0 at its third event.
	if _, err := tg.Clients.DynamoDB.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(tg.Table), Key: store.EventKey(dep, 0, byLane[0][2].Seq)}); err != nil {
		t.Fatal(err)
	}
	problems, _, err := s.VerifyEvents(ctx, dep, 2)
	if err != nil || len(problems) != 1 || problems[0].Lane != 0 || !strings.Contains(problems[0].Detail, "removed") {
		t.Fatalf("after removing lane 0's checkpointed last event: %+v %v", problems, err)
	}
}
