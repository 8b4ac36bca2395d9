package store_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

func newStore(t *testing.T) (*store.Store, *devstack.Target) {
	t.Helper()
	tg := devstack.NewTarget(t)
	return store.New(tg.Clients.DynamoDB, tg.Table, randomKey()), tg
}

func randomKey() store.KeySource {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return store.StaticKey(key)
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
	// The replay's own candidate was not written (read by key: GSIs lag in AWS).
	candidate := newDeployment("acme", "a.example.com")
	if _, _, err := provision(t, s, candidate, "marketplace:cust-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetDeployment(context.Background(), candidate.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("replay wrote its own deployment: %v", err)
	}
	// fail: the same key for a different request is refused, not answered with the first.
	other := newDeployment("other corp", "b.example.com")
	_, _, err = s.Provision(context.Background(), store.Provisioning{Deployment: other, RequestKey: "marketplace:cust-1", Fingerprint: "different"})
	if !errors.Is(err, store.ErrRequestMismatch) || !errors.Is(err, fault.ErrUnprocessable) {
		t.Fatalf("key reuse: %v", err)
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
	tg := devstack.NewEmbedded(t)
	s := store.New(tg.Clients.DynamoDB, tg.Table, randomKey())
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

// walk reads every page of a listing and fails on a repeat; it returns the ids in order.
func walk(t *testing.T, limit int, list func(store.PageRequest) (store.Page[tenant.Deployment], error)) []string {
	t.Helper()
	var ids []string
	seen := map[string]bool{}
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("pagination does not end")
		}
		page, err := list(store.PageRequest{Limit: limit, Cursor: cursor})
		if err != nil {
			t.Fatalf("page %d: %v", pages, err)
		}
		for _, d := range page.Items {
			if seen[d.ID] {
				t.Fatalf("deployment %s repeated on page %d", d.ID, pages)
			}
			seen[d.ID] = true
			ids = append(ids, d.ID)
		}
		if page.Next == "" {
			return ids
		}
		cursor = page.Next
	}
}

// TestIndexPagination walks 250 deployments on the GSI in pages of 50.
func TestIndexPagination(t *testing.T) {
	s, tg := newStore(t)
	ctx := context.Background()
	want := map[string]bool{}
	for i := 0; i < 250; i++ {
		d, _, err := provision(t, s, newDeployment(fmt.Sprintf("d%03d", i), ""), "")
		if err != nil {
			t.Fatal(err)
		}
		want[d.ID] = true
	}
	list := func(pr store.PageRequest) (store.Page[tenant.Deployment], error) { return s.ListDeployments(ctx, pr) }
	ids := walk(t, 50, list)
	// The index is eventually consistent in AWS: give it a moment there.
	for tries := 0; len(ids) < 250 && tg.Stack == nil && tries < 30; tries++ {
		time.Sleep(time.Second)
		ids = walk(t, 50, list)
	}
	if len(ids) != 250 {
		t.Fatalf("walked %d deployments, want 250", len(ids))
	}
	for _, id := range ids {
		if !want[id] {
			t.Fatalf("unknown deployment %s", id)
		}
	}
}

// shortPages wraps the real client so that every Query returns at most one item with a
// LastEvaluatedKey, as DynamoDB does when a page reaches its 1 MB limit (which the local
// stand-in does not enforce).
type shortPages struct{ store.DynamoDB }

func (s shortPages) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	one := *in
	one.Limit = aws.Int32(1)
	return s.DynamoDB.Query(ctx, &one, opts...)
}

func TestPaginationFollowsShortPages(t *testing.T) {
	tg := devstack.NewTarget(t)
	key := randomKey()
	full := store.New(tg.Clients.DynamoDB, tg.Table, key)
	short := store.New(shortPages{tg.Clients.DynamoDB}, tg.Table, key)
	ctx := context.Background()
	d, _, err := provision(t, full, newDeployment("acme", ""), "")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 11; i++ {
		if err := full.AppendLog(ctx, d.ID, tenant.LogEntry{Actor: "t", Action: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	cursor, pages := "", 0
	for {
		page, err := short.ListLog(ctx, d.ID, store.PageRequest{Limit: 5, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if page.Next != "" && len(page.Items) != 5 {
			t.Fatalf("page %d is short (%d items) though more follow", pages, len(page.Items))
		}
		for _, e := range page.Items {
			if seen[e.ID] {
				t.Fatalf("repeat %s", e.ID)
			}
			seen[e.ID] = true
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	if len(seen) != 12 || pages != 3 {
		t.Fatalf("%d entries in %d pages, want 12 in 3", len(seen), pages)
	}
}

// faulty fails every call with err, as an outage, throttling or a misconfiguration would.
type faulty struct {
	store.DynamoDB
	err error
}

func (f faulty) GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return nil, f.err
}

func (f faulty) TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	return nil, f.err
}

func TestErrorClasses(t *testing.T) {
	tg := devstack.NewTarget(t)
	reason := func(code string) error {
		return &types.TransactionCanceledException{Message: aws.String("cancelled"),
			CancellationReasons: []types.CancellationReason{{Code: aws.String("None")}, {Code: aws.String(code)}}}
	}
	cases := []struct {
		name string
		err  error
		want error // fault kind; nil means an unclassified server fault (500)
	}{
		{"throttled", &types.ProvisionedThroughputExceededException{Message: aws.String("slow down")}, fault.ErrUnavailable},
		{"server-error", &types.InternalServerError{Message: aws.String("oops")}, fault.ErrUnavailable},
		{"deadline", context.DeadlineExceeded, fault.ErrUnavailable},
		{"tx-throttled", reason("ThrottlingError"), fault.ErrUnavailable},
		{"tx-conflict", reason("TransactionConflict"), fault.ErrConflict},
		{"validation", &smithy.GenericAPIError{Code: "ValidationException", Message: "bad key"}, nil},
		{"access-denied", &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "no"}, nil},
		{"no-table", &types.ResourceNotFoundException{Message: aws.String("no table")}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := store.New(faulty{tg.Clients.DynamoDB, c.err}, tg.Table, randomKey())
			d := newDeployment("x", "x.example.com")
			_, _, perr := provision(t, s, d, "k")
			_, gerr := s.GetDeployment(context.Background(), d.ID)
			for _, err := range []error{perr, gerr} {
				if strings.HasPrefix(c.name, "tx-") && err == gerr {
					continue // transaction reasons only come from transactions
				}
				if err == nil {
					t.Fatal("no error")
				}
				if c.want == nil {
					for _, k := range []error{fault.ErrUnavailable, fault.ErrConflict, fault.ErrInvalid, fault.ErrNotFound} {
						if errors.Is(err, k) {
							t.Fatalf("%v classified as %v; want a server fault", err, k)
						}
					}
				} else if !errors.Is(err, c.want) {
					t.Fatalf("%v is not %v", err, c.want)
				}
			}
		})
	}
}

func TestDomainLookupChecksOwner(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	if _, err := s.GetDeployment(ctx, strings.Repeat("x", 3000)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("malformed id: %v", err)
	}
	a, _, _ := provision(t, s, newDeployment("a", "a.example.com"), "")
	next := a
	next.DomainName = "moved.example.com"
	if _, err := s.UpdateDeployment(ctx, a, next, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeploymentByDomain(ctx, "a.example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("old domain still resolves: %v", err)
	}
	if got, err := s.DeploymentByDomain(ctx, "moved.example.com"); err != nil || got.ID != a.ID {
		t.Fatalf("new domain: %v %v", got.ID, err)
	}
}

// TestCursorKeyIsFetchedLazily: a key source that fails (KMS down) makes listings 503 but
// leaves every other access working; once it recovers, listings work.
func TestCursorKeyIsFetchedLazily(t *testing.T) {
	tg := devstack.NewTarget(t)
	calls, down := 0, true
	key := make([]byte, 32)
	s := store.New(tg.Clients.DynamoDB, tg.Table, func(context.Context) ([]byte, error) {
		calls++
		if down {
			return nil, errors.New("kms: connection refused")
		}
		return key, nil
	})
	ctx := context.Background()
	d, _, err := provision(t, s, newDeployment("a", ""), "")
	if err != nil {
		t.Fatalf("provisioning needs no cursor key: %v", err)
	}
	if _, err := s.GetDeployment(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	if calls != 0 {
		t.Fatalf("key fetched %d times before any listing", calls)
	}
	if _, err := s.ListLog(ctx, d.ID, store.PageRequest{}); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("listing without key: %v", err)
	}
	down = false
	for i := 0; i < 3; i++ {
		if _, err := s.ListLog(ctx, d.ID, store.PageRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	if calls != 2 {
		t.Fatalf("key fetched %d times; want one failure and one success, then cached", calls)
	}
}
