package login

import "testing"

// OnCheck makes every password check call seen with the password being checked, until the
// test ends, so that a test can count the checks a burst of attempts gets and see their order.
func OnCheck(t testing.TB, seen func(pw string)) {
	old := verify
	verify = func(hash, pw string) (bool, error) {
		seen(pw)
		return old(hash, pw)
	}
	t.Cleanup(func() { verify = old })
}
