package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/store"
)

// Pattern 10: create a deployment link.
func TestCreateInvite(t *testing.T) {
	f := newFixture(t)
	d := f.deployment()
	_, hash := identity.NewInviteToken()
	expires := time.Now().Add(time.Hour).Truncate(time.Second)
	inv := identity.Invite{DeploymentID: d.ID, Email: "new@example.com", Role: identity.RoleUser, ExpiresAt: expires, CreatedBy: "pu_admin"}
	create := func(hash string, inv identity.Invite) func(context.Context) (struct{}, error) {
		return only(func(ctx context.Context) error { return f.s.CreateInvite(ctx, hash, inv) })
	}
	run(t, f, []contract[struct{}]{
		{name: "ok", call: create(hash, inv), after: func(t *testing.T) {
			got, err := f.s.GetInvite(context.Background(), hash)
			if err != nil || got.DeploymentID != d.ID || got.Email != inv.Email || got.Role != inv.Role || !got.ExpiresAt.Equal(expires) || got.CreatedBy != "pu_admin" {
				t.Fatalf("stored link %+v, %v", got, err)
			}
			f.logged(t, d.ID, "deploymentLink.created", "deployment.provisioned")
		}},
		{name: "fail/token-taken-after-ok", call: create(hash, identity.Invite{DeploymentID: d.ID, Role: identity.RoleAdmin, ExpiresAt: expires}),
			wantErr: store.ErrConflict, after: func(t *testing.T) {
				if got, _ := f.s.GetInvite(context.Background(), hash); got.Role != identity.RoleUser {
					t.Fatalf("the taken link was overwritten: %+v", got)
				}
				f.logged(t, d.ID, "deploymentLink.created", "deployment.provisioned")
			}},
	})
}

// Pattern 11: read a deployment link.
func TestGetInvite(t *testing.T) {
	f := newFixture(t)
	d := f.deployment()
	expires := time.Now().Add(time.Hour).Truncate(time.Second)
	usable := f.invite(d.ID, identity.RoleViewer, expires)
	expired := f.invite(d.ID, identity.RoleUser, time.Now().Add(-time.Minute))
	used := f.invite(d.ID, identity.RoleUser, expires)
	_, err := f.s.Register(context.Background(), used, identity.PortalUser{ID: identity.NewPortalUserID(), DeploymentID: d.ID,
		Email: "used@example.com", Role: identity.RoleUser, Status: identity.StatusActive})
	must(t, err)
	// At the very instant of its expiry, a link is expired.
	atExpiry := store.New(f.tg.Clients.DynamoDB, f.tg.Table, randomKey(), store.WithClock(func() time.Time { return expires }))

	get := func(s *store.Store, hash string) func(context.Context) (identity.Invite, error) {
		return func(ctx context.Context) (identity.Invite, error) { return s.GetInvite(ctx, hash) }
	}
	const detail = "This deployment link is not valid"
	run(t, f, []contract[identity.Invite]{
		{name: "ok", call: get(f.s, usable), want: func(t *testing.T, got identity.Invite) {
			if got.DeploymentID != d.ID || got.Role != identity.RoleViewer || !got.ExpiresAt.Equal(expires) || !got.UsedAt.IsZero() {
				t.Fatalf("link %+v", got)
			}
		}},
		{name: "fail/unknown", call: get(f.s, identity.InviteHash("nobody's token")), wantErr: store.ErrInviteUnusable, wantDetail: detail},
		{name: "fail/expired", call: get(f.s, expired), wantErr: store.ErrInviteUnusable, wantDetail: detail},
		{name: "fail/used", call: get(f.s, used), wantErr: store.ErrInviteUnusable, wantDetail: detail},
		{name: "fail/at-expiry", call: get(atExpiry, usable), wantErr: fault.ErrGone, wantDetail: detail},
	})
}

// Pattern 12: register through a deployment link.
func TestRegister(t *testing.T) {
	f := newFixture(t)
	d := f.deployment()
	expires := time.Now().Add(time.Hour)
	adminLink := f.invite(d.ID, identity.RoleAdmin, expires)
	userLink := f.invite(d.ID, identity.RoleUser, expires)
	expired := f.invite(d.ID, identity.RoleUser, time.Now().Add(-time.Minute))
	taken := f.portalUser(d.ID, identity.RoleViewer)
	user := func(email string, role identity.PortalRole) identity.PortalUser {
		return identity.PortalUser{ID: identity.NewPortalUserID(), DeploymentID: d.ID, Email: email, Name: "New", Role: role, Status: identity.StatusActive}
	}
	register := func(hash string, u identity.PortalUser) func(context.Context) (identity.PortalUser, error) {
		return func(ctx context.Context) (identity.PortalUser, error) { return f.s.Register(ctx, hash, u) }
	}
	absent := func(u identity.PortalUser) func(*testing.T) {
		return func(t *testing.T) {
			if _, err := f.s.GetPortalUser(context.Background(), d.ID, u.ID); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("a refused registration wrote the user: %v", err)
			}
		}
	}
	admin, late := user("admin@example.com", identity.RoleAdmin), user("late@example.com", identity.RoleUser)
	clash, clashUpper := user(taken.Email, identity.RoleUser), user(strings.ToUpper(taken.Email), identity.RoleUser)
	run(t, f, []contract[identity.PortalUser]{
		{name: "ok/admin", call: register(adminLink, admin), want: func(t *testing.T, got identity.PortalUser) {
			if got.ID != admin.ID || got.Version != 1 || got.CreatedAt.IsZero() {
				t.Fatalf("registered %+v", got)
			}
		}, after: func(t *testing.T) {
			if got, err := f.s.PortalUserByEmail(context.Background(), "admin@example.com"); err != nil || got.ID != admin.ID || got.Role != identity.RoleAdmin {
				t.Fatalf("by e-mail: %+v %v", got, err)
			}
			if _, err := f.s.GetInvite(context.Background(), adminLink); !errors.Is(err, store.ErrInviteUnusable) {
				t.Fatalf("the link is still usable: %v", err)
			}
			if got := f.logActions(d.ID); got[0] != "portalUser.registered" {
				t.Fatalf("log %v", got)
			}
		}},
		{name: "fail/link-used-after-ok-admin", call: register(adminLink, late), wantErr: store.ErrInviteUnusable, after: absent(late)},
		{name: "fail/link-expired", call: register(expired, late), wantErr: store.ErrInviteUnusable, after: absent(late)},
		{name: "fail/link-unknown", call: register(identity.InviteHash("no such token"), late), wantErr: store.ErrInviteUnusable, after: absent(late)},
		{name: "fail/e-mail-taken", call: register(userLink, clash), wantErr: store.ErrConflict, wantDetail: "is already registered",
			after: func(t *testing.T) {
				absent(clash)(t)
				if _, err := f.s.GetInvite(context.Background(), userLink); err != nil {
					t.Fatalf("a refused registration used the link: %v", err)
				}
			}},
		{name: "fail/e-mail-taken-any-case", call: register(userLink, clashUpper), wantErr: store.ErrConflict, after: absent(clashUpper)},
		{name: "ok/user", call: register(userLink, late), want: func(t *testing.T, got identity.PortalUser) {
			if got.Role != identity.RoleUser || got.Email != "late@example.com" {
				t.Fatalf("registered %+v", got)
			}
		}},
	})
}
