package identity

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/tenant"
)

// ErrSignumAdmin refuses customer changes that would revoke the Signum Administrator role,
// which only the operator side can move (SignumAdministrators, behind the operator API).
var ErrSignumAdmin = fault.Newf(fault.ErrConflict, "This user is the deployment's Signum Administrator and stays an active Admin; ask the operator to move or revoke the role first, which they do with /operator/deployments/{id}/signum-administrators.")

// PortalStore is what changes to portal users read and write (store.Store).
type PortalStore interface {
	GetInvite(ctx context.Context, tokenHash string) (Invite, error)
	Register(ctx context.Context, tokenHash string, u PortalUser) (PortalUser, error)
	GetPortalUser(ctx context.Context, deploymentID, id string) (PortalUser, error)
	UpdatePortalUser(ctx context.Context, current, next PortalUser, log tenant.LogEntry) (PortalUser, error)
	DeletePortalUser(ctx context.Context, u PortalUser, log tenant.LogEntry) error
}

// PortalUsers registers and changes the portal users of every deployment.
type PortalUsers struct {
	st  PortalStore
	now func() time.Time
}

// NewPortalUsers returns the portal users of st; now is the clock (time.Now in production).
func NewPortalUsers(st PortalStore, now func() time.Time) *PortalUsers {
	return &PortalUsers{st: st, now: now}
}

// Registration is what someone holding a deployment link sends to become a portal user.
type Registration struct {
	Token    string
	Email    string
	Name     string
	Password string
}

// Register makes the holder of a deployment link a portal user of its deployment, with the
// link's role (and Signum Administrator flag), and uses the link up. The fields are checked
// first (all at once), then the link; a link made for an address takes only that address.
func (p *PortalUsers) Register(ctx context.Context, r Registration) (PortalUser, error) {
	var bad fault.Fields
	email, err := NormalizeEmail(r.Email)
	if err != nil {
		bad.Add("email", "is not an e-mail address")
	}
	name, _ := OptionalName(r.Name, "name", &bad)
	if r.Token == "" || len(r.Token) > 200 {
		bad.Add("token", "is the token of a deployment link")
	}
	if err := bad.Err(); err != nil {
		return PortalUser{}, err
	}
	hash := InviteHash(r.Token)
	inv, err := p.st.GetInvite(ctx, hash)
	if err != nil {
		return PortalUser{}, err
	}
	if inv.Email != "" && inv.Email != email {
		return PortalUser{}, fault.Fields{{Name: "email", Reason: "this deployment link was made for another address"}}
	}
	creds, err := SetPassword(r.Password, email, PortalPasswordPolicy(), p.now())
	if err != nil {
		return PortalUser{}, err
	}
	return p.st.Register(ctx, hash, PortalUser{
		ID: NewPortalUserID(), DeploymentID: inv.DeploymentID, Email: email, Name: name, Role: inv.Role,
		Status: StatusActive, SignumAdmin: inv.SignumAdmin, Credentials: creds,
	})
}

// PortalUserPatch is a change to a portal user; nil fields stay.
type PortalUserPatch struct {
	Role   *string
	Status *string
	// Unlock lifts a lockout.
	Unlock bool
}

// Update applies patch to portal user id of deployment dep, on behalf of actor (for the
// system log), and returns the user as stored after it. check sees the user as read before
// anything else is looked at (the If-Match precondition); its error is returned as it is.
// The Signum Administrator stays an active Admin (ErrSignumAdmin). A patch that changes
// nothing writes nothing.
func (p *PortalUsers) Update(ctx context.Context, dep, id, actor string, patch PortalUserPatch, check func(PortalUser) error) (PortalUser, error) {
	cur, err := p.st.GetPortalUser(ctx, dep, id)
	if err != nil {
		return PortalUser{}, err
	}
	if err := check(cur); err != nil {
		return PortalUser{}, err
	}
	next := cur
	var bad fault.Fields
	var changes []string
	if patch.Role != nil {
		if role := PortalRole(*patch.Role); !role.Valid() {
			bad.Add("role", "must be Admin, User or Viewer")
		} else if role != cur.Role {
			next.Role = role
			changes = append(changes, fmt.Sprintf("role %s → %s", cur.Role, role))
		}
	}
	if patch.Status != nil {
		if st, ok := StatusField(*patch.Status, "status", &bad); ok && st != cur.Status {
			next.Status = st
			changes = append(changes, fmt.Sprintf("status %s → %s", cur.Status, st))
		}
	}
	if patch.Unlock {
		next.Unlock()
		changes = append(changes, "unlocked")
	}
	if err := bad.Err(); err != nil {
		return PortalUser{}, err
	}
	if cur.SignumAdmin && (next.Role != RoleAdmin || next.Status != StatusActive) {
		return PortalUser{}, ErrSignumAdmin
	}
	if len(changes) == 0 {
		return cur, nil
	}
	// A change of role, a disable and a re-enable end the user's sessions (an unlock alone
	// does not).
	if next.Role != cur.Role || next.Status != cur.Status {
		next.TokenGeneration = cur.TokenGeneration + 1
	}
	return p.st.UpdatePortalUser(ctx, cur, next, tenant.LogEntry{
		Actor: actor, Action: "portalUser.updated", Detail: cur.Email + ": " + strings.Join(changes, "; "),
	})
}

// Remove deletes portal user id of deployment dep, on behalf of actor. The Signum
// Administrator cannot be removed (ErrSignumAdmin).
func (p *PortalUsers) Remove(ctx context.Context, dep, id, actor string) error {
	u, err := p.st.GetPortalUser(ctx, dep, id)
	if err != nil {
		return err
	}
	if u.SignumAdmin {
		return ErrSignumAdmin
	}
	return p.st.DeletePortalUser(ctx, u, tenant.LogEntry{Actor: actor, Action: "portalUser.removed", Detail: u.Email})
}
