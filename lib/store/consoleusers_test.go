package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/password"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// console reads a console user again.
func (f *fixture) console(u identity.ConsoleUser) identity.ConsoleUser {
	f.t.Helper()
	got, err := f.s.GetConsoleUser(context.Background(), u.DeploymentID, u.ID)
	must(f.t, err)
	return got
}

func newConsoleUser(dep, username string) identity.ConsoleUser {
	return identity.ConsoleUser{ID: identity.NewConsoleUserID(), DeploymentID: dep, Username: username, Name: "Cam",
		Email: "cam@example.com", Roles: []identity.ConsoleRole{identity.ConsoleAdmin, identity.Signer}, Status: identity.StatusActive}
}

// Pattern 16: create, read, list, change and remove console users.
func TestConsoleUsers(t *testing.T) {
	f := newFixture(t)
	d, other := f.deployment(), f.deployment()
	existing := f.consoleUser(d.ID)
	stale := f.consoleUser(d.ID)
	must(t, f.s.ResetFailures(context.Background(), d.ID, false, stale.ID)) // moves its version on
	f.portalUser(d.ID, identity.RoleUser)
	entry := tenant.LogEntry{Actor: "test", Action: "consoleUser.created"}
	alice := newConsoleUser(d.ID, "alice")

	create := func(u identity.ConsoleUser) func(context.Context) (identity.ConsoleUser, error) {
		return func(ctx context.Context) (identity.ConsoleUser, error) { return f.s.CreateConsoleUser(ctx, u, entry) }
	}
	get := func(dep, id string) func(context.Context) (identity.ConsoleUser, error) {
		return func(ctx context.Context) (identity.ConsoleUser, error) { return f.s.GetConsoleUser(ctx, dep, id) }
	}
	update := func(current identity.ConsoleUser, change func(*identity.ConsoleUser)) func(context.Context) (identity.ConsoleUser, error) {
		return func(ctx context.Context) (identity.ConsoleUser, error) {
			next := current
			change(&next)
			return f.s.UpdateConsoleUser(ctx, current, next, tenant.LogEntry{Actor: "test", Action: "consoleUser.updated"})
		}
	}
	absent := func(u identity.ConsoleUser) func(*testing.T) {
		return func(t *testing.T) {
			if _, err := f.s.GetConsoleUser(context.Background(), u.DeploymentID, u.ID); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("user %s: %v", u.ID, err)
			}
		}
	}
	taken := newConsoleUser(d.ID, "ALICE")
	run(t, f, []contract[identity.ConsoleUser]{
		{name: "ok/create", call: create(alice), want: func(t *testing.T, got identity.ConsoleUser) {
			if got.Version != 1 || got.CreatedAt.IsZero() {
				t.Fatalf("created %+v", got)
			}
		}, after: func(t *testing.T) {
			if got := f.console(alice); got.Username != "alice" || len(got.Roles) != 2 || got.Roles[1] != identity.Signer || got.Email != alice.Email {
				t.Fatalf("stored %+v", got)
			}
			if f.logActions(d.ID)[0] != "consoleUser.created" {
				t.Fatal("no log entry")
			}
		}},
		{name: "fail/name-taken-any-case-after-create", call: create(taken), wantErr: store.ErrConflict, wantDetail: "is taken in this deployment",
			after: absent(taken)},
		{name: "ok/same-name-in-other-deployment", call: create(newConsoleUser(other.ID, "alice")), want: func(t *testing.T, got identity.ConsoleUser) {
			if got.DeploymentID != other.ID || got.Username != "alice" {
				t.Fatalf("created %+v", got)
			}
		}},
		{name: "ok/get", call: get(d.ID, existing.ID), want: func(t *testing.T, got identity.ConsoleUser) {
			if got.ID != existing.ID || got.Username != existing.Username || got.DeploymentID != d.ID {
				t.Fatalf("got %+v", got)
			}
		}},
		{name: "fail/get-unknown", call: get(d.ID, "cu_nobody"), wantErr: store.ErrNotFound, wantDetail: "No console user has the id"},
		{name: "fail/get-of-other-deployment", call: get(other.ID, existing.ID), wantErr: store.ErrNotFound},
		{name: "ok/update", call: update(existing, func(u *identity.ConsoleUser) { u.Name = "Renamed" }), want: func(t *testing.T, got identity.ConsoleUser) {
			if got.Version != existing.Version+1 || f.console(existing).Name != "Renamed" {
				t.Fatalf("updated %+v", got)
			}
		}},
		{name: "fail/update-stale", call: update(stale, func(u *identity.ConsoleUser) { u.Name = "Lost" }), wantErr: store.ErrStale,
			wantDetail: "changed or removed by someone else"},
	})

	list := func(dep string) func(context.Context) (store.Page[identity.ConsoleUser], error) {
		return func(ctx context.Context) (store.Page[identity.ConsoleUser], error) {
			return f.s.ListConsoleUsers(ctx, dep, store.PageRequest{})
		}
	}
	run(t, f, []contract[store.Page[identity.ConsoleUser]]{
		{name: "ok/list", call: list(d.ID), want: func(t *testing.T, got store.Page[identity.ConsoleUser]) {
			var names []string
			for _, u := range got.Items {
				names = append(names, u.Username)
			}
			// Console users only (not the portal user), of this deployment only.
			if len(names) != 3 || !strings.Contains(strings.Join(names, " "), "alice") || got.Next != "" {
				t.Fatalf("listed %v", names)
			}
		}},
	})

	remove := func(u func() identity.ConsoleUser) func(context.Context) (struct{}, error) {
		return only(func(ctx context.Context) error {
			return f.s.DeleteConsoleUser(ctx, u(), tenant.LogEntry{Actor: "test", Action: "consoleUser.deleted"})
		})
	}
	run(t, f, []contract[struct{}]{
		{name: "fail/delete-stale", call: remove(func() identity.ConsoleUser { return stale }), wantErr: store.ErrStale,
			after: func(t *testing.T) { f.console(stale) }},
		{name: "ok/delete", call: remove(func() identity.ConsoleUser { return f.console(alice) }), after: func(t *testing.T) {
			absent(alice)(t)
			if _, err := f.s.ConsoleUserByUsername(context.Background(), d.ID, "alice"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("the removed user's name: %v", err)
			}
			// The name is free again.
			if _, err := f.s.CreateConsoleUser(context.Background(), newConsoleUser(d.ID, "alice"), entry); err != nil {
				t.Fatalf("reusing the name: %v", err)
			}
		}},
	})
}

// Pattern 17: console login — the user by name, failures counted.
func TestConsoleLogin(t *testing.T) {
	f := newFixture(t)
	d, other := f.deployment(), f.deployment()
	u := f.consoleUser(d.ID)
	now := time.Now().UTC().Truncate(time.Second)
	lock := password.Lockout{Mode: password.LockoutTemporary, MaxFailures: 2, DurationMin: 5}

	byName := func(dep, name string) func(context.Context) (identity.ConsoleUser, error) {
		return func(ctx context.Context) (identity.ConsoleUser, error) {
			return f.s.ConsoleUserByUsername(ctx, dep, name)
		}
	}
	is := func(t *testing.T, got identity.ConsoleUser) {
		if got.ID != u.ID || got.Username != u.Username {
			t.Fatalf("got %+v, want %s", got, u.ID)
		}
	}
	run(t, f, []contract[identity.ConsoleUser]{
		{name: "ok/by-name", call: byName(d.ID, u.Username), want: is},
		{name: "ok/by-name-any-case", call: byName(d.ID, strings.ToUpper(u.Username)), want: is},
		{name: "fail/unknown-name", call: byName(d.ID, "nobody"), wantErr: store.ErrNotFound},
		{name: "fail/name-of-other-deployment", call: byName(other.ID, u.Username), wantErr: store.ErrNotFound},
	})

	state := func(failures int, failedAt time.Time) func(*testing.T) {
		return func(t *testing.T) {
			if got := f.console(u); got.Failures != failures || !got.FailedAt.Equal(failedAt) {
				t.Fatalf("failures %d, failed at %v; want %d, %v", got.Failures, got.FailedAt, failures, failedAt)
			}
		}
	}
	attempt := only(func(ctx context.Context) error {
		_, _, err := f.s.ReserveLogin(ctx, d.ID, false, u.ID, lock.Reserve(password.State{}, now), now)
		return err
	})
	run(t, f, []contract[struct{}]{
		{name: "ok/attempt-counted", call: attempt, after: state(1, now)},
		{name: "ok/second-attempt-reaches-the-limit", call: attempt, after: state(2, now)},
		{name: "fail/third-attempt-refused", call: attempt, wantErr: identity.ErrNoAttempt, after: state(2, now)},
		{name: "ok/reset", call: only(func(ctx context.Context) error { return f.s.ResetFailures(ctx, d.ID, false, u.ID) }), after: state(0, now)},
		{name: "fail/attempt-on-unknown-user", call: only(func(ctx context.Context) error {
			_, _, err := f.s.ReserveLogin(ctx, d.ID, false, "cu_nobody", lock.Reserve(password.State{}, now), now)
			return err
		}), wantErr: identity.ErrNoAttempt},
	})
}

// Pattern 18: the Local users domain settings.
func TestLocalDomain(t *testing.T) {
	f := newFixture(t)
	d := f.deployment()
	current, err := f.s.GetLocalDomain(context.Background(), d.ID)
	must(t, err)
	stricter := func(ld identity.LocalDomain) identity.LocalDomain {
		ld.Lockout = password.Lockout{Mode: password.LockoutPermanent, MaxFailures: 3}
		return ld
	}
	get := func(dep string) func(context.Context) (identity.LocalDomain, error) {
		return func(ctx context.Context) (identity.LocalDomain, error) { return f.s.GetLocalDomain(ctx, dep) }
	}
	update := func(current identity.LocalDomain) func(context.Context) (identity.LocalDomain, error) {
		return func(ctx context.Context) (identity.LocalDomain, error) {
			return f.s.UpdateLocalDomain(ctx, current, stricter(current), tenant.LogEntry{Actor: "test", Action: "localDomain.updated"})
		}
	}
	run(t, f, []contract[identity.LocalDomain]{
		{name: "ok/get", call: get(d.ID), want: func(t *testing.T, got identity.LocalDomain) {
			if want := identity.DefaultLocalDomain(d.ID); got.Version != 1 || got.Lockout != want.Lockout || got.Password != want.Password || got.DeploymentID != d.ID {
				t.Fatalf("local domain %+v", got)
			}
		}},
		{name: "fail/get-unprovisioned", call: get(tenant.NewID("dep_")), wantErr: store.ErrNotFound, wantDetail: "no Local users domain"},
		{name: "ok/update", call: update(current), want: func(t *testing.T, got identity.LocalDomain) {
			if got.Version != 2 || got.UpdatedAt.IsZero() {
				t.Fatalf("updated %+v", got)
			}
		}, after: func(t *testing.T) {
			if got, _ := f.s.GetLocalDomain(context.Background(), d.ID); got.Lockout.Mode != password.LockoutPermanent || got.Version != 2 {
				t.Fatalf("stored %+v", got)
			}
			f.logged(t, d.ID, "localDomain.updated", "deployment.provisioned")
		}},
		{name: "fail/update-stale-after-update", call: update(current), wantErr: store.ErrStale},
	})
}
