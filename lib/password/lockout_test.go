package password_test

import (
	"testing"
	"time"

	"github.com/opensignum/signum/lib/password"
)

func TestDefaultLockout(t *testing.T) {
	want := password.Lockout{Mode: password.LockoutTemporary, MaxFailures: 5, DurationMin: 15}
	if got := password.DefaultLockout(); got != want {
		t.Errorf("DefaultLockout = %+v, want %+v", got, want)
	}
}

func TestLockoutValidate(t *testing.T) {
	tests := []struct {
		name    string
		lockout password.Lockout
		want    []string
	}{
		{"ok/default", password.DefaultLockout(), nil},
		{"ok/none-ignores-numbers", password.Lockout{Mode: password.LockoutNone}, nil},
		{"ok/temporary-lower-bounds", password.Lockout{Mode: password.LockoutTemporary, MaxFailures: 1, DurationMin: 1}, nil},
		{"ok/temporary-upper-bounds", password.Lockout{Mode: password.LockoutTemporary, MaxFailures: 100, DurationMin: 1440}, nil},
		{"ok/permanent-needs-no-duration", password.Lockout{Mode: password.LockoutPermanent, MaxFailures: 10}, nil},
		{"fail/empty-mode", password.Lockout{MaxFailures: 5, DurationMin: 15}, []string{"mode"}},
		{"fail/unknown-mode", password.Lockout{Mode: "forever", MaxFailures: 5, DurationMin: 15}, []string{"mode"}},
		{"fail/temporary-zero-failures", password.Lockout{Mode: password.LockoutTemporary, MaxFailures: 0, DurationMin: 15}, []string{"maxFailures"}},
		{"fail/temporary-101-failures", password.Lockout{Mode: password.LockoutTemporary, MaxFailures: 101, DurationMin: 15}, []string{"maxFailures"}},
		{"fail/temporary-zero-duration", password.Lockout{Mode: password.LockoutTemporary, MaxFailures: 5}, []string{"durationMinutes"}},
		{"fail/temporary-1441-minutes", password.Lockout{Mode: password.LockoutTemporary, MaxFailures: 5, DurationMin: 1441}, []string{"durationMinutes"}},
		{"fail/temporary-both", password.Lockout{Mode: password.LockoutTemporary, MaxFailures: -1, DurationMin: -1}, []string{"maxFailures", "durationMinutes"}},
		{"fail/permanent-zero-failures", password.Lockout{Mode: password.LockoutPermanent}, []string{"maxFailures"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkFields(t, tt.lockout.Validate(), tt.want) })
	}
}

// account is the per-user state a store keeps for lockout.
type account struct {
	failures    int
	lockedUntil time.Time
	permanent   bool
}

// step is one event in a lockout scenario: after advancing the clock, either a failed login
// (fail) or only a look; want is Locked after the event, wantFailures the stored count.
type step struct {
	advance      time.Duration
	fail         bool
	want         bool
	wantFailures int
}

func TestLockoutTransitions(t *testing.T) {
	fails := func(n int, wantLockedAfterLast bool, counts ...int) []step {
		s := make([]step, n)
		for i := range s {
			s[i] = step{fail: true, wantFailures: counts[i]}
		}
		s[n-1].want = wantLockedAfterLast
		return s
	}
	cat := func(parts ...[]step) []step {
		var all []step
		for _, p := range parts {
			all = append(all, p...)
		}
		return all
	}
	look := func(advance time.Duration, want bool, failures int) []step {
		return []step{{advance: advance, want: want, wantFailures: failures}}
	}
	temporary := password.Lockout{Mode: password.LockoutTemporary, MaxFailures: 3, DurationMin: 15}
	permanent := password.Lockout{Mode: password.LockoutPermanent, MaxFailures: 3}
	tests := []struct {
		name    string
		lockout password.Lockout
		start   account
		steps   []step
	}{
		{"ok/none-never-locks", password.Lockout{Mode: password.LockoutNone},
			account{failures: 999}, cat(fails(1, false, 1000), look(time.Hour, false, 1000))},
		{"ok/temporary-below-max", temporary, account{},
			cat(fails(2, false, 1, 2), look(time.Hour, false, 2))},
		{"fail/temporary-locks-at-max-and-expires", temporary, account{},
			cat(fails(3, true, 1, 2, 0),
				look(15*time.Minute-time.Second, true, 0),
				look(time.Second, false, 0), // expiry: exactly at lockedUntil it is open
				fails(2, false, 1, 2),       // a fresh count after the lock
				fails(1, true, 0))},
		{"fail/permanent-locks-at-max-and-stays", permanent, account{},
			cat(fails(3, true, 1, 2, 3), look(100*365*24*time.Hour, true, 3))},
		{"ok/permanent-below-max", permanent, account{},
			cat(fails(2, false, 1, 2), look(time.Hour, false, 2))},
		{"fail/permanent-count-without-flag", permanent, account{failures: 3}, look(0, true, 3)},
		{"fail/permanent-flag-survives-mode-none", password.Lockout{Mode: password.LockoutNone},
			account{failures: 3, permanent: true}, look(time.Hour, true, 3)},
		{"fail/temporary-lock-survives-mode-none", password.Lockout{Mode: password.LockoutNone},
			account{lockedUntil: t0.Add(10 * time.Minute)}, cat(look(9*time.Minute, true, 0), look(time.Minute, false, 0))},
		{"fail/unknown-mode-enforces-default", password.Lockout{Mode: "bogus"}, account{},
			cat(fails(5, true, 1, 2, 3, 4, 0), look(15*time.Minute-time.Second, true, 0), look(time.Second, false, 0))},
		{"fail/zero-max-failures-clamped-to-1", password.Lockout{Mode: password.LockoutTemporary}, account{},
			cat(fails(1, true, 0), look(time.Minute, false, 0))},
		{"ok/negative-count-treated-as-zero", temporary, account{failures: -7}, fails(1, false, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now, a := t0, tt.start
			for i, s := range tt.steps {
				now = now.Add(s.advance)
				if s.fail {
					if tt.lockout.Locked(a.failures, a.lockedUntil, a.permanent, now) {
						t.Fatalf("step %d: failed login while locked; the scenario is wrong", i)
					}
					a.failures, a.lockedUntil, a.permanent = tt.lockout.AfterFailure(a.failures, now)
				}
				if got := tt.lockout.Locked(a.failures, a.lockedUntil, a.permanent, now); got != s.want {
					t.Errorf("step %d: Locked = %v, want %v (state %+v)", i, got, s.want, a)
				}
				if a.failures != s.wantFailures {
					t.Errorf("step %d: failures = %d, want %d", i, a.failures, s.wantFailures)
				}
			}
		})
	}
}

var t0 = time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)

func TestLockoutTemporaryUntil(t *testing.T) {
	l := password.Lockout{Mode: password.LockoutTemporary, MaxFailures: 1, DurationMin: 30}
	n, until, perm := l.AfterFailure(0, t0)
	if n != 0 || !until.Equal(t0.Add(30*time.Minute)) || perm {
		t.Errorf("AfterFailure = %d, %v, %v; want 0, %v, false", n, until, perm, t0.Add(30*time.Minute))
	}
	p := password.Lockout{Mode: password.LockoutPermanent, MaxFailures: 1}
	n, until, perm = p.AfterFailure(0, t0)
	if n != 1 || !until.IsZero() || !perm {
		t.Errorf("permanent AfterFailure = %d, %v, %v; want 1, zero time, true", n, until, perm)
	}
}
