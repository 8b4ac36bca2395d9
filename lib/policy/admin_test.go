package policy_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/policy"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// TestAdminWithoutHTTP drives policy administration on the real table stand-in, in the order
// an administrator would: create, a contradicting policy refused, a replace based on a stale
// version refused, a replace, a delete; each change leaves its system-log entry and nothing
// refused is written.
func TestAdminWithoutHTTP(t *testing.T) {
	ctx := context.Background()
	tg := devstack.NewEmbedded(t)
	st := store.New(tg.Clients.DynamoDB, tg.Table, store.StaticKey(make([]byte, 32)))
	admin := policy.NewAdmin(st)
	dep := tenant.NewID("dep_")
	allowCI := policy.Draft{Name: "  ci  ", Enabled: true, Priority: 10, Action: policy.Allow,
		What: policy.What{Certificates: []string{"crt_a"}}, Who: policy.Who{Users: []string{"cu_ci"}},
		When: policy.DraftSchedule{TimeZone: "Europe/Berlin", Windows: []policy.DraftWindow{{Days: []string{"Monday", "friday"}, From: "08:00", To: "18:00"}}}}

	// ok/create: version 1, the name trimmed, week days parsed.
	created, err := admin.Create(ctx, dep, allowCI, "cu_admin")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(created.ID, "pol_") || created.Version != 1 || created.Name != "ci" ||
		len(created.When.Windows) != 1 || len(created.When.Windows[0].Days) != 2 {
		t.Fatalf("created: %+v", created)
	}
	if got, err := st.GetPolicy(ctx, dep, created.ID); err != nil || got.Version != 1 || got.Name != "ci" {
		t.Fatalf("stored: %+v, %v", got, err)
	}

	// fail/not-a-weekday: a field error naming the window, nothing written.
	bad := allowCI
	bad.When.Windows = []policy.DraftWindow{{Days: []string{"someday"}, From: "08:00", To: "18:00"}}
	var fields fault.Fields
	if _, err := admin.Create(ctx, dep, bad, "cu_admin"); !errors.As(err, &fields) || len(fields) != 1 || fields[0].Name != "when.windows[0].days" {
		t.Fatalf("a day that is no week day: %v", err)
	}

	// fail/conflict: a Deny at the same priority for the same certificate and user.
	denyCI := allowCI
	denyCI.Name, denyCI.Action = "no ci", policy.Deny
	if _, err := admin.Create(ctx, dep, denyCI, "cu_admin"); !errors.Is(err, policy.ErrContradicts) || !errors.Is(err, fault.ErrConflict) ||
		!strings.Contains(detail(err), created.ID) {
		t.Fatalf("a contradicting policy: %v, want ErrContradicts naming %s", err, created.ID)
	}

	// ok/other-priority: the same Deny at another priority is saved.
	denyCI.Priority = 20
	deny, err := admin.Create(ctx, dep, denyCI, "cu_admin")
	if err != nil {
		t.Fatal(err)
	}
	if all, err := st.AllPolicies(ctx, dep); err != nil || len(all) != 2 {
		t.Fatalf("policies: %d, %v; want the two saved", len(all), err)
	}

	// fail/no-version, fail/malformed, fail/stale: nothing written.
	renamed := allowCI
	renamed.Name = "ci builds"
	if _, err := admin.Replace(ctx, dep, created.ID, policy.Expected{}, renamed, "cu_admin"); !errors.As(err, &fields) || fields[0].Name != "version" {
		t.Fatalf("a replace without version: %v", err)
	}
	malformed := errors.New("malformed")
	if _, err := admin.Replace(ctx, dep, "pol_missing", policy.Expected{Err: malformed}, renamed, "cu_admin"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a replace of an unknown policy: %v, want not found before the version is looked at", err)
	}
	if _, err := admin.Replace(ctx, dep, created.ID, policy.Expected{Err: malformed}, renamed, "cu_admin"); !errors.Is(err, malformed) {
		t.Fatalf("a replace with a malformed version: %v", err)
	}
	if _, err := admin.Replace(ctx, dep, created.ID, policy.Expected{Version: 2}, renamed, "cu_admin"); !errors.Is(err, policy.ErrStale) || !errors.Is(err, fault.ErrPrecondition) {
		t.Fatalf("a stale replace: %v, want ErrStale", err)
	}

	// fail/conflict on replace: moving the Allow to the Deny's priority.
	clash := allowCI
	clash.Priority = 20
	if _, err := admin.Replace(ctx, dep, created.ID, policy.Expected{Version: 1}, clash, "cu_admin"); !errors.Is(err, policy.ErrContradicts) ||
		!strings.Contains(detail(err), deny.ID) {
		t.Fatalf("a replace that contradicts: %v", err)
	}
	if got, err := st.GetPolicy(ctx, dep, created.ID); err != nil || got.Version != 1 || got.Name != "ci" {
		t.Fatalf("after refused replaces: %+v, %v; want version 1 unchanged", got, err)
	}

	// ok/replace: the version read, the policy's previous version is no conflict with itself.
	updated, err := admin.Replace(ctx, dep, created.ID, policy.Expected{Version: 1}, renamed, "cu_admin")
	if err != nil {
		t.Fatal(err)
	}
	if updated.ID != created.ID || updated.Version != 2 || updated.Name != "ci builds" {
		t.Fatalf("updated: %+v", updated)
	}
	if got, err := st.GetPolicy(ctx, dep, created.ID); err != nil || got.Version != 2 || got.Name != "ci builds" {
		t.Fatalf("stored after replace: %+v, %v", got, err)
	}

	// ok/delete, then fail/delete of what is gone.
	if err := admin.Delete(ctx, dep, created.ID, "cu_admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetPolicy(ctx, dep, created.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after delete: %v, want not found", err)
	}
	if err := admin.Delete(ctx, dep, created.ID, "cu_admin"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a second delete: %v, want not found", err)
	}

	// The system log holds one entry per change, in the administrator's name.
	page, err := st.ListLog(ctx, dep, store.PageRequest{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]int{}
	for _, e := range page.Items {
		if e.Actor == "cu_admin" {
			actions[e.Action]++
		}
	}
	if actions["policy.created"] != 2 || actions["policy.updated"] != 1 || actions["policy.deleted"] != 1 || len(page.Items) != 4 {
		t.Fatalf("system log: %v in %d entries", actions, len(page.Items))
	}
}

// detail is err's caller-safe detail ("" when none).
func detail(err error) string {
	d, _ := fault.DetailOf(err)
	return d
}

// TestAdminLimits: a deployment holds at most policy.MaxPolicies policies and at most
// policy.MaxDeploymentProgram instructions of where patterns in all; a create or replace that
// would go over is refused with ErrLimit (409), naming the limit, and nothing is written.
// Replacing a policy counts it once, and what is deleted frees its place.
func TestAdminLimits(t *testing.T) {
	ctx := context.Background()
	tg := devstack.NewEmbedded(t)
	st := store.New(tg.Clients.DynamoDB, tg.Table, store.StaticKey(make([]byte, 32)))
	admin := policy.NewAdmin(st)
	log := tenant.LogEntry{Actor: "test", Action: "fixture"}
	draft := func(name string, where ...policy.Application) policy.Draft {
		return policy.Draft{Name: name, Enabled: true, Priority: 1, Action: policy.Allow,
			What: policy.What{Groups: []string{"*"}}, Who: policy.Who{Roles: []string{"signer"}}, Where: where}
	}
	count := func(dep string) int {
		all, err := st.AllPolicies(ctx, dep)
		if err != nil {
			t.Fatal(err)
		}
		return len(all)
	}
	limited := func(err error, what string) {
		t.Helper()
		if !errors.Is(err, policy.ErrLimit) || !errors.Is(err, fault.ErrConflict) || !strings.Contains(detail(err), what) {
			t.Fatalf("%v, want ErrLimit naming %q", err, what)
		}
	}

	// fail/count: the place after the last is refused; a replace still works, and a delete
	// frees a place.
	dep := tenant.NewID("dep_")
	var last policy.Policy
	for i := range policy.MaxPolicies {
		p, err := draft(fmt.Sprintf("filler %d", i)).Policy(tenant.NewID("pol_"))
		if err != nil {
			t.Fatal(err)
		}
		if last, err = st.CreatePolicy(ctx, dep, p, log); err != nil {
			t.Fatal(err)
		}
	}
	_, err := admin.Create(ctx, dep, draft("one too many"), "cu_admin")
	limited(err, fmt.Sprint(policy.MaxPolicies))
	if n := count(dep); n != policy.MaxPolicies {
		t.Fatalf("%d policies after a refused create", n)
	}
	if _, err := admin.Replace(ctx, dep, last.ID, policy.Expected{Version: last.Version}, draft("renamed"), "cu_admin"); err != nil {
		t.Fatalf("a replace at the cap: %v", err)
	}
	if err := admin.Delete(ctx, dep, last.ID, "cu_admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Create(ctx, dep, draft("in the freed place"), "cu_admin"); err != nil {
		t.Fatalf("a create after a delete: %v", err)
	}

	// fail/program: two heavy policies nearly fill the deployment's budget; a third is
	// refused, a cheap one still fits, and replacing a heavy policy with itself is no double
	// count.
	dep = tenant.NewID("dep_")
	heavy := policy.Application{Process: "x", CommandLine: `.{0,970}`} // about 1950 instructions
	h1, err := admin.Create(ctx, dep, draft("heavy 1", heavy), "cu_admin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Create(ctx, dep, draft("heavy 2", heavy), "cu_admin"); err != nil {
		t.Fatal(err)
	}
	_, err = admin.Create(ctx, dep, draft("heavy 3", heavy), "cu_admin")
	limited(err, fmt.Sprint(policy.MaxDeploymentProgram))
	if n := count(dep); n != 2 {
		t.Fatalf("%d policies after a refused create, want 2", n)
	}
	if _, err := admin.Create(ctx, dep, draft("light", policy.Application{Process: "make"}), "cu_admin"); err != nil {
		t.Fatalf("a light policy: %v", err)
	}
	if _, err := admin.Replace(ctx, dep, h1.ID, policy.Expected{Version: 1}, draft("heavy 1, renamed", heavy), "cu_admin"); err != nil {
		t.Fatalf("replacing a policy with itself: %v", err)
	}
	// Disabled policies count too, so that enabling one never goes over.
	off := draft("heavy, disabled", heavy)
	off.Enabled = false
	_, err = admin.Create(ctx, dep, off, "cu_admin")
	limited(err, fmt.Sprint(policy.MaxDeploymentProgram))
}

// TestAdminNamesGroupsByID: what.groups holds certificate group ids or "*"; a label is a field
// problem naming it, on create and on replace, and nothing is written.
func TestAdminNamesGroupsByID(t *testing.T) {
	ctx := context.Background()
	tg := devstack.NewEmbedded(t)
	st := store.New(tg.Clients.DynamoDB, tg.Table, store.StaticKey(make([]byte, 32)))
	admin := policy.NewAdmin(st)
	dep := tenant.NewID("dep_")
	draft := func(groups ...string) policy.Draft {
		return policy.Draft{Name: "groups", Enabled: true, Priority: 1, Action: policy.Allow,
			What: policy.What{Groups: groups}, Who: policy.Who{Roles: []string{"signer"}}}
	}
	refused := func(err error) {
		t.Helper()
		var f fault.Fields
		if !errors.As(err, &f) || len(f) != 1 || f[0].Name != "what.groups" || !strings.Contains(f[0].Reason, `"release"`) {
			t.Fatalf("%v, want a problem of what.groups naming the label", err)
		}
	}
	_, err := admin.Create(ctx, dep, draft(tenant.NewID("grp_"), "release"), "test")
	refused(err)
	p, err := admin.Create(ctx, dep, draft(tenant.NewID("grp_"), "*"), "test")
	if err != nil {
		t.Fatal(err)
	}
	_, err = admin.Replace(ctx, dep, p.ID, policy.Expected{Version: p.Version}, draft("release"), "test")
	refused(err)
	if all, _ := st.AllPolicies(ctx, dep); len(all) != 1 || all[0].Version != 1 {
		t.Fatalf("written: %+v", all)
	}
}
