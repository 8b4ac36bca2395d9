package identity_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/password"
	"github.com/opensignum/signum/lib/provisioning"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

const strong = "Correct-Horse-9-Battery"

// deployment provisions a deployment on the embedded stand-ins and registers its first Admin
// (the Signum Administrator) through PortalUsers.
func deployment(t *testing.T) (*store.Store, *identity.PortalUsers, *identity.ConsoleUsers, identity.PortalUser) {
	t.Helper()
	ctx := context.Background()
	tg := devstack.NewEmbedded(t)
	st := store.New(tg.Clients.DynamoDB, tg.Table, store.StaticKey(make([]byte, 32)))
	now := func() time.Time { return time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC) }
	res, err := provisioning.New(st, now).Provision(ctx, provisioning.Request{Name: "acme", Actor: "test", FirstAdminEmail: "ada@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	pu := identity.NewPortalUsers(st, now)
	if _, err := pu.Register(ctx, identity.Registration{Token: res.FirstAdminLink, Email: "eve@example.com", Password: strong}); !fault.HasField(err, "email") {
		t.Fatalf("fail/link made for another address: %v", err)
	}
	if _, err := pu.Register(ctx, identity.Registration{Token: "", Email: "nope", Name: "\x00", Password: strong}); !fault.HasField(err, "email") || !fault.HasField(err, "name") || !fault.HasField(err, "token") {
		t.Fatalf("fail/fields: %v", err)
	}
	admin, err := pu.Register(ctx, identity.Registration{Token: res.FirstAdminLink, Email: "Ada@Example.com", Name: " Ada ", Password: strong})
	if err != nil || admin.Role != identity.RoleAdmin || !admin.SignumAdmin || admin.Email != "ada@example.com" || admin.Name != "Ada" ||
		admin.DeploymentID != res.Deployment.ID || !admin.PasswordSetAt.Equal(now()) || admin.Status != identity.StatusActive {
		t.Fatalf("ok/register: %+v %v", admin, err)
	}
	if _, err := pu.Register(ctx, identity.Registration{Token: res.FirstAdminLink, Email: "ada@example.com", Password: strong}); err == nil {
		t.Fatal("fail/link used twice")
	}
	return st, pu, identity.NewConsoleUsers(st, now), admin
}

func ptr[T any](v T) *T { return &v }

// deploymentOf reads deployment dep, as the guard gives it to a request.
func deploymentOf(t *testing.T, st *store.Store, dep string) tenant.Deployment {
	t.Helper()
	d, err := st.GetDeployment(context.Background(), dep)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Active reads a user by the kind it is asked for, whatever the id says, and refuses one that
// is missing or disabled.
func TestActive(t *testing.T) {
	ctx := context.Background()
	st, _, cu, admin := deployment(t)
	dep := admin.DeploymentID
	u, err := identity.Active(ctx, st, dep, identity.KindPortal, admin.ID)
	if err != nil || u.Kind != identity.KindPortal || u.Portal.ID != admin.ID || u.Roles().Portal != identity.RoleAdmin ||
		!slices.Contains(u.Roles().Console, identity.SignumAdministrator) {
		t.Fatalf("ok/portal: %+v %v", u, err)
	}
	c, _, err := cu.Create(ctx, deploymentOf(t, st, dep), "test", identity.NewConsoleUser{Username: "carol", Roles: []string{"signer"}})
	if err != nil {
		t.Fatal(err)
	}
	if u, err := identity.Active(ctx, st, dep, identity.KindConsole, c.ID); err != nil || u.Kind != identity.KindConsole || u.Console.Username != "carol" ||
		!slices.Equal(u.Roles().Console, []identity.ConsoleRole{identity.Signer}) || u.Roles().Portal != "" {
		t.Fatalf("ok/console: %+v %v", u, err)
	}
	// The kind asked for decides which list is read: a console id is no portal user.
	if _, err := identity.Active(ctx, st, dep, identity.KindPortal, c.ID); !errors.Is(err, identity.ErrInactive) {
		t.Errorf("fail/console id as portal user: %v", err)
	}
	if _, err := identity.Active(ctx, st, "dep_other", identity.KindConsole, c.ID); !errors.Is(err, identity.ErrInactive) {
		t.Errorf("fail/other deployment: %v", err)
	}
	if _, err := identity.Active(ctx, st, dep, "", c.ID); !errors.Is(err, identity.ErrNotUserID) {
		t.Errorf("fail/no kind: %v", err)
	}
	if _, _, err := cu.Update(ctx, dep, c.ID, "test", identity.ConsoleUserPatch{Status: ptr("disabled")}); err != nil {
		t.Fatal(err)
	}
	if _, err := identity.Active(ctx, st, dep, identity.KindConsole, c.ID); !errors.Is(err, identity.ErrInactive) {
		t.Errorf("fail/disabled: %v", err)
	}
	if _, err := identity.ActiveRoles(ctx, st, dep, c.ID); !errors.Is(err, identity.ErrInactive) {
		t.Errorf("fail/ActiveRoles disabled: %v", err)
	}
}

// The Signum Administrator stays an active Admin; the precondition is checked before the
// fields; status and unlock changes are written and logged; a patch of nothing writes nothing.
func TestPortalUsersUpdate(t *testing.T) {
	ctx := context.Background()
	st, pu, _, admin := deployment(t)
	dep := admin.DeploymentID
	pass := func(identity.PortalUser) error { return nil }
	stale := errors.New("stale")
	if _, err := pu.Update(ctx, dep, admin.ID, "test", identity.PortalUserPatch{Role: ptr("Boss")}, func(identity.PortalUser) error { return stale }); err != stale {
		t.Errorf("fail/precondition first: %v", err)
	}
	if _, err := pu.Update(ctx, dep, admin.ID, "test", identity.PortalUserPatch{Role: ptr("Boss"), Status: ptr("gone")}, pass); !fault.HasField(err, "role") || !fault.HasField(err, "status") {
		t.Errorf("fail/fields: %v", err)
	}
	for _, p := range []identity.PortalUserPatch{{Role: ptr("User")}, {Status: ptr("disabled")}} {
		if _, err := pu.Update(ctx, dep, admin.ID, "test", p, pass); !errors.Is(err, identity.ErrSignumAdmin) {
			t.Errorf("fail/signum admin %+v: %v", p, err)
		}
	}
	if err := pu.Remove(ctx, dep, admin.ID, "test"); !errors.Is(err, identity.ErrSignumAdmin) {
		t.Errorf("fail/remove signum admin: %v", err)
	}
	if u, err := pu.Update(ctx, dep, admin.ID, "test", identity.PortalUserPatch{Role: ptr("Admin"), Status: ptr("active")}, pass); err != nil || u.Version != admin.Version {
		t.Errorf("ok/no change writes nothing: %+v %v", u, err)
	}
	if _, _, err := st.ReserveLogin(ctx, dep, true, admin.ID, password.DefaultLockout().Reserve(password.State{}, time.Now()), time.Now()); err != nil {
		t.Fatal(err)
	}
	u, err := pu.Update(ctx, dep, admin.ID, "portal:x", identity.PortalUserPatch{Unlock: true}, pass)
	if err != nil || u.Failures != 0 || u.Version == admin.Version {
		t.Fatalf("ok/unlock: %+v %v", u, err)
	}
	log, err := st.ListLog(ctx, dep, store.PageRequest{})
	if err != nil || log.Items[0].Action != "portalUser.updated" || log.Items[0].Actor != "portal:x" || log.Items[0].Detail != "ada@example.com: unlocked" {
		t.Fatalf("log: %+v %v", log.Items, err)
	}
	inv, tok, err := provisioning.Invite(ctx, st, time.Now(), dep, "test", "", identity.RoleUser, false)
	if err != nil || inv.Role != identity.RoleUser {
		t.Fatal(err)
	}
	bob, err := pu.Register(ctx, identity.Registration{Token: tok, Email: "bob@example.com", Password: strong})
	if err != nil {
		t.Fatal(err)
	}
	if u, err := pu.Update(ctx, dep, bob.ID, "test", identity.PortalUserPatch{Status: ptr("disabled")}, pass); err != nil || u.Status != identity.StatusDisabled {
		t.Fatalf("ok/disable: %+v %v", u, err)
	}
	if log, _ := st.ListLog(ctx, dep, store.PageRequest{}); log.Items[0].Detail != "bob@example.com: status active → disabled" {
		t.Errorf("log: %+v", log.Items[0])
	}
	if err := pu.Remove(ctx, dep, bob.ID, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetPortalUser(ctx, dep, bob.ID); !errors.Is(err, fault.ErrNotFound) {
		t.Errorf("ok/removed: %v", err)
	}
}

// Console users: fields all checked at once, roles only assignable ones, a password against
// the domain's policy, and every field sent is a change.
func TestConsoleUsers(t *testing.T) {
	ctx := context.Background()
	st, _, cu, admin := deployment(t)
	dep := admin.DeploymentID
	d := deploymentOf(t, st, dep)
	_, _, err := cu.Create(ctx, d, "test", identity.NewConsoleUser{Username: "x", Email: "nope", Roles: []string{"signum-administrator"}})
	if !fault.HasField(err, "username") || !fault.HasField(err, "email") || !fault.HasField(err, "roles") {
		t.Errorf("fail/fields: %v", err)
	}
	if _, _, err := cu.Create(ctx, d, "test", identity.NewConsoleUser{Username: "carol"}); !fault.HasField(err, "roles") {
		t.Errorf("fail/no roles: %v", err)
	}
	if _, _, err := cu.Create(ctx, d, "test", identity.NewConsoleUser{Username: "carol", Roles: []string{"signer"}, Password: "short"}); err == nil {
		t.Errorf("fail/weak password")
	}
	c, dom, err := cu.Create(ctx, d, "console:a", identity.NewConsoleUser{Username: "Carol", Email: "C@Example.com", Password: strong, Roles: []string{"signer", "console-viewer", "signer"}})
	if err != nil || c.Username != "carol" || c.Email != "c@example.com" || c.PasswordHash == "" || dom.Lockout.MaxFailures == 0 ||
		!slices.Equal(c.Roles, []identity.ConsoleRole{identity.Signer, identity.ConsoleViewer}) {
		t.Fatalf("ok/create: %+v %+v %v", c, dom, err)
	}
	if _, _, err := cu.Update(ctx, dep, c.ID, "test", identity.ConsoleUserPatch{Status: ptr("gone"), Roles: &[]string{}}); !fault.HasField(err, "status") || !fault.HasField(err, "roles") {
		t.Errorf("fail/patch fields: %v", err)
	}
	u, _, err := cu.Update(ctx, dep, c.ID, "console:a", identity.ConsoleUserPatch{Status: ptr("active"), Email: ptr(""), Unlock: true})
	if err != nil || u.Email != "" || u.Version == c.Version {
		t.Fatalf("ok/patch: %+v %v", u, err)
	}
	if log, _ := st.ListLog(ctx, dep, store.PageRequest{}); log.Items[0].Detail != "carol: e-mail; status active; unlocked" {
		t.Errorf("log: %+v", log.Items[0])
	}
	if err := cu.Remove(ctx, dep, c.ID, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetConsoleUser(ctx, dep, c.ID); !errors.Is(err, fault.ErrNotFound) {
		t.Errorf("ok/removed: %v", err)
	}
}

// The Local users domain: invalid policy fields are named under their policy; a valid patch
// replaces the policy and logs both.
func TestUpdateDomain(t *testing.T) {
	ctx := context.Background()
	st, _, cu, admin := deployment(t)
	dep := admin.DeploymentID
	bad := password.DefaultPolicy()
	bad.MinLength = -1
	_, err := cu.UpdateDomain(ctx, dep, "test", identity.LocalDomainPatch{Password: &bad})
	var fs fault.Fields
	if !errors.As(err, &fs) || len(fs) == 0 || !strings.HasPrefix(fs[0].Name, "passwordPolicy") {
		t.Fatalf("fail/policy: %v", err)
	}
	lock := password.DefaultLockout()
	lock.MaxFailures++
	d, err := cu.UpdateDomain(ctx, dep, "console:a", identity.LocalDomainPatch{Lockout: &lock})
	if err != nil || d.Lockout != lock || d.Version != 2 {
		t.Fatalf("ok/lockout: %+v %v", d, err)
	}
	if log, _ := st.ListLog(ctx, dep, store.PageRequest{}); log.Items[0].Action != "localDomain.updated" || !strings.Contains(log.Items[0].Detail, "; lockout policy {") {
		t.Errorf("log: %+v", log.Items[0])
	}
}

// TestConsoleUserPlanLimit: a deployment has at most the console users its plan allows
// (trial: 10); the next create is refused as a plan limit, before anything is written; a
// per-seat plan allows its quantity, and a plan without a limit (no quantity) has none.
func TestConsoleUserPlanLimit(t *testing.T) {
	ctx := context.Background()
	st, _, cu, admin := deployment(t)
	dep := admin.DeploymentID
	set := func(plan string, quantity int) tenant.Deployment {
		t.Helper()
		cur := deploymentOf(t, st, dep)
		next := cur
		next.Plan, next.Quantity = plan, quantity
		d, err := st.UpdateDeployment(ctx, cur, next, nil)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	create := func(d tenant.Deployment, name string) error {
		_, _, err := cu.Create(ctx, d, "test", identity.NewConsoleUser{Username: name, Roles: []string{"signer"}})
		return err
	}
	d := set("trial", 0)
	for i := range 10 {
		if err := create(d, fmt.Sprintf("user-%d", i)); err != nil {
			t.Fatalf("ok/user %d: %v", i+1, err)
		}
	}
	err := create(d, "user-10")
	if detail, _ := fault.DetailOf(err); !errors.Is(err, fault.ErrPlanLimit) || detail != "The trial plan allows 10 console users; this deployment has 10. A portal Admin can change the plan or its quantity in the marketplace." {
		t.Fatalf("fail/the 11th: %v", err)
	}
	if _, err := st.ConsoleUserByUsername(ctx, dep, "user-10"); !errors.Is(err, fault.ErrNotFound) {
		t.Fatalf("fail/the 11th was written: %v", err)
	}
	if err := create(set("enterprise", 11), "user-10"); err != nil {
		t.Fatalf("ok/the 11th seat: %v", err)
	}
	if err := create(deploymentOf(t, st, dep), "user-11"); !errors.Is(err, fault.ErrPlanLimit) {
		t.Fatalf("fail/over the seats: %v", err)
	}
	if err := create(set("enterprise", 0), "user-11"); err != nil {
		t.Fatalf("ok/no limit: %v", err)
	}
}
