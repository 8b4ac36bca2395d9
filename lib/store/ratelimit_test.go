package store_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/ratelimit"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// Pattern 32: rate-limit counters. A window holds at most the limit; a refusal adds nothing and
// says when the window ends; another key or the next window counts from zero.
func TestTakeRate(t *testing.T) {
	f := newFixture(t)
	// A real time (AWS may remove expired items), 10 s into a minute.
	now := time.Now().UTC().Truncate(time.Minute).Add(10 * time.Second)
	l := ratelimit.Limit{N: 5, Per: time.Minute}
	k, other := tenant.NewID("rl_"), tenant.NewID("rl_")
	take := func(k string, n int, at time.Time) func(context.Context) (ratelimit.Verdict, error) {
		return func(ctx context.Context) (ratelimit.Verdict, error) { return f.s.TakeRate(ctx, k, n, l, at) }
	}
	allowed := func(used int) func(*testing.T, ratelimit.Verdict) {
		return func(t *testing.T, v ratelimit.Verdict) {
			if !v.Allowed || v.Used != used {
				t.Fatalf("%+v, want allowed with %d used", v, used)
			}
		}
	}
	refused := func(t *testing.T, v ratelimit.Verdict) {
		if v.Allowed || v.RetryAfter != 50*time.Second {
			t.Fatalf("%+v, want refused until the window ends in 50s", v)
		}
	}
	run(t, f, []contract[ratelimit.Verdict]{
		{name: "ok/first", call: take(k, 1, now), want: allowed(1)},
		{name: "ok/up-to-the-limit", call: take(k, 4, now), want: allowed(5)},
		{name: "fail/over-the-limit", call: take(k, 1, now), want: refused},
		{name: "fail/still-over-after-refusal", call: take(k, 1, now.Add(time.Second)), want: func(t *testing.T, v ratelimit.Verdict) {
			if v.Allowed || v.RetryAfter != 49*time.Second {
				t.Fatalf("%+v, want refused for 49s more", v)
			}
		}},
		{name: "ok/another-key", call: take(other, 5, now), want: allowed(5)},
		{name: "ok/next-window", call: take(k, 1, now.Add(time.Minute)), want: allowed(1)},
		{name: "fail/more-than-a-window", call: take(tenant.NewID("rl_"), 6, now), want: refused},
	})
}

// Concurrent takes never pass the limit: 50 conditional updates of one counter at once.
func TestTakeRateConcurrent(t *testing.T) {
	f := newFixture(t)
	l := ratelimit.Limit{N: 10, Per: time.Hour}
	now, k := time.Now(), tenant.NewID("rl_")
	var ok, wg = atomic.Int32{}, sync.WaitGroup{}
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := f.s.TakeRate(context.Background(), k, 1, l, now)
			if err != nil {
				t.Error(err)
			}
			if v.Allowed {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 10 {
		t.Fatalf("%d of 50 concurrent takes allowed under a limit of 10", ok.Load())
	}
}

var _ ratelimit.Counter = (*store.Store)(nil)
