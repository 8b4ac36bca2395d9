package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/password"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// portal reads a portal user again.
func (f *fixture) portal(u identity.PortalUser) identity.PortalUser {
	f.t.Helper()
	got, err := f.s.GetPortalUser(context.Background(), u.DeploymentID, u.ID)
	must(f.t, err)
	return got
}

// Pattern 13: portal login — the user by e-mail, failures counted and locks set.
func TestPortalLogin(t *testing.T) {
	f := newFixture(t)
	d := f.deployment()
	u := f.portalUser(d.ID, identity.RoleUser)
	p := f.portalUser(d.ID, identity.RoleUser)
	now := time.Now().UTC().Truncate(time.Second)
	temporary := password.Lockout{Mode: password.LockoutTemporary, MaxFailures: 3, DurationMin: 15}
	permanent := password.Lockout{Mode: password.LockoutPermanent, MaxFailures: 1}

	byEmail := func(email string) func(context.Context) (identity.PortalUser, error) {
		return func(ctx context.Context) (identity.PortalUser, error) { return f.s.PortalUserByEmail(ctx, email) }
	}
	is := func(want identity.PortalUser) func(*testing.T, identity.PortalUser) {
		return func(t *testing.T, got identity.PortalUser) {
			if got.ID != want.ID || got.DeploymentID != want.DeploymentID || got.Email != want.Email || got.Role != want.Role {
				t.Fatalf("got %+v, want %+v", got, want)
			}
		}
	}
	run(t, f, []contract[identity.PortalUser]{
		{name: "ok/by-e-mail", call: byEmail(u.Email), want: is(u)},
		{name: "ok/by-e-mail-any-case", call: byEmail(strings.ToUpper(u.Email)), want: is(u)},
		{name: "fail/unknown-e-mail", call: byEmail("nobody@example.com"), wantErr: store.ErrNotFound},
		{name: "ok/by-id", call: func(ctx context.Context) (identity.PortalUser, error) { return f.s.GetPortalUser(ctx, d.ID, u.ID) }, want: is(u)},
		{name: "fail/unknown-id", call: func(ctx context.Context) (identity.PortalUser, error) {
			return f.s.GetPortalUser(ctx, d.ID, "pu_nobody")
		},
			wantErr: store.ErrNotFound, wantDetail: "No portal user has the id"},
		{name: "fail/other-deployment", call: func(ctx context.Context) (identity.PortalUser, error) {
			return f.s.GetPortalUser(ctx, tenant.NewID("dep_"), u.ID)
		}, wantErr: fault.ErrNotFound},
	})

	reserve := func(id string, r password.Reservation, at time.Time) func(context.Context) (struct{}, error) {
		return only(func(ctx context.Context) error { _, _, err := f.s.ReserveLogin(ctx, d.ID, true, id, r, at); return err })
	}
	state := func(u identity.PortalUser, failures int, failedAt time.Time, forever bool, version int64) func(*testing.T) {
		return func(t *testing.T) {
			got := f.portal(u)
			if got.Failures != failures || !got.FailedAt.Equal(failedAt) || got.LockedForever != forever || got.Version != version {
				t.Fatalf("failures %d, failed at %v, forever %v, version %d; want %d, %v, %v, %d",
					got.Failures, got.FailedAt, got.LockedForever, got.Version, failures, failedAt, forever, version)
			}
		}
	}
	counting := temporary.Reserve(password.State{}, now)
	later := now.Add(15 * time.Minute)
	run(t, f, []contract[struct{}]{
		{name: "ok/attempt-counted", call: reserve(u.ID, counting, now), after: state(u, 1, now, false, 2)},
		{name: "ok/second-attempt", call: reserve(u.ID, counting, now), after: state(u, 2, now, false, 3)},
		{name: "ok/third-attempt-reaches-the-limit", call: reserve(u.ID, counting, now), after: state(u, 3, now, false, 4)},
		{name: "fail/fourth-attempt-refused", call: reserve(u.ID, counting, now), wantErr: identity.ErrNoAttempt, after: state(u, 3, now, false, 4)},
		{name: "fail/restart-before-the-lock-is-over", call: reserve(u.ID, temporary.Reserve(password.State{Failures: 3, FailedAt: now}, later.Add(-time.Second)), later.Add(-time.Second)),
			wantErr: identity.ErrNoAttempt, after: state(u, 3, now, false, 4)},
		{name: "ok/restart-after-the-lock", call: reserve(u.ID, temporary.Reserve(password.State{Failures: 3, FailedAt: now}, later), later), after: state(u, 1, later, false, 5)},
		{name: "fail/second-restart-refused", call: reserve(u.ID, temporary.Reserve(password.State{Failures: 3, FailedAt: now}, later), later),
			wantErr: identity.ErrNoAttempt, after: state(u, 1, later, false, 5)},
		{name: "ok/reset-after-login", call: only(func(ctx context.Context) error { return f.s.ResetFailures(ctx, d.ID, true, u.ID) }),
			after: state(u, 0, later, false, 6)},
		{name: "ok/permanent-attempt", call: reserve(p.ID, permanent.Reserve(password.State{}, now), now), after: state(p, 1, now, false, 2)},
		{name: "ok/permanent-lock", call: only(func(ctx context.Context) error { return f.s.LockForever(ctx, d.ID, true, p.ID) }), after: state(p, 1, now, true, 3)},
		{name: "fail/attempt-on-permanently-locked", call: reserve(p.ID, password.Reservation{}, now), wantErr: identity.ErrNoAttempt, after: state(p, 1, now, true, 3)},
		{name: "fail/attempt-on-unknown-user", call: reserve("pu_nobody", counting, now), wantErr: identity.ErrNoAttempt},
		{name: "fail/lock-of-unknown-user", call: only(func(ctx context.Context) error { return f.s.LockForever(ctx, d.ID, true, "pu_nobody") }),
			wantErr: store.ErrNotFound},
		{name: "fail/reset-of-unknown-user", call: only(func(ctx context.Context) error { return f.s.ResetFailures(ctx, d.ID, true, "pu_nobody") }),
			wantErr: store.ErrNotFound},
	})
}

// Pattern 14: list a deployment's portal users.
func TestListPortalUsers(t *testing.T) {
	f := newFixture(t)
	d, other := f.deployment(), f.deployment()
	want := map[string]bool{}
	for range 3 {
		want[f.portalUser(d.ID, identity.RoleUser).ID] = true
	}
	f.consoleUser(d.ID)
	f.portalUser(other.ID, identity.RoleUser)
	first, err := f.s.ListPortalUsers(context.Background(), d.ID, store.PageRequest{Limit: 2})
	must(t, err)

	list := func(dep string, pr store.PageRequest) func(context.Context) (store.Page[identity.PortalUser], error) {
		return func(ctx context.Context) (store.Page[identity.PortalUser], error) {
			return f.s.ListPortalUsers(ctx, dep, pr)
		}
	}
	ids := func(want map[string]bool, next bool) func(*testing.T, store.Page[identity.PortalUser]) {
		return func(t *testing.T, got store.Page[identity.PortalUser]) {
			seen := map[string]bool{}
			for _, u := range got.Items {
				if !want[u.ID] || seen[u.ID] {
					t.Fatalf("listed %s, which is not one of %v or listed twice", u.ID, want)
				}
				seen[u.ID] = true
			}
			if len(seen) != len(want) || (got.Next != "") != next {
				t.Fatalf("listed %d of %d users, next %q", len(seen), len(want), got.Next)
			}
		}
	}
	rest := map[string]bool{}
	for id := range want {
		rest[id] = true
	}
	for _, u := range first.Items {
		delete(rest, u.ID)
	}
	run(t, f, []contract[store.Page[identity.PortalUser]]{
		{name: "ok/one-page", call: list(d.ID, store.PageRequest{}), want: ids(want, false)},
		{name: "ok/next-page", call: list(d.ID, store.PageRequest{Limit: 2, Cursor: first.Next}), want: ids(rest, false)},
		{name: "fail/cursor-of-other-deployment", call: list(other.ID, store.PageRequest{Limit: 2, Cursor: first.Next}), wantErr: store.ErrInvalidCursor},
		{name: "fail/limit", call: list(d.ID, store.PageRequest{Limit: store.MaxPageSize + 1}), wantErr: fault.ErrInvalid},
	})
}

// Pattern 15: change or remove a portal user; the last Admin stays.
func TestChangePortalUser(t *testing.T) {
	f := newFixture(t)
	d := f.deployment()
	admin := f.portalUser(d.ID, identity.RoleAdmin)
	user := f.portalUser(d.ID, identity.RoleUser)
	promoted := f.portalUser(d.ID, identity.RoleViewer)
	stale := f.portalUser(d.ID, identity.RoleUser)
	gone := f.portalUser(d.ID, identity.RoleUser)
	must(t, f.s.ResetFailures(context.Background(), d.ID, true, stale.ID)) // moves its version on
	entry := tenant.LogEntry{Actor: "test", Action: "portalUser.updated"}

	update := func(current identity.PortalUser, change func(*identity.PortalUser)) func(context.Context) (identity.PortalUser, error) {
		return func(ctx context.Context) (identity.PortalUser, error) {
			next := current
			change(&next)
			return f.s.UpdatePortalUser(ctx, current, next, entry)
		}
	}
	fresh := func(u identity.PortalUser, change func(*identity.PortalUser)) func(context.Context) (identity.PortalUser, error) {
		return func(ctx context.Context) (identity.PortalUser, error) { return update(f.portal(u), change)(ctx) }
	}
	role := func(r identity.PortalRole) func(*identity.PortalUser) {
		return func(u *identity.PortalUser) { u.Role = r }
	}
	hasRole := func(u identity.PortalUser, r identity.PortalRole) func(*testing.T) {
		return func(t *testing.T) {
			if got := f.portal(u); got.Role != r {
				t.Fatalf("role %s, want %s", got.Role, r)
			}
		}
	}
	const lastAdmin = "last Admin"
	run(t, f, []contract[identity.PortalUser]{
		{name: "ok/rename", call: update(user, func(u *identity.PortalUser) { u.Name = "Renamed" }), want: func(t *testing.T, got identity.PortalUser) {
			if got.Version != user.Version+1 || got.Name != "Renamed" {
				t.Fatalf("updated %+v", got)
			}
			if f.portal(user).Name != "Renamed" || f.logActions(d.ID)[0] != "portalUser.updated" {
				t.Fatal("the change or its log entry is missing")
			}
		}},
		{name: "fail/stale-after-rename", call: update(user, func(u *identity.PortalUser) { u.Name = "Lost" }),
			wantErr: store.ErrStale, wantDetail: "changed or removed by someone else",
			after: func(t *testing.T) {
				if f.portal(user).Name != "Renamed" {
					t.Fatal("a stale write landed")
				}
			}},
		{name: "fail/demote-last-admin", call: fresh(admin, role(identity.RoleUser)), wantErr: store.ErrConflict, wantDetail: lastAdmin,
			after: hasRole(admin, identity.RoleAdmin)},
		{name: "fail/disable-last-admin", call: fresh(admin, func(u *identity.PortalUser) { u.Status = identity.StatusDisabled }),
			wantErr: store.ErrConflict, wantDetail: lastAdmin},
		{name: "ok/promote", call: fresh(promoted, role(identity.RoleAdmin)), after: hasRole(promoted, identity.RoleAdmin)},
		{name: "ok/demote-one-of-two-after-promote", call: fresh(admin, role(identity.RoleUser)), after: hasRole(admin, identity.RoleUser)},
		{name: "fail/demote-the-other-now-last", call: fresh(promoted, role(identity.RoleViewer)), wantErr: store.ErrConflict, wantDetail: lastAdmin},
	})

	remove := func(u func() identity.PortalUser) func(context.Context) (struct{}, error) {
		return only(func(ctx context.Context) error {
			return f.s.DeletePortalUser(ctx, u(), tenant.LogEntry{Actor: "test", Action: "portalUser.deleted"})
		})
	}
	run(t, f, []contract[struct{}]{
		{name: "ok/delete", call: remove(func() identity.PortalUser { return f.portal(gone) }), after: func(t *testing.T) {
			if _, err := f.s.GetPortalUser(context.Background(), d.ID, gone.ID); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("removed user: %v", err)
			}
			if _, err := f.s.PortalUserByEmail(context.Background(), gone.Email); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("removed user's e-mail: %v", err)
			}
			// The e-mail address is free again.
			again := identity.PortalUser{ID: identity.NewPortalUserID(), DeploymentID: d.ID, Email: gone.Email, Role: identity.RoleUser, Status: identity.StatusActive}
			if _, err := f.s.Register(context.Background(), f.invite(d.ID, identity.RoleUser, time.Now().Add(time.Hour)), again); err != nil {
				t.Fatalf("registering the freed e-mail: %v", err)
			}
		}},
		{name: "fail/delete-stale", call: remove(func() identity.PortalUser { return stale }), wantErr: store.ErrStale, after: func(t *testing.T) {
			f.portal(stale)
		}},
		{name: "fail/delete-last-admin", call: remove(func() identity.PortalUser { return f.portal(promoted) }), wantErr: store.ErrConflict, wantDetail: lastAdmin,
			after: func(t *testing.T) { f.portal(promoted) }},
	})
}
