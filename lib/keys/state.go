package keys

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/opensignum/signum/lib/fault"
)

// Status is what a key's backend says about the key: whether it can sign and, when it cannot,
// why.
type Status string

// Key statuses. Only StatusEnabled signs.
const (
	// StatusEnabled means the key exists and can sign.
	StatusEnabled Status = "enabled"
	// StatusDisabled means the key exists but its backend refuses to use it (KMS: disabled).
	StatusDisabled Status = "disabled"
	// StatusPendingDeletion means the key is scheduled for deletion (KMS); until the deletion
	// date an operator can still cancel it, after that the key is gone.
	StatusPendingDeletion Status = "pending-deletion"
	// StatusMissing means the backend has no such key (deleted, or never there).
	StatusMissing Status = "missing"
	// StatusUnreachable means the backend could not be asked: KMS throttling or failing, an
	// HSM whose module, token or login is not working.
	StatusUnreachable Status = "unreachable"
)

// State is a key's status as its backend reported it.
type State struct {
	Status Status
	// DeletionDate is when a key pending deletion is deleted; zero when not pending or
	// not known.
	DeletionDate time.Time
	// Detail says in a sentence a person can read why a key that is not enabled is not
	// (it names no key id, ARN or backend message: those go to the log).
	Detail string
}

// Stater is the optional capability of a Backend to tell a key's state without signing with
// it. Callers check for it by type assertion, as for any optional capability. A key that
// cannot be reached is a State with StatusUnreachable, not an error; an error means the state
// could not be told at all (a malformed URI, access denied, a backend that cannot tell).
type Stater interface {
	State(ctx context.Context, uri string) (State, error)
}

// State tells the state of the key at uri with the backend its scheme names. A scheme that no
// backend of the registry serves, or whose backend cannot tell states, is ErrUnsupported.
func (r *Registry) State(ctx context.Context, uri string) (State, error) {
	scheme, _, ok := strings.Cut(uri, ":")
	if !ok {
		return State{}, fault.Newf(ErrNotFound, "%q is not a key URI", uri)
	}
	b, err := r.Backend(scheme)
	if err != nil {
		return State{}, err
	}
	s, ok := b.(Stater)
	if !ok {
		return State{}, fault.Newf(ErrUnsupported, "the %s key backend cannot tell a key's state", scheme)
	}
	return s.State(ctx, uri)
}

// StateOf turns the error of a call on a key into a State when the error says one: not found
// is StatusMissing, unavailable is StatusUnreachable. Backends use it for the errors of their
// lookups; any other error stays an error.
func StateOf(err error) (State, error) {
	detail, _ := fault.DetailOf(err)
	switch {
	case errors.Is(err, ErrNotFound):
		return State{Status: StatusMissing, Detail: "The key does not exist or has been deleted."}, nil
	case errors.Is(err, ErrUnavailable):
		if detail == "" {
			detail = "The key backend cannot be reached."
		}
		return State{Status: StatusUnreachable, Detail: detail}, nil
	}
	return State{}, err
}
