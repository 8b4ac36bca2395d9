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
// The caller stores three values per account: the failure count, the locked-until time and a
// permanent flag. A login first asks Locked (and if so refuses without checking the password,
// so a locked account is no guessing oracle), then on a wrong password stores what
// AfterFailure returns, and on success resets the count to 0. Only an administrator clears
// the permanent flag.
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

// AfterFailure returns the state to store after a failed login at now with failures earlier
// consecutive failures. Reaching MaxFailures in temporary mode sets lockedUntil to now plus the
// duration and resets the count, so that after the lock expires the user has MaxFailures fresh
// tries; in permanent mode it sets permanent and keeps the count. Call it only when Locked is
// false.
func (l Lockout) AfterFailure(failures int, now time.Time) (newFailures int, lockedUntil time.Time, permanent bool) {
	l = l.effective()
	n := max(failures, 0) + 1
	switch l.Mode {
	case LockoutTemporary:
		if n >= l.MaxFailures {
			return 0, now.Add(time.Duration(l.DurationMin) * time.Minute), false
		}
	case LockoutPermanent:
		if n >= l.MaxFailures {
			return n, time.Time{}, true
		}
	}
	return n, time.Time{}, false
}

// Locked reports whether an account with the stored state is locked at now. A permanent flag
// locks whatever the current mode, since only an administrator may lift it (loosening the
// policy must not silently unlock accounts an attacker went after), and so does a lockedUntil
// still in the future. In permanent mode a count at or over MaxFailures locks as well, so a
// store that lost the flag still fails closed.
func (l Lockout) Locked(failures int, lockedUntil time.Time, permanent bool, now time.Time) bool {
	l = l.effective()
	if permanent || now.Before(lockedUntil) {
		return true
	}
	return l.Mode == LockoutPermanent && failures >= l.MaxFailures
}
