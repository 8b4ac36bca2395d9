package eventcheck_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/audit"
	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/eventcheck"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
	"github.com/opensignum/signum/lib/updates"
)

// sent records the messages a checker sends (the updater's queue).
type sent struct {
	mu   sync.Mutex
	msgs []updates.Message
}

func (q *sent) Send(_ context.Context, m updates.Message) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.msgs = append(q.msgs, m)
	return nil
}

func (q *sent) count() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.msgs)
}

// A full check is started once: a second start returns the running one and sends nothing,
// unless it has made no progress for eventcheck.Quiet (then its message is sent again);
// Advance does pages until its budget is spent, then says more; a message of another check is
// dropped; at the end every event was checked and a new start begins a new check.
func TestFullCheckStartAndAdvance(t *testing.T) {
	tg := devstack.NewTarget(t)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	st := store.New(tg.Clients.DynamoDB, tg.Table, store.StaticKey(key))
	ctx := context.Background()
	dep := tenant.NewID("dep_")
	for i := range 40 {
		e := audit.Event{ID: tenant.NewID("evt_"), DeploymentID: dep, Kind: audit.KindDecision, Decision: audit.Deny,
			UserID: fmt.Sprint("cu_", i%3), CertificateID: "crt_a", At: time.Now()}
		e.Lane = audit.LaneOf(e.ID)
		if _, err := st.AppendEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	q := &sent{}
	c := &eventcheck.Checker{Store: st, Queue: q, Now: func() time.Time { return now }, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), PageSize: 3}
	first, err := c.Start(ctx, dep, "test")
	if err != nil || first.State != audit.CheckRunning || q.count() != 1 {
		t.Fatalf("start: %+v %v, %d messages", first, err, q.count())
	}
	again, err := c.Start(ctx, dep, "test")
	if err != nil || again.ID != first.ID || q.count() != 1 {
		t.Fatalf("a second start: %+v %v, %d messages", again, err, q.count())
	}
	now = now.Add(eventcheck.Quiet + time.Second)
	if again, err = c.Start(ctx, dep, "test"); err != nil || again.ID != first.ID || q.count() != 2 {
		t.Fatalf("a start of a quiet check: %+v %v, %d messages", again, err, q.count())
	}
	if more, err := c.Advance(ctx, dep, "chk_other", 0); err != nil || more {
		t.Fatalf("a message of another check: more %v, %v", more, err)
	}
	steps := 0
	for more := true; more; steps++ {
		if steps > 100 {
			t.Fatal("the check does not end")
		}
		if more, err = c.Advance(ctx, dep, first.ID, 0); err != nil { // a budget of a page
			t.Fatal(err)
		}
	}
	done, err := c.Current(ctx, dep)
	if err != nil || done.State != audit.CheckDone || done.Events != 40 || done.LanesDone != audit.Lanes || done.ProblemCount != 0 {
		t.Fatalf("after %d messages: %+v %v", steps, done, err)
	}
	if steps < 40/3 {
		t.Fatalf("40 events in pages of 3 took %d messages", steps)
	}
	next, err := c.Start(ctx, dep, "test")
	if err != nil || next.ID == first.ID || next.State != audit.CheckRunning || next.Events != 0 {
		t.Fatalf("a start after a finished check: %+v %v", next, err)
	}
}
