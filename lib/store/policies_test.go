package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/opensignum/signum/lib/policy"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

var policyLog = tenant.LogEntry{Actor: "test", Action: "policy.changed"}

// Pattern 20: create, read, list, replace and remove policies.
func TestPolicies(t *testing.T) {
	f := newFixture(t)
	d, many, lists := f.deployment(), f.deployment(), f.deployment()
	existing := f.policy(d.ID)
	stale := f.policy(d.ID)
	_, err := f.s.UpdatePolicy(context.Background(), d.ID, stale, stale, policyLog)
	must(t, err)
	doomed := f.policy(d.ID)
	// More policies than one page holds: the full read goes page by page.
	for range store.MaxPageSize + 1 {
		f.policy(many.ID)
	}
	fresh := newPolicy()
	fresh.Action = policy.Deny

	stored := func(id string) (policy.Policy, error) { return f.s.GetPolicy(context.Background(), d.ID, id) }
	get := func(dep, id string) func(context.Context) (policy.Policy, error) {
		return func(ctx context.Context) (policy.Policy, error) { return f.s.GetPolicy(ctx, dep, id) }
	}
	update := func(current policy.Policy) func(context.Context) (policy.Policy, error) {
		return func(ctx context.Context) (policy.Policy, error) {
			next := current
			next.Name, next.Enabled = "renamed", false
			return f.s.UpdatePolicy(ctx, d.ID, current, next, policyLog)
		}
	}
	run(t, f, []contract[policy.Policy]{
		{name: "ok/create", call: func(ctx context.Context) (policy.Policy, error) { return f.s.CreatePolicy(ctx, d.ID, fresh, policyLog) },
			want: func(t *testing.T, got policy.Policy) {
				if got.Version != 1 || got.ID != fresh.ID {
					t.Fatalf("created %+v", got)
				}
			}, after: func(t *testing.T) {
				got, err := stored(fresh.ID)
				if err != nil || got.Action != policy.Deny || got.Name != fresh.Name || got.Priority != fresh.Priority || !got.Enabled || got.Version != 1 {
					t.Fatalf("stored %+v, %v", got, err)
				}
				if f.logActions(d.ID)[0] != "policy.changed" {
					t.Fatal("no log entry")
				}
			}},
		// Empty lists beside full ones (a form sends "groups": [] with its certificates) read
		// back empty: the DynamoDB stand-in once filled them with their neighbour's contents.
		{name: "ok/create-empty-lists", call: func(ctx context.Context) (policy.Policy, error) {
			p := newPolicy()
			p.What = policy.What{Certificates: []string{"crt_x"}, Groups: []string{}}
			p.Who = policy.Who{Users: []string{}, Roles: []string{"signer"}}
			return f.s.CreatePolicy(ctx, lists.ID, p, policyLog)
		}, want: func(t *testing.T, got policy.Policy) {
			back, err := f.s.GetPolicy(context.Background(), lists.ID, got.ID)
			if err != nil || strings.Join(back.What.Certificates, ",") != "crt_x" || len(back.What.Groups) != 0 ||
				len(back.Who.Users) != 0 || strings.Join(back.Who.Roles, ",") != "signer" {
				t.Fatalf("read back %+v %+v, %v", back.What, back.Who, err)
			}
		}},
		{name: "fail/id-taken-after-create", call: func(ctx context.Context) (policy.Policy, error) {
			again := fresh
			again.Action = policy.Allow
			return f.s.CreatePolicy(ctx, d.ID, again, policyLog)
		}, wantErr: store.ErrConflict, wantDetail: "A policy with the id", after: func(t *testing.T) {
			if got, _ := stored(fresh.ID); got.Action != policy.Deny {
				t.Fatal("the existing policy was overwritten")
			}
		}},
		{name: "ok/get", call: get(d.ID, existing.ID), want: func(t *testing.T, got policy.Policy) {
			if got.ID != existing.ID || got.Version != 1 || got.Name != existing.Name {
				t.Fatalf("got %+v", got)
			}
		}},
		{name: "fail/get-unknown", call: get(d.ID, "pol_nothing"), wantErr: store.ErrNotFound, wantDetail: "No policy has the id"},
		{name: "fail/get-of-other-deployment", call: get(many.ID, existing.ID), wantErr: store.ErrNotFound},
		{name: "ok/replace", call: update(existing), want: func(t *testing.T, got policy.Policy) {
			if got.Version != 2 {
				t.Fatalf("replaced %+v", got)
			}
			if s, _ := stored(existing.ID); s.Name != "renamed" || s.Enabled || s.Version != 2 {
				t.Fatalf("stored %+v", s)
			}
		}},
		{name: "fail/replace-stale", call: update(stale), wantErr: store.ErrStale},
	})

	remove := func(p policy.Policy) func(context.Context) (struct{}, error) {
		return only(func(ctx context.Context) error { return f.s.DeletePolicy(ctx, d.ID, p, policyLog) })
	}
	run(t, f, []contract[struct{}]{
		{name: "fail/delete-stale", call: remove(stale), wantErr: store.ErrStale, after: func(t *testing.T) {
			if _, err := stored(stale.ID); err != nil {
				t.Fatalf("a stale delete landed: %v", err)
			}
		}},
		{name: "ok/delete", call: remove(doomed), after: func(t *testing.T) {
			if _, err := stored(doomed.ID); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("deleted policy: %v", err)
			}
		}},
		{name: "fail/delete-again-after-delete", call: remove(doomed), wantErr: store.ErrStale},
	})

	all := func(dep string) func(context.Context) ([]policy.Policy, error) {
		return func(ctx context.Context) ([]policy.Policy, error) { return f.s.AllPolicies(ctx, dep) }
	}
	count := func(n int) func(*testing.T, []policy.Policy) {
		return func(t *testing.T, got []policy.Policy) {
			seen := map[string]bool{}
			for _, p := range got {
				seen[p.ID] = true
			}
			if len(got) != n || len(seen) != n {
				t.Fatalf("read %d policies (%d distinct), want %d", len(got), len(seen), n)
			}
		}
	}
	run(t, f, []contract[[]policy.Policy]{
		{name: "ok/all", call: all(d.ID), want: count(3)},
		{name: "ok/all-over-pages", call: all(many.ID), want: count(store.MaxPageSize + 1)},
		{name: "ok/list-one-page", call: func(ctx context.Context) ([]policy.Policy, error) {
			page, err := f.s.ListPolicies(ctx, many.ID, store.PageRequest{Limit: 10})
			if err == nil && page.Next == "" {
				err = errors.New("no next page")
			}
			return page.Items, err
		}, want: count(10)},
	})
}

// Pattern 31: the policies version counter, moved by every policy change and read on its own
// (the signer's policy cache) or with a certificate (pattern 27).
func TestPoliciesVersion(t *testing.T) {
	f := newFixture(t)
	d, other := f.deployment(), f.deployment()
	c := f.certificate(d.ID)
	var p policy.Policy
	after := func(change func(ctx context.Context) error) func(context.Context) (int64, error) {
		return func(ctx context.Context) (int64, error) {
			if err := change(ctx); err != nil {
				return 0, err
			}
			return f.s.PoliciesVersion(ctx, d.ID)
		}
	}
	is := func(want int64) func(*testing.T, int64) {
		return func(t *testing.T, got int64) {
			if got != want {
				t.Fatalf("policies version %d, want %d", got, want)
			}
		}
	}
	nothing := func(context.Context) error { return nil }
	run(t, f, []contract[int64]{
		{name: "ok/zero-before-any-change", call: after(nothing), want: is(0)},
		{name: "ok/create-moves-it", call: after(func(ctx context.Context) (err error) {
			p, err = f.s.CreatePolicy(ctx, d.ID, newPolicy(), policyLog)
			return err
		}), want: is(1)},
		{name: "ok/replace-moves-it", call: after(func(ctx context.Context) error {
			next := p
			next.Priority = 20
			_, err := f.s.UpdatePolicy(ctx, d.ID, p, next, policyLog)
			return err
		}), want: is(2)},
		{name: "ok/refused-change-does-not", call: after(func(ctx context.Context) error {
			if _, err := f.s.UpdatePolicy(ctx, d.ID, p, p, policyLog); !errors.Is(err, store.ErrStale) {
				return errors.New("a stale replace was not refused")
			}
			return nil
		}), want: is(2)},
		{name: "ok/delete-moves-it", call: after(func(ctx context.Context) error {
			current, err := f.s.GetPolicy(ctx, d.ID, p.ID)
			if err != nil {
				return err
			}
			return f.s.DeletePolicy(ctx, d.ID, current, policyLog)
		}), want: is(3)},
		{name: "ok/other-deployment-apart", call: func(ctx context.Context) (int64, error) { return f.s.PoliciesVersion(ctx, other.ID) }, want: is(0)},
		{name: "ok/read-with-a-certificate", call: func(ctx context.Context) (int64, error) {
			_, v, err := f.s.CertificateForSigning(ctx, d.ID, c.ID)
			return v, err
		}, want: is(3)},
	})
}
