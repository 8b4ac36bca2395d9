package login

import (
	"context"
	"errors"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/token"
)

// ErrPortalInactive answers a portal user who is gone or disabled and asks for a console token.
var ErrPortalInactive = fault.Newf(fault.ErrUnauthenticated, "Your portal account is no longer active.")

// ConsoleToken issues, with iss, a console token of deployment dep to portal user id: the
// portal user opens the Admin console with the console roles of its product role
// (identity.ConsoleRolesFor). The roles come from the user as stored now (identity.Active),
// not from the portal token: a gone or disabled user gets ErrPortalInactive.
func ConsoleToken(ctx context.Context, d identity.Directory, iss Issuer, dep, id string) (string, token.Claims, error) {
	u, err := identity.Active(ctx, d, dep, identity.KindPortal, id)
	if errors.Is(err, identity.ErrInactive) {
		return "", token.Claims{}, ErrPortalInactive
	}
	if err != nil {
		return "", token.Claims{}, err
	}
	roles := identity.ConsoleRoleNames(identity.ConsoleRolesFor(u.Portal))
	if len(roles) == 0 {
		roles = nil // as before: a user with no console role gets "roles": null, not []
	}
	return iss.Issue(ctx, token.Claims{Subject: u.Portal.ID, System: token.Console, Deployment: u.Portal.DeploymentID, Roles: roles, Name: u.Portal.Email,
		Generation: u.Portal.TokenGeneration})
}
