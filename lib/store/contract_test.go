package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/certificates"
	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/policy"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// The contract tests: one per access pattern of ACCESS_PATTERNS.md, in the manner of
// common-fate/ddb's ddbtest. Each test writes its fixtures through the store, then runs a
// table of named cases, each a call and the result or error kind it must give. They run on
// devstack.NewTarget, through the real aws-sdk-go-v2 client: on the in-process DynamoDB
// stand-in, or, with SIGNUM_TEST_TARGET=aws (make test-aws), on a real endpoint.

// contract is one case of a contract test.
type contract[T any] struct {
	name string
	// call is the access. Cases run in order, each on fixtures of its own unless its name
	// says it comes after another ("fail/stale-after-rename").
	call func(ctx context.Context) (T, error)
	// want checks the result of a call that must succeed.
	want func(t *testing.T, got T)
	// wantErr is the error kind (errors.Is) a call must fail with; wantDetail is part of
	// the detail its caller would see (fault.DetailOf).
	wantErr    error
	wantDetail string
	// after checks the table after the call: what a success wrote, what a failure did not.
	after func(t *testing.T)
}

// run runs the cases of a contract test in order. While a case runs, f's helpers report to
// the case's own t.
func run[T any](t *testing.T, f *fixture, cases []contract[T]) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer func(parent *testing.T) { f.t = parent }(f.t)
			f.t = t
			if c.want == nil && c.wantErr == nil && c.after == nil {
				t.Fatal("the case checks nothing")
			}
			got, err := c.call(context.Background())
			switch {
			case c.wantErr == nil && err != nil:
				t.Fatalf("error: %v", err)
			case c.wantErr != nil && !errors.Is(err, c.wantErr):
				t.Fatalf("error %v, want %v", err, c.wantErr)
			}
			if c.wantDetail != "" {
				if d, _ := fault.DetailOf(err); !strings.Contains(d, c.wantDetail) {
					t.Fatalf("detail %q, want it to say %q", d, c.wantDetail)
				}
			}
			if c.want != nil && c.wantErr == nil {
				c.want(t, got)
			}
			if c.after != nil {
				c.after(t)
			}
		})
	}
}

// succeeds is the want of a case whose success is all there is to check.
func succeeds[T any](*testing.T, T) {}

// only adapts an access that returns nothing but an error.
func only(call func(ctx context.Context) error) func(context.Context) (struct{}, error) {
	return func(ctx context.Context) (struct{}, error) { return struct{}{}, call(ctx) }
}

// fixture is a fresh table with a store on it, and the writes tests start from.
type fixture struct {
	t  *testing.T
	s  *store.Store
	tg *devstack.Target
}

func newFixture(t *testing.T, opts ...store.Option) *fixture {
	t.Helper()
	tg := devstack.NewTarget(t)
	return &fixture{t: t, s: store.New(tg.Clients.DynamoDB, tg.Table, randomKey(), opts...), tg: tg}
}

// must fails the test when a fixture cannot be written.
func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
}

// deployment provisions a deployment with its default records (no domain name).
func (f *fixture) deployment() tenant.Deployment {
	f.t.Helper()
	d := newDeployment("acme", "")
	d.IPAllowlist = nil
	return f.provisioned(d)
}

// provisioned provisions d with its default records.
func (f *fixture) provisioned(d tenant.Deployment) tenant.Deployment {
	f.t.Helper()
	got, created, err := f.s.Provision(context.Background(), store.Provisioning{Deployment: d, LocalDomain: identity.DefaultLocalDomain(d.ID),
		Log: tenant.LogEntry{Actor: "test", Action: "deployment.provisioned"}})
	must(f.t, err)
	if !created {
		f.t.Fatalf("fixture: deployment %s not created", d.ID)
	}
	return got
}

// invite stores a deployment link for role and returns its token hash.
func (f *fixture) invite(dep string, role identity.PortalRole, expires time.Time) string {
	f.t.Helper()
	_, hash := identity.NewInviteToken()
	must(f.t, f.s.CreateInvite(context.Background(), hash, identity.Invite{DeploymentID: dep, Role: role, ExpiresAt: expires, CreatedBy: "test"}))
	return hash
}

// portalUser registers a portal user with role through a deployment link.
func (f *fixture) portalUser(dep string, role identity.PortalRole) identity.PortalUser {
	f.t.Helper()
	hash := f.invite(dep, role, time.Now().Add(time.Hour))
	id := identity.NewPortalUserID()
	u := identity.PortalUser{ID: id, DeploymentID: dep, Email: id + "@example.com", Name: "Pat", Role: role, Status: identity.StatusActive}
	u, err := f.s.Register(context.Background(), hash, u)
	must(f.t, err)
	return u
}

// consoleUser creates a console user.
func (f *fixture) consoleUser(dep string) identity.ConsoleUser {
	f.t.Helper()
	id := identity.NewConsoleUserID()
	u := identity.ConsoleUser{ID: id, DeploymentID: dep, Username: "user-" + id[3:13], Name: "Cam",
		Roles: []identity.ConsoleRole{identity.Signer}, Status: identity.StatusActive}
	u, err := f.s.CreateConsoleUser(context.Background(), u, tenant.LogEntry{Actor: "test", Action: "consoleUser.created"})
	must(f.t, err)
	return u
}

// certificate creates a pending certificate.
func (f *fixture) certificate(dep string) certificates.Certificate {
	f.t.Helper()
	c, err := f.s.CreateCertificate(context.Background(), newCertificate(dep), tenant.LogEntry{Actor: "test", Action: "certificate.created"})
	must(f.t, err)
	return c
}

func newCertificate(dep string) certificates.Certificate {
	return certificates.Certificate{ID: tenant.NewID("crt_"), DeploymentID: dep, Name: "release", Status: certificates.StatusPending,
		Backend: "awskms", Algorithm: keys.ECP256, KeyURI: "awskms:///key-1", Subject: certificates.Subject{CommonName: "Acme"},
		CSRPEM: "-----BEGIN CERTIFICATE REQUEST-----", Groups: []string{"release"}}
}

// policy creates an enabled allow policy.
func (f *fixture) policy(dep string) policy.Policy {
	f.t.Helper()
	p, err := f.s.CreatePolicy(context.Background(), dep, newPolicy(), tenant.LogEntry{Actor: "test", Action: "policy.created"})
	must(f.t, err)
	return p
}

func newPolicy() policy.Policy {
	return policy.Policy{ID: tenant.NewID("pol_"), Name: "release", Enabled: true, Priority: 10, Action: policy.Allow}
}

// logActions are the actions of a deployment's system log, newest first.
func (f *fixture) logActions(dep string) []string {
	f.t.Helper()
	entries, err := store.All(context.Background(), func(ctx context.Context, pr store.PageRequest) (store.Page[tenant.LogEntry], error) {
		return f.s.ListLog(ctx, dep, pr)
	})
	must(f.t, err)
	var out []string
	for _, e := range entries {
		out = append(out, e.Action)
	}
	return out
}

// logged checks the deployment's system log: want is the actions expected, newest first.
func (f *fixture) logged(t *testing.T, dep string, want ...string) {
	t.Helper()
	if got := f.logActions(dep); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("system log %v, want %v", got, want)
	}
}

// indexed waits until ready, a read of GSI1, sees what the test wrote: in AWS the index is
// eventually consistent, so a write shows there a moment later. (The stand-in's index is
// strongly consistent; there ready is asked once.) The caller then checks the read.
func (f *fixture) indexed(ready func() bool) {
	f.t.Helper()
	for tries := 0; !ready() && f.tg.Stack == nil && tries < 30; tries++ {
		time.Sleep(time.Second)
	}
}
