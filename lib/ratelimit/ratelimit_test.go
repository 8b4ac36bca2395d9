package ratelimit_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/ratelimit"
)

func TestParseLimit(t *testing.T) {
	for in, want := range map[string]ratelimit.Limit{"10/1m": {10, time.Minute}, "200/1s": {200, time.Second}, "off": {}} {
		got, err := ratelimit.ParseLimit(in)
		if err != nil || got != want {
			t.Errorf("ok/%s: %+v %v", in, got, err)
		}
	}
	for _, in := range []string{"", "10", "0/1m", "-1/1m", "x/1m", "10/0s", "10/500ms", "10/forever"} {
		if _, err := ratelimit.ParseLimit(in); err == nil {
			t.Errorf("fail/%q parsed", in)
		}
	}
}

func TestKey(t *testing.T) {
	if got := ratelimit.Key("login", "portal", "ada@example.com"); got != "login#portal#ada@example.com" {
		t.Errorf("short key: %q", got)
	}
	long := ratelimit.Key("login", strings.Repeat("a", 500))
	if len(long) > 200 || !strings.HasPrefix(long, "login#sha256:") || long == ratelimit.Key("login", strings.Repeat("a", 499)) {
		t.Errorf("long key: %q", long)
	}
}

// counter is an in-memory Counter: the store's own test covers the table.
type counter struct {
	mu   sync.Mutex
	used map[string]int
	err  error
}

func (c *counter) TakeRate(_ context.Context, k string, n int, l ratelimit.Limit, now time.Time) (ratelimit.Verdict, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return ratelimit.Verdict{}, c.err
	}
	_, end := l.Window(now)
	if c.used[k]+n > l.N {
		return ratelimit.Verdict{RetryAfter: end.Sub(now)}, nil
	}
	c.used[k] += n
	return ratelimit.Verdict{Allowed: true, Used: c.used[k]}, nil
}

// Check refuses with a 429 that names every limit passed and retries after the longest
// refusal; a limit that is off makes no call; a counter's failure is returned as it is.
func TestCheck(t *testing.T) {
	ctx, now := context.Background(), time.Date(2026, 12, 3, 12, 0, 10, 0, time.UTC)
	c := &counter{used: map[string]int{}}
	acct := ratelimit.Take{Key: "a", N: 1, Limit: ratelimit.Limit{N: 2, Per: time.Minute}, What: "logins to this account"}
	ip := ratelimit.Take{Key: "ip", N: 1, Limit: ratelimit.Limit{N: 3, Per: time.Hour}, What: "logins from this address"}
	off := ratelimit.Take{Key: "off", N: 1000, What: "nothing"}
	for i := range 2 {
		if err := ratelimit.Check(ctx, c, now, acct, ip, off); err != nil {
			t.Fatalf("ok/take %d: %v", i, err)
		}
	}
	err := ratelimit.Check(ctx, c, now, acct, ip)
	d, _ := fault.DetailOf(err)
	if after, ok := fault.RetryAfter(err); !errors.Is(err, fault.ErrTooManyRequests) || !ok || after != 50*time.Second || !strings.Contains(d, "logins to this account (at most 2 per minute)") {
		t.Fatalf("fail/account: %v (retry after %v)", err, after)
	}
	err = ratelimit.Check(ctx, c, now, acct, ip)
	d, _ = fault.DetailOf(err)
	if after, _ := fault.RetryAfter(err); after != 3590*time.Second || !strings.Contains(d, "logins from this address (at most 3 per hour)") {
		t.Fatalf("fail/both: %v (retry after %v)", err, after)
	}
	if _, ok := c.used["off"]; ok {
		t.Error("a limit that is off was counted")
	}
	c.err = errors.New("table down")
	if err := ratelimit.Check(ctx, c, now, ratelimit.Take{Key: "b", N: 1, Limit: acct.Limit}); err == nil || errors.Is(err, fault.ErrTooManyRequests) {
		t.Errorf("fail/counter down: %v", err)
	}
}
