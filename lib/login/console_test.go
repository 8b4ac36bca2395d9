package login_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/login"
	"github.com/opensignum/signum/lib/tenant"
	"github.com/opensignum/signum/lib/token"
)

// A portal user opens the console with the console roles of its product role, read from the
// user as stored now; a disabled portal user, a console user's id and another deployment's
// user get ErrPortalInactive.
func TestConsoleToken(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	tok, c, err := login.ConsoleToken(ctx, f.st, issuer{}, f.dep, f.portal.ID)
	if err != nil || tok != "token-"+f.portal.ID {
		t.Fatalf("ok/user: %q %v", tok, err)
	}
	if c.System != token.Console || c.Subject != f.portal.ID || c.Deployment != f.dep || c.Name != "ada@example.com" || !slices.Equal(c.Roles, []string{"signer"}) {
		t.Fatalf("ok/user claims: %+v", c)
	}
	cur, err := f.st.GetPortalUser(ctx, f.dep, f.portal.ID)
	if err != nil {
		t.Fatal(err)
	}
	off := cur
	off.Status = identity.StatusDisabled
	if _, err := f.st.UpdatePortalUser(ctx, cur, off, tenant.LogEntry{Actor: "test", Action: "portalUser.updated"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := login.ConsoleToken(ctx, f.st, issuer{}, f.dep, f.portal.ID); !errors.Is(err, login.ErrPortalInactive) {
		t.Errorf("fail/disabled: %v", err)
	}
	on := off
	on.Status = identity.StatusActive
	if f.portal, err = f.st.GetPortalUser(ctx, f.dep, f.portal.ID); err != nil {
		t.Fatal(err)
	}
	if f.portal, err = f.st.UpdatePortalUser(ctx, f.portal, on, tenant.LogEntry{Actor: "test", Action: "portalUser.updated"}); err != nil {
		t.Fatal(err)
	}
	// Promoted since the portal token was issued: the stored role counts.
	admin := f.portal
	admin.Role = identity.RoleAdmin
	if _, err := f.st.UpdatePortalUser(ctx, f.portal, admin, tenant.LogEntry{Actor: "test", Action: "portalUser.updated"}); err != nil {
		t.Fatal(err)
	}
	if _, c, err = login.ConsoleToken(ctx, f.st, issuer{}, f.dep, f.portal.ID); err != nil || !slices.Equal(c.Roles, []string{"console-admin", "signer"}) {
		t.Fatalf("ok/promoted: %+v %v", c.Roles, err)
	}
	for name, id := range map[string]string{"console user": f.console.ID, "unknown": "pu_nobody"} {
		if _, _, err := login.ConsoleToken(ctx, f.st, issuer{}, f.dep, id); !errors.Is(err, login.ErrPortalInactive) {
			t.Errorf("fail/%s: %v", name, err)
		}
	}
	if _, _, err := login.ConsoleToken(ctx, f.st, issuer{}, "dep_other", f.portal.ID); !errors.Is(err, login.ErrPortalInactive) {
		t.Errorf("fail/other deployment: %v", err)
	}
}
