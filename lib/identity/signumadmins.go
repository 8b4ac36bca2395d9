package identity

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/tenant"
)

// The Signum Administrator role, as the operator grants, revokes and moves it. Only the
// operator side calls these (the operator API); no customer API reaches them.
//
// The rules, and why:
//   - The role is held by active Admins only, as the deployment links that carry it already
//     require (provisioning.Invite) and as the portal keeps (ErrSignumAdmin). A grant to a
//     User, a Viewer or a disabled account is refused (ErrNotEligible) rather than making
//     them an Admin: the product role is the customer's to give, in the portal; the
//     operator does not change it behind the customer's Admins.
//   - A deployment keeps at least one Signum Administrator: the product has the operator
//     configure the role at deployment, and only it creates domains, roles and certificate
//     groups, so a deployment without one would be stuck until a ticket. Revoking the last
//     holder is refused (ErrLastSignumAdmin); a move replaces the holders in one write.
//   - Several holders are allowed (the product lets customers ask to add or remove users).
//
// Nothing here ends the holders' sessions: the access guard reads the caller's roles as stored
// on every request, so the change applies to the next one; the roles a console token names
// (which the web console shows) are those of when it was issued, until it expires.

// SignumAdminStore is what the role's changes read and write (store.Store).
type SignumAdminStore interface {
	GetPortalUser(ctx context.Context, deploymentID, id string) (PortalUser, error)
	SignumAdministrators(ctx context.Context, deploymentID string) ([]PortalUser, error)
	ChangeSignumAdministrators(ctx context.Context, deploymentID string, grant, revoke []PortalUser, keep string, log tenant.LogEntry) error
}

// ErrLastSignumAdmin refuses a change that would leave a deployment without a Signum
// Administrator.
var ErrLastSignumAdmin = fault.Newf(fault.ErrConflict, "This is the deployment's only Signum Administrator: grant the role to another active Admin first, or move it to one (PUT /operator/deployments/{id}/signum-administrators).")

// ErrNotEligible is the kind of a refused grant to a user who is not an active Admin.
var ErrNotEligible = errors.New("identity: only an active Admin can be the Signum Administrator")

// errChangedMeanwhile answers a change whose users moved on between its read and its write
// (the caller sent no precondition: this is a conflict, not a failed If-Match).
var errChangedMeanwhile = fault.Newf(fault.ErrConflict, "A portal user of the deployment changed while the Signum Administrator role was being changed; nothing was written, retry.")

// SignumAdministrators grants, revokes and moves the Signum Administrator role.
type SignumAdministrators struct {
	st SignumAdminStore
}

// NewSignumAdministrators returns the role's changes on st.
func NewSignumAdministrators(st SignumAdminStore) *SignumAdministrators {
	return &SignumAdministrators{st: st}
}

// List returns the holders of the role in deployment dep.
func (s *SignumAdministrators) List(ctx context.Context, dep string) ([]PortalUser, error) {
	return s.st.SignumAdministrators(ctx, dep)
}

// Grant gives the role to portal user id of deployment dep, on behalf of actor, and returns
// the user as it is after; granted is false when the user held it already (nothing is
// written then).
func (s *SignumAdministrators) Grant(ctx context.Context, dep, id, actor string) (u PortalUser, granted bool, err error) {
	u, err = s.eligible(ctx, dep, id)
	if err != nil || u.SignumAdmin {
		return u, false, err
	}
	if err := s.write(ctx, dep, []PortalUser{u}, nil, "", actor, "signumAdministrator.granted", who(u)); err != nil {
		return PortalUser{}, false, err
	}
	u.SignumAdmin, u.Version = true, u.Version+1
	return u, true, nil
}

// Revoke takes the role from portal user id of deployment dep, on behalf of actor. The user
// stays an Admin. A user who does not hold the role is not found; the last holder keeps it
// (ErrLastSignumAdmin), checked again by the write itself against a concurrent revoke.
func (s *SignumAdministrators) Revoke(ctx context.Context, dep, id, actor string) error {
	if err := checkPortalID(id); err != nil {
		return err
	}
	holders, err := s.st.SignumAdministrators(ctx, dep)
	if err != nil {
		return err
	}
	var u PortalUser
	keep := ""
	for _, h := range holders {
		if h.ID == id {
			u = h
		} else if keep == "" {
			keep = h.ID
		}
	}
	if u.ID == "" {
		return fault.Newf(fault.ErrNotFound, "No Signum Administrator of this deployment has the id %q.", fault.Clip(id, 40))
	}
	if keep == "" {
		return ErrLastSignumAdmin
	}
	return s.write(ctx, dep, nil, []PortalUser{u}, keep, actor, "signumAdministrator.revoked", who(u))
}

// Move makes portal user id of deployment dep the deployment's only Signum Administrator, on
// behalf of actor: in one write it grants the role to the user (unless held) and revokes it
// from every other holder, so that no moment has the role in no hands, or in the old hands
// and the new. It returns the user as it is after; a user who is the only holder already
// changes nothing.
func (s *SignumAdministrators) Move(ctx context.Context, dep, id, actor string) (PortalUser, error) {
	u, err := s.eligible(ctx, dep, id)
	if err != nil {
		return PortalUser{}, err
	}
	holders, err := s.st.SignumAdministrators(ctx, dep)
	if err != nil {
		return PortalUser{}, err
	}
	var revoke []PortalUser
	var from []string
	for _, h := range holders {
		if h.ID != u.ID {
			revoke = append(revoke, h)
			from = append(from, who(h))
		}
	}
	var grant []PortalUser
	if !u.SignumAdmin {
		grant = []PortalUser{u}
	}
	if len(grant) == 0 && len(revoke) == 0 {
		return u, nil
	}
	detail := "to " + who(u)
	if len(from) > 0 {
		detail += " from " + strings.Join(from, ", ")
	}
	if err := s.write(ctx, dep, grant, revoke, "", actor, "signumAdministrator.moved", detail); err != nil {
		return PortalUser{}, err
	}
	if !u.SignumAdmin {
		u.SignumAdmin, u.Version = true, u.Version+1
	}
	return u, nil
}

// eligible reads portal user id of dep and refuses one who cannot hold the role.
func (s *SignumAdministrators) eligible(ctx context.Context, dep, id string) (PortalUser, error) {
	if err := checkPortalID(id); err != nil {
		return PortalUser{}, err
	}
	u, err := s.st.GetPortalUser(ctx, dep, id)
	if err != nil {
		return PortalUser{}, err
	}
	if u.Role != RoleAdmin || u.Status != StatusActive {
		state := "a " + string(u.Role)
		if u.Status != StatusActive {
			state = "disabled"
		}
		return PortalUser{}, fault.Newf(fmt.Errorf("%w: %w", ErrNotEligible, fault.ErrConflict),
			"Only an active Admin can be the Signum Administrator, and %s is %s: an Admin of the deployment can make them an active Admin in the portal first.", u.Email, state)
	}
	return u, nil
}

func (s *SignumAdministrators) write(ctx context.Context, dep string, grant, revoke []PortalUser, keep, actor, action, detail string) error {
	err := s.st.ChangeSignumAdministrators(ctx, dep, grant, revoke, keep, tenant.LogEntry{Actor: actor, Action: action, Detail: detail})
	if errors.Is(err, fault.ErrPrecondition) {
		return errChangedMeanwhile
	}
	return err
}

// checkPortalID refuses an id that is not a portal user's before anything is read.
func checkPortalID(id string) error {
	if KindOf(id) != KindPortal || len(id) > 64 {
		return fault.Fields{{Name: "userId", Reason: "is the id of a portal user of the deployment (pu_…)"}}
	}
	return nil
}

// who names a user in the system log.
func who(u PortalUser) string { return u.Email + " (" + u.ID + ")" }
