package access_test

import (
	"slices"
	"testing"

	"github.com/opensignum/signum/lib/access"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/policy"
)

// The roles signing policies match: the portal role spelled as the policy engine spells it,
// then the console roles; a principal's are the same as its user's.
func TestPolicyRoles(t *testing.T) {
	for name, c := range map[string]struct {
		roles identity.Roles
		want  []string
	}{
		"ok/portal-user":  {identity.Roles{Portal: identity.RoleAdmin, Console: []identity.ConsoleRole{identity.ConsoleAdmin, identity.Signer}}, []string{"portal:Admin", "console-admin", "signer"}},
		"ok/console-user": {identity.Roles{Console: []identity.ConsoleRole{identity.Signer}}, []string{"signer"}},
		"ok/no-roles":     {identity.Roles{}, []string{}},
	} {
		got := policy.RolesFor(c.roles)
		if !slices.Equal(got, c.want) || got == nil {
			t.Errorf("%s: %q, want %q", name, got, c.want)
		}
		p := access.Principal{PortalRole: c.roles.Portal, ConsoleRoles: c.roles.Console}
		if pr := p.PolicyRoles(); !slices.Equal(pr, got) {
			t.Errorf("%s: the principal's %q differ from the user's %q", name, pr, got)
		}
	}
}
