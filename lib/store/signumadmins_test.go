package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// signumAdmin registers an Admin who holds the Signum Administrator role, as the operator's
// deployment link makes one.
func (f *fixture) signumAdmin(dep string) identity.PortalUser {
	f.t.Helper()
	_, hash := identity.NewInviteToken()
	must(f.t, f.s.CreateInvite(context.Background(), hash, identity.Invite{DeploymentID: dep, Role: identity.RoleAdmin, SignumAdmin: true,
		ExpiresAt: time.Now().Add(time.Hour), CreatedBy: "test"}))
	id := identity.NewPortalUserID()
	u, err := f.s.Register(context.Background(), hash, identity.PortalUser{ID: id, DeploymentID: dep, Email: id + "@example.com",
		Role: identity.RoleAdmin, Status: identity.StatusActive, SignumAdmin: true})
	must(f.t, err)
	return u
}

// holders are the ids of a deployment's Signum Administrators, sorted.
func (f *fixture) holders(dep string) []string {
	f.t.Helper()
	us, err := f.s.SignumAdministrators(context.Background(), dep)
	must(f.t, err)
	var out []string
	for _, u := range us {
		out = append(out, u.ID)
	}
	slices.Sort(out)
	return out
}

func sorted(ids ...string) []string { slices.Sort(ids); return ids }

// Pattern 33: the holders of the Signum Administrator role.
func TestSignumAdministrators(t *testing.T) {
	f := newFixture(t)
	d, other, empty := f.deployment(), f.deployment(), f.deployment()
	a, b := f.signumAdmin(d.ID), f.signumAdmin(d.ID)
	f.portalUser(d.ID, identity.RoleAdmin)
	f.portalUser(d.ID, identity.RoleViewer)
	f.consoleUser(d.ID)
	f.signumAdmin(other.ID)

	list := func(dep string) func(context.Context) ([]identity.PortalUser, error) {
		return func(ctx context.Context) ([]identity.PortalUser, error) { return f.s.SignumAdministrators(ctx, dep) }
	}
	are := func(want ...string) func(*testing.T, []identity.PortalUser) {
		return func(t *testing.T, got []identity.PortalUser) {
			var ids []string
			for _, u := range got {
				if !u.SignumAdmin || u.Email == "" {
					t.Fatalf("listed %+v", u)
				}
				ids = append(ids, u.ID)
			}
			if slices.Sort(ids); fmt.Sprint(ids) != fmt.Sprint(sorted(want...)) {
				t.Fatalf("holders %v, want %v", ids, want)
			}
		}
	}
	run(t, f, []contract[[]identity.PortalUser]{
		{name: "ok/the-holders-only", call: list(d.ID), want: are(a.ID, b.ID)},
		{name: "ok/none", call: list(empty.ID), want: are()},
	})
}

// Pattern 34: grant, revoke and move the role, each with its log entry, in one transaction.
func TestChangeSignumAdministrators(t *testing.T) {
	f := newFixture(t)
	d := f.deployment()
	a := f.signumAdmin(d.ID)
	admin := f.portalUser(d.ID, identity.RoleAdmin)
	third := f.portalUser(d.ID, identity.RoleAdmin)
	entry := func(action string) tenant.LogEntry { return tenant.LogEntry{Actor: "operator", Action: action} }
	change := func(grant, revoke func() []identity.PortalUser, keep string, action string) func(context.Context) (struct{}, error) {
		return only(func(ctx context.Context) error {
			return f.s.ChangeSignumAdministrators(ctx, d.ID, grant(), revoke(), keep, entry(action))
		})
	}
	none := func() []identity.PortalUser { return nil }
	fresh := func(us ...identity.PortalUser) func() []identity.PortalUser {
		return func() []identity.PortalUser {
			var out []identity.PortalUser
			for _, u := range us {
				out = append(out, f.portal(u))
			}
			return out
		}
	}
	asRead := func(us ...identity.PortalUser) func() []identity.PortalUser {
		return func() []identity.PortalUser { return us }
	}
	state := func(want []string, lastAction string) func(*testing.T) {
		return func(t *testing.T) {
			if got := f.holders(d.ID); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("holders %v, want %v", got, want)
			}
			if got := f.logActions(d.ID)[0]; got != lastAction {
				t.Fatalf("newest log entry %s, want %s", got, lastAction)
			}
		}
	}
	const granted, revoked, moved = "signumAdministrator.granted", "signumAdministrator.revoked", "signumAdministrator.moved"
	run(t, f, []contract[struct{}]{
		{name: "ok/grant", call: change(fresh(admin), none, "", granted), after: func(t *testing.T) {
			state(sorted(a.ID, admin.ID), granted)(t)
			if u := f.portal(admin); u.Role != identity.RoleAdmin || u.Version != admin.Version+1 || u.TokenGeneration != admin.TokenGeneration {
				t.Fatalf("granted user %+v", u)
			}
		}},
		{name: "fail/grant-stale-after-grant", call: change(asRead(admin), none, "", granted), wantErr: store.ErrStale,
			after: state(sorted(a.ID, admin.ID), granted)},
		{name: "fail/revoke-keeping-a-non-holder", call: change(none, fresh(a), third.ID, revoked), wantErr: identity.ErrLastSignumAdmin,
			after: state(sorted(a.ID, admin.ID), granted)},
		{name: "ok/revoke-keeping-the-other", call: change(none, fresh(a), admin.ID, revoked), after: state([]string{admin.ID}, revoked)},
		{name: "fail/revoke-the-kept-one-after-revoke", call: change(none, fresh(admin), a.ID, revoked), wantErr: identity.ErrLastSignumAdmin,
			after: state([]string{admin.ID}, revoked)},
		{name: "fail/move-with-a-stale-holder", call: change(fresh(third), asRead(f.portal(admin), a), "", moved), wantErr: store.ErrStale,
			after: state([]string{admin.ID}, revoked)},
		{name: "ok/move", call: change(fresh(third), fresh(admin), "", moved), after: state([]string{third.ID}, moved)},
	})
}

// Pattern 34 in an outage: nothing of a move is written.
func TestChangeSignumAdministratorsOutage(t *testing.T) {
	tg := devstack.NewEmbedded(t)
	f := &fixture{t: t, s: store.New(tg.Clients.DynamoDB, tg.Table, randomKey()), tg: tg}
	d := f.deployment()
	a, b := f.signumAdmin(d.ID), f.portalUser(d.ID, identity.RoleAdmin)
	tg.Stack.DynamoDB.Stop()
	err := f.s.ChangeSignumAdministrators(context.Background(), d.ID, []identity.PortalUser{b}, []identity.PortalUser{a}, "",
		tenant.LogEntry{Actor: "operator", Action: "signumAdministrator.moved"})
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("move during outage: %v", err)
	}
	if _, err := f.s.SignumAdministrators(context.Background(), d.ID); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("list during outage: %v", err)
	}
	must(t, tg.Stack.DynamoDB.Start())
	if got := f.holders(d.ID); fmt.Sprint(got) != fmt.Sprint([]string{a.ID}) {
		t.Fatalf("holders after a failed move %v, want only %s", got, a.ID)
	}
	if got := f.logActions(d.ID)[0]; got == "signumAdministrator.moved" {
		t.Fatal("the failed move was logged")
	}
}
