package updates_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
	"github.com/opensignum/signum/lib/updates"
)

// sent records the updater's messages.
type sent struct {
	mu sync.Mutex
	m  []updates.Message
}

func (s *sent) Send(_ context.Context, m updates.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m = append(s.m, m)
	return nil
}

type stand struct {
	st  *store.Store
	svc *updates.Service
	q   *sent
	dep tenant.Deployment
	now time.Time
}

func newStand(t *testing.T, migrations updates.Registry) *stand {
	t.Helper()
	tg := devstack.NewEmbedded(t)
	st := store.New(tg.Clients.DynamoDB, tg.Table, store.StaticKey(make([]byte, 32)))
	d := tenant.Deployment{ID: tenant.NewID("dep_"), Name: "test", Status: tenant.StatusActive, Plan: "standard", SoftwareVersion: "0.1.0"}
	d, _, err := st.Provision(context.Background(), store.Provisioning{Deployment: d, Log: tenant.LogEntry{Actor: "test", Action: "fixture"},
		LocalDomain: identity.DefaultLocalDomain(d.ID)})
	if err != nil {
		t.Fatal(err)
	}
	s := &stand{st: st, q: &sent{}, dep: d, now: time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)}
	s.svc = &updates.Service{Store: st, Queue: s.q, Migrations: migrations, Code: updates.Running, BatchSize: 5,
		Now: func() time.Time { return s.now }, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	return s
}

func (s *stand) publish(t *testing.T, r updates.Release) {
	t.Helper()
	if _, err := s.svc.Publish(context.Background(), r, "operator"); err != nil {
		t.Fatal(err)
	}
}

func (s *stand) run(t *testing.T) updates.Run {
	t.Helper()
	r, err := s.st.GetRun(context.Background(), s.dep.ID)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// touch is the synthetic migration: each sample's count goes up once, its change and its
// mark one conditional write. kill is called before each item; it may end the invocation
// there (by cancelling its context): the crash of an updater mid-batch.
func touch(st *store.Store, kill func()) updates.Migration {
	return func(ctx context.Context, dep, cursor string, limit int) (updates.Batch, error) {
		items, next, err := st.SamplePage(ctx, dep, cursor, limit)
		if err != nil {
			return updates.Batch{}, err
		}
		for _, it := range items {
			kill()
			if _, err := st.MigrateSample(ctx, dep, it.ID, "touch"); err != nil {
				return updates.Batch{}, err
			}
		}
		return updates.Batch{Cursor: next, Processed: len(items), Done: next == ""}, nil
	}
}

// TestResumeAfterCrash kills the updater in the middle of batches (after some items of a
// batch were changed, before its cursor was saved), delivers the message again, and checks
// that no item was skipped or changed twice: every sample's count is exactly 1, the run
// counted each once, and the deployment moved to the release in the run's last write.
func TestResumeAfterCrash(t *testing.T) {
	ctx := context.Background()
	var items int
	killAt := map[int]bool{3: true, 12: true, 13: true, 22: true} // the nth item the updater reaches
	var crash context.CancelFunc                                  // ends the delivery in progress
	reg := updates.Registry{}
	s := newStand(t, reg)
	st := s.st
	reg["touch"] = touch(st, func() {
		items++
		if killAt[items] {
			delete(killAt, items)
			crash()
		}
	})
	const n = 23
	var ids []string
	for i := range n {
		ids = append(ids, fmt.Sprintf("s%03d", i))
	}
	if err := st.PutSamples(ctx, s.dep.ID, ids); err != nil {
		t.Fatal(err)
	}
	s.publish(t, updates.Release{Version: "0.1.1", MinFrom: "0.1.0", DataVersion: 1, Migrations: []string{"touch"}, Notes: "synthetic"})
	run, err := s.svc.Apply(ctx, s.dep, updates.ApplyRequest{Version: "0.1.1", Actor: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.q.m) != 1 || s.q.m[0].RunID != run.ID {
		t.Fatalf("apply now sent %+v", s.q.m)
	}
	msg := s.q.m[0]
	crashes, deliveries := 0, 0
	for deliveries = 1; deliveries < 50; deliveries++ {
		// A budget of one batch per delivery: the message goes round as in AWS.
		var dctx context.Context
		dctx, crash = context.WithCancel(ctx)
		more, err := s.svc.Advance(dctx, msg, 0)
		crash()
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("delivery %d: %v", deliveries, err)
			}
			crashes++
			// The run says it is unfinished meanwhile, with the last saved cursor.
			if r := s.run(t); r.State != updates.StateRunning {
				t.Fatalf("after a crash the run is %s", r.State)
			}
			continue // redelivered as it was
		}
		if !more {
			break
		}
	}
	if crashes != 4 {
		t.Fatalf("%d crashes, want 4", crashes)
	}
	r := s.run(t)
	if r.State != updates.StateDone || r.Steps[0].State != updates.StepDone || r.Steps[0].Processed != n {
		t.Fatalf("run %+v", r)
	}
	cursor := ""
	seen := 0
	for {
		page, next, err := st.SamplePage(ctx, s.dep.ID, cursor, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page {
			seen++
			if it.Count != 1 {
				t.Errorf("sample %s changed %d times, want exactly once", it.ID, it.Count)
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if seen != n {
		t.Fatalf("%d samples", seen)
	}
	d, err := st.GetDeployment(ctx, s.dep.ID)
	if err != nil || d.SoftwareVersion != "0.1.1" || d.DataVersion != 1 {
		t.Fatalf("deployment %+v, %v", d, err)
	}
	// A late redelivery of the finished run's message does nothing.
	if more, err := s.svc.Advance(ctx, msg, time.Second); more || err != nil {
		t.Fatalf("late message: %v %v", more, err)
	}
}

// TestFailedMigrationPausesAndRetryResumes: a failing step pauses the run with its reason
// (visible, unfinished), the deployment stays on its version; retry resumes from the saved
// cursor and finishes.
func TestFailedMigrationPausesAndRetryResumes(t *testing.T) {
	ctx := context.Background()
	calls := 0
	var cursors []string
	reg := updates.Registry{"flaky": func(_ context.Context, _ string, cursor string, _ int) (updates.Batch, error) {
		calls++
		cursors = append(cursors, cursor)
		switch calls {
		case 1:
			return updates.Batch{Cursor: "after-1", Processed: 5}, nil
		case 2:
			return updates.Batch{}, fault.Newf(fault.ErrConflict, "item x is locked")
		}
		return updates.Batch{Cursor: "", Processed: 2, Done: true}, nil
	}}
	s := newStand(t, reg)
	s.publish(t, updates.Release{Version: "0.1.1", MinFrom: "0.1.0", DataVersion: 1, Migrations: []string{"flaky"}})
	run, err := s.svc.Apply(ctx, s.dep, updates.ApplyRequest{Version: "0.1.1", Actor: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	m := updates.Message{DeploymentID: s.dep.ID, RunID: run.ID}
	if more, err := s.svc.Advance(ctx, m, time.Minute); more || err != nil {
		t.Fatalf("advance: %v %v", more, err)
	}
	r := s.run(t)
	if r.State != updates.StatePaused || r.Steps[0].State != updates.StepFailed || r.Steps[0].Error != "item x is locked" || r.Steps[0].Processed != 5 {
		t.Fatalf("paused run %+v", r)
	}
	if d, _ := s.st.GetDeployment(ctx, s.dep.ID); d.SoftwareVersion != "0.1.0" {
		t.Fatal("a paused run moved the version")
	}
	// Nothing else can start meanwhile.
	if _, err := s.svc.Apply(ctx, s.dep, updates.ApplyRequest{Version: "0.1.1"}); !errors.Is(err, fault.ErrConflict) {
		t.Fatalf("apply while paused: %v", err)
	}
	if _, err := s.svc.Retry(ctx, s.dep.ID, "admin"); err != nil {
		t.Fatal(err)
	}
	if more, err := s.svc.Advance(ctx, m, time.Minute); more || err != nil {
		t.Fatalf("advance after retry: %v %v", more, err)
	}
	if r := s.run(t); r.State != updates.StateDone || r.Steps[0].Processed != 7 {
		t.Fatalf("run %+v", r)
	}
	if !slices.Equal(cursors, []string{"", "after-1", "after-1"}) {
		t.Fatalf("cursors %q: the retry must resume where the failed batch began", cursors)
	}
	if _, err := s.svc.Retry(ctx, s.dep.ID, "admin"); !errors.Is(err, fault.ErrConflict) {
		t.Fatalf("retry of a done run: %v", err)
	}
}

// TestScheduleAndTick: a scheduled run waits for its time, then the tick starts it and
// sends it; a running run that went quiet is sent again; a scheduled run can be cancelled
// and a started one cannot.
func TestScheduleAndTick(t *testing.T) {
	ctx := context.Background()
	reg := updates.Registry{"noop": func(context.Context, string, string, int) (updates.Batch, error) {
		return updates.Batch{Done: true}, nil
	}}
	s := newStand(t, reg)
	s.publish(t, updates.Release{Version: "0.1.1", MinFrom: "0.1.0", DataVersion: 1, Migrations: []string{"noop"}})
	at := time.Date(2026, 12, 4, 2, 0, 0, 0, time.UTC) // inside the default window
	run, err := s.svc.Apply(ctx, s.dep, updates.ApplyRequest{Version: "0.1.1", At: at, Actor: "admin"})
	if err != nil || run.State != updates.StateScheduled || len(s.q.m) != 0 {
		t.Fatalf("%+v %v %v", run, err, s.q.m)
	}
	if rep, err := s.svc.Tick(ctx); err != nil || len(rep.Started) != 0 {
		t.Fatalf("early tick: %+v %v", rep, err)
	}
	s.now = at.Add(time.Minute)
	if rep, err := s.svc.Tick(ctx); err != nil || !slices.Equal(rep.Started, []string{s.dep.ID}) || len(s.q.m) != 1 {
		t.Fatalf("due tick: %+v %v %v", rep, err, s.q.m)
	}
	if _, err := s.svc.Cancel(ctx, s.dep.ID, "admin"); !errors.Is(err, fault.ErrConflict) {
		t.Fatalf("cancel of a started run: %v", err)
	}
	s.now = s.now.Add(updates.DefaultQuiet)
	if rep, err := s.svc.Tick(ctx); err != nil || !slices.Equal(rep.Rekicked, []string{s.dep.ID}) || len(s.q.m) != 2 {
		t.Fatalf("quiet tick: %+v %v", rep, err)
	}
	if _, err := s.svc.Advance(ctx, s.q.m[1], time.Second); err != nil {
		t.Fatal(err)
	}
	if rep, _ := s.svc.Tick(ctx); len(rep.Rekicked)+len(rep.Started) != 0 {
		t.Fatalf("a done run ticked: %+v", rep)
	}
	// Scheduled, then cancelled: the next can be applied.
	s.publish(t, updates.Release{Version: "0.1.2", MinFrom: "0.1.1", DataVersion: 1})
	d, _ := s.st.GetDeployment(ctx, s.dep.ID)
	if _, err := s.svc.Apply(ctx, d, updates.ApplyRequest{Version: "0.1.2", At: at.AddDate(0, 0, 1)}); err != nil {
		t.Fatal(err)
	}
	if r, err := s.svc.Cancel(ctx, s.dep.ID, "admin"); err != nil || r.State != updates.StateCancelled {
		t.Fatalf("cancel: %+v %v", r, err)
	}
	if _, err := s.svc.Apply(ctx, d, updates.ApplyRequest{Version: "0.1.2"}); err != nil {
		t.Fatal(err)
	}
}

// TestApplyRefusals: each refusal of the bad input, at the service.
func TestApplyRefusals(t *testing.T) {
	ctx := context.Background()
	s := newStand(t, updates.Registry{})
	s.publish(t, updates.Release{Version: "0.2.0", MinFrom: "0.1.0", DataVersion: 2})
	s.publish(t, updates.Release{Version: "0.3.0", MinFrom: "0.2.0", DataVersion: 2})
	s.publish(t, updates.Release{Version: "0.4.0", MinFrom: "0.3.0", DataVersion: 3})
	for name, tc := range map[string]struct {
		req   updates.ApplyRequest
		kind  error
		field string
		says  string
	}{
		"fail/path":       {updates.ApplyRequest{Version: "0.3.0"}, fault.ErrConflict, "", "update to 0.2.0 first"},
		"fail/unknown":    {updates.ApplyRequest{Version: "7.0.0"}, fault.ErrNotFound, "", "7.0.0"},
		"fail/past":       {updates.ApplyRequest{Version: "0.2.0", At: s.now.Add(-time.Hour)}, fault.ErrInvalid, "at", ""},
		"fail/off-window": {updates.ApplyRequest{Version: "0.2.0", At: time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)}, fault.ErrInvalid, "at", ""},
		"fail/code":       {updates.ApplyRequest{Version: "0.4.0"}, fault.ErrConflict, "", "update to 0.2.0 first"},
		"fail/not-newer":  {updates.ApplyRequest{Version: "0.1.0"}, fault.ErrNotFound, "", ""},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := s.svc.Apply(ctx, s.dep, tc.req)
			if !errors.Is(err, tc.kind) {
				t.Fatalf("%v, want %v", err, tc.kind)
			}
			if tc.field != "" && !fault.HasField(err, tc.field) {
				t.Fatalf("%v names no field %s", err, tc.field)
			}
			if d, _ := fault.DetailOf(err); tc.says != "" && !contains(d+err.Error(), tc.says) {
				t.Fatalf("%v does not say %q", err, tc.says)
			}
		})
	}
	// On 0.3.0, 0.4.0 needs data version 3, which this code does not serve.
	d := s.dep
	d.SoftwareVersion = "0.3.0"
	if _, err := s.svc.Apply(ctx, d, updates.ApplyRequest{Version: "0.4.0"}); !errors.Is(err, fault.ErrConflict) || !contains(err.Error(), "deploy the code first") {
		t.Fatalf("unserved data version: %v", err)
	}
	// A release naming an unknown migration is refused at publication.
	if _, err := s.svc.Publish(ctx, updates.Release{Version: "0.5.0", MinFrom: "0.1.0", DataVersion: 1, Migrations: []string{"nope"}}, "op"); !fault.HasField(err, "migrations") {
		t.Fatalf("unknown migration: %v", err)
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && (s[:len(sub)] == sub || contains(s[1:], sub)))
}
