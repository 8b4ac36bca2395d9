package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/opensignum/signum/lib/certificates"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

var groupLog = tenant.LogEntry{Actor: "test", Action: "certificateGroup.changed"}

// group creates a certificate group named name with limit (0: none).
func (f *fixture) group(dep, name string, limit int) certificates.Group {
	f.t.Helper()
	g, err := f.s.CreateCertificateGroup(context.Background(), newGroup(dep, name, limit), groupLog)
	must(f.t, err)
	return g
}

func newGroup(dep, name string, limit int) certificates.Group {
	return certificates.Group{ID: certificates.NewGroupID(), DeploymentID: dep, Name: name, Limit: limit}
}

// member creates a pending certificate in groups.
func (f *fixture) member(dep string, groups ...string) certificates.Certificate {
	f.t.Helper()
	c := newCertificate(dep)
	c.Groups = groups
	c, err := f.s.CreateCertificate(context.Background(), c, tenant.LogEntry{Actor: "test", Action: "certificate.created"})
	must(f.t, err)
	return c
}

func (f *fixture) members(dep, id string) int {
	f.t.Helper()
	g, err := f.s.GetCertificateGroup(context.Background(), dep, id)
	must(f.t, err)
	return g.Members
}

// Pattern 35: create, read, list, rename, limit and delete certificate groups.
func TestCertificateGroups(t *testing.T) {
	f := newFixture(t)
	d, other := f.deployment(), f.deployment()
	existing := f.group(d.ID, "Release", 0)
	renamed := f.group(d.ID, "Nightly", 0)
	stale := f.group(d.ID, "Stale", 0)
	_, err := f.s.UpdateCertificateGroup(context.Background(), stale, stale, groupLog)
	must(t, err)
	full := f.group(d.ID, "Full", 0)
	f.member(d.ID, full.ID)
	f.member(d.ID, full.ID)
	f.group(other.ID, "Other", 0)
	fresh := newGroup(d.ID, "Beta", 5)

	get := func(dep, id string) func(context.Context) (certificates.Group, error) {
		return func(ctx context.Context) (certificates.Group, error) { return f.s.GetCertificateGroup(ctx, dep, id) }
	}
	change := func(current certificates.Group, name string, limit int) func(context.Context) (certificates.Group, error) {
		return func(ctx context.Context) (certificates.Group, error) {
			next := current
			next.Name, next.Limit = name, limit
			return f.s.UpdateCertificateGroup(ctx, current, next, groupLog)
		}
	}
	create := func(g certificates.Group) func(context.Context) (certificates.Group, error) {
		return func(ctx context.Context) (certificates.Group, error) {
			return f.s.CreateCertificateGroup(ctx, g, groupLog)
		}
	}
	run(t, f, []contract[certificates.Group]{
		{name: "ok/create", call: create(fresh), want: func(t *testing.T, got certificates.Group) {
			if got.Version != 1 || got.Members != 0 || got.CreatedAt.IsZero() {
				t.Fatalf("created %+v", got)
			}
		}, after: func(t *testing.T) {
			got, err := f.s.GetCertificateGroup(context.Background(), d.ID, fresh.ID)
			if err != nil || got.Name != "Beta" || got.Limit != 5 || got.Version != 1 || got.Members != 0 {
				t.Fatalf("stored %+v, %v", got, err)
			}
			if f.logActions(d.ID)[0] != groupLog.Action {
				t.Fatal("no log entry")
			}
		}},
		{name: "fail/name-taken-in-another-case", call: create(newGroup(d.ID, "RELEASE", 0)), wantErr: store.ErrConflict, wantDetail: "named \"RELEASE\" exists"},
		{name: "ok/same-name-in-another-deployment", call: create(newGroup(other.ID, "Release", 0)), want: succeeds[certificates.Group]},
		{name: "ok/get", call: get(d.ID, existing.ID), want: func(t *testing.T, got certificates.Group) {
			if got.Name != "Release" || got.Version != 1 {
				t.Fatalf("got %+v", got)
			}
		}},
		{name: "fail/get-unknown", call: get(d.ID, "grp_nothing"), wantErr: store.ErrNotFound, wantDetail: "No certificate group has the id"},
		{name: "fail/get-of-other-deployment", call: get(other.ID, existing.ID), wantErr: store.ErrNotFound},
		{name: "ok/rename", call: change(renamed, "Nightly builds", 0), want: func(t *testing.T, got certificates.Group) {
			if got.Name != "Nightly builds" || got.Version != 2 {
				t.Fatalf("renamed %+v", got)
			}
		}, after: func(t *testing.T) {
			// The old name is free again, the new one taken.
			_, err := f.s.CreateCertificateGroup(context.Background(), newGroup(d.ID, "nightly", 0), groupLog)
			must(t, err)
			if _, err := f.s.CreateCertificateGroup(context.Background(), newGroup(d.ID, "NIGHTLY BUILDS", 0), groupLog); !errors.Is(err, store.ErrConflict) {
				t.Fatalf("the new name is not taken: %v", err)
			}
		}},
		{name: "ok/change-case-only", call: change(existing, "RELEASE", 0), want: func(t *testing.T, got certificates.Group) {
			if got.Name != "RELEASE" {
				t.Fatalf("renamed %+v", got)
			}
		}},
		{name: "fail/rename-to-taken-name", call: change(full, "beta", 0), wantErr: store.ErrConflict, wantDetail: "named \"beta\" exists", after: func(t *testing.T) {
			if g, _ := f.s.GetCertificateGroup(context.Background(), d.ID, full.ID); g.Name != "Full" || g.Version != 1 {
				t.Fatalf("a refused rename landed: %+v", g)
			}
		}},
		{name: "fail/rename-stale", call: change(stale, "Fresh", 0), wantErr: store.ErrStale},
		{name: "fail/limit-under-members", call: change(full, "Full", 1), wantErr: store.ErrConflict, wantDetail: "holds 2 certificates, more than the limit 1"},
		{name: "ok/limit-at-members", call: change(full, "Full", 2), want: func(t *testing.T, got certificates.Group) {
			if got.Limit != 2 || got.Members != 2 || got.Version != 2 {
				t.Fatalf("limited %+v", got)
			}
		}},
	})

	list := func(ctx context.Context) ([]certificates.Group, error) {
		return store.All(ctx, func(ctx context.Context, pr store.PageRequest) (store.Page[certificates.Group], error) {
			return f.s.ListCertificateGroups(ctx, other.ID, pr)
		})
	}
	run(t, f, []contract[[]certificates.Group]{
		{name: "ok/list-one-deployment", call: list, want: func(t *testing.T, got []certificates.Group) {
			if len(got) != 2 {
				t.Fatalf("listed %+v", got)
			}
		}},
	})

	remove := func(dep, id string) func(context.Context) (struct{}, error) {
		return only(func(ctx context.Context) error {
			g, err := f.s.GetCertificateGroup(ctx, dep, id)
			if err != nil {
				return err
			}
			return f.s.DeleteCertificateGroup(ctx, g, groupLog)
		})
	}
	run(t, f, []contract[struct{}]{
		{name: "fail/delete-stale", call: only(func(ctx context.Context) error { return f.s.DeleteCertificateGroup(ctx, stale, groupLog) }),
			wantErr: store.ErrStale},
		{name: "fail/delete-with-members", call: remove(d.ID, full.ID), wantErr: store.ErrConflict, wantDetail: "still holds 2 certificates", after: func(t *testing.T) {
			if _, err := f.s.GetCertificateGroup(context.Background(), d.ID, full.ID); err != nil {
				t.Fatalf("a non-empty group went: %v", err)
			}
		}},
		{name: "ok/delete-empty", call: remove(d.ID, existing.ID), after: func(t *testing.T) {
			if _, err := f.s.GetCertificateGroup(context.Background(), d.ID, existing.ID); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("deleted group: %v", err)
			}
			// Its name is free again.
			f.group(d.ID, "release", 0)
		}},
	})
}

// Patterns 19 and 35: certificate writes keep their groups' member counts exact, within the
// limits, and never race a group's deletion.
func TestCertificateGroupMembers(t *testing.T) {
	f := newFixture(t)
	d := f.deployment()
	a, b := f.group(d.ID, "A", 0), f.group(d.ID, "B", 2)
	gone := newGroup(d.ID, "Gone", 0)
	entry := tenant.LogEntry{Actor: "test", Action: "certificate.updated"}
	inA := f.member(d.ID, a.ID, "legacy label")
	inB := f.member(d.ID, b.ID)

	create := func(groups ...string) func(context.Context) (certificates.Certificate, error) {
		return func(ctx context.Context) (certificates.Certificate, error) {
			c := newCertificate(d.ID)
			c.Groups = groups
			return f.s.CreateCertificate(ctx, c, entry)
		}
	}
	counts := func(wantA, wantB int) func(t *testing.T) {
		return func(t *testing.T) {
			if gotA, gotB := f.members(d.ID, a.ID), f.members(d.ID, b.ID); gotA != wantA || gotB != wantB {
				t.Fatalf("members A %d B %d, want %d %d", gotA, gotB, wantA, wantB)
			}
		}
	}
	run(t, f, []contract[certificates.Certificate]{
		{name: "ok/create-counts-group-ids-only", call: create(a.ID, b.ID, "label"), want: succeeds[certificates.Certificate], after: counts(2, 2)},
		{name: "fail/create-over-limit", call: create(b.ID), wantErr: store.ErrConflict, wantDetail: "holds its limit of 2", after: counts(2, 2)},
		{name: "fail/create-in-unknown-group", call: create(a.ID, gone.ID), wantErr: store.ErrNotFound, wantDetail: gone.ID, after: counts(2, 2)},
		{name: "ok/move-from-b-to-a", call: func(ctx context.Context) (certificates.Certificate, error) {
			next := inB
			next.Groups = []string{a.ID}
			return f.s.UpdateCertificate(ctx, inB, next, entry)
		}, want: succeeds[certificates.Certificate], after: counts(3, 1)},
		{name: "fail/stale-move", call: func(ctx context.Context) (certificates.Certificate, error) {
			next := inB
			next.Groups = []string{b.ID}
			return f.s.UpdateCertificate(ctx, inB, next, entry)
		}, wantErr: store.ErrStale, after: counts(3, 1)},
		{name: "ok/delete-leaves-groups", call: func(ctx context.Context) (certificates.Certificate, error) {
			next := inA
			next.Status = certificates.StatusDeleted
			return f.s.UpdateCertificate(ctx, inA, next, entry)
		}, want: succeeds[certificates.Certificate], after: counts(2, 1)},
		{name: "ok/limit-removed", call: func(ctx context.Context) (certificates.Certificate, error) {
			now, err := f.s.GetCertificateGroup(ctx, d.ID, b.ID)
			must(f.t, err)
			next := now
			next.Limit = 0
			_, err = f.s.UpdateCertificateGroup(ctx, now, next, groupLog)
			must(f.t, err)
			_, err = create(b.ID)(ctx)
			must(f.t, err)
			return create(b.ID)(ctx)
		}, want: succeeds[certificates.Certificate], after: counts(2, 3)},
	})

	// A group being deleted while certificates join it: either the delete lands and every
	// join is refused, or a join lands first and the delete is refused; the count stays exact.
	for round := range 5 {
		g := f.group(d.ID, "race-"+string(rune('a'+round)), 3)
		var wg sync.WaitGroup
		joined := make(chan certificates.Certificate, 6)
		var deleteErr error
		wg.Add(7)
		go func() {
			defer wg.Done()
			deleteErr = f.s.DeleteCertificateGroup(context.Background(), g, groupLog)
		}()
		for range 6 {
			go func() {
				defer wg.Done()
				if c, err := create(g.ID)(context.Background()); err == nil {
					joined <- c
				}
			}()
		}
		wg.Wait()
		close(joined)
		n := len(joined)
		if n > 3 {
			t.Fatalf("round %d: %d certificates joined a group limited to 3", round, n)
		}
		after, err := f.s.GetCertificateGroup(context.Background(), d.ID, g.ID)
		switch {
		case deleteErr == nil && (n > 0 || !errors.Is(err, store.ErrNotFound)):
			t.Fatalf("round %d: the group was deleted with %d members joining (%v)", round, n, err)
		case deleteErr != nil && (err != nil || after.Members != n):
			t.Fatalf("round %d: %d joined, group %+v, %v; delete %v", round, n, after, err, deleteErr)
		}
	}
}

// Pattern 36: the migration marker is written once, with one log entry, however many mark it.
func TestGroupsMigrationMarker(t *testing.T) {
	f := newFixture(t)
	d := f.deployment()
	migrated := func(want bool) func(t *testing.T) {
		return func(t *testing.T) {
			if got, err := f.s.GroupsMigrated(context.Background(), d.ID); err != nil || got != want {
				t.Fatalf("migrated %v, %v; want %v", got, err, want)
			}
		}
	}
	mark := only(func(ctx context.Context) error {
		return f.s.MarkGroupsMigrated(ctx, d.ID, tenant.LogEntry{Actor: "system", Action: "certificateGroups.migrated"})
	})
	byName := func(name string) func(context.Context) (certificates.Group, error) {
		return func(ctx context.Context) (certificates.Group, error) {
			return f.s.CertificateGroupByName(ctx, d.ID, name)
		}
	}
	g := f.group(d.ID, "Release", 0)
	run(t, f, []contract[struct{}]{
		{name: "ok/not-yet", call: func(context.Context) (struct{}, error) { return struct{}{}, nil }, after: migrated(false)},
		{name: "ok/mark", call: mark, after: migrated(true)},
		{name: "ok/mark-again-after-mark", call: mark, after: func(t *testing.T) {
			n := 0
			for _, a := range f.logActions(d.ID) {
				if a == "certificateGroups.migrated" {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("%d log entries", n)
			}
		}},
	})
	run(t, f, []contract[certificates.Group]{
		{name: "ok/by-name-any-case", call: byName("RELEASE"), want: func(t *testing.T, got certificates.Group) {
			if got.ID != g.ID {
				t.Fatalf("found %+v", got)
			}
		}},
		{name: "fail/by-unknown-name", call: byName("nope"), wantErr: store.ErrNotFound},
	})
}
