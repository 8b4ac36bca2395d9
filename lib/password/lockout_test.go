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

// step is one event in a lockout scenario: after advancing the clock, either a failed login
// (fail) or only a look; want is Locked after the event, wantFailures the stored count.
type step struct {
	advance      time.Duration
	fail         bool
	want         bool
	wantFailures int
}

// fail applies a failed login to s at now as a store does: the reservation's conditional
// write (refused: ok false), then the permanent flag when Permanent says so.
func fail(l password.Lockout, s password.State, now time.Time) (password.State, bool) {
	r := l.Reserve(s, now)
	switch {
	case s.Permanent:
		return s, false
	case r.Restart:
		if s.Failures < r.Max || s.FailedAt.After(r.Expired) {
			return s, false
		}
		s.Failures = 1
	default:
		if r.Max > 0 && s.Failures >= r.Max {
			return s, false
		}
		s.Failures++
	}
	s.FailedAt = now
	if l.Permanent(s.Failures) {
		s.Permanent = true
	}
	return s, true
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
		start   password.State
		steps   []step
	}{
		{"ok/none-never-locks", password.Lockout{Mode: password.LockoutNone},
			password.State{Failures: 999}, cat(fails(1, false, 1000), look(time.Hour, false, 1000))},
		{"ok/temporary-below-max", temporary, password.State{},
			cat(fails(2, false, 1, 2), look(time.Hour, false, 2))},
		{"fail/temporary-locks-at-max-and-expires", temporary, password.State{},
			cat(fails(3, true, 1, 2, 3),
				look(15*time.Minute-time.Second, true, 3),
				look(time.Second, false, 3), // expiry: exactly 15 minutes after the last failure it is open
				fails(2, false, 1, 2),       // a fresh count after the lock
				fails(1, true, 3))},
		{"fail/permanent-locks-at-max-and-stays", permanent, password.State{},
			cat(fails(3, true, 1, 2, 3), look(100*365*24*time.Hour, true, 3))},
		{"ok/permanent-below-max", permanent, password.State{},
			cat(fails(2, false, 1, 2), look(time.Hour, false, 2))},
		{"fail/permanent-count-without-flag", permanent, password.State{Failures: 3}, look(0, true, 3)},
		{"fail/permanent-flag-survives-mode-none", password.Lockout{Mode: password.LockoutNone},
			password.State{Failures: 3, Permanent: true}, look(time.Hour, true, 3)},
		{"fail/earlier-temporary-lock-survives-mode-none", password.Lockout{Mode: password.LockoutNone},
			password.State{LockedUntil: t0.Add(10 * time.Minute)}, cat(look(9*time.Minute, true, 0), look(time.Minute, false, 0))},
		{"fail/earlier-temporary-lock-honoured", temporary,
			password.State{LockedUntil: t0.Add(10 * time.Minute)}, cat(look(9*time.Minute, true, 0), look(time.Minute, false, 0), fails(1, false, 1))},
		{"fail/unknown-mode-enforces-default", password.Lockout{Mode: "bogus"}, password.State{},
			cat(fails(5, true, 1, 2, 3, 4, 5), look(15*time.Minute-time.Second, true, 5), look(time.Second, false, 5))},
		{"fail/zero-max-failures-clamped-to-1", password.Lockout{Mode: password.LockoutTemporary}, password.State{},
			cat(fails(1, true, 1), look(time.Minute, false, 1))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now, a := t0, tt.start
			for i, s := range tt.steps {
				now = now.Add(s.advance)
				if s.fail {
					if tt.lockout.Locked(a, now) {
						t.Fatalf("step %d: failed login while locked; the scenario is wrong", i)
					}
					var ok bool
					if a, ok = fail(tt.lockout, a, now); !ok {
						t.Fatalf("step %d: the reservation of an account that is not locked was refused (state %+v)", i, a)
					}
				}
				if got := tt.lockout.Locked(a, now); got != s.want {
					t.Errorf("step %d: Locked = %v, want %v (state %+v)", i, got, s.want, a)
				}
				if a.Failures != s.wantFailures {
					t.Errorf("step %d: failures = %d, want %d", i, a.Failures, s.wantFailures)
				}
			}
		})
	}
}

var t0 = time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)

// A reservation refuses what Locked refuses, even when the account changed after it was read:
// attempts that all read an open account cannot together count past MaxFailures.
func TestLockoutReservationsStopAtMax(t *testing.T) {
	for _, l := range []password.Lockout{
		{Mode: password.LockoutTemporary, MaxFailures: 5, DurationMin: 15},
		{Mode: password.LockoutPermanent, MaxFailures: 5},
	} {
		read := password.State{} // what every attempt read
		s, admitted := read, 0
		for range 50 {
			r := l.Reserve(read, t0)
			if r.Restart || r.Max != 5 {
				t.Fatalf("%s: reservation %+v", l.Mode, r)
			}
			var ok bool
			if s, ok = fail(l, s, t0); ok {
				admitted++
			}
		}
		if admitted != 5 || !l.Locked(s, t0) {
			t.Errorf("%s: %d attempts admitted, locked %v; want 5, true", l.Mode, admitted, l.Locked(s, t0))
		}
	}
	// After a temporary lock, attempts that all read the lock as over restart the count once;
	// the others are refused, not counted on top.
	l := password.Lockout{Mode: password.LockoutTemporary, MaxFailures: 5, DurationMin: 15}
	read := password.State{Failures: 5, FailedAt: t0}
	now := t0.Add(15 * time.Minute)
	if l.Locked(read, now) {
		t.Fatal("lock not over after 15 minutes")
	}
	s, admitted := read, 0
	for range 10 {
		var ok bool
		r := l.Reserve(read, now)
		if !r.Restart || !r.Expired.Equal(t0) {
			t.Fatalf("reservation after the lock %+v", r)
		}
		if !s.Permanent && s.Failures >= r.Max && !s.FailedAt.After(r.Expired) {
			s, ok = password.State{Failures: 1, FailedAt: now}, true
		}
		if ok {
			admitted++
		}
	}
	if admitted != 1 || s.Failures != 1 {
		t.Errorf("restarts admitted %d, count %d; want 1, 1", admitted, s.Failures)
	}
	if (password.Lockout{Mode: password.LockoutNone}).Reserve(password.State{Failures: 7}, now) != (password.Reservation{}) {
		t.Error("mode none limits the count")
	}
}
