package store_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/policy"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// Pattern 64: user grants. A create moves the policies version; a revoke needs the version read
// and happens once; a listing shows every grant with its count.
func TestGrants(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	d := f.deployment()
	log := tenant.LogEntry{Actor: "admin", Action: "grant.created"}
	from := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	g := policy.UserGrant{ID: tenant.NewID("gnt_"), UserID: "cu_1", CertificateID: "crt_1", CreatedBy: "admin", CreatedAt: from,
		Grant: policy.Grant{MaxSignatures: 2, From: from, To: from.Add(24 * time.Hour)}}
	v0, err := f.s.PoliciesVersion(ctx, d.ID)
	must(t, err)
	run(t, f, []contract[policy.UserGrant]{
		{name: "ok/create", call: func(ctx context.Context) (policy.UserGrant, error) { return f.s.CreateGrant(ctx, d.ID, g, log) },
			want: func(t *testing.T, got policy.UserGrant) {
				if got.Version != 1 || got.Used != 0 {
					t.Fatalf("%+v", got)
				}
				if v, _ := f.s.PoliciesVersion(ctx, d.ID); v != v0+1 {
					t.Fatalf("policies version %d after a grant, want %d", v, v0+1)
				}
			}},
		{name: "fail/create-again", call: func(ctx context.Context) (policy.UserGrant, error) { return f.s.CreateGrant(ctx, d.ID, g, log) },
			wantErr: store.ErrConflict},
		{name: "ok/get", call: func(ctx context.Context) (policy.UserGrant, error) { return f.s.GetGrant(ctx, d.ID, g.ID) },
			want: func(t *testing.T, got policy.UserGrant) {
				if got.UserID != "cu_1" || got.CertificateID != "crt_1" || got.MaxSignatures != 2 || !got.From.Equal(g.From) || !got.To.Equal(g.To) || !got.RevokedAt.IsZero() {
					t.Fatalf("%+v", got)
				}
			}},
		{name: "fail/get-unknown", call: func(ctx context.Context) (policy.UserGrant, error) { return f.s.GetGrant(ctx, d.ID, "gnt_none") },
			wantErr: store.ErrNotFound},
		{name: "fail/get-other-deployment", call: func(ctx context.Context) (policy.UserGrant, error) {
			return f.s.GetGrant(ctx, f.deployment().ID, g.ID)
		}, wantErr: store.ErrNotFound},
		{name: "fail/revoke-stale", call: func(ctx context.Context) (policy.UserGrant, error) {
			stale := g
			stale.Version = 7
			return f.s.RevokeGrant(ctx, d.ID, stale, from, log)
		}, wantErr: store.ErrStale},
		{name: "ok/revoke", call: func(ctx context.Context) (policy.UserGrant, error) {
			cur, err := f.s.GetGrant(ctx, d.ID, g.ID)
			must(t, err)
			return f.s.RevokeGrant(ctx, d.ID, cur, from.Add(time.Hour), log)
		}, want: func(t *testing.T, got policy.UserGrant) {
			stored, err := f.s.GetGrant(ctx, d.ID, g.ID)
			must(t, err)
			if !stored.RevokedAt.Equal(from.Add(time.Hour)) || stored.Version != 2 {
				t.Fatalf("%+v", stored)
			}
		}},
		{name: "fail/revoke-twice", call: func(ctx context.Context) (policy.UserGrant, error) {
			cur, err := f.s.GetGrant(ctx, d.ID, g.ID)
			must(t, err)
			return f.s.RevokeGrant(ctx, d.ID, cur, from, log)
		}, wantErr: store.ErrStale},
	})
	all, err := f.s.AllGrants(ctx, d.ID)
	if err != nil || len(all) != 1 || all[0].ID != g.ID {
		t.Fatalf("all grants: %+v %v", all, err)
	}
}

// Pattern 65: grant counts. A take adds up to the maximum and no further; a refusal adds nothing
// and reads the count; a return gives back; a revoked user grant takes nothing; a policy's
// grant counts per window.
func TestTakeGrant(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	d := f.deployment()
	from := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	g, err := f.s.CreateGrant(ctx, d.ID, policy.UserGrant{ID: tenant.NewID("gnt_"), UserID: "cu_1", CertificateID: "crt_1",
		Grant: policy.Grant{MaxSignatures: 3}}, tenant.LogEntry{Actor: "a", Action: "grant.created"})
	must(t, err)
	user := store.GrantCounter{GrantID: g.ID, Max: 3}
	pol := store.GrantCounter{PolicyID: "pol_1", From: from, Max: 2}
	take := func(c store.GrantCounter, n int) func(context.Context) (store.GrantTake, error) {
		return func(ctx context.Context) (store.GrantTake, error) { return f.s.TakeGrant(ctx, d.ID, c, n) }
	}
	is := func(taken bool, used int, revoked bool) func(*testing.T, store.GrantTake) {
		return func(t *testing.T, got store.GrantTake) {
			if got != (store.GrantTake{Taken: taken, Used: used, Revoked: revoked}) {
				t.Fatalf("%+v, want taken %v used %d revoked %v", got, taken, used, revoked)
			}
		}
	}
	run(t, f, []contract[store.GrantTake]{
		{name: "ok/user-take-2", call: take(user, 2), want: is(true, 2, false)},
		{name: "fail/user-take-2-more", call: take(user, 2), want: is(false, 2, false)},
		{name: "ok/user-take-last", call: take(user, 1), want: is(true, 3, false)},
		{name: "ok/user-return", call: func(ctx context.Context) (store.GrantTake, error) {
			must(t, f.s.ReturnGrant(ctx, d.ID, user, 2))
			return f.s.TakeGrant(ctx, d.ID, user, 1)
		}, want: is(true, 2, false)},
		{name: "fail/return-more-than-counted", call: func(ctx context.Context) (store.GrantTake, error) {
			if err := f.s.ReturnGrant(ctx, d.ID, user, 5); err == nil {
				t.Fatal("gave back more than was counted")
			}
			return f.s.TakeGrant(ctx, d.ID, user, 2)
		}, want: is(false, 2, false)},
		{name: "fail/more-than-max", call: take(pol, 3), want: is(false, 0, false)},
		{name: "ok/policy-first", call: take(pol, 2), want: is(true, 2, false)},
		{name: "fail/policy-used-up", call: take(pol, 1), want: is(false, 2, false)},
		{name: "ok/policy-next-window", call: take(store.GrantCounter{PolicyID: "pol_1", From: from.Add(time.Hour), Max: 2}, 1), want: is(true, 1, false)},
		{name: "fail/unknown-user-grant", call: take(store.GrantCounter{GrantID: "gnt_none", Max: 3}, 1), want: is(false, 0, true)},
		{name: "fail/revoked", call: func(ctx context.Context) (store.GrantTake, error) {
			cur, err := f.s.GetGrant(ctx, d.ID, g.ID)
			must(t, err)
			_, err = f.s.RevokeGrant(ctx, d.ID, cur, from, tenant.LogEntry{Actor: "a", Action: "grant.revoked"})
			must(t, err)
			return f.s.TakeGrant(ctx, d.ID, user, 1)
		}, want: is(false, 2, true)},
	})
	if n, err := f.s.PolicyGrantUsed(ctx, d.ID, "pol_1", from); err != nil || n != 2 {
		t.Fatalf("policy grant used %d %v, want 2", n, err)
	}
	if n, err := f.s.PolicyGrantUsed(ctx, d.ID, "pol_2", from); err != nil || n != 0 {
		t.Fatalf("unused policy grant %d %v, want 0", n, err)
	}
}

// Concurrent takes never pass the maximum: 30 takes of one signature at once from a grant of 4.
func TestTakeGrantConcurrent(t *testing.T) {
	f := newFixture(t)
	d := f.deployment()
	c := store.GrantCounter{PolicyID: "pol_c", Max: 4}
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := f.s.TakeGrant(context.Background(), d.ID, c, 1)
			if err != nil {
				t.Error(err)
			}
			if got.Taken {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if n, _ := f.s.PolicyGrantUsed(context.Background(), d.ID, "pol_c", time.Time{}); ok.Load() != 4 || n != 4 {
		t.Fatalf("%d of 30 concurrent takes allowed, count %d, under a grant of 4", ok.Load(), n)
	}
}
