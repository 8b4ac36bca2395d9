package identity

import (
	"context"
	"errors"
	"fmt"

	"github.com/opensignum/signum/lib/fault"
)

// Directory reads the users of both systems (store.Store).
type Directory interface {
	GetPortalUser(ctx context.Context, deploymentID, id string) (PortalUser, error)
	GetConsoleUser(ctx context.Context, deploymentID, id string) (ConsoleUser, error)
}

// Roles are what a user may do, in both systems.
type Roles struct {
	// Portal is a portal user's product role ("" for a console user).
	Portal PortalRole
	// Console are a console user's roles, or the ones a portal user opens the console with
	// (ConsoleRolesFor).
	Console []ConsoleRole
}

// Errors of ActiveRoles. Both are fault.ErrNotFound: no such user, as far as the caller is
// concerned.
var (
	// ErrNotUserID is an id that is not a user id of either kind.
	ErrNotUserID = fmt.Errorf("identity: not a user id: %w", fault.ErrNotFound)
	// ErrInactive is a user that does not exist in the deployment, or is disabled.
	ErrInactive = fmt.Errorf("identity: no active user: %w", fault.ErrNotFound)
)

// User is a user of either system as stored now: Portal is set for a portal user (Kind
// KindPortal), Console for a console user (KindConsole).
type User struct {
	Kind    Kind
	Portal  PortalUser
	Console ConsoleUser
}

// Roles are u's roles: a portal user's product role and the console roles it opens the
// console with, or a console user's roles.
func (u User) Roles() Roles {
	if u.Kind == KindPortal {
		return Roles{Portal: u.Portal.Role, Console: ConsoleRolesFor(u.Portal)}
	}
	return Roles{Console: u.Console.Roles}
}

// Active reads user id of deployment dep from d as a user of kind k, whatever the id's own
// prefix says (a portal token names a portal user; KindOf(id) is the kind when only the id is
// known), and refuses one that is gone or disabled: ErrInactive for a user that is missing or
// not active, ErrNotUserID for a kind that is neither, and the directory's other errors as
// they are. It is the one read of "the caller as stored now": the access guard, the console
// token of a portal user and the policy dry run all use it.
func Active(ctx context.Context, d Directory, dep string, k Kind, id string) (User, error) {
	switch k {
	case KindPortal:
		u, err := d.GetPortalUser(ctx, dep, id)
		if err := active(err, u.Status, id); err != nil {
			return User{}, err
		}
		return User{Kind: KindPortal, Portal: u}, nil
	case KindConsole:
		u, err := d.GetConsoleUser(ctx, dep, id)
		if err := active(err, u.Status, id); err != nil {
			return User{}, err
		}
		return User{Kind: KindConsole, Console: u}, nil
	}
	return User{}, ErrNotUserID
}

// ActiveRoles reads the user id of deployment dep from d, by its kind, and returns its roles
// as stored now: ErrNotUserID for an id of neither kind, ErrInactive for a user that is
// missing or disabled, and the directory's other errors as they are.
func ActiveRoles(ctx context.Context, d Directory, dep, id string) (Roles, error) {
	u, err := Active(ctx, d, dep, KindOf(id), id)
	if err != nil {
		return Roles{}, err
	}
	return u.Roles(), nil
}

// active is the error of a read that returned err and a user of status st.
func active(err error, st Status, id string) error {
	switch {
	case err != nil && !errors.Is(err, fault.ErrNotFound):
		return err
	case err != nil || st != StatusActive:
		return fmt.Errorf("user %s: %w", fault.Clip(id, 40), ErrInactive)
	}
	return nil
}
