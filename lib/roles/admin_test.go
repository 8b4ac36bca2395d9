package roles_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/opensignum/signum/lib/certificates"
	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/roles"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// TestAdmin walks the administration of custom roles on the store: the checks of what a
// role names, the refusals of built-in roles, stale versions and held roles, and the log.
func TestAdmin(t *testing.T) {
	ctx := context.Background()
	tg := devstack.NewEmbedded(t)
	st := store.New(tg.Clients.DynamoDB, tg.Table, store.StaticKey(make([]byte, 32)))
	dep := tenant.NewID("dep_")
	g, err := st.CreateCertificateGroup(ctx, certificates.Group{ID: certificates.NewGroupID(), DeploymentID: dep, Name: "Release"}, tenant.LogEntry{Actor: "test", Action: "fixture"})
	if err != nil {
		t.Fatal(err)
	}
	admin := roles.NewAdmin(st, func(ctx context.Context, dep, id string) error {
		_, err := st.GetCertificateGroup(ctx, dep, id)
		return err
	})
	fields := func(err error) string {
		var f fault.Fields
		if !errors.As(err, &f) {
			return "not fields: " + err.Error()
		}
		var names []string
		for _, e := range f {
			names = append(names, e.Name)
		}
		return strings.Join(names, ",")
	}

	ghost := certificates.NewGroupID()
	_, err = admin.Create(ctx, dep, "test", roles.Role{Name: "signum administrator",
		Groups:  map[string]roles.GroupRights{g.ID: {View: true}, ghost: {Add: true}},
		Domains: []string{"*", "local", "dom_ci", "LDAP"}})
	if got := fields(err); got != "name,groups,domains" || !strings.Contains(err.Error(), ghost) {
		t.Fatalf("refused %s: %v", got, err)
	}

	r, err := admin.Create(ctx, dep, "sa", roles.Role{Name: " Release team ", Description: "Ships releases",
		Areas:   map[roles.Area]roles.Level{roles.Certificates: roles.Manage, roles.Events: roles.Read},
		Groups:  map[string]roles.GroupRights{g.ID: {Add: true, Assign: true}, roles.EveryGroup: {View: true}},
		Domains: []string{"local", "*"}})
	if err != nil {
		t.Fatal(err)
	}
	if !roles.IsID(r.ID) || r.Name != "Release team" || r.Version != 1 || !r.Groups[g.ID].View || r.Level(roles.Users) != roles.None {
		t.Fatalf("created %+v", r)
	}
	if _, err := admin.Create(ctx, dep, "sa", roles.Role{Name: "RELEASE TEAM"}); !errors.Is(err, fault.ErrConflict) {
		t.Fatalf("a taken name: %v", err)
	}

	// Built-in roles read like custom ones and cannot change.
	b, err := admin.Get(ctx, dep, string(identity.ConsoleViewer))
	if err != nil || !b.BuiltIn || b.Level(roles.SystemLog) != roles.None {
		t.Fatalf("built-in %+v, %v", b, err)
	}
	name := "Mine"
	if _, err := admin.Update(ctx, dep, string(identity.SignumAdministrator), "sa", 0, roles.Changes{Name: &name}); !errors.Is(err, roles.ErrBuiltIn) {
		t.Fatalf("changed a built-in role: %v", err)
	}
	if err := admin.Delete(ctx, dep, string(identity.ConsoleAdmin), "sa", 0); !errors.Is(err, roles.ErrBuiltIn) {
		t.Fatalf("deleted a built-in role: %v", err)
	}

	// A group the role names already is not checked again: deleted since, the role still
	// changes.
	gone, err := st.GetCertificateGroup(ctx, dep, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteCertificateGroup(ctx, gone, tenant.LogEntry{Actor: "test", Action: "fixture"}); err != nil {
		t.Fatal(err)
	}
	desc := "Ships every release"
	if r, err = admin.Update(ctx, dep, r.ID, "sa", 1, roles.Changes{Description: &desc}); err != nil || r.Version != 2 || r.Description != desc {
		t.Fatalf("updated %+v, %v", r, err)
	}
	if _, err := admin.Update(ctx, dep, r.ID, "sa", 1, roles.Changes{Description: &desc}); !errors.Is(err, fault.ErrPrecondition) {
		t.Fatalf("a stale version: %v", err)
	}
	areas := map[roles.Area]roles.Level{roles.Policies: "write"}
	if _, err := admin.Update(ctx, dep, r.ID, "sa", 0, roles.Changes{Areas: &areas}); fields(err) != "areas.policies" {
		t.Fatalf("a bad level: %v", err)
	}

	// Held, it stays; the refusal says how many hold it and what to do.
	u, err := st.CreateConsoleUser(ctx, identity.ConsoleUser{ID: identity.NewConsoleUserID(), DeploymentID: dep, Username: "rel",
		Roles: []identity.ConsoleRole{identity.Signer}, Role: r.ID, Status: identity.StatusActive}, tenant.LogEntry{Actor: "test", Action: "fixture"})
	if err != nil {
		t.Fatal(err)
	}
	err = admin.Delete(ctx, dep, r.ID, "sa", 0)
	if d, _ := fault.DetailOf(err); !errors.Is(err, fault.ErrConflict) || !strings.Contains(d, "give its 1 user another role first") {
		t.Fatalf("deleted a held role: %v", err)
	}
	if err := st.DeleteConsoleUser(ctx, u, tenant.LogEntry{Actor: "test", Action: "fixture"}); err != nil {
		t.Fatal(err)
	}
	if err := admin.Delete(ctx, dep, r.ID, "sa", 2); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Get(ctx, dep, r.ID); !errors.Is(err, fault.ErrNotFound) {
		t.Fatalf("deleted role: %v", err)
	}
	log, err := st.ListLog(ctx, dep, store.PageRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range log.Items {
		if strings.HasPrefix(e.Action, "role.") {
			actions = append(actions, e.Action+" by "+e.Actor)
		}
	}
	if strings.Join(actions, "; ") != "role.deleted by sa; role.updated by sa; role.created by sa" {
		t.Fatalf("logged %v", actions)
	}
}

func TestDetail(t *testing.T) {
	r := roles.Role{ID: "role_x", Name: "Ops", Areas: map[roles.Area]roles.Level{roles.Events: roles.Read, roles.Users: roles.Manage},
		Groups: map[string]roles.GroupRights{"grp_b": {View: true, Assign: true}, "*": {View: true}}, Domains: []string{"local"}}
	want := `role_x "Ops": areas users manage, events read; groups * (view), grp_b (view assign); domains local`
	if got := roles.Detail(r); got != want {
		t.Fatalf("detail %q", got)
	}
	if got := roles.Detail(roles.Role{ID: "role_y", Name: "Empty"}); got != `role_y "Empty": areas none; groups none; domains none` {
		t.Fatalf("detail %q", got)
	}
}
