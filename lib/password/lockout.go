package password

import (
	"time"

	"github.com/opensignum/signum/lib/fault"
)

// LockoutMode says what happens to an account after too many failed logins.
type LockoutMode string

// Lockout modes.
const (
	// LockoutNone never locks; failures are still counted for the audit trail.
	LockoutNone LockoutMode = "none"
	// LockoutTemporary locks for Lockout.DurationMin minutes, then allows MaxFailures more tries.
	LockoutTemporary LockoutMode = "temporary"
	// LockoutPermanent locks until an administrator unlocks the account.
	LockoutPermanent LockoutMode = "permanent"
)

// Lockout is the lockout policy of a users domain.
//
// The caller stores a State per account. A login counts its attempt as a failure before the
// password is checked (Reserve says how, as one conditional write), so that guesses sent at
// once cannot all pass a check of the count made before any of them was counted: once the
// count reaches MaxFailures no further attempt is admitted, and the account is locked
// (Locked). A right password then clears the count; Permanent says when a wrong one must also
// set the permanent flag, which only an administrator clears.
type Lockout struct {
	Mode        LockoutMode `json:"mode"`
	MaxFailures int         `json:"maxFailures"`     // consecutive failures that lock (1..100)
	DurationMin int         `json:"durationMinutes"` // temporary lock length in minutes (1..1440)
}

// Limits of a lockout policy.
const (
	maxMaxFailures = 100
	maxDurationMin = 24 * 60
)

// DefaultLockout is the lockout policy of a new users domain: a 15-minute lock after 5
// consecutive failures, which slows online guessing to a few hundred tries a day without
// letting anyone lock a victim out for good.
func DefaultLockout() Lockout {
	return Lockout{Mode: LockoutTemporary, MaxFailures: 5, DurationMin: 15}
}

// Validate checks the lockout policy and returns a fault.Fields error naming the bad fields by
// their JSON names. Only the fields the mode uses are checked: maxFailures for temporary and
// permanent, durationMinutes for temporary.
func (l Lockout) Validate() error {
	var bad fault.Fields
	switch l.Mode {
	case LockoutNone:
	case LockoutTemporary:
		l.checkFailures(&bad)
		if l.DurationMin < 1 || l.DurationMin > maxDurationMin {
			bad.Add("durationMinutes", "must be from 1 to %d", maxDurationMin)
		}
	case LockoutPermanent:
		l.checkFailures(&bad)
	default:
		bad.Add("mode", "must be one of %s, %s, %s", LockoutNone, LockoutTemporary, LockoutPermanent)
	}
	return bad.Err()
}

func (l Lockout) checkFailures(bad *fault.Fields) {
	if l.MaxFailures < 1 || l.MaxFailures > maxMaxFailures {
		bad.Add("maxFailures", "must be from 1 to %d", maxMaxFailures)
	}
}

// effective returns the policy as enforced. An unknown or empty mode (a domain stored before
// lockout existed, or a corrupt item) gets DefaultLockout rather than no lockout, and values
// out of range are clamped, so enforcement fails closed without trusting Validate ran.
func (l Lockout) effective() Lockout {
	switch l.Mode {
	case LockoutNone, LockoutTemporary, LockoutPermanent:
	default:
		return DefaultLockout()
	}
	l.MaxFailures = min(max(l.MaxFailures, 1), maxMaxFailures)
	l.DurationMin = min(max(l.DurationMin, 1), maxDurationMin)
	return l
}

// State is what the caller stores per account for the lockout.
type State struct {
	// Failures are the attempts counted since the last successful login (or unlock).
	Failures int
	// FailedAt is when the last of them was counted; a temporary lock runs from it.
	FailedAt time.Time
	// LockedUntil is a temporary lock written by earlier versions, which locked after the
	// fact and cleared the count; it is still honoured until it runs out.
	LockedUntil time.Time
	// Permanent is the flag only an administrator clears.
	Permanent bool
}

// Reservation is how a login attempt is counted on an account, before its password is
// checked: one conditional write, which the store builds from it. The write is refused when
// the account is permanently locked, and otherwise:
//   - counting on (Restart false): when the count is not below Max (Max 0: no limit);
//     the count goes up by one and FailedAt becomes now;
//   - starting again (Restart true, a temporary lock that is over): unless the count is
//     still at least Max and the last failure at or before Expired; the count becomes one.
//
// A refused write means the attempt is not made: the account is locked (or became locked
// while the login read it), and the password is not checked.
type Reservation struct {
	Restart bool
	Max     int
	Expired time.Time
}

// Reserve returns how to count an attempt on an account whose state, as read, is s. Call it
// only when Locked(s, now) is false.
func (l Lockout) Reserve(s State, now time.Time) Reservation {
	l = l.effective()
	switch l.Mode {
	case LockoutNone:
		return Reservation{}
	case LockoutTemporary:
		if s.Failures >= l.MaxFailures {
			return Reservation{Restart: true, Max: l.MaxFailures, Expired: now.Add(-l.duration())}
		}
	}
	return Reservation{Max: l.MaxFailures}
}

// Permanent reports whether a wrong password on the attempt that made the count failures
// must set the permanent flag: in permanent mode, when the count reached MaxFailures. (The
// count alone already locks in that mode; the flag keeps the account locked should the
// policy be loosened later.)
func (l Lockout) Permanent(failures int) bool {
	l = l.effective()
	return l.Mode == LockoutPermanent && failures >= l.MaxFailures
}

// Locked reports whether an account with state s is locked at now. A permanent flag locks
// whatever the current mode, since only an administrator may lift it (loosening the policy
// must not silently unlock accounts an attacker went after), and so does a LockedUntil still
// in the future. A count at or over MaxFailures locks for good in permanent mode, so a store
// that lost the flag still fails closed, and in temporary mode for DurationMin minutes from
// the last failure; after that the count starts again (Reserve).
func (l Lockout) Locked(s State, now time.Time) bool {
	l = l.effective()
	if s.Permanent || now.Before(s.LockedUntil) {
		return true
	}
	switch l.Mode {
	case LockoutPermanent:
		return s.Failures >= l.MaxFailures
	case LockoutTemporary:
		return s.Failures >= l.MaxFailures && now.Before(s.FailedAt.Add(l.duration()))
	}
	return false
}

// duration is the length of a temporary lock.
func (l Lockout) duration() time.Duration { return time.Duration(l.DurationMin) * time.Minute }
