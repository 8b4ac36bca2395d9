package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/roles"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

var roleLog = tenant.LogEntry{Actor: "test", Action: "role.changed"}

func newRole(dep, name string) roles.Role {
	r, err := roles.Validate(roles.Role{Name: name, Description: "Release managers",
		Areas:   map[roles.Area]roles.Level{roles.Certificates: roles.Manage, roles.Events: roles.Read},
		Groups:  map[string]roles.GroupRights{"grp_release": {View: true, Add: true}, roles.EveryGroup: {View: true}},
		Domains: []string{"local"}})
	if err != nil {
		panic(err)
	}
	r.ID, r.DeploymentID = roles.NewID(), dep
	return r
}

// role creates a custom role named name.
func (f *fixture) role(dep, name string) roles.Role {
	f.t.Helper()
	r, err := f.s.CreateRole(context.Background(), newRole(dep, name), roleLog)
	must(f.t, err)
	return r
}

func (f *fixture) roleMembers(dep, id string) int {
	f.t.Helper()
	r, err := f.s.GetRole(context.Background(), dep, id)
	must(f.t, err)
	return r.Members
}

// Pattern 37: create, read, list, change and delete custom roles.
func TestRoles(t *testing.T) {
	f := newFixture(t)
	d, other := f.deployment(), f.deployment()
	existing := f.role(d.ID, "Release managers")
	renamed := f.role(d.ID, "Auditors")
	stale := f.role(d.ID, "Stale")
	_, err := f.s.UpdateRole(context.Background(), stale, stale, roleLog)
	must(t, err)
	held := f.role(d.ID, "Held")
	u := newConsoleUser(d.ID, "holder")
	u.Role = held.ID
	_, err = f.s.CreateConsoleUser(context.Background(), u, roleLog)
	must(t, err)
	f.role(other.ID, "Other")
	fresh := newRole(d.ID, "Signers of nightly builds")

	create := func(r roles.Role) func(context.Context) (roles.Role, error) {
		return func(ctx context.Context) (roles.Role, error) { return f.s.CreateRole(ctx, r, roleLog) }
	}
	get := func(dep, id string) func(context.Context) (roles.Role, error) {
		return func(ctx context.Context) (roles.Role, error) { return f.s.GetRole(ctx, dep, id) }
	}
	change := func(current roles.Role, edit func(*roles.Role)) func(context.Context) (roles.Role, error) {
		return func(ctx context.Context) (roles.Role, error) {
			next := current
			edit(&next)
			return f.s.UpdateRole(ctx, current, next, roleLog)
		}
	}
	run(t, f, []contract[roles.Role]{
		{name: "ok/create", call: create(fresh), want: func(t *testing.T, got roles.Role) {
			if got.Version != 1 || got.Members != 0 || got.CreatedAt.IsZero() || got.UpdatedAt.IsZero() {
				t.Fatalf("created %+v", got)
			}
		}, after: func(t *testing.T) {
			got, err := f.s.GetRole(context.Background(), d.ID, fresh.ID)
			if err != nil || got.Name != fresh.Name || got.Description != "Release managers" || got.Version != 1 || got.BuiltIn ||
				got.Level(roles.Certificates) != roles.Manage || got.Level(roles.Events) != roles.Read || got.Level(roles.SystemLog) != roles.None ||
				got.Groups["grp_release"] != (roles.GroupRights{View: true, Add: true}) || !got.Groups[roles.EveryGroup].View ||
				len(got.Domains) != 1 || got.Domains[0] != "local" {
				t.Fatalf("stored %+v, %v", got, err)
			}
			if f.logActions(d.ID)[0] != roleLog.Action {
				t.Fatal("no log entry")
			}
		}},
		{name: "fail/name-taken-in-another-case", call: create(newRole(d.ID, "RELEASE MANAGERS")), wantErr: store.ErrConflict,
			wantDetail: `named "RELEASE MANAGERS" exists`},
		{name: "ok/same-name-in-another-deployment", call: create(newRole(other.ID, "Release managers")), want: succeeds[roles.Role]},
		{name: "ok/get", call: get(d.ID, existing.ID), want: func(t *testing.T, got roles.Role) {
			if got.Name != "Release managers" || got.Version != 1 || got.ID != existing.ID {
				t.Fatalf("got %+v", got)
			}
		}},
		{name: "fail/get-unknown", call: get(d.ID, "role_nothing"), wantErr: store.ErrNotFound, wantDetail: "No custom role has the id"},
		{name: "fail/get-built-in", call: get(d.ID, string(identity.ConsoleAdmin)), wantErr: store.ErrNotFound},
		{name: "fail/get-of-other-deployment", call: get(other.ID, existing.ID), wantErr: store.ErrNotFound},
		{name: "ok/rename-and-narrow", call: change(renamed, func(r *roles.Role) {
			r.Name, r.Description, r.Groups, r.Domains = "Auditors of releases", "", nil, nil
			r.Areas = map[roles.Area]roles.Level{roles.Events: roles.Read}
		}), want: func(t *testing.T, got roles.Role) {
			if got.Name != "Auditors of releases" || got.Version != 2 || len(got.Groups) != 0 || len(got.Domains) != 0 || got.Description != "" ||
				got.Level(roles.Certificates) != roles.None || got.Level(roles.Events) != roles.Read || !got.UpdatedAt.After(got.CreatedAt) {
				t.Fatalf("changed %+v", got)
			}
		}, after: func(t *testing.T) {
			// The old name is free again, the new one taken.
			f.role(d.ID, "auditors")
			if _, err := f.s.CreateRole(context.Background(), newRole(d.ID, "AUDITORS OF RELEASES"), roleLog); !errors.Is(err, store.ErrConflict) {
				t.Fatalf("the new name is not taken: %v", err)
			}
		}},
		{name: "ok/change-case-only", call: change(existing, func(r *roles.Role) { r.Name = "RELEASE MANAGERS" }), want: func(t *testing.T, got roles.Role) {
			if got.Name != "RELEASE MANAGERS" || got.Version != 2 {
				t.Fatalf("renamed %+v", got)
			}
		}},
		{name: "fail/rename-to-taken-name", call: change(held, func(r *roles.Role) { r.Name = "signers of NIGHTLY builds" }), wantErr: store.ErrConflict,
			wantDetail: "exists in this deployment", after: func(t *testing.T) {
				if r, _ := f.s.GetRole(context.Background(), d.ID, held.ID); r.Name != "Held" || r.Version != 1 {
					t.Fatalf("a refused rename landed: %+v", r)
				}
			}},
		{name: "fail/change-stale", call: change(stale, func(r *roles.Role) { r.Name = "Fresh" }), wantErr: store.ErrStale, after: func(t *testing.T) {
			// The refused change took no name.
			f.role(d.ID, "Fresh")
		}},
		{name: "ok/change-keeps-members", call: change(held, func(r *roles.Role) { r.Description = "held by one"; r.Members = 7 }),
			want: func(t *testing.T, got roles.Role) {
				if got.Members != 1 || got.Version != 2 || got.Description != "held by one" {
					t.Fatalf("changed %+v", got)
				}
			}},
	})

	list := func(dep string) func(ctx context.Context) ([]roles.Role, error) {
		return func(ctx context.Context) ([]roles.Role, error) {
			return store.All(ctx, func(ctx context.Context, pr store.PageRequest) (store.Page[roles.Role], error) {
				return f.s.ListRoles(ctx, dep, store.PageRequest{Limit: 2, Cursor: pr.Cursor})
			})
		}
	}
	run(t, f, []contract[[]roles.Role]{
		{name: "ok/list-one-deployment-in-pages", call: list(other.ID), want: func(t *testing.T, got []roles.Role) {
			if len(got) != 2 || got[0].DeploymentID != other.ID || got[1].DeploymentID != other.ID {
				t.Fatalf("listed %+v", got)
			}
		}},
		{name: "ok/list-all-of-many", call: list(d.ID), want: func(t *testing.T, got []roles.Role) {
			if len(got) != 7 {
				t.Fatalf("listed %d roles", len(got))
			}
		}},
	})

	remove := func(dep, id string) func(context.Context) (struct{}, error) {
		return only(func(ctx context.Context) error {
			r, err := f.s.GetRole(ctx, dep, id)
			if err != nil {
				return err
			}
			return f.s.DeleteRole(ctx, r, roleLog)
		})
	}
	run(t, f, []contract[struct{}]{
		{name: "fail/delete-stale", call: only(func(ctx context.Context) error { return f.s.DeleteRole(ctx, stale, roleLog) }), wantErr: store.ErrStale},
		{name: "fail/delete-held", call: remove(d.ID, held.ID), wantErr: store.ErrConflict, wantDetail: "is held by 1 user: give its 1 user another role first",
			after: func(t *testing.T) {
				if _, err := f.s.GetRole(context.Background(), d.ID, held.ID); err != nil {
					t.Fatalf("a held role went: %v", err)
				}
			}},
		{name: "ok/delete-unheld", call: remove(d.ID, fresh.ID), after: func(t *testing.T) {
			if _, err := f.s.GetRole(context.Background(), d.ID, fresh.ID); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("deleted role: %v", err)
			}
			// Its name is free again.
			f.role(d.ID, "SIGNERS OF NIGHTLY BUILDS")
		}},
	})
}

// Patterns 16 and 37: console user writes keep their custom roles' member counts exact, and
// never give a user a role that is gone.
func TestRoleMembers(t *testing.T) {
	f := newFixture(t)
	d := f.deployment()
	a, b := f.role(d.ID, "A"), f.role(d.ID, "B")
	gone := f.role(d.ID, "Gone")
	gone, err := f.s.GetRole(context.Background(), d.ID, gone.ID)
	must(t, err)
	must(t, f.s.DeleteRole(context.Background(), gone, roleLog))
	entry := tenant.LogEntry{Actor: "test", Action: "consoleUser.changed"}
	counts := func(wantA, wantB int) func(t *testing.T) {
		return func(t *testing.T) {
			if gotA, gotB := f.roleMembers(d.ID, a.ID), f.roleMembers(d.ID, b.ID); gotA != wantA || gotB != wantB {
				t.Fatalf("members A %d B %d, want %d %d", gotA, gotB, wantA, wantB)
			}
		}
	}
	create := func(name, role string) func(context.Context) (identity.ConsoleUser, error) {
		return func(ctx context.Context) (identity.ConsoleUser, error) {
			u := newConsoleUser(d.ID, name)
			u.Role = role
			return f.s.CreateConsoleUser(ctx, u, entry)
		}
	}
	holder, err := create("holder", a.ID)(context.Background())
	must(t, err)
	plain, err := create("plain", "")(context.Background())
	must(t, err)
	setRole := func(u *identity.ConsoleUser, role string) func(context.Context) (identity.ConsoleUser, error) {
		return func(ctx context.Context) (identity.ConsoleUser, error) {
			next := *u
			next.Role = role
			got, err := f.s.UpdateConsoleUser(ctx, *u, next, entry)
			if err == nil {
				*u = got
			}
			return got, err
		}
	}
	run(t, f, []contract[identity.ConsoleUser]{
		{name: "ok/create-with-role", call: create("alice", a.ID), want: func(t *testing.T, got identity.ConsoleUser) {
			if got.Role != a.ID {
				t.Fatalf("created %+v", got)
			}
		}, after: func(t *testing.T) {
			counts(2, 0)(t)
			if u, err := f.s.ConsoleUserByUsername(context.Background(), d.ID, "alice"); err != nil || u.Role != a.ID {
				t.Fatalf("stored %+v, %v", u, err)
			}
		}},
		{name: "fail/create-with-deleted-role", call: create("bob", gone.ID), wantErr: store.ErrNotFound, wantDetail: gone.ID, after: func(t *testing.T) {
			if _, err := f.s.ConsoleUserByUsername(context.Background(), d.ID, "bob"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("a refused user was written: %v", err)
			}
			if _, err := f.s.GetRole(context.Background(), d.ID, gone.ID); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("the count brought the deleted role back: %v", err)
			}
		}},
		{name: "fail/create-with-built-in-id", call: create("carol", string(identity.ConsoleAdmin)), wantErr: store.ErrNotFound, after: counts(2, 0)},
		{name: "ok/give-role", call: setRole(&plain, b.ID), want: succeeds[identity.ConsoleUser], after: counts(2, 1)},
		{name: "ok/move-role-after-give", call: setRole(&plain, a.ID), want: succeeds[identity.ConsoleUser], after: counts(3, 0)},
		{name: "ok/same-role-moves-nothing", call: setRole(&plain, a.ID), want: succeeds[identity.ConsoleUser], after: counts(3, 0)},
		{name: "fail/give-deleted-role", call: setRole(&plain, gone.ID), wantErr: store.ErrNotFound, wantDetail: gone.ID, after: func(t *testing.T) {
			counts(3, 0)(t)
			if u := f.console(plain); u.Role != a.ID || u.Version != plain.Version {
				t.Fatalf("a refused change landed: %+v", u)
			}
		}},
		{name: "fail/stale-change-moves-nothing", call: func(ctx context.Context) (identity.ConsoleUser, error) {
			old := plain
			old.Version--
			next := old
			next.Role = b.ID
			return f.s.UpdateConsoleUser(ctx, old, next, entry)
		}, wantErr: store.ErrStale, after: counts(3, 0)},
		{name: "ok/clear-role", call: setRole(&plain, ""), want: succeeds[identity.ConsoleUser], after: counts(2, 0)},
		{name: "ok/login-rehash-keeps-count", call: func(ctx context.Context) (identity.ConsoleUser, error) {
			// Writes that do not touch the role (a rehash, a disable) leave the count.
			next := holder
			next.Status = identity.StatusDisabled
			got, err := f.s.UpdateConsoleUser(ctx, holder, next, entry)
			if err == nil {
				holder = got
			}
			return got, err
		}, want: succeeds[identity.ConsoleUser], after: counts(2, 0)},
		{name: "ok/delete-user-leaves-role", call: func(ctx context.Context) (identity.ConsoleUser, error) {
			return holder, f.s.DeleteConsoleUser(ctx, holder, entry)
		}, want: succeeds[identity.ConsoleUser], after: counts(1, 0)},
	})

	// Concurrent user writes: creates in A, moves from A to B and removals at once leave
	// both counts exactly as many users as hold each role.
	var movers []identity.ConsoleUser
	for i := range 6 {
		u, err := create(fmt.Sprintf("mover-%d", i), a.ID)(context.Background())
		must(t, err)
		movers = append(movers, u)
	}
	// A transaction that meets another on the same item may be cancelled as a conflict (in
	// DynamoDB; the stand-in serialises them): such a write lands nowhere, which is fine.
	lost := func(err error) {
		if err != nil && !errors.Is(err, store.ErrStale) && !errors.Is(err, store.ErrConflict) {
			t.Error(err)
		}
	}
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(3)
		go func() {
			defer wg.Done()
			_, err := create(fmt.Sprintf("joiner-%d", i), b.ID)(context.Background())
			lost(err)
		}()
		// Each mover twice at once, from the same read: at most one of the two lands.
		for _, role := range []string{b.ID, ""} {
			go func() {
				defer wg.Done()
				next := movers[i]
				next.Role = role
				_, err := f.s.UpdateConsoleUser(context.Background(), movers[i], next, entry)
				lost(err)
			}()
		}
	}
	wg.Wait()
	want := map[string]int{}
	all, err := store.All(context.Background(), func(ctx context.Context, pr store.PageRequest) (store.Page[identity.ConsoleUser], error) {
		return f.s.ListConsoleUsers(ctx, d.ID, pr)
	})
	must(t, err)
	for _, u := range all {
		want[u.Role]++
	}
	if want[a.ID]+want[b.ID]+want[""] != len(all) || want[a.ID] < 1 {
		t.Fatalf("holders after the race: %v", want)
	}
	counts(want[a.ID], want[b.ID])(t)

	// A role being deleted while users are given it: either the delete lands and every
	// assignment is refused, or an assignment lands first and the delete is refused.
	for round := range 5 {
		r := f.role(d.ID, fmt.Sprintf("race-%d", round))
		var deleteErr error
		joined := make(chan struct{}, 4)
		wg.Add(5)
		go func() {
			defer wg.Done()
			deleteErr = f.s.DeleteRole(context.Background(), r, roleLog)
		}()
		for i := range 4 {
			go func() {
				defer wg.Done()
				if _, err := create(fmt.Sprintf("race-%d-%d", round, i), r.ID)(context.Background()); err == nil {
					joined <- struct{}{}
				}
			}()
		}
		wg.Wait()
		close(joined)
		n := len(joined)
		after, err := f.s.GetRole(context.Background(), d.ID, r.ID)
		switch {
		case deleteErr == nil && (n > 0 || !errors.Is(err, store.ErrNotFound)):
			t.Fatalf("round %d: the role was deleted with %d users given it (%v)", round, n, err)
		case deleteErr != nil && (err != nil || after.Members != n):
			t.Fatalf("round %d: %d given, role %+v, %v; delete %v", round, n, after, err, deleteErr)
		}
	}
}
