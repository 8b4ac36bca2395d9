package store_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// Pattern 42: agent slots. A user holds at most the limit's slots; the next request is refused
// with how many are in flight and writes nothing; a release frees a slot, but only the lease
// that holds it; an expired lease is taken over; the slots of one user do not count for
// another; a limit of 0 makes no call.
func TestAgentSlots(t *testing.T) {
	f := newFixture(t)
	dep := f.deployment()
	// A real time (AWS may remove expired items by TTL).
	now := time.Now().UTC()
	const lease = 30 * time.Second
	user, other := tenant.NewID("cu_"), tenant.NewID("cu_")
	var first, second, third store.AgentSlot
	acquire := func(u string, limit int, at time.Time, into *store.AgentSlot) func(context.Context) (store.AgentSlots, error) {
		return func(ctx context.Context) (store.AgentSlots, error) {
			v, err := f.s.AcquireAgentSlot(ctx, dep.ID, u, limit, lease, at)
			if into != nil && v.Acquired {
				*into = v.Slot
			}
			return v, err
		}
	}
	release := func(s *store.AgentSlot) func(context.Context) (store.AgentSlots, error) {
		return func(ctx context.Context) (store.AgentSlots, error) {
			return store.AgentSlots{}, f.s.ReleaseAgentSlot(ctx, dep.ID, user, *s)
		}
	}
	acquired := func(t *testing.T, v store.AgentSlots) {
		if !v.Acquired || v.Slot.Slot < 0 || v.Slot.Slot >= 3 || !v.Slot.Expires.Equal(now.Add(lease)) {
			t.Fatalf("%+v, want a slot of 0..2 until %s", v, now.Add(lease))
		}
	}
	refused := func(inFlight int) func(*testing.T, store.AgentSlots) {
		return func(t *testing.T, v store.AgentSlots) {
			if v.Acquired || v.InFlight != inFlight {
				t.Fatalf("%+v, want refused with %d in flight", v, inFlight)
			}
		}
	}
	run(t, f, []contract[store.AgentSlots]{
		{name: "ok/first-writes-the-map", call: acquire(user, 3, now, &first), want: acquired},
		{name: "ok/second", call: acquire(user, 3, now, &second), want: acquired},
		{name: "ok/third-up-to-the-limit", call: acquire(user, 3, now, &third), want: func(t *testing.T, v store.AgentSlots) {
			acquired(t, v)
			if first.Slot == second.Slot || second.Slot == third.Slot || first.Slot == third.Slot {
				t.Fatalf("slots %d, %d, %d: one given twice", first.Slot, second.Slot, third.Slot)
			}
		}},
		{name: "fail/over-the-limit", call: acquire(user, 3, now.Add(time.Second), nil), want: refused(3)},
		{name: "ok/another-user-counts-alone", call: acquire(other, 1, now, nil), want: func(t *testing.T, v store.AgentSlots) {
			if !v.Acquired || v.Slot.Slot != 0 {
				t.Fatalf("%+v, want slot 0", v)
			}
		}},
		{name: "ok/a-stale-lease-frees-nothing", call: func(ctx context.Context) (store.AgentSlots, error) {
			stale := second
			stale.Lease = first.Lease
			return store.AgentSlots{}, f.s.ReleaseAgentSlot(ctx, dep.ID, user, stale)
		}, after: func(t *testing.T) {
			if v, err := f.s.AcquireAgentSlot(context.Background(), dep.ID, user, 3, lease, now.Add(time.Second)); err != nil || v.Acquired {
				t.Fatalf("after a release with another's lease: %+v %v, want still full", v, err)
			}
		}},
		{name: "ok/release-frees", call: release(&second), after: func(t *testing.T) {
			v, err := f.s.AcquireAgentSlot(context.Background(), dep.ID, user, 3, lease, now.Add(time.Second))
			if err != nil || !v.Acquired || v.Slot.Slot != second.Slot {
				t.Fatalf("after the release: %+v %v, want slot %d again", v, err, second.Slot)
			}
			second = v.Slot
		}},
		{name: "ok/release-twice-is-no-error", call: release(&first), after: func(t *testing.T) {
			if err := f.s.ReleaseAgentSlot(context.Background(), dep.ID, user, first); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "fail/full-again", call: func(ctx context.Context) (store.AgentSlots, error) {
			if _, err := f.s.AcquireAgentSlot(ctx, dep.ID, user, 3, lease, now.Add(2*time.Second)); err != nil {
				return store.AgentSlots{}, err
			}
			return f.s.AcquireAgentSlot(ctx, dep.ID, user, 3, lease, now.Add(2*time.Second))
		}, want: refused(3)},
		// An instance that died mid-request never releases: its lease ends and the slot is
		// taken over; the lease it held can no longer free the slot.
		{name: "ok/expired-lease-taken-over", call: acquire(user, 3, now.Add(lease+time.Millisecond), nil), want: func(t *testing.T, v store.AgentSlots) {
			if !v.Acquired || v.Slot.Slot != third.Slot {
				t.Fatalf("%+v, want the expired slot %d", v, third.Slot)
			}
			if err := f.s.ReleaseAgentSlot(context.Background(), dep.ID, user, third); err != nil {
				t.Fatal(err)
			}
			if w, err := f.s.AcquireAgentSlot(context.Background(), dep.ID, user, 3, lease, now.Add(lease+2*time.Millisecond)); err != nil || w.Acquired {
				t.Fatalf("the dead request's release freed its successor's slot: %+v %v", w, err)
			}
		}},
		{name: "ok/no-limit", call: acquire(user, 0, now, nil), want: func(t *testing.T, v store.AgentSlots) {
			if !v.Acquired || v.Slot.Slot != -1 {
				t.Fatalf("%+v, want acquired without a slot", v)
			}
		}},
	})
}

// Concurrent acquires never exceed the limit: 20 goroutines at once for 4 slots, and again
// after every slot was released, on a user whose map does not exist yet (the map's first
// write races too).
func TestAgentSlotsConcurrent(t *testing.T) {
	f := newFixture(t)
	dep := f.deployment()
	const limit = 4
	user, now := tenant.NewID("cu_"), time.Now()
	for round := range 2 {
		var ok atomic.Int32
		var mu sync.Mutex
		var held []store.AgentSlot
		var wg sync.WaitGroup
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				v, err := f.s.AcquireAgentSlot(context.Background(), dep.ID, user, limit, time.Minute, now)
				if err != nil {
					t.Error(err)
					return
				}
				if v.Acquired {
					ok.Add(1)
					mu.Lock()
					held = append(held, v.Slot)
					mu.Unlock()
				} else if v.InFlight != limit {
					t.Errorf("refused with %d in flight, want %d", v.InFlight, limit)
				}
			}()
		}
		wg.Wait()
		if ok.Load() != limit {
			t.Fatalf("round %d: %d of 20 concurrent acquires got a slot under a limit of %d", round, ok.Load(), limit)
		}
		seen := map[int]bool{}
		for _, s := range held {
			if seen[s.Slot] {
				t.Fatalf("round %d: slot %d given twice", round, s.Slot)
			}
			seen[s.Slot] = true
			if err := f.s.ReleaseAgentSlot(context.Background(), dep.ID, user, s); err != nil {
				t.Fatal(err)
			}
		}
	}
}
