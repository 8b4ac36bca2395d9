package updates_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
	"github.com/opensignum/signum/lib/updates"
)

func noop(context.Context, string, string, int) (updates.Batch, error) {
	return updates.Batch{Done: true}, nil
}

// drive advances dep's run until it stops.
func (s *stand) drive(t *testing.T, dep string) updates.Run {
	t.Helper()
	run, err := s.st.GetRun(context.Background(), dep)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		more, err := s.svc.Advance(context.Background(), updates.Message{DeploymentID: dep, RunID: run.ID}, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if !more {
			break
		}
	}
	run, err = s.st.GetRun(context.Background(), dep)
	if err != nil {
		t.Fatal(err)
	}
	return run
}

// TestUpdateVersionNeverMovesBackwards: a run applied from a deployment read before another run
// finished is refused (the deployment left the version it was read at), and a run whose
// from version is no longer the deployment's pauses at its completion, with the reason,
// instead of moving the deployment back.
func TestUpdateVersionNeverMovesBackwards(t *testing.T) {
	ctx := context.Background()
	s := newStand(t, updates.Registry{"noop": noop})
	s.publish(t, updates.Release{Version: "0.1.1", MinFrom: "0.1.0", DataVersion: 1, Migrations: []string{"noop"}})
	s.publish(t, updates.Release{Version: "0.1.2", MinFrom: "0.1.0", DataVersion: 1, Migrations: []string{"noop"}})
	stale := s.dep // read while on 0.1.0
	if _, err := s.svc.Apply(ctx, s.dep, updates.ApplyRequest{Version: "0.1.2", Actor: "admin"}); err != nil {
		t.Fatal(err)
	}
	if r := s.drive(t, s.dep.ID); r.State != updates.StateDone {
		t.Fatalf("first run %+v", r)
	}
	// The deployment is on 0.1.2 now; a request decided on the stale read must not start.
	_, err := s.svc.Apply(ctx, stale, updates.ApplyRequest{Version: "0.1.1", Actor: "admin"})
	if !errors.Is(err, fault.ErrConflict) || !errors.Is(err, updates.ErrVersionChanged) || !strings.Contains(err.Error(), "version changed") {
		t.Fatalf("apply from a stale read: %v", err)
	}
	if r := s.run(t); r.Version != "0.1.2" || r.State != updates.StateDone {
		t.Fatalf("a refused apply replaced the run: %+v", r)
	}

	// A run recorded from an older version than the deployment's (as one started before the
	// move would be) pauses at its completion and leaves the version where it is.
	s.publish(t, updates.Release{Version: "0.1.3", MinFrom: "0.1.0", DataVersion: 1, Migrations: []string{"noop"}})
	d, _ := s.st.GetDeployment(ctx, s.dep.ID)
	if _, err := s.svc.Apply(ctx, d, updates.ApplyRequest{Version: "0.1.3", Actor: "admin"}); err != nil {
		t.Fatal(err)
	}
	r := s.run(t)
	r.FromVersion = "0.1.0"
	if _, err := s.st.SaveRun(ctx, r, tenant.LogEntry{}); err != nil {
		t.Fatal(err)
	}
	r = s.drive(t, s.dep.ID)
	if r.State != updates.StatePaused || !strings.Contains(r.Error, "version changed") {
		t.Fatalf("completion over a moved version: %+v", r)
	}
	if d, _ := s.st.GetDeployment(ctx, s.dep.ID); d.SoftwareVersion != "0.1.2" {
		t.Fatalf("the deployment moved to %s", d.SoftwareVersion)
	}
}

// TestStepsOfSkippedReleases: a release whose MinFrom lets a deployment skip an earlier
// release still runs that release's migrations, in version order and once each; a release
// whose data version is below an older one's (or above a newer one's) is refused.
func TestStepsOfSkippedReleases(t *testing.T) {
	ctx := context.Background()
	s := newStand(t, updates.Registry{"m1": noop, "m2": noop})
	s.publish(t, updates.Release{Version: "0.2.0", MinFrom: "0.1.0", DataVersion: 2, Migrations: []string{"m1"}})
	s.publish(t, updates.Release{Version: "0.3.0", MinFrom: "0.1.0", DataVersion: 2, Migrations: []string{"m2", "m1"}})
	run, err := s.svc.Apply(ctx, s.dep, updates.ApplyRequest{Version: "0.3.0", Actor: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, st := range run.Steps {
		names = append(names, st.Name)
	}
	if !slices.Equal(names, []string{"m1", "m2"}) {
		t.Fatalf("steps %v, want m1 (0.2.0's) then m2", names)
	}
	for name, r := range map[string]updates.Release{
		"below-older": {Version: "0.4.0", MinFrom: "0.1.0", DataVersion: 1},
		"above-newer": {Version: "0.1.5", MinFrom: "0.1.0", DataVersion: 3},
	} {
		if _, err := s.svc.Publish(ctx, r, "op"); !errors.Is(err, fault.ErrInvalid) || !fault.HasField(err, "dataVersion") {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if _, err := s.svc.Publish(ctx, updates.Release{Version: "0.4.0", MinFrom: "0.1.0", DataVersion: 2}, "op"); err != nil {
		t.Fatalf("an equal data version: %v", err)
	}
}

// counting counts the releases' reads and can fail a run's start.
type counting struct {
	*store.Store
	releases int
	starts   int
	failAt   int
	rollout  string
}

func (c *counting) AllReleases(ctx context.Context) ([]updates.Release, error) {
	c.releases++
	return c.Store.AllReleases(ctx)
}

func (c *counting) StartRun(ctx context.Context, r updates.Run, log tenant.LogEntry) error {
	c.starts++
	if c.starts == c.failAt {
		return fault.Newf(fault.ErrUnavailable, "the database is away")
	}
	c.rollout = r.RolloutID
	return c.Store.StartRun(ctx, r, log)
}

func (s *stand) deployments(t *testing.T, n int) []string {
	t.Helper()
	var ids []string
	for range n {
		d := tenant.Deployment{ID: tenant.NewID("dep_"), Name: "test", Status: tenant.StatusActive, Plan: "standard", SoftwareVersion: "0.1.0"}
		if _, _, err := s.st.Provision(context.Background(), store.Provisioning{Deployment: d, Log: tenant.LogEntry{Actor: "test", Action: "fixture"},
			LocalDomain: identity.DefaultLocalDomain(d.ID)}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, d.ID)
	}
	return ids
}

// TestRolloutBounded: one request schedules at most MaxRolloutDeployments (an explicit list
// over it is refused; every deployment on an older version takes the first ones and says how
// many remain, which the next request takes), reads the releases once, and stores the
// rollout before its runs.
func TestRolloutBounded(t *testing.T) {
	ctx := context.Background()
	s := newStand(t, updates.Registry{})
	s.publish(t, updates.Release{Version: "0.1.1", MinFrom: "0.1.0", DataVersion: 1})
	c := &counting{Store: s.st}
	s.svc.Store = c
	var many []string
	for i := range updates.MaxRolloutDeployments + 1 {
		many = append(many, fmt.Sprintf("dep_%d", i))
	}
	_, err := s.svc.StartRollout(ctx, updates.RolloutRequest{Version: "0.1.1", Deployments: many, WaveSize: 10, Actor: "op"})
	if !errors.Is(err, fault.ErrInvalid) || !fault.HasField(err, "deployments") {
		t.Fatalf("%d deployments named: %v", len(many), err)
	}
	s.deployments(t, updates.MaxRolloutDeployments+1) // with the stand's own, two more than a request takes
	c.releases = 0
	ro, err := s.svc.StartRollout(ctx, updates.RolloutRequest{Version: "0.1.1", WaveSize: 50, Actor: "op"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ro.Entries) != updates.MaxRolloutDeployments || ro.Remaining != 2 {
		t.Fatalf("%d entries, %d remaining", len(ro.Entries), ro.Remaining)
	}
	for _, e := range ro.Entries {
		if e.RunID == "" {
			t.Fatalf("entry %+v", e)
		}
	}
	if c.releases != 1 {
		t.Fatalf("the releases were read %d times for one rollout", c.releases)
	}
	if got, err := s.st.GetRollout(ctx, ro.ID); err != nil || got.Remaining != 2 || got.Entries[0].RunID == "" {
		t.Fatalf("stored %+v, %v", got, err)
	}
	again, err := s.svc.StartRollout(ctx, updates.RolloutRequest{Version: "0.1.1", WaveSize: 50, Actor: "op"})
	if err != nil || len(again.Entries) != 2 || again.Remaining != 0 || again.Entries[0].RunID == "" {
		t.Fatalf("the next request: %d entries, %d remaining, %v", len(again.Entries), again.Remaining, err)
	}

	// A request that dies midway leaves its rollout stored, its runs visible in it.
	s2 := newStand(t, updates.Registry{})
	s2.publish(t, updates.Release{Version: "0.1.1", MinFrom: "0.1.0", DataVersion: 1})
	ids := append([]string{s2.dep.ID}, s2.deployments(t, 2)...)
	c2 := &counting{Store: s2.st, failAt: 2}
	s2.svc.Store = c2
	if _, err := s2.svc.StartRollout(ctx, updates.RolloutRequest{Version: "0.1.1", Deployments: ids, WaveSize: 1, Actor: "op"}); !errors.Is(err, fault.ErrUnavailable) {
		t.Fatalf("a failing store: %v", err)
	}
	st, err := s2.svc.Rollout(ctx, c2.rollout)
	if err != nil {
		t.Fatalf("the rollout its first run names: %v", err)
	}
	if len(st.Entries) != 3 || st.Entries[0].RunID != "" || st.Entries[0].Skipped != "" || st.Runs[ids[0]].RolloutID != c2.rollout {
		t.Fatalf("rollout after a death midway: %+v", st)
	}
}

// TestTickKeepsToTheWindow: a due scheduled run whose window closed before a tick reached
// it waits for the window's next opening; a time more than 90 days ahead is refused.
func TestTickKeepsToTheWindow(t *testing.T) {
	ctx := context.Background()
	s := newStand(t, updates.Registry{"noop": noop})
	s.publish(t, updates.Release{Version: "0.1.1", MinFrom: "0.1.0", DataVersion: 1, Migrations: []string{"noop"}})
	far := time.Date(2027, 3, 10, 2, 0, 0, 0, time.UTC) // in the default window, 97 days ahead
	if _, err := s.svc.Apply(ctx, s.dep, updates.ApplyRequest{Version: "0.1.1", At: far, Actor: "admin"}); !errors.Is(err, fault.ErrInvalid) || !fault.HasField(err, "at") {
		t.Fatalf("a run 97 days ahead: %v", err)
	}
	at := time.Date(2026, 12, 4, 2, 0, 0, 0, time.UTC)
	if _, err := s.svc.Apply(ctx, s.dep, updates.ApplyRequest{Version: "0.1.1", At: at, Actor: "admin"}); err != nil {
		t.Fatal(err)
	}
	s.now = time.Date(2026, 12, 4, 6, 0, 0, 0, time.UTC) // due, but the window closed at 05:00
	if rep, err := s.svc.Tick(ctx); err != nil || len(rep.Started) != 0 || s.run(t).State != updates.StateScheduled {
		t.Fatalf("tick after the window: %+v %v", rep, err)
	}
	s.now = time.Date(2026, 12, 5, 1, 5, 0, 0, time.UTC) // the next opening
	if rep, err := s.svc.Tick(ctx); err != nil || !slices.Equal(rep.Started, []string{s.dep.ID}) {
		t.Fatalf("tick in the next window: %+v %v", rep, err)
	}
}
