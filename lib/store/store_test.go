package store_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

func newStore(t *testing.T) (*store.Store, *devstack.Target) {
	t.Helper()
	tg := devstack.NewTarget(t)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	s, err := store.New(tg.Clients.DynamoDB, tg.Table, key)
	if err != nil {
		t.Fatal(err)
	}
	return s, tg
}

func newDeployment(name, domain string) tenant.Deployment {
	return tenant.Deployment{
		ID: tenant.NewID("dep_"), Name: name, Status: tenant.StatusActive, Plan: "standard",
		SoftwareVersion: "1.0.0", DomainName: domain,
		IPAllowlist: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
	}
}

func provision(t *testing.T, s *store.Store, d tenant.Deployment, key string) (tenant.Deployment, bool, error) {
	t.Helper()
	return s.Provision(context.Background(), store.Provisioning{
		Deployment: d, RequestKey: key, Log: tenant.LogEntry{Actor: "test", Action: "deployment.provisioned"},
	})
}

func TestProvisionAndRead(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	d := newDeployment("acme", "sign.acme.example")
	got, created, err := provision(t, s, d, "req-1")
	if err != nil || !created {
		t.Fatalf("provision: created=%v err=%v", created, err)
	}
	if got.Version != 1 {
		t.Errorf("version = %d, want 1", got.Version)
	}
	read, err := s.GetDeployment(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if read.Name != "acme" || read.DomainName != "sign.acme.example" || len(read.IPAllowlist) != 1 || read.IPAllowlist[0].String() != "10.0.0.0/8" {
		t.Errorf("read back %+v", read)
	}
	byDomain, err := s.DeploymentByDomain(ctx, "SIGN.acme.example")
	if err != nil || byDomain.ID != d.ID {
		t.Fatalf("by domain: %+v %v", byDomain, err)
	}
	log, err := s.ListLog(ctx, d.ID, store.PageRequest{})
	if err != nil || len(log.Items) != 1 || log.Items[0].Action != "deployment.provisioned" {
		t.Fatalf("log: %+v %v", log, err)
	}
}

func TestProvisionIsIdempotentByRequestKey(t *testing.T) {
	s, _ := newStore(t)
	first, _, err := provision(t, s, newDeployment("acme", "a.example.com"), "marketplace:cust-1")
	if err != nil {
		t.Fatal(err)
	}
	// The replay carries a new id (each delivery generates one) and must still get the first.
	again, created, err := provision(t, s, newDeployment("acme", "a.example.com"), "marketplace:cust-1")
	if err != nil {
		t.Fatal(err)
	}
	if created || again.ID != first.ID {
		t.Fatalf("replay created=%v id=%s, want existing %s", created, again.ID, first.ID)
	}
	page, err := s.ListDeployments(context.Background(), store.PageRequest{})
	if err != nil || len(page.Items) != 1 {
		t.Fatalf("deployments after replay: %d %v", len(page.Items), err)
	}
}

func TestConditionalCreateConflicts(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	if _, _, err := provision(t, s, newDeployment("one", "shared.example.com"), ""); err != nil {
		t.Fatal(err)
	}
	// ok/domain-taken: a second deployment with the same domain is refused as a whole.
	second := newDeployment("two", "shared.example.com")
	_, _, err := provision(t, s, second, "req-2")
	if !errors.Is(err, store.ErrConflict) || !errors.Is(err, fault.ErrConflict) {
		t.Fatalf("err = %v, want ErrConflict", err)
	}
	if _, err := s.GetDeployment(ctx, second.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("half-written deployment: get = %v", err)
	}
	if log, _ := s.ListLog(ctx, second.ID, store.PageRequest{}); len(log.Items) != 0 {
		t.Fatalf("half-written log: %+v", log.Items)
	}
	// The request key of the failed attempt was not consumed either: retrying with a free
	// domain creates the deployment.
	second.DomainName = "other.example.com"
	if _, created, err := provision(t, s, second, "req-2"); err != nil || !created {
		t.Fatalf("retry: created=%v err=%v", created, err)
	}
	// fail/same-id: the same deployment id cannot be created twice.
	dup := newDeployment("dup", "")
	if _, _, err := provision(t, s, dup, ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := provision(t, s, dup, ""); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate id: %v", err)
	}
}

func TestOptimisticConcurrency(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	d, _, err := provision(t, s, newDeployment("acme", "a.example.com"), "")
	if err != nil {
		t.Fatal(err)
	}
	alice, bob := d, d
	alice.Name = "acme-alice"
	updated, err := s.UpdateDeployment(ctx, d, alice, nil)
	if err != nil {
		t.Fatal(err)
	}
	if updated.Version != 2 {
		t.Fatalf("version after update = %d", updated.Version)
	}
	bob.Name = "acme-bob"
	_, err = s.UpdateDeployment(ctx, d, bob, nil)
	if !errors.Is(err, store.ErrStale) || !errors.Is(err, fault.ErrPrecondition) {
		t.Fatalf("stale write: %v", err)
	}
	got, _ := s.GetDeployment(ctx, d.ID)
	if got.Name != "acme-alice" || got.Version != 2 {
		t.Fatalf("stale write landed: %+v", got)
	}
	// Missing deployment: not found, not stale.
	ghost := newDeployment("ghost", "")
	ghost.Version = 1
	if _, err := s.UpdateDeployment(ctx, ghost, ghost, nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update of missing deployment: %v", err)
	}
}

func TestDomainMoveIsAtomic(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	a, _, _ := provision(t, s, newDeployment("a", "a.example.com"), "")
	b, _, _ := provision(t, s, newDeployment("b", "b.example.com"), "")

	// fail: a cannot take b's domain; nothing changes (a keeps its name, log untouched).
	next := a
	next.DomainName, next.Name = "b.example.com", "renamed"
	entry := &tenant.LogEntry{Actor: "test", Action: "deployment.updated"}
	if _, err := s.UpdateDeployment(ctx, a, next, entry); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("taking a used domain: %v", err)
	}
	if got, _ := s.GetDeployment(ctx, a.ID); got.Name != "a" || got.DomainName != "a.example.com" || got.Version != a.Version {
		t.Fatalf("cancelled transaction left changes: %+v", got)
	}
	if got, _ := s.DeploymentByDomain(ctx, "a.example.com"); got.ID != a.ID {
		t.Fatalf("old mapping lost")
	}
	if log, _ := s.ListLog(ctx, a.ID, store.PageRequest{}); len(log.Items) != 1 {
		t.Fatalf("cancelled transaction wrote a log entry: %d entries", len(log.Items))
	}

	// ok: moving to a free domain frees the old one.
	next.DomainName = "new-a.example.com"
	if _, err := s.UpdateDeployment(ctx, a, next, entry); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeploymentByDomain(ctx, "a.example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("old domain still mapped: %v", err)
	}
	if got, _ := s.DeploymentByDomain(ctx, "new-a.example.com"); got.ID != a.ID {
		t.Fatalf("new domain not mapped")
	}
	if got, _ := s.DeploymentByDomain(ctx, "b.example.com"); got.ID != b.ID {
		t.Fatalf("b lost its domain")
	}
}

func TestPaginationWalksEverythingOnce(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	d, _, _ := provision(t, s, newDeployment("acme", ""), "")
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	want := map[string]bool{}
	for _, e := range []string{} {
		_ = e
	}
	// 249 more entries: 250 with the provisioning entry.
	for i := 0; i < 249; i++ {
		id := fmt.Sprintf("e%03d", i)
		// Some entries share a timestamp: order must still be total.
		at := base.Add(time.Duration(i/3) * time.Second)
		if err := s.AppendLog(ctx, d.ID, tenant.LogEntry{ID: id, At: at, Actor: "t", Action: "x"}); err != nil {
			t.Fatal(err)
		}
		want[id] = true
	}
	seen := map[string]int{}
	pages, cursor := 0, ""
	var prev time.Time
	for {
		page, err := s.ListLog(ctx, d.ID, store.PageRequest{Limit: 50, Cursor: cursor})
		if err != nil {
			t.Fatalf("page %d: %v", pages, err)
		}
		pages++
		if len(page.Items) != 50 {
			t.Fatalf("page %d has %d items", pages, len(page.Items))
		}
		for _, e := range page.Items {
			seen[e.ID]++
			if !prev.IsZero() && e.At.After(prev) {
				t.Fatalf("not newest first at %s", e.ID)
			}
			prev = e.At
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	if pages != 5 {
		t.Errorf("pages = %d, want 5", pages)
	}
	if len(seen) != 250 {
		t.Errorf("distinct entries = %d, want 250", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("entry %s seen %d times", id, n)
		}
	}
	for id := range want {
		if seen[id] != 1 {
			t.Errorf("entry %s lost", id)
		}
	}
}

func TestCursorTamperingIsRefused(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	a, _, _ := provision(t, s, newDeployment("a", ""), "")
	b, _, _ := provision(t, s, newDeployment("b", ""), "")
	for i := 0; i < 5; i++ {
		_ = s.AppendLog(ctx, a.ID, tenant.LogEntry{Actor: "t", Action: "x"})
		_ = s.AppendLog(ctx, b.ID, tenant.LogEntry{Actor: "t", Action: "x"})
	}
	page, err := s.ListLog(ctx, a.ID, store.PageRequest{Limit: 2})
	if err != nil || page.Next == "" {
		t.Fatalf("first page: %v next=%q", err, page.Next)
	}
	flip := []byte(page.Next)
	mid := len(flip) / 2
	if flip[mid] == 'A' {
		flip[mid] = 'B'
	} else {
		flip[mid] = 'A'
	}
	for name, c := range map[string]string{
		"fail/flipped-byte":  string(flip),
		"fail/truncated":     page.Next[:len(page.Next)-4],
		"fail/garbage":       "not-a-cursor",
		"fail/empty-payload": "AQ",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := s.ListLog(ctx, a.ID, store.PageRequest{Limit: 2, Cursor: c})
			if !errors.Is(err, store.ErrInvalidCursor) || !errors.Is(err, fault.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalidCursor", err)
			}
		})
	}
	t.Run("fail/other-tenant", func(t *testing.T) {
		if _, err := s.ListLog(ctx, b.ID, store.PageRequest{Limit: 2, Cursor: page.Next}); !errors.Is(err, store.ErrInvalidCursor) {
			t.Fatalf("cursor of deployment a accepted for b: %v", err)
		}
	})
	t.Run("fail/other-listing", func(t *testing.T) {
		if _, err := s.ListDeployments(ctx, store.PageRequest{Limit: 2, Cursor: page.Next}); !errors.Is(err, store.ErrInvalidCursor) {
			t.Fatalf("log cursor accepted for deployments: %v", err)
		}
	})
	t.Run("ok/untampered", func(t *testing.T) {
		if _, err := s.ListLog(ctx, a.ID, store.PageRequest{Limit: 2, Cursor: page.Next}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("fail/limit", func(t *testing.T) {
		for _, l := range []int{-1, store.MaxPageSize + 1} {
			if _, err := s.ListLog(ctx, a.ID, store.PageRequest{Limit: l}); !errors.Is(err, fault.ErrInvalid) {
				t.Fatalf("limit %d: %v", l, err)
			}
		}
	})
}

func TestOutageIsUnavailableAndWritesNothing(t *testing.T) {
	s, tg := newStore(t)
	if tg.Stack == nil {
		t.Skip("outage is simulated on the embedded stand-in only")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tg.Stack.DynamoDB.Stop()
	d := newDeployment("down", "down.example.com")
	_, _, err := provision(t, s, d, "req-down")
	if !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, fault.ErrUnavailable) {
		t.Fatalf("provision during outage: %v", err)
	}
	if err := s.Ping(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("ping during outage: %v", err)
	}
	if err := tg.Stack.DynamoDB.Start(); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("ping after restart: %v", err)
	}
	if _, err := s.GetDeployment(ctx, d.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deployment exists after failed provisioning: %v", err)
	}
}
