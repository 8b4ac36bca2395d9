package login_test

import (
	"testing"
	"time"

	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/login"
	"github.com/opensignum/signum/lib/password"
)

func TestAttempt(t *testing.T) {
	now := time.Now()
	lock := password.DefaultLockout()
	creds, err := identity.SetPassword("Correct-Horse-9-Battery", "ada", password.DefaultPolicy(), now)
	if err != nil {
		t.Fatal(err)
	}
	active := login.Account{Exists: true, Status: identity.StatusActive, Credentials: creds}
	failed := active
	failed.Failures = 2
	locked := active
	locked.LockedUntil = now.Add(time.Minute)
	disabled := active
	disabled.Status = identity.StatusDisabled
	for name, c := range map[string]struct {
		acc  login.Account
		pw   string
		want login.Result
	}{
		"ok/right":            {active, "Correct-Horse-9-Battery", login.Success},
		"ok/right-resets":     {failed, "Correct-Horse-9-Battery", login.SuccessReset},
		"fail/wrong":          {active, "Wrong-Horse-9-Battery", login.Failure},
		"fail/unknown":        {login.Account{}, "Correct-Horse-9-Battery", login.Refused},
		"fail/locked-right":   {locked, "Correct-Horse-9-Battery", login.Refused},
		"fail/disabled-right": {disabled, "Correct-Horse-9-Battery", login.Refused},
	} {
		if got := login.Attempt(c.acc, c.pw, lock, now); got != c.want {
			t.Errorf("%s: %v, want %v", name, got, c.want)
		}
	}
	if _, err := identity.SetPassword("short", "ada", password.DefaultPolicy(), now); err == nil {
		t.Error("weak password set")
	}
}
