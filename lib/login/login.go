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

// Result of a login attempt.
type Result int

// Results. Only Failure is counted towards a lockout: an attempt on an unknown, disabled or
// locked account changes nothing (so that guessing at a locked account cannot extend the lock).
const (
	Refused      Result = iota // unknown user, disabled or locked: nothing to record
	Failure                    // wrong password: count it
	Success                    // right password, no failures to clear
	SuccessReset               // right password: clear the failures
)

// OK reports whether the login succeeded.
func (r Result) OK() bool { return r == Success || r == SuccessReset }

// Attempt checks pw against acc at now under lockout. Every path hashes once, so that all
// answers take the same time.
func Attempt(acc Account, pw string, lock password.Lockout, now time.Time) Result {
	// A certificate user has no password: no password logs it in, and trying counts no
	// failure against it (that would lock nothing but cost a write).
	if !acc.Exists || acc.PasswordHash == "" || acc.Status != identity.StatusActive || lock.Locked(acc.Failures, acc.LockedUntil, acc.LockedForever, now) {
		password.VerifyDummy(pw)
		return Refused
	}
	match, err := password.Verify(acc.PasswordHash, pw)
	if err != nil || !match {
		return Failure
	}
	if acc.Failures != 0 || !acc.LockedUntil.IsZero() {
		return SuccessReset
	}
	return Success
}

// Recorder stores login outcomes on the users of one user system, atomically (PortalUsers,
// ConsoleUsers).
type Recorder interface {
	RecordFailure(ctx context.Context, deploymentID, userID string, lock password.Lockout, now time.Time) error
	ResetFailures(ctx context.Context, deploymentID, userID string) error
}

// record stores the outcome of an attempt on user (deploymentID, userID). Refused attempts
// make the same kind of write against an item that does not exist, so that refused and failed
// attempts cost the same round trips.
func record(ctx context.Context, rec Recorder, res Result, deploymentID, userID string, lock password.Lockout, now time.Time) error {
	switch res {
	case Failure:
		return rec.RecordFailure(ctx, deploymentID, userID, lock, now)
	case Refused:
		_ = rec.RecordFailure(ctx, "dep_none", "none", lock, now)
	case SuccessReset:
		return rec.ResetFailures(ctx, deploymentID, userID)
	}
	return nil
}

// Respond is the answer for token tok issued with claims c.
func Respond(tok string, c token.Claims) wire.Token {
	return wire.Token{Token: tok, TokenType: "Bearer", ExpiresAt: c.ExpiresAt, DeploymentID: c.Deployment, Roles: c.Roles}
}
