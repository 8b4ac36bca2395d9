package identity_test

import (
	"slices"
	"testing"

	"github.com/opensignum/signum/lib/identity"
)

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{"Ada@Example.COM": "ada@example.com", " bob@x.example ": "bob@x.example"} {
		if got, err := identity.NormalizeEmail(in); err != nil || got != want {
			t.Errorf("ok/%q: %q %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "ada", "ada@localhost", "Ada <ada@x.example>", "a@b@c.example"} {
		if _, err := identity.NormalizeEmail(bad); err == nil {
			t.Errorf("fail/%q accepted", bad)
		}
	}
	if u, err := identity.NormalizeUsername("Carol.K"); err != nil || u != "carol.k" {
		t.Errorf("username: %q %v", u, err)
	}
	for _, bad := range []string{"ab", "with space", "ünï", string(make([]byte, 65))} {
		if _, err := identity.NormalizeUsername(bad); err == nil {
			t.Errorf("fail/username %q accepted", bad)
		}
	}
}

func TestConsoleRolesFor(t *testing.T) {
	for _, c := range []struct {
		u    identity.PortalUser
		want []identity.ConsoleRole
	}{
		{identity.PortalUser{Role: identity.RoleAdmin}, []identity.ConsoleRole{identity.ConsoleAdmin, identity.Signer}},
		{identity.PortalUser{Role: identity.RoleViewer}, []identity.ConsoleRole{identity.ConsoleViewer}},
		{identity.PortalUser{Role: identity.RoleUser}, []identity.ConsoleRole{identity.Signer}},
		{identity.PortalUser{Role: identity.RoleAdmin, SignumAdmin: true}, []identity.ConsoleRole{identity.ConsoleAdmin, identity.Signer, identity.SignumAdministrator}},
	} {
		if got := identity.ConsoleRolesFor(c.u); !slices.Equal(got, c.want) {
			t.Errorf("%s (SA %v): %v, want %v", c.u.Role, c.u.SignumAdmin, got, c.want)
		}
	}
	if slices.Contains(identity.AssignableConsoleRoles, identity.SignumAdministrator) {
		t.Error("console admins can assign the Signum Administrator role")
	}
}

func TestKindOf(t *testing.T) {
	for id, want := range map[string]identity.Kind{
		identity.NewPortalUserID():  identity.KindPortal,
		identity.NewConsoleUserID(): identity.KindConsole,
		"pu_x":                      identity.KindPortal,
		"cu_x":                      identity.KindConsole,
		"":                          "",
		"dep_x":                     "",
		"PU_x":                      "",
		"cc_x":                      "",
	} {
		if got := identity.KindOf(id); got != want {
			t.Errorf("KindOf(%q) = %q, want %q", id, got, want)
		}
	}
	if identity.NewPortalUserID() == identity.NewPortalUserID() {
		t.Error("two new ids are the same")
	}
}
