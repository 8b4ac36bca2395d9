// Package invites creates deployment links: single-use, expiring invitations to become a
// portal user of a deployment with a given role.
package invites

import (
	"context"
	"time"

	"github.com/opensignum/signum/lib/access"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/store"
)

// New validates and stores a deployment link of req's deployment and returns it with
// its token. signumAdmin may be true only for the operator; the portal passes false.
func New(ctx context.Context, st *store.Store, now time.Time, req *access.Request, email string, role identity.PortalRole, signumAdmin bool) (identity.Invite, string, error) {
	var bad fault.Fields
	if email != "" {
		var err error
		if email, err = identity.NormalizeEmail(email); err != nil {
			bad.Add("email", "is not an e-mail address")
		}
	}
	if !role.Valid() {
		bad.Add("role", "must be Admin, User or Viewer")
	}
	if signumAdmin && role != identity.RoleAdmin {
		bad.Add("signumAdministrator", "only an Admin can be the Signum Administrator")
	}
	if err := bad.Err(); err != nil {
		return identity.Invite{}, "", err
	}
	tok, hash := identity.NewInviteToken()
	inv := identity.Invite{DeploymentID: req.Deployment.ID, Email: email, Role: role, SignumAdmin: signumAdmin,
		ExpiresAt: now.Add(identity.InviteTTL), CreatedBy: req.Principal.Actor(), CreatedAt: now}
	if err := st.CreateInvite(ctx, hash, inv); err != nil {
		return identity.Invite{}, "", err
	}
	return inv, tok, nil
}
