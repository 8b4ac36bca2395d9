package identity_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/opensignum/signum/lib/fault"
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

func TestNames(t *testing.T) {
	long := strings.Repeat("é", 100)
	for name, c := range map[string]struct {
		in       string
		required bool
		want     string
		reason   string // "" = accepted
	}{
		"ok/optional-trimmed":   {" Ada ", false, "Ada", ""},
		"ok/optional-empty":     {"  ", false, "", ""},
		"ok/optional-100":       {long, false, long, ""},
		"ok/required":           {" Acme signing ", true, "Acme signing", ""},
		"ok/required-100":       {long, true, long, ""},
		"fail/optional-101":     {long + "x", false, "", "is at most 100 printable characters"},
		"fail/optional-control": {"a\x00b", false, "", "is at most 100 printable characters"},
		"fail/required-empty":   {" ", true, "", "is 1 to 100 printable characters"},
		"fail/required-101":     {long + "x", true, "", "is 1 to 100 printable characters"},
		"fail/required-newline": {"a\nb", true, "", "is 1 to 100 printable characters"},
	} {
		var bad fault.Fields
		check := identity.OptionalName
		if c.required {
			check = identity.RequiredName
		}
		got, ok := check(c.in, "label", &bad)
		switch {
		case got != c.want || ok != (c.reason == ""):
			t.Errorf("%s: %q %v, want %q", name, got, ok, c.want)
		case c.reason == "" && len(bad) != 0:
			t.Errorf("%s: accepted with %v", name, bad)
		case c.reason != "" && (len(bad) != 1 || bad[0] != fault.FieldError{Name: "label", Reason: c.reason}):
			t.Errorf("%s: %v, want label: %s", name, bad, c.reason)
		}
	}
}

// directory is an in-memory identity.Directory.
type directory struct {
	portal  map[string]identity.PortalUser
	console map[string]identity.ConsoleUser
	err     error
}

func (d directory) GetPortalUser(_ context.Context, dep, id string) (identity.PortalUser, error) {
	if u, ok := d.portal[id]; ok && u.DeploymentID == dep {
		return u, d.err
	}
	return identity.PortalUser{}, fault.Newf(fault.ErrNotFound, "no portal user %s", id)
}

func (d directory) GetConsoleUser(_ context.Context, dep, id string) (identity.ConsoleUser, error) {
	if u, ok := d.console[id]; ok && u.DeploymentID == dep {
		return u, d.err
	}
	return identity.ConsoleUser{}, fault.Newf(fault.ErrNotFound, "no console user %s", id)
}

func TestActiveRoles(t *testing.T) {
	ctx := context.Background()
	d := directory{
		portal: map[string]identity.PortalUser{
			"pu_admin": {DeploymentID: "dep_a", Role: identity.RoleAdmin, Status: identity.StatusActive, SignumAdmin: true},
			"pu_off":   {DeploymentID: "dep_a", Role: identity.RoleUser, Status: identity.StatusDisabled},
		},
		console: map[string]identity.ConsoleUser{
			"cu_sig": {DeploymentID: "dep_a", Roles: []identity.ConsoleRole{identity.Signer}, Status: identity.StatusActive},
			"cu_off": {DeploymentID: "dep_a", Roles: []identity.ConsoleRole{identity.Signer}, Status: identity.StatusDisabled},
		},
	}
	for name, c := range map[string]struct {
		dep, id string
		want    identity.Roles
		err     error
	}{
		"ok/portal":              {"dep_a", "pu_admin", identity.Roles{Portal: identity.RoleAdmin, Console: []identity.ConsoleRole{identity.ConsoleAdmin, identity.Signer, identity.SignumAdministrator}}, nil},
		"ok/console":             {"dep_a", "cu_sig", identity.Roles{Console: []identity.ConsoleRole{identity.Signer}}, nil},
		"fail/portal-disabled":   {"dep_a", "pu_off", identity.Roles{}, identity.ErrInactive},
		"fail/console-disabled":  {"dep_a", "cu_off", identity.Roles{}, identity.ErrInactive},
		"fail/other-deployment":  {"dep_b", "cu_sig", identity.Roles{}, identity.ErrInactive},
		"fail/missing":           {"dep_a", "pu_none", identity.Roles{}, identity.ErrInactive},
		"fail/not-a-user-id":     {"dep_a", "crt_x", identity.Roles{}, identity.ErrNotUserID},
		"fail/console-id-portal": {"dep_a", "cu_admin", identity.Roles{}, identity.ErrInactive},
	} {
		got, err := identity.ActiveRoles(ctx, d, c.dep, c.id)
		if !errors.Is(err, c.err) || got.Portal != c.want.Portal || !slices.Equal(got.Console, c.want.Console) {
			t.Errorf("%s: %+v %v, want %+v %v", name, got, err, c.want, c.err)
		}
		if c.err != nil && !errors.Is(err, fault.ErrNotFound) {
			t.Errorf("%s: %v is not a not-found", name, err)
		}
	}
	// Other errors of the directory are passed on as they are.
	broken := errors.New("table unavailable")
	d.err = broken
	if _, err := identity.ActiveRoles(ctx, d, "dep_a", "cu_sig"); !errors.Is(err, broken) || errors.Is(err, identity.ErrInactive) {
		t.Errorf("directory error: %v", err)
	}
}
