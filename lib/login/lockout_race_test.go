package login_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/login"
	"github.com/opensignum/signum/lib/password"
	"github.com/opensignum/signum/lib/tenant"
)

// burst sends the passwords pws at once, each from its own goroutine, as sys's user, and
// returns the passwords that were checked, in the order the checks began, and how many
// logins succeeded.
func burst(t *testing.T, f fixture, sys system, pws []string) (checked []string, accepted int) {
	t.Helper()
	var mu sync.Mutex
	login.OnCheck(t, func(p string) {
		mu.Lock()
		checked = append(checked, p)
		mu.Unlock()
	})
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, p := range pws {
		wg.Go(func() {
			<-start
			_, err := sys.login(f.st, p)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				accepted++
			case !errors.Is(err, login.ErrFailed):
				t.Errorf("login: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	return checked, accepted
}

// unlock lifts the lockout of sys's user, as an admin does.
func (f fixture) unlock(t *testing.T, sys system) {
	t.Helper()
	ctx := context.Background()
	log := tenant.LogEntry{Actor: "test", Action: "unlocked"}
	var err error
	if sys.name == "portal" {
		var u identity.PortalUser
		if u, err = f.st.GetPortalUser(ctx, f.dep, f.portal.ID); err == nil {
			next := u
			next.Unlock()
			_, err = f.st.UpdatePortalUser(ctx, u, next, log)
		}
	} else {
		var u identity.ConsoleUser
		if u, err = f.st.GetConsoleUser(ctx, f.dep, f.console.ID); err == nil {
			next := u
			next.Unlock()
			_, err = f.st.UpdateConsoleUser(ctx, u, next, log)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
}

// Guesses sent at once cannot outrun the lockout: each attempt is counted before its password
// is checked, so 50 parallel guesses get no more checks than the policy allows (five, the
// default of both systems), and the right password sent among them is accepted only while
// the policy still allows an attempt. Before attempts were counted up front, all 50 were
// checked and the right one got in every time.
func TestLockoutHoldsAgainstParallelGuesses(t *testing.T) {
	f := newFixture(t)
	lock := password.DefaultLockout()
	max := lock.MaxFailures
	wrong := make([]string, 49)
	for i := range wrong {
		wrong[i] = "Wrong-Horse-9-Battery-" + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	for _, sys := range f.systems() {
		t.Run(sys.name, func(t *testing.T) {
			locked := func() bool {
				creds, _ := sys.user(t)
				return lock.Locked(creds.LockState(), time.Now())
			}
			// Wrong guesses only: exactly the policy's number of checks, then locked.
			checked, accepted := burst(t, f, sys, append(wrong, "Wrong-Horse-9-Battery-zz"))
			if len(checked) != max || accepted != 0 || !locked() {
				t.Fatalf("50 wrong guesses: %d checks, %d accepted, locked %v; want %d, 0, true", len(checked), accepted, locked(), max)
			}
			if _, err := sys.login(f.st, pw); !errors.Is(err, login.ErrFailed) {
				t.Fatalf("the right password after the lock: %v", err)
			}
			// The right password among 49 wrong ones, a few times over.
			for round := range 3 {
				f.unlock(t, sys)
				checked, accepted := burst(t, f, sys, append([]string{pw}, wrong...))
				right := -1 // checks begun before the right password's
				for i, p := range checked {
					if p == pw {
						right = i
					}
				}
				t.Logf("round %d: %d checks, the right password's %d, accepted %d", round, len(checked), right+1, accepted)
				switch {
				case accepted > 1:
					t.Fatalf("round %d: the right password accepted %d times", round, accepted)
				case accepted == 1 && (right < 0 || right >= max):
					// Only attempts within the budget are checked, and each counts before it
					// is checked: at most max-1 wrong ones can begin before the right one.
					t.Fatalf("round %d: the right password accepted after %d wrong checks; the policy allows %d", round, right, max-1)
				case accepted == 1 && len(checked) > 2*max:
					// The right password clears the count: a fresh budget follows it.
					t.Fatalf("round %d: %d checks; at most %d before and %d after the right password", round, len(checked), max, max)
				case accepted == 0 && (len(checked) > max || right >= 0):
					t.Fatalf("round %d: %d checks (the right one %d) without a login; the policy allows %d", round, len(checked), right+1, max)
				}
				// Without a login the wrong guesses lock the account. (A login clears the
				// count, the failures of guesses counted after it included.)
				if accepted == 0 && !locked() {
					t.Fatalf("round %d: not locked after 49 wrong guesses", round)
				}
			}
		})
	}
	// A permanent lockout: the attempt that reaches the limit sets the flag, and no more than
	// the limit are checked.
	t.Run("console-permanent", func(t *testing.T) {
		ctx := context.Background()
		dom, err := f.st.GetLocalDomain(ctx, f.dep)
		if err != nil {
			t.Fatal(err)
		}
		next := dom
		next.Lockout = password.Lockout{Mode: password.LockoutPermanent, MaxFailures: 3}
		if _, err := f.st.UpdateLocalDomain(ctx, dom, next, tenant.LogEntry{Actor: "test", Action: "localDomain.updated"}); err != nil {
			t.Fatal(err)
		}
		sys := f.systems()[1]
		f.unlock(t, sys)
		checked, accepted := burst(t, f, sys, append(wrong, "Wrong-Horse-9-Battery-zz"))
		if creds, _ := sys.user(t); len(checked) != 3 || accepted != 0 || !creds.LockedForever || creds.Failures != 3 {
			t.Fatalf("50 wrong guesses: %d checks, %d accepted, %+v; want 3, 0, locked for good after 3", len(checked), accepted, creds)
		}
	})
}
