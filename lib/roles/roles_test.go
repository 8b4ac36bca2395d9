package roles_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/roles"
)

func TestValidateNormalisesAndRefuses(t *testing.T) {
	r, err := roles.Validate(roles.Role{Name: " Release team ", Areas: map[roles.Area]roles.Level{roles.Certificates: roles.Manage},
		Groups:  map[string]roles.GroupRights{"grp_a": {Add: true}, "grp_b": {}},
		Domains: []string{"dom_b", "dom_a", "dom_b"}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "Release team" || r.Level(roles.Policies) != roles.None || len(r.Areas) != len(roles.Areas) {
		t.Fatalf("normalised %+v", r)
	}
	if g := r.Groups["grp_a"]; !g.View || !g.Add || len(r.Groups) != 1 {
		t.Fatalf("groups %+v: a right implies view, an empty entry goes", r.Groups)
	}
	if strings.Join(r.Domains, ",") != "dom_a,dom_b" {
		t.Fatalf("domains %v", r.Domains)
	}

	_, err = roles.Validate(roles.Role{Name: "Console-Admin", Areas: map[roles.Area]roles.Level{"billing": roles.Read, roles.Users: "all"},
		Groups: map[string]roles.GroupRights{"release": {View: true}}, Domains: []string{""}})
	var fields fault.Fields
	if !errors.As(err, &fields) {
		t.Fatalf("want field problems, got %v", err)
	}
	for _, want := range []string{"name", "areas.billing", "areas.users", "groups.release", "domains[0]"} {
		found := false
		for _, f := range fields {
			found = found || f.Name == want
		}
		if !found {
			t.Errorf("no problem for %s in %v", want, fields)
		}
	}
}

func TestScopeJoinsRoles(t *testing.T) {
	custom := &roles.Role{Areas: map[roles.Area]roles.Level{roles.Certificates: roles.Manage, roles.SystemLog: roles.Read},
		Groups: map[string]roles.GroupRights{"grp_a": {View: true, Add: true}}, Domains: []string{"dom_ci"}}

	viewer := roles.ScopeOf([]identity.ConsoleRole{identity.ConsoleViewer}, nil)
	if viewer.Level(roles.Certificates) != roles.Read || viewer.Level(roles.SystemLog) != roles.None || !viewer.Unscoped(roles.View) || viewer.Unscoped(roles.Add) {
		t.Fatalf("viewer %+v", viewer)
	}
	s := roles.ScopeOf([]identity.ConsoleRole{identity.Signer}, custom)
	if s.Level(roles.Certificates) != roles.Manage || s.Level(roles.Policies) != roles.None || s.Level(roles.SystemLog) != roles.Read {
		t.Fatalf("levels %+v", s)
	}
	if s.Unscoped(roles.View) || !s.Any([]string{"grp_b", "grp_a"}, roles.Add) || s.Any([]string{"grp_b"}, roles.View) || s.Any([]string{"grp_a"}, roles.Remove) {
		t.Fatalf("group rights %+v", s)
	}
	if got := s.GroupsWith(roles.View); len(got) != 1 || got[0] != "grp_a" {
		t.Fatalf("visible groups %v", got)
	}
	if s.ManagesDomain("dom_ci") {
		t.Fatal("managing users needs users at manage")
	}
	both := roles.ScopeOf([]identity.ConsoleRole{identity.ConsoleViewer}, custom)
	if !both.Unscoped(roles.View) || both.Unscoped(roles.Add) || !both.Any([]string{"grp_a"}, roles.Add) {
		t.Fatalf("joined %+v", both)
	}
	admin := roles.ScopeOf([]identity.ConsoleRole{identity.ConsoleAdmin}, nil)
	if !admin.ManagesDomain("dom_anything") || admin.Level(roles.Domains) != roles.Read {
		t.Fatalf("admin %+v", admin)
	}
}
