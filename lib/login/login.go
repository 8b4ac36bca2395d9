// Package login is the password login of both user systems: one flow (Password) for portal
// and console users alike, given what differs between them (PortalUsers, ConsoleUsers). An
// unknown user, a wrong password, a disabled user and a locked account get the same answer,
// after the same amount of password hashing, so that a caller learns nothing about which
// accounts exist.
package login

import (
	"context"
	"time"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/password"
	"github.com/opensignum/signum/lib/token"
	"github.com/opensignum/signum/lib/wire"
)

// ErrFailed is the one answer to every failed login.
var ErrFailed = fault.Newf(fault.ErrUnauthenticated, "The credentials are wrong, or the account is disabled or locked after too many failed attempts.")

// Account is what a login attempt is checked against; Exists false means no such user.
type Account struct {
	Exists bool
	Status identity.Status
	identity.Credentials
}

// Admits reports whether an attempt on acc at now is made at all: the user exists, is
// active, has a password (a certificate user has none: no password logs it in, and trying
// counts nothing against it) and is not locked. An attempt that is not made changes nothing,
// so that guessing at a locked account cannot extend the lock.
func Admits(acc Account, lock password.Lockout, now time.Time) bool {
	return acc.Exists && acc.PasswordHash != "" && acc.Status == identity.StatusActive && !lock.Locked(acc.LockState(), now)
}

// Attempts count login attempts on the users of one system and settle them (PortalUsers,
// ConsoleUsers).
type Attempts interface {
	// Reserve counts an attempt on user (deploymentID, userID) as a failure before its
	// password is checked: one conditional write (password.Reservation), refused with
	// identity.ErrNoAttempt when the user is gone, disabled or locked by then. It returns
	// the count the attempt made and the user's version after it.
	Reserve(ctx context.Context, deploymentID, userID string, r password.Reservation, now time.Time) (failures int, version int64, err error)
	// LockForever sets the user's permanent lock flag.
	LockForever(ctx context.Context, deploymentID, userID string) error
	// ResetFailures clears the user's failures after the right password.
	ResetFailures(ctx context.Context, deploymentID, userID string) error
}

// verify checks a password against its hash: password.Verify, which tests replace to count
// the checks a burst of attempts gets.
var verify = password.Verify

// Respond is the answer for token tok issued with claims c.
func Respond(tok string, c token.Claims) wire.Token {
	return wire.Token{Token: tok, TokenType: "Bearer", ExpiresAt: c.ExpiresAt, DeploymentID: c.Deployment, Roles: c.Roles}
}
