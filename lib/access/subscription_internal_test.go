package access

import (
	"errors"
	"strings"
	"testing"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/roles"
	"github.com/opensignum/signum/lib/tenant"
)

// TestSubscriptionStateTable: what each subscription state lets through, by the part of the
// service a route's rule makes it and whether it reads; a refusal is subscription-inactive and
// says what is closed.
func TestSubscriptionStateTable(t *testing.T) {
	const active, suspended, cancelled = tenant.StatusActive, tenant.StatusSuspended, tenant.StatusCancelled
	portal := PortalRoles(identity.RoleAdmin)
	for _, c := range []struct {
		name   string
		rule   Rule
		method string
		status tenant.Status
		// want is "" when the request goes through, else part of the refusal's detail.
		want string
	}{
		{"ok/active-signer", Signer(), "POST", active, ""},
		{"ok/active-console-change", Area(roles.Policies, roles.Manage), "POST", active, ""},
		{"ok/active-portal-change", portal, "PATCH", active, ""},
		{"fail/suspended-sign", Signer(), "POST", suspended, "signing resumes when the marketplace reinstates it"},
		{"fail/suspended-signer-list", Signer(), "GET", suspended, "signing resumes"},
		{"ok/suspended-console-read", Area(roles.Policies, roles.Read), "GET", suspended, ""},
		{"ok/suspended-console-head", ConsoleSession(), "HEAD", suspended, ""},
		{"ok/suspended-dry-run", Area(roles.Policies, roles.Read), "POST", suspended, ""},
		{"fail/suspended-console-change", Area(roles.Policies, roles.Manage), "POST", suspended, "console is read-only"},
		{"fail/suspended-console-delete", SignumAdministrator(), "DELETE", suspended, "console is read-only"},
		{"ok/suspended-login", PublicOnTenant().Login(), "POST", suspended, ""},
		{"fail/suspended-public-post", PublicOnTenant(), "POST", suspended, "console is read-only"},
		{"fail/suspended-ci-session", PublicOnTenant().SigningLogin(), "POST", suspended, "signing resumes"},
		{"ok/suspended-portal-read", portal, "GET", suspended, ""},
		{"ok/suspended-console-from-portal", portal.Login(), "POST", suspended, ""},
		{"fail/suspended-portal-change", portal, "PATCH", suspended, "settings and portal users cannot be changed"},
		{"fail/cancelled-sign", Signer(), "POST", cancelled, "console and signer are closed"},
		{"fail/cancelled-console-read", Area(roles.Policies, roles.Read), "GET", cancelled, "console and signer are closed"},
		{"fail/cancelled-login", PublicOnTenant().Login(), "POST", cancelled, "console and signer are closed"},
		{"fail/cancelled-console-from-portal", portal.Login(), "POST", cancelled, "console and signer are closed"},
		{"ok/cancelled-portal-read", portal, "GET", cancelled, ""},
		{"fail/cancelled-portal-change", portal, "DELETE", cancelled, "the portal shows it read-only"},
		{"fail/unknown-state", Area(roles.Policies, roles.Read), "GET", "paused", "subscription is paused"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := inState(c.rule, c.method, tenant.Deployment{Status: c.status})
			if c.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			detail, _ := fault.DetailOf(err)
			if !errors.Is(err, fault.ErrSubscriptionInactive) || !strings.Contains(detail, c.want) {
				t.Fatalf("%v, want subscription-inactive saying %q", err, c.want)
			}
		})
	}
	if err := ConsoleChange(tenant.Deployment{Status: suspended}); !errors.Is(err, fault.ErrSubscriptionInactive) {
		t.Errorf("fail/a change made by a login while suspended: %v", err)
	}
	if err := ConsoleChange(tenant.Deployment{Status: active}); err != nil {
		t.Errorf("ok/a change made by a login while active: %v", err)
	}
}
