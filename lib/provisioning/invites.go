package provisioning

import (
	"context"
	"time"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
)

// InviteStore is where deployment links are kept (store.Store).
type InviteStore interface {
	CreateInvite(ctx context.Context, tokenHash string, inv identity.Invite) error
}

// Invite validates and stores a deployment link (a single-use, expiring invitation to become
// a portal user of deployment dep with a role), created by actor, and returns it with its
// token. signumAdmin may be true only for the operator; the portal passes false.
func Invite(ctx context.Context, st InviteStore, now time.Time, dep, actor, email string, role identity.PortalRole, signumAdmin bool) (identity.Invite, string, error) {
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
	inv := identity.Invite{DeploymentID: dep, Email: email, Role: role, SignumAdmin: signumAdmin,
		ExpiresAt: now.Add(identity.InviteTTL), CreatedBy: actor, CreatedAt: now}
	if err := st.CreateInvite(ctx, hash, inv); err != nil {
		return identity.Invite{}, "", err
	}
	return inv, tok, nil
}
