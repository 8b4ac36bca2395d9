package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/domains"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

var ssoLog = tenant.LogEntry{Actor: "test", Action: "domain.changed"}

// oidcDomain stores an OIDC domain of dep with user limit limit (0: none).
func (f *fixture) oidcDomain(dep, alias string, limit int) domains.Domain {
	f.t.Helper()
	d, err := f.s.CreateDomain(context.Background(), domains.Domain{ID: domains.NewID(), DeploymentID: dep, Kind: domains.OIDC, Name: "IdP " + alias,
		Alias: alias, UserLimit: limit, JIT: true, OIDC: &domains.OIDCSettings{Issuer: "https://idp.example", ClientID: "signum"}}, ssoLog)
	must(f.t, err)
	return d
}

func (f *fixture) domainUsers(dep, id string) int {
	f.t.Helper()
	d, err := f.s.GetDomain(context.Background(), dep, id)
	must(f.t, err)
	return d.Users
}

// Pattern 38: logins in progress at an identity provider are kept by their state and taken
// once.
func TestSSOLogins(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	f := newFixture(t, store.WithClock(func() time.Time { return clock() }))
	d, other := f.deployment(), f.deployment()
	put := func(key string, ttl time.Duration) store.SSOLogin {
		l := store.SSOLogin{Key: key, DeploymentID: d.ID, DomainID: "dom_x", Pending: []byte(`{"state":"` + key + `"}`), Binding: "b", Test: true, Expires: now.Add(ttl)}
		must(t, f.s.PutSSOLogin(context.Background(), l))
		return l
	}
	put("taken-once", time.Minute)
	put("expired", time.Second)
	put("raced", time.Minute)
	run(t, f, []contract[store.SSOLogin]{
		{name: "ok/take", call: func(ctx context.Context) (store.SSOLogin, error) { return f.s.TakeSSOLogin(ctx, d.ID, "taken-once") },
			want: func(t *testing.T, got store.SSOLogin) {
				if got.DomainID != "dom_x" || string(got.Pending) != `{"state":"taken-once"}` || got.Binding != "b" || !got.Test || got.Expires.Unix() != now.Add(time.Minute).Unix() {
					t.Fatalf("took %+v", got)
				}
			}},
		{name: "fail/taken-twice-after-take", call: func(ctx context.Context) (store.SSOLogin, error) { return f.s.TakeSSOLogin(ctx, d.ID, "taken-once") },
			wantErr: store.ErrNotFound, wantDetail: "start the login again"},
		{name: "fail/another-deployment", call: func(ctx context.Context) (store.SSOLogin, error) { return f.s.TakeSSOLogin(ctx, other.ID, "raced") },
			wantErr: store.ErrNotFound},
		{name: "fail/unknown", call: func(ctx context.Context) (store.SSOLogin, error) { return f.s.TakeSSOLogin(ctx, d.ID, "never-put") },
			wantErr: store.ErrNotFound},
		{name: "fail/expired", call: func(ctx context.Context) (store.SSOLogin, error) {
			clock = func() time.Time { return now.Add(2 * time.Second) }
			defer func() { clock = func() time.Time { return now } }()
			return f.s.TakeSSOLogin(ctx, d.ID, "expired")
		}, wantErr: store.ErrNotFound},
		{name: "fail/same-key-twice", call: func(ctx context.Context) (store.SSOLogin, error) {
			return store.SSOLogin{}, f.s.PutSSOLogin(ctx, store.SSOLogin{Key: "raced", DeploymentID: d.ID, Expires: now.Add(time.Minute)})
		}, wantErr: store.ErrConflict},
	})

	// Of callbacks racing with one state, exactly one gets the login.
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.s.TakeSSOLogin(context.Background(), d.ID, "raced"); err == nil {
				mu.Lock()
				won++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if won != 1 {
		t.Fatalf("%d callbacks took one login", won)
	}
}

// Pattern 39: a SAML assertion is accepted once per domain.
func TestSAMLAssertions(t *testing.T) {
	f := newFixture(t)
	d := f.deployment()
	until := time.Now().Add(5 * time.Minute)
	a, b := f.s.SAMLAssertions(d.ID, "dom_a"), f.s.SAMLAssertions(d.ID, "dom_b")
	seen := func(r store.SAMLAssertions, id string) func(context.Context) (bool, error) {
		return func(ctx context.Context) (bool, error) { return r.Seen(ctx, id, until) }
	}
	is := func(want bool) func(*testing.T, bool) {
		return func(t *testing.T, got bool) {
			if got != want {
				t.Fatalf("seen %v, want %v", got, want)
			}
		}
	}
	run(t, f, []contract[bool]{
		{name: "ok/first-use", call: seen(a, "_assertion-1"), want: is(false)},
		{name: "ok/replay-after-first-use", call: seen(a, "_assertion-1"), want: is(true)},
		{name: "ok/another-domain", call: seen(b, "_assertion-1"), want: is(false)},
		{name: "ok/another-assertion", call: seen(a, "_assertion-2"), want: is(false)},
	})
	var wg sync.WaitGroup
	var mu sync.Mutex
	fresh := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if s, err := a.Seen(context.Background(), "_raced", until); err == nil && !s {
				mu.Lock()
				fresh++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if fresh != 1 {
		t.Fatalf("%d logins accepted one assertion", fresh)
	}
}

// Pattern 16 for the users of an OIDC or SAML domain: the domain counts them in their own
// writes, up to its limit, and a domain that is gone takes nobody.
func TestDomainUsers(t *testing.T) {
	f := newFixture(t)
	d := f.deployment()
	dom := f.oidcDomain(d.ID, "acme", 2)
	free := f.oidcDomain(d.ID, "free", 0)
	user := func(name, domain string) identity.ConsoleUser {
		u := newConsoleUser(d.ID, name)
		u.DomainID, u.RoleSource, u.Roles = domain, identity.RoleFromGroups, []identity.ConsoleRole{identity.ConsoleViewer}
		return u
	}
	first, err := f.s.CreateConsoleUser(context.Background(), user("alice@acme", dom.ID), roleLog)
	must(t, err)
	run(t, f, []contract[identity.ConsoleUser]{
		{name: "ok/stored-with-domain", call: func(ctx context.Context) (identity.ConsoleUser, error) {
			return f.s.GetConsoleUser(ctx, d.ID, first.ID)
		},
			want: func(t *testing.T, got identity.ConsoleUser) {
				if got.DomainID != dom.ID || got.RoleSource != identity.RoleFromGroups {
					t.Fatalf("read %+v", got)
				}
				if n := f.domainUsers(d.ID, dom.ID); n != 1 {
					t.Fatalf("the domain counts %d users", n)
				}
			}},
		{name: "ok/second-user", call: func(ctx context.Context) (identity.ConsoleUser, error) {
			return f.s.CreateConsoleUser(ctx, user("bob@acme", dom.ID), roleLog)
		}, after: func(t *testing.T) {
			if n := f.domainUsers(d.ID, dom.ID); n != 2 {
				t.Fatalf("the domain counts %d users", n)
			}
		}},
		{name: "fail/over-the-limit", call: func(ctx context.Context) (identity.ConsoleUser, error) {
			return f.s.CreateConsoleUser(ctx, user("carol@acme", dom.ID), roleLog)
		}, wantErr: store.ErrConflict, wantDetail: "holds its limit of 2 users", after: func(t *testing.T) {
			if _, err := f.s.ConsoleUserByUsername(context.Background(), d.ID, "carol@acme"); err == nil {
				t.Fatal("a user over the limit was written")
			}
		}},
		{name: "ok/no-limit", call: func(ctx context.Context) (identity.ConsoleUser, error) {
			return f.s.CreateConsoleUser(ctx, user("carol@free", free.ID), roleLog)
		}, after: func(t *testing.T) {
			if n := f.domainUsers(d.ID, free.ID); n != 1 {
				t.Fatalf("the domain counts %d users", n)
			}
		}},
		{name: "fail/no-such-domain", call: func(ctx context.Context) (identity.ConsoleUser, error) {
			return f.s.CreateConsoleUser(ctx, user("dan@gone", "dom_gone"), roleLog)
		}, wantErr: store.ErrNotFound},
		{name: "ok/delete-leaves-the-domain", call: func(ctx context.Context) (identity.ConsoleUser, error) {
			return identity.ConsoleUser{}, f.s.DeleteConsoleUser(ctx, first, roleLog)
		}, after: func(t *testing.T) {
			if n := f.domainUsers(d.ID, dom.ID); n != 1 {
				t.Fatalf("the domain counts %d users", n)
			}
		}},
		{name: "fail/delete-domain-with-users", call: func(ctx context.Context) (identity.ConsoleUser, error) {
			cur, err := f.s.GetDomain(ctx, d.ID, dom.ID)
			must(t, err)
			return identity.ConsoleUser{}, f.s.DeleteDomain(ctx, cur, ssoLog)
		}, wantErr: store.ErrConflict, wantDetail: "has 1 users"},
	})
}
