package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/policy"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// Pattern 2: get a deployment by id.
func TestGetDeployment(t *testing.T) {
	f := newFixture(t)
	d := f.deployment()
	get := func(id string) func(context.Context) (tenant.Deployment, error) {
		return func(ctx context.Context) (tenant.Deployment, error) { return f.s.GetDeployment(ctx, id) }
	}
	run(t, f, []contract[tenant.Deployment]{
		{name: "ok", call: get(d.ID), want: func(t *testing.T, got tenant.Deployment) {
			if got.ID != d.ID || got.Name != d.Name || got.Version != 1 || got.Status != tenant.StatusActive || !got.CreatedAt.Equal(d.CreatedAt) {
				t.Fatalf("got %+v, want %+v", got, d)
			}
		}},
		{name: "fail/unknown", call: get(tenant.NewID("dep_")), wantErr: store.ErrNotFound, wantDetail: "No deployment has the id"},
		{name: "fail/not-a-deployment-id", call: get("dep_x"), wantErr: store.ErrNotFound},
		{name: "fail/over-long", call: get(strings.Repeat("x", 3000)), wantErr: store.ErrNotFound},
	})
}

// Pattern 3: resolve a host name to its deployment.
func TestDeploymentByDomain(t *testing.T) {
	f := newFixture(t)
	bg := context.Background()
	a := f.provisioned(newDeployment("a", "a.example.com"))
	b := f.provisioned(newDeployment("b", "old-b.example.com"))
	next := b
	next.DomainName = "b.example.com"
	_, err := f.s.UpdateDeployment(bg, b, next, nil)
	must(t, err)
	// c's name is remembered by f.s, then moves to e through another store (another function
	// instance): f.s must not keep answering with c.
	c := f.provisioned(newDeployment("c", "c.example.com"))
	_, err = f.s.DeploymentByDomain(bg, "c.example.com")
	must(t, err)
	other := &fixture{t: t, s: store.New(f.tg.Clients.DynamoDB, f.tg.Table, randomKey()), tg: f.tg}
	moved := c
	moved.DomainName = "c-new.example.com"
	_, err = other.s.UpdateDeployment(bg, c, moved, nil)
	must(t, err)
	e := other.provisioned(newDeployment("e", "c.example.com"))

	resolve := func(domain string) func(context.Context) (tenant.Deployment, error) {
		return func(ctx context.Context) (tenant.Deployment, error) { return f.s.DeploymentByDomain(ctx, domain) }
	}
	is := func(want tenant.Deployment) func(*testing.T, tenant.Deployment) {
		return func(t *testing.T, got tenant.Deployment) {
			if got.ID != want.ID {
				t.Fatalf("resolved to %s (%s), want %s (%s)", got.ID, got.Name, want.ID, want.Name)
			}
		}
	}
	run(t, f, []contract[tenant.Deployment]{
		{name: "ok", call: resolve("a.example.com"), want: is(a)},
		{name: "ok/any-case", call: resolve("A.Example.COM"), want: is(a)},
		{name: "ok/moved-to", call: resolve("b.example.com"), want: is(b)},
		{name: "fail/moved-away", call: resolve("old-b.example.com"), wantErr: store.ErrNotFound},
		{name: "fail/unknown", call: resolve("nobody.example.com"), wantErr: store.ErrNotFound, wantDetail: "No deployment answers on"},
		{name: "ok/remembered-name-moved", call: resolve("c.example.com"), want: is(e)},
		{name: "ok/new-name-of-remembered", call: resolve("c-new.example.com"), want: is(c)},
	})
}

// Pattern 6: append to the system log.
func TestAppendLog(t *testing.T) {
	f := newFixture(t)
	d := f.deployment()
	// Newest first: entries an hour ahead come before the provisioning's, and two of one
	// instant in the order of their ids.
	at := time.Now().Add(time.Hour)
	appendLog := func(e tenant.LogEntry) func(context.Context) (struct{}, error) {
		return only(func(ctx context.Context) error { return f.s.AppendLog(ctx, d.ID, e) })
	}
	run(t, f, []contract[struct{}]{
		{name: "ok", call: appendLog(tenant.LogEntry{ID: "log_1", At: at, Actor: "t", Action: "first"}),
			after: func(t *testing.T) { f.logged(t, d.ID, "first", "deployment.provisioned") }},
		{name: "fail/entry-exists-after-ok", call: appendLog(tenant.LogEntry{ID: "log_1", At: at, Actor: "t", Action: "again"}),
			wantErr: store.ErrConflict, after: func(t *testing.T) { f.logged(t, d.ID, "first", "deployment.provisioned") }},
		{name: "ok/same-instant-other-entry", call: appendLog(tenant.LogEntry{ID: "log_2", At: at, Actor: "t", Action: "second"}),
			after: func(t *testing.T) { f.logged(t, d.ID, "second", "first", "deployment.provisioned") }},
		{name: "ok/generated-id-and-time", call: appendLog(tenant.LogEntry{Actor: "t", Action: "now"}),
			after: func(t *testing.T) { f.logged(t, d.ID, "second", "first", "now", "deployment.provisioned") }},
	})
}

// Pattern 8: health.
func TestPing(t *testing.T) {
	f := newFixture(t)
	run(t, f, []contract[error]{
		{name: "ok", call: func(ctx context.Context) (error, error) { return nil, f.s.Ping(ctx) }, want: succeeds[error]},
		// A table that is not there is the service's fault, not a passing outage: no 503.
		{name: "fail/no-table", call: func(ctx context.Context) (error, error) {
			return store.Ping(ctx, f.tg.Clients.DynamoDB, f.tg.Table+"-missing"), nil
		}, want: func(t *testing.T, err error) {
			if err == nil || errors.Is(err, store.ErrUnavailable) {
				t.Fatalf("ping of a missing table: %v", err)
			}
		}},
	})
}

// Pattern 9: the default records a deployment is provisioned with.
func TestProvisionDefaults(t *testing.T) {
	f := newFixture(t)
	d := newDeployment("acme", "")
	def := newPolicy()
	_, hash := identity.NewInviteToken()
	_, _, err := f.s.Provision(context.Background(), store.Provisioning{
		Deployment: d, Log: tenant.LogEntry{Actor: "operator", Action: "deployment.provisioned"},
		LocalDomain: identity.DefaultLocalDomain(""), DefaultPolicy: &def,
		FirstInvite:     &identity.Invite{DeploymentID: d.ID, Role: identity.RoleAdmin, SignumAdmin: true, ExpiresAt: time.Now().Add(time.Hour), CreatedBy: "operator"},
		FirstInviteHash: hash,
	})
	must(t, err)
	run(t, f, []contract[any]{
		{name: "ok/local-domain", call: func(ctx context.Context) (any, error) { return f.s.GetLocalDomain(ctx, d.ID) }, want: func(t *testing.T, got any) {
			ld := got.(identity.LocalDomain)
			if want := identity.DefaultLocalDomain(d.ID); ld.Version != 1 || ld.DeploymentID != d.ID || ld.Lockout != want.Lockout || ld.Password != want.Password {
				t.Fatalf("local domain %+v", ld)
			}
		}},
		{name: "ok/default-policy", call: func(ctx context.Context) (any, error) { return f.s.GetPolicy(ctx, d.ID, def.ID) }, want: func(t *testing.T, got any) {
			if p := got.(policy.Policy); p.Version != 1 || p.Name != def.Name || p.Action != policy.Allow {
				t.Fatalf("default policy %+v", p)
			}
		}},
		{name: "ok/first-admin-link", call: func(ctx context.Context) (any, error) { return f.s.GetInvite(ctx, hash) }, want: func(t *testing.T, got any) {
			if inv := got.(identity.Invite); inv.DeploymentID != d.ID || inv.Role != identity.RoleAdmin || !inv.SignumAdmin {
				t.Fatalf("first link %+v", inv)
			}
		}},
		{name: "ok/log", call: func(ctx context.Context) (any, error) { return nil, nil },
			after: func(t *testing.T) { f.logged(t, d.ID, "deployment.provisioned") }},
		// The Admin count starts at zero: with the first Admin registered it is one, so that
		// Admin cannot stop being one.
		{name: "ok/admin-count-starts-at-zero", call: func(ctx context.Context) (any, error) {
			u := identity.PortalUser{ID: identity.NewPortalUserID(), DeploymentID: d.ID, Email: "first@example.com", Role: identity.RoleAdmin, Status: identity.StatusActive}
			return f.s.Register(ctx, hash, u)
		}, after: func(t *testing.T) {
			admin, err := f.s.PortalUserByEmail(context.Background(), "first@example.com")
			must(t, err)
			demoted := admin
			demoted.Role = identity.RoleUser
			if _, err := f.s.UpdatePortalUser(context.Background(), admin, demoted, tenant.LogEntry{Actor: "t", Action: "x"}); !errors.Is(err, store.ErrConflict) {
				t.Fatalf("demoting the only Admin: %v", err)
			}
		}},
	})
}
