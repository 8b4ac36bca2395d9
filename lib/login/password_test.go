package login_test

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/login"
	"github.com/opensignum/signum/lib/password"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
	"github.com/opensignum/signum/lib/token"
)

const pw = "Correct-Horse-9-Battery"

// from is the address the tests' logins come from.
var from = netip.MustParseAddr("192.0.2.1")

// old are argon2id parameters other than password.DefaultParams: what a raise of the cost
// leaves in stored hashes.
var old = password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// issuer issues tokens that are the subject's id, with the claims as given.
type issuer struct{}

func (issuer) Issue(_ context.Context, c token.Claims) (string, token.Claims, error) {
	return "token-" + c.Subject, c, nil
}

// fixture is a provisioned deployment on the embedded stand-ins, with one portal user and one
// console user whose passwords were hashed with old.
type fixture struct {
	st         *store.Store
	dep        string
	portal     identity.PortalUser
	console    identity.ConsoleUser
	oldHash    string
	passwordAt time.Time
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	ctx := context.Background()
	tg := devstack.NewEmbedded(t)
	st := store.New(tg.Clients.DynamoDB, tg.Table, store.StaticKey(make([]byte, 32)))
	d, _, err := st.Provision(ctx, store.Provisioning{
		Deployment:  tenant.Deployment{ID: tenant.NewID("dep_"), Name: "acme", Status: tenant.StatusActive, Plan: "standard", SoftwareVersion: "1.0.0"},
		Log:         tenant.LogEntry{Actor: "test", Action: "deployment.provisioned"},
		LocalDomain: identity.DefaultLocalDomain(""),
	})
	if err != nil {
		t.Fatal(err)
	}
	h, err := password.Hash(pw, old)
	if err != nil {
		t.Fatal(err)
	}
	f := fixture{st: st, dep: d.ID, oldHash: h, passwordAt: time.Now().Add(-time.Hour).UTC()}
	creds := identity.Credentials{PasswordHash: h, PasswordSetAt: f.passwordAt}
	_, hash := identity.NewInviteToken()
	if err := st.CreateInvite(ctx, hash, identity.Invite{DeploymentID: d.ID, Role: identity.RoleUser, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if f.portal, err = st.Register(ctx, hash, identity.PortalUser{ID: identity.NewPortalUserID(), DeploymentID: d.ID, Email: "ada@example.com",
		Role: identity.RoleUser, Status: identity.StatusActive, Credentials: creds}); err != nil {
		t.Fatal(err)
	}
	if f.console, err = st.CreateConsoleUser(ctx, identity.ConsoleUser{ID: identity.NewConsoleUserID(), DeploymentID: d.ID, Username: "carol",
		Roles: []identity.ConsoleRole{identity.Signer}, Status: identity.StatusActive, Credentials: creds},
		tenant.LogEntry{Actor: "test", Action: "consoleUser.created"}); err != nil {
		t.Fatal(err)
	}
	return f
}

// system is one user system of a fixture, as the tests drive it.
type system struct {
	name string
	// login logs the fixture's user in with password p through stores st.
	login func(st any, p string) (token.Claims, error)
	// user reads the fixture's user's credentials and version.
	user func(t *testing.T) (identity.Credentials, int64)
	// action is the system log action of a change to the user.
	action string
}

func (f fixture) systems() []system {
	ctx := context.Background()
	return []system{{
		name: "portal",
		login: func(st any, p string) (token.Claims, error) {
			_, c, err := login.Password(ctx, login.Portal(st.(login.PortalStore), login.Limits{}), issuer{}, time.Now(), "Ada@Example.com", p, from)
			return c, err
		},
		user: func(t *testing.T) (identity.Credentials, int64) {
			u, err := f.st.GetPortalUser(ctx, f.dep, f.portal.ID)
			if err != nil {
				t.Fatal(err)
			}
			return u.Credentials, u.Version
		},
		action: "portalUser.updated",
	}, {
		name: "console",
		login: func(st any, p string) (token.Claims, error) {
			_, c, err := login.Password(ctx, login.Console(st.(login.ConsoleStore), f.dep, login.Limits{}), issuer{}, time.Now(), "Carol", p, from)
			return c, err
		},
		user: func(t *testing.T) (identity.Credentials, int64) {
			u, err := f.st.GetConsoleUser(ctx, f.dep, f.console.ID)
			if err != nil {
				t.Fatal(err)
			}
			return u.Credentials, u.Version
		},
		action: "consoleUser.updated",
	}}
}

// A successful login replaces a hash made with other parameters (password.NeedsRehash) with
// one made with the current ones, once; a failed one does not.
func TestPasswordRehashes(t *testing.T) {
	f := newFixture(t)
	for _, sys := range f.systems() {
		t.Run(sys.name, func(t *testing.T) {
			// fail: a wrong password changes nothing but the failure count.
			if _, err := sys.login(f.st, "Wrong-Horse-9-Battery"); !errors.Is(err, login.ErrFailed) {
				t.Fatalf("wrong password: %v", err)
			}
			before, _ := sys.user(t)
			if before.PasswordHash != f.oldHash || before.Failures != 1 {
				t.Fatalf("after a wrong password: %+v", before)
			}
			// ok: the right one logs in, and the hash is renewed (and the failure cleared).
			c, err := sys.login(f.st, pw)
			if err != nil || c.Subject == "" {
				t.Fatalf("login: %+v %v", c, err)
			}
			after, version := sys.user(t)
			if after.PasswordHash == f.oldHash || password.NeedsRehash(after.PasswordHash, password.DefaultParams) {
				t.Fatalf("hash not renewed: %s", after.PasswordHash)
			}
			if ok, err := password.Verify(after.PasswordHash, pw); !ok || err != nil {
				t.Fatalf("the renewed hash does not verify the password: %v", err)
			}
			if !after.PasswordSetAt.Equal(f.passwordAt) || after.Failures != 0 {
				t.Errorf("renewing the hash changed the password's age or kept the failure: %+v", after)
			}
			log, err := f.st.ListLog(context.Background(), f.dep, store.PageRequest{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(log.Items, func(e tenant.LogEntry) bool {
				return e.Action == sys.action && e.Actor == sys.name+":"+c.Subject && strings.Contains(e.Detail, "password hash renewed")
			}) {
				t.Errorf("system log lacks the rehash: %+v", log.Items)
			}
			// ok: the next login finds a current hash and keeps it: it writes only its
			// attempt and the clearing of it.
			if _, err := sys.login(f.st, pw); err != nil {
				t.Fatal(err)
			}
			if again, v := sys.user(t); again.PasswordHash != after.PasswordHash || again.Failures != 0 || v != version+2 {
				t.Errorf("a current hash was written again, or the attempt not cleared (version %d → %d, %+v)", version, v, again)
			}
		})
	}
}

// racing changes the user, as an admin would, between the login's read and its rehash.
type racing struct{ *store.Store }

func (r racing) UpdatePortalUser(ctx context.Context, cur, next identity.PortalUser, log tenant.LogEntry) (identity.PortalUser, error) {
	changed := cur
	changed.Name = "Changed meanwhile"
	if _, err := r.Store.UpdatePortalUser(ctx, cur, changed, tenant.LogEntry{Actor: "test", Action: "portalUser.updated"}); err != nil {
		return identity.PortalUser{}, err
	}
	return r.Store.UpdatePortalUser(ctx, cur, next, log)
}

func (r racing) UpdateConsoleUser(ctx context.Context, cur, next identity.ConsoleUser, log tenant.LogEntry) (identity.ConsoleUser, error) {
	changed := cur
	changed.Name = "Changed meanwhile"
	if _, err := r.Store.UpdateConsoleUser(ctx, cur, changed, tenant.LogEntry{Actor: "test", Action: "consoleUser.updated"}); err != nil {
		return identity.ConsoleUser{}, err
	}
	return r.Store.UpdateConsoleUser(ctx, cur, next, log)
}

// The rehash is best effort: written only over the user as the login read it, and never
// failing the login.
func TestPasswordRehashLosesToChanges(t *testing.T) {
	f := newFixture(t)
	for _, sys := range f.systems() {
		t.Run(sys.name, func(t *testing.T) {
			if _, err := sys.login(racing{f.st}, pw); err != nil {
				t.Fatalf("a refused rehash failed the login: %v", err)
			}
			if after, _ := sys.user(t); after.PasswordHash != f.oldHash {
				t.Errorf("the rehash overwrote a change made since the login's read")
			}
			// The next login, on a fresh read, renews it.
			if _, err := sys.login(f.st, pw); err != nil {
				t.Fatal(err)
			}
			if after, _ := sys.user(t); password.NeedsRehash(after.PasswordHash, password.DefaultParams) {
				t.Errorf("hash not renewed at the next login")
			}
		})
	}
}

// An expired password logs nobody in, so its hash is not renewed either.
func TestPasswordExpiredIsNotRehashed(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	dom, err := f.st.GetLocalDomain(ctx, f.dep)
	if err != nil {
		t.Fatal(err)
	}
	next := dom
	next.Password.MaxAgeDays = 1
	if _, err := f.st.UpdateLocalDomain(ctx, dom, next, tenant.LogEntry{Actor: "test", Action: "localDomain.updated"}); err != nil {
		t.Fatal(err)
	}
	sys := f.systems()[1]
	// The password was set an hour ago: not expired yet. Set it ten days back.
	u, err := f.st.GetConsoleUser(ctx, f.dep, f.console.ID)
	if err != nil {
		t.Fatal(err)
	}
	aged := u
	aged.PasswordSetAt = time.Now().AddDate(0, 0, -10)
	if _, err := f.st.UpdateConsoleUser(ctx, u, aged, tenant.LogEntry{Actor: "test", Action: "consoleUser.updated"}); err != nil {
		t.Fatal(err)
	}
	if _, err := sys.login(f.st, pw); !errors.Is(err, fault.ErrUnauthenticated) || errors.Is(err, login.ErrFailed) {
		t.Fatalf("expired password: %v", err)
	} else if d, _ := fault.DetailOf(err); !strings.Contains(d, "expired") {
		t.Fatalf("expired password: %v", err)
	}
	if after, _ := sys.user(t); after.PasswordHash != f.oldHash {
		t.Error("an expired password's hash was renewed")
	}
}
