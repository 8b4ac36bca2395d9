package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/tenant"
	"github.com/opensignum/signum/lib/updates"
)

// TestReleases: a release is stored once per version, read back whole, and listed.
func TestReleases(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	rel := updates.Release{Version: "0.2.0", Notes: "groups", MinFrom: "0.1.0", DataVersion: 2, Migrations: []string{updates.GroupsMigration},
		PublishedAt: time.Now().UTC().Truncate(time.Millisecond), PublishedBy: "operator"}
	// The cases run in this order: each depends on the ones before.
	for _, name := range []string{"ok/create", "fail/duplicate", "ok/another", "fail/unknown-get"} {
		var err error
		switch name {
		case "ok/create":
			err = f.s.CreateRelease(ctx, rel)
		case "fail/duplicate":
			err = f.s.CreateRelease(ctx, rel)
		case "ok/another":
			r := rel
			r.Version = "0.1.5"
			err = f.s.CreateRelease(ctx, r)
		case "fail/unknown-get":
			_, err = f.s.GetRelease(ctx, "9.9.9")
		}
		wantErr := map[string]error{"fail/duplicate": fault.ErrConflict, "fail/unknown-get": fault.ErrNotFound}[name]
		if (wantErr == nil) != (err == nil) || (wantErr != nil && !errors.Is(err, wantErr)) {
			t.Fatalf("%s: %v, want %v", name, err, wantErr)
		}
	}
	got, err := f.s.GetRelease(ctx, "0.2.0")
	if err != nil || got.Notes != "groups" || got.MinFrom != "0.1.0" || got.DataVersion != 2 || !slices.Equal(got.Migrations, rel.Migrations) || !got.PublishedAt.Equal(rel.PublishedAt) {
		t.Fatalf("%+v, %v", got, err)
	}
	all, err := f.s.AllReleases(ctx)
	if err != nil || len(all) != 2 {
		t.Fatalf("%+v, %v", all, err)
	}
}

// TestUpdateRuns: one unfinished run per deployment; progress is saved over the revision
// read; the completion moves the deployment's versions in the same write; the active runs
// list exactly the unfinished ones.
func TestUpdateRuns(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	d := f.deployment()
	if _, err := f.s.GetRun(ctx, d.ID); !errors.Is(err, fault.ErrNotFound) {
		t.Fatalf("no run yet: %v", err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	run := updates.Run{ID: updates.NewRunID(), DeploymentID: d.ID, Version: "0.2.0", FromVersion: d.SoftwareVersion, DataVersion: 2, FromData: 1,
		State: updates.StateRunning, Steps: []updates.Step{{Name: "m", State: updates.StepPending}}, CreatedAt: now, UpdatedAt: now, StartedAt: now}
	log := tenant.LogEntry{Actor: "test", Action: "deployment.update.started"}
	must(t, f.s.StartRun(ctx, run, log))
	other := run
	other.ID = updates.NewRunID()
	if err := f.s.StartRun(ctx, other, log); !errors.Is(err, fault.ErrConflict) {
		t.Fatalf("second unfinished run: %v", err)
	}
	active, err := f.s.ActiveRuns(ctx)
	if err != nil || !slices.Contains(active, d.ID) {
		t.Fatalf("active %v, %v", active, err)
	}
	got, err := f.s.GetRun(ctx, d.ID)
	if err != nil || got.ID != run.ID || got.Revision != 1 || got.Steps[0].Name != "m" {
		t.Fatalf("%+v, %v", got, err)
	}
	got.Steps[0].Cursor, got.Steps[0].Processed, got.Steps[0].State = "c1", 10, updates.StepRunning
	saved, err := f.s.SaveRun(ctx, got, tenant.LogEntry{})
	if err != nil || saved.Revision != 2 {
		t.Fatalf("save: %+v, %v", saved, err)
	}
	if _, err := f.s.SaveRun(ctx, got, tenant.LogEntry{}); !errors.Is(err, fault.ErrPrecondition) {
		t.Fatalf("stale save: %v", err)
	}
	if _, err := f.s.CompleteRun(ctx, got, tenant.LogEntry{Actor: "test", Action: "deployment.update.done"}); !errors.Is(err, fault.ErrPrecondition) {
		t.Fatalf("stale completion: %v", err)
	}
	if dd, _ := f.s.GetDeployment(ctx, d.ID); dd.SoftwareVersion != d.SoftwareVersion {
		t.Fatal("a refused completion moved the version")
	}
	saved.State = updates.StateDone
	done, err := f.s.CompleteRun(ctx, saved, tenant.LogEntry{Actor: "test", Action: "deployment.update.done"})
	if err != nil || done.State != updates.StateDone {
		t.Fatalf("complete: %v", err)
	}
	dd, err := f.s.GetDeployment(ctx, d.ID)
	if err != nil || dd.SoftwareVersion != "0.2.0" || dd.DataVersion != 2 || dd.Version != d.Version+1 {
		t.Fatalf("deployment %+v, %v", dd, err)
	}
	if active, _ := f.s.ActiveRuns(ctx); slices.Contains(active, d.ID) {
		t.Fatal("a done run is still active")
	}
	// A finished run makes room for the next (from the version it left); a cancelled one
	// leaves the active runs too.
	other.FromVersion = "0.2.0"
	must(t, f.s.StartRun(ctx, other, log))
	o, _ := f.s.GetRun(ctx, d.ID)
	o.State = updates.StateCancelled
	if _, err := f.s.SaveRun(ctx, o, tenant.LogEntry{Actor: "test", Action: "deployment.update.cancelled"}); err != nil {
		t.Fatal(err)
	}
	if active, _ := f.s.ActiveRuns(ctx); slices.Contains(active, d.ID) {
		t.Fatal("a cancelled run is still active")
	}
}

// TestUpdateRunVersionGuards: a run starts only from the deployment's current version, and
// its completion moves the deployment only from the run's from version and never to a lower
// data version; each refusal is a conflict that says the version changed.
func TestUpdateRunVersionGuards(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	d := f.deployment()
	log := tenant.LogEntry{Actor: "test", Action: "deployment.update.started"}
	now := time.Now().UTC()
	newRun := func(from, to string, dv int) updates.Run {
		return updates.Run{ID: updates.NewRunID(), DeploymentID: d.ID, Version: to, FromVersion: from, DataVersion: dv, FromData: 1,
			State: updates.StateRunning, CreatedAt: now, UpdatedAt: now, StartedAt: now}
	}
	changed := func(name string, err error) {
		t.Helper()
		if !errors.Is(err, fault.ErrConflict) || !errors.Is(err, updates.ErrVersionChanged) {
			t.Fatalf("%s: %v, want the version-changed conflict", name, err)
		}
	}
	complete := func(r updates.Run) error {
		r.State = updates.StateDone
		_, err := f.s.CompleteRun(ctx, r, log)
		return err
	}
	changed("start from another version", f.s.StartRun(ctx, newRun("0.0.9", "0.2.0", 2), log))
	must(t, f.s.StartRun(ctx, newRun(d.SoftwareVersion, "0.2.0", 2), log))
	r, _ := f.s.GetRun(ctx, d.ID)
	if err := complete(r); err != nil {
		t.Fatal(err)
	}
	// A run recorded from the old version completes over nothing.
	must(t, f.s.StartRun(ctx, newRun("0.2.0", "0.3.0", 2), log))
	r, _ = f.s.GetRun(ctx, d.ID)
	r.FromVersion = d.SoftwareVersion
	r, err := f.s.SaveRun(ctx, r, tenant.LogEntry{})
	must(t, err)
	changed("complete from a version left", complete(r))
	// Nor does one that would lower the data version.
	r.FromVersion, r.DataVersion = "0.2.0", 1
	r, err = f.s.SaveRun(ctx, r, tenant.LogEntry{})
	must(t, err)
	changed("complete to a lower data version", complete(r))
	if dd, _ := f.s.GetDeployment(ctx, d.ID); dd.SoftwareVersion != "0.2.0" || dd.DataVersion != 2 {
		t.Fatalf("refused completions moved the deployment: %+v", dd)
	}
	r.DataVersion = 2
	r, err = f.s.SaveRun(ctx, r, tenant.LogEntry{})
	must(t, err)
	if err := complete(r); err != nil {
		t.Fatal(err)
	}
	if dd, _ := f.s.GetDeployment(ctx, d.ID); dd.SoftwareVersion != "0.3.0" {
		t.Fatalf("deployment %+v", dd)
	}
}

// TestMaintenanceWindow: the default until one is set, then the one set.
func TestMaintenanceWindow(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	d := f.deployment()
	w, err := f.s.GetWindow(ctx, d.ID)
	if err != nil || w.Start != "01:00" || !w.UpdatedAt.IsZero() {
		t.Fatalf("default %+v, %v", w, err)
	}
	set := updates.Window{Days: []string{"sat", "sun"}, Start: "22:30", Duration: 90 * time.Minute}
	if _, err := f.s.PutWindow(ctx, d.ID, set, tenant.LogEntry{Actor: "test", Action: "deployment.update.window"}); err != nil {
		t.Fatal(err)
	}
	w, err = f.s.GetWindow(ctx, d.ID)
	if err != nil || w.Start != "22:30" || w.Duration != 90*time.Minute || !slices.Equal(w.Days, set.Days) || w.UpdatedAt.IsZero() {
		t.Fatalf("set %+v, %v", w, err)
	}
}

// TestRollouts: a rollout is stored with its entries and read back; every deployment is
// walked once.
func TestRollouts(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a, b := f.deployment(), f.deployment()
	ro := updates.Rollout{ID: updates.NewRolloutID(), Version: "0.2.0", WaveSize: 1, WaveInterval: time.Hour, CreatedBy: "op", CreatedAt: time.Now().UTC(),
		Entries: []updates.RolloutEntry{{DeploymentID: a.ID, Wave: 0, At: time.Now().UTC(), RunID: "upd_x"}, {DeploymentID: b.ID, Wave: 1, Skipped: "busy"}}}
	must(t, f.s.CreateRollout(ctx, ro))
	got, err := f.s.GetRollout(ctx, ro.ID)
	if err != nil || len(got.Entries) != 2 || got.Entries[1].Skipped != "busy" || got.WaveInterval != time.Hour {
		t.Fatalf("%+v, %v", got, err)
	}
	// Saved over itself with its outcomes; a rollout never created is not saved.
	ro.Entries[1].Skipped, ro.Remaining = "still busy", 3
	must(t, f.s.SaveRollout(ctx, ro))
	if got, err := f.s.GetRollout(ctx, ro.ID); err != nil || got.Entries[1].Skipped != "still busy" || got.Remaining != 3 {
		t.Fatalf("saved %+v, %v", got, err)
	}
	if err := f.s.SaveRollout(ctx, updates.Rollout{ID: updates.NewRolloutID(), Version: "0.2.0"}); !errors.Is(err, fault.ErrNotFound) {
		t.Fatalf("save of an uncreated rollout: %v", err)
	}
	if _, err := f.s.GetRollout(ctx, "rol_nope"); !errors.Is(err, fault.ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
	seen := map[string]int{}
	must(t, f.s.EachDeployment(ctx, func(d tenant.Deployment) error { seen[d.ID]++; return nil }))
	if seen[a.ID] != 1 || seen[b.ID] != 1 {
		t.Fatalf("walked %v", seen)
	}
}

// TestMigrationSamples: a sample changes once per migration, however often the change is
// replayed; pages walk every sample once.
func TestMigrationSamples(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	d := f.deployment()
	must(t, f.s.PutSamples(ctx, d.ID, []string{"a", "b", "c"}))
	for range 2 {
		applied, err := f.s.MigrateSample(ctx, d.ID, "b", "touch")
		if err != nil {
			t.Fatal(err)
		}
		_ = applied
	}
	var all []string
	cursor := ""
	for {
		items, next, err := f.s.SamplePage(ctx, d.ID, cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range items {
			all = append(all, s.ID)
			if want := map[string]int{"b": 1}[s.ID]; s.Count != want {
				t.Fatalf("sample %s counted %d, want %d", s.ID, s.Count, want)
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if !slices.Equal(all, []string{"a", "b", "c"}) {
		t.Fatalf("walked %v", all)
	}
	if applied, err := f.s.MigrateSample(ctx, d.ID, "a", "touch"); err != nil || !applied {
		t.Fatalf("first change: %v %v", applied, err)
	}
	if applied, err := f.s.MigrateSample(ctx, d.ID, "a", "touch"); err != nil || applied {
		t.Fatalf("replayed change: %v %v", applied, err)
	}
}
