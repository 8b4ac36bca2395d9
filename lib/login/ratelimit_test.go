package login_test

import (
	"context"
	"errors"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/login"
	"github.com/opensignum/signum/lib/ratelimit"
)

// Password logins are rate-limited per account, whether it exists or not, and per source
// address (an IPv6 address by its /64), in the table: past a limit the answer is a 429 that
// says when to retry, and no password is checked, not even the right one. Accounts that do
// not exist are limited alike, so a 429 says nothing about which exist. Before, logins had
// no limit but the lockout, which a spray of one password over many accounts never meets.
func TestPasswordRateLimits(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	limits := login.Limits{PerAccount: ratelimit.Limit{N: 3, Per: time.Minute}, PerAddress: ratelimit.Limit{N: 6, Per: time.Minute}}
	var checks atomic.Int32
	login.OnCheck(t, func(string) { checks.Add(1) })
	now := time.Date(2026, 12, 3, 12, 0, 10, 0, time.UTC)
	portal := func(email, p, addr string) error {
		_, _, err := login.Password(ctx, login.Portal(f.st, limits), issuer{}, now, email, p, netip.MustParseAddr(addr))
		return err
	}
	console := func(username, p, addr string) error {
		_, _, err := login.Password(ctx, login.Console(f.st, f.dep, limits), issuer{}, now, username, p, netip.MustParseAddr(addr))
		return err
	}
	limited := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, fault.ErrTooManyRequests) {
			t.Fatalf("%s: %v, want a 429", what, err)
		}
		if d, ok := fault.RetryAfter(err); !ok || d != 50*time.Second {
			t.Fatalf("%s: retry after %v %v, want the 50 s left in the minute", what, d, ok)
		}
	}

	// Per account: three tries a minute (two wrong, one right), then 429 even for the right
	// password, which is not checked; spelled another way it is the same account.
	for _, p := range []string{"Wrong-1", "Wrong-2", pw} {
		if err := portal("ada@example.com", p, "192.0.2.10"); err != nil && !errors.Is(err, login.ErrFailed) {
			t.Fatal(err)
		}
	}
	before := checks.Load()
	limited("portal account", portal(" ADA@example.com", pw, "192.0.2.11"))
	if checks.Load() != before {
		t.Fatal("a limited login checked the password")
	}
	// An account that does not exist is limited alike.
	for range 3 {
		if err := portal("nobody@example.com", pw, "192.0.2.12"); !errors.Is(err, login.ErrFailed) {
			t.Fatal(err)
		}
	}
	limited("unknown portal account", portal("nobody@example.com", pw, "192.0.2.12"))
	// Console accounts are counted apart from portal accounts, per deployment.
	for range 3 {
		if err := console("carol", "Wrong-3", "192.0.2.13"); !errors.Is(err, login.ErrFailed) {
			t.Fatal(err)
		}
	}
	limited("console account", console("Carol", pw, "192.0.2.14"))

	// Per address: six logins a minute from one address, to any accounts (a spray).
	for i, name := range []string{"a1", "a2", "a3", "a4", "a5", "a6"} {
		if err := console(name+"-user", pw, "198.51.100.7"); !errors.Is(err, login.ErrFailed) {
			t.Fatalf("spray %d: %v", i, err)
		}
	}
	limited("address", console("a7-user", pw, "198.51.100.7"))
	// An IPv6 client counts by its /64.
	for i := range 6 {
		addr := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i + 1)}).String()
		if err := console("b-user", pw, addr); err != nil && !errors.Is(err, login.ErrFailed) && !errors.Is(err, fault.ErrTooManyRequests) {
			t.Fatal(err)
		}
	}
	limited("IPv6 /64", console("c-user", pw, "2001:db8::ffff"))
	if err := console("c-user", pw, "2001:db8:0:1::1"); !errors.Is(err, login.ErrFailed) {
		t.Fatalf("another /64: %v", err)
	}
	// The next window starts afresh.
	now = now.Add(time.Minute)
	if err := portal("ada@example.com", pw, "192.0.2.10"); err != nil {
		t.Fatalf("the next minute: %v", err)
	}
}
