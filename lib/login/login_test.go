package login_test

import (
	"testing"
	"time"

	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/login"
	"github.com/opensignum/signum/lib/password"
)

func TestAdmits(t *testing.T) {
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
	full := active
	full.Failures, full.FailedAt = lock.MaxFailures, now.Add(-time.Minute)
	disabled := active
	disabled.Status = identity.StatusDisabled
	certUser := active
	certUser.PasswordHash = ""
	for name, c := range map[string]struct {
		acc  login.Account
		want bool
	}{
		"ok/active":             {active, true},
		"ok/earlier-failures":   {failed, true},
		"fail/unknown":          {login.Account{}, false},
		"fail/locked":           {locked, false},
		"fail/failures-at-max":  {full, false},
		"fail/disabled":         {disabled, false},
		"fail/certificate-user": {certUser, false},
	} {
		if got := login.Admits(c.acc, lock, now); got != c.want {
			t.Errorf("%s: %v, want %v", name, got, c.want)
		}
	}
	if _, err := identity.SetPassword("short", "ada", password.DefaultPolicy(), now); err == nil {
		t.Error("weak password set")
	}
}
