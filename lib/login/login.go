// Package login checks a password login the same way for both user systems. An unknown user,
// a wrong password, a disabled user and a locked account get the same answer, after the same
// amount of password hashing, so that a caller learns nothing about which accounts exist.
package login

import (
	"time"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/password"
)

// ErrFailed is the one answer to every failed login.
var ErrFailed = fault.Newf(fault.ErrUnauthenticated, "The credentials are wrong, or the account is disabled or locked after too many failed attempts.")

// Account is what a login attempt is checked against; Exists false means no such user.
type Account struct {
	Exists bool
	Status identity.Status
	identity.Credentials
}

// Attempt checks pw against acc at now under lockout. It returns whether the login succeeds,
// the credentials to store, and whether they changed (a failure counted or a count reset).
func Attempt(acc Account, pw string, lock password.Lockout, now time.Time) (ok bool, next identity.Credentials, changed bool) {
	next = acc.Credentials
	if !acc.Exists || acc.Status != identity.StatusActive || lock.Locked(acc.Failures, acc.LockedUntil, acc.LockedForever, now) {
		password.VerifyDummy(pw)
		return false, next, false
	}
	match, err := password.Verify(acc.PasswordHash, pw)
	if err != nil || !match {
		next.Failures, next.LockedUntil, next.LockedForever = lock.AfterFailure(acc.Failures, now)
		return false, next, true
	}
	if acc.Failures != 0 || !acc.LockedUntil.IsZero() {
		next.Failures, next.LockedUntil = 0, time.Time{}
		return true, next, true
	}
	return true, next, false
}

// SetPassword checks pw against policy (and the user's identity) and returns credentials
// holding its hash, with no failures and no lock.
func SetPassword(pw, who string, policy password.Policy, now time.Time) (identity.Credentials, error) {
	if err := policy.Check(pw, who); err != nil {
		return identity.Credentials{}, err
	}
	h, err := password.Hash(pw, password.DefaultParams)
	if err != nil {
		return identity.Credentials{}, err
	}
	return identity.Credentials{PasswordHash: h, PasswordSetAt: now}, nil
}
