package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/marketplace"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

var subscriptionLog = tenant.LogEntry{Actor: "marketplace", Action: "subscription.changed"}

// marketAt is when the marketplace events of these tests happen.
var marketAt = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// newSubscription is a pending AWS subscription of a customer (account and license) of its own.
func newSubscription() marketplace.Subscription {
	id := tenant.NewID("sub_")
	return marketplace.Subscription{ID: id, Marketplace: marketplace.AWS, AWSAccountID: "123456789012",
		LicenseARN: "arn:aws:license-manager::294406891311:license:l-" + id[4:20], ProductCode: "prod-signum",
		AgreementID: "agmt-" + id[4:20], OfferID: "offer-1", Plan: "standard", State: marketplace.StatePending,
		StateAt: marketAt, PlanAt: marketAt}
}

// identitiesOf are the lookup keys a subscription is found by: those of an event that names
// everything the subscription has.
func identitiesOf(s marketplace.Subscription) []string {
	return marketplace.Ref{AWSAccountID: s.AWSAccountID, LicenseARN: s.LicenseARN, AgreementID: s.AgreementID,
		AzureSubscriptionID: s.AzureSubscriptionID}.Lookups()
}

// subscription saves sub as a new subscription, found by its identities.
func (f *fixture) subscription(sub marketplace.Subscription) marketplace.Subscription {
	f.t.Helper()
	got, err := f.s.SaveSubscription(context.Background(), store.SubscriptionChange{Next: sub, Lookups: identitiesOf(sub)})
	must(f.t, err)
	return got
}

// subscribed registers a deployment for a new subscription, as the marketplace registration
// does: the deployment provisioned with the subscription bound to it, active. It returns both
// as stored.
func (f *fixture) subscribed() (tenant.Deployment, marketplace.Subscription) {
	f.t.Helper()
	ctx := context.Background()
	pending := f.subscription(newSubscription())
	d := newDeployment("acme", "")
	d.IPAllowlist, d.SubscriptionID, d.Region = nil, pending.ID, tenant.DefaultRegion
	bound := pending
	bound.State, bound.DeploymentID = marketplace.StateActive, d.ID
	_, created, err := f.s.Provision(ctx, store.Provisioning{Deployment: d, LocalDomain: identity.DefaultLocalDomain(d.ID),
		Log:          tenant.LogEntry{Actor: "marketplace", Action: "deployment.provisioned"},
		Subscription: &store.SubscriptionBinding{Current: pending, Next: bound}})
	must(f.t, err)
	if !created {
		f.t.Fatalf("fixture: deployment %s not created", d.ID)
	}
	dep, err := f.s.GetDeployment(ctx, d.ID)
	must(f.t, err)
	sub, err := f.s.GetSubscription(ctx, pending.ID)
	must(f.t, err)
	return dep, sub
}

// stored reads a subscription for a case's after.
func (f *fixture) stored(t *testing.T, id string) marketplace.Subscription {
	t.Helper()
	sub, err := f.s.GetSubscription(context.Background(), id)
	if err != nil {
		t.Fatalf("read subscription %s: %v", id, err)
	}
	return sub
}

// applied says whether the event id is recorded as applied, for a case's after.
func (f *fixture) applied(t *testing.T, id string) bool {
	t.Helper()
	ok, err := f.s.EventApplied(context.Background(), id)
	if err != nil {
		t.Fatalf("event %s applied: %v", id, err)
	}
	return ok
}

// unfound checks that no subscription has the identity lookup.
func (f *fixture) unfound(t *testing.T, lookup string) {
	t.Helper()
	if got, err := f.s.SubscriptionByLookup(context.Background(), []string{lookup}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("%s finds %s, %v", lookup, got.ID, err)
	}
}

// marketClock is a store clock that the cases of a test set and that moves a second at every
// reading, so that items written one after another have distinct times in their order.
type marketClock struct {
	mu sync.Mutex
	at time.Time
}

func newMarketClock() *marketClock {
	// Close to the real time: on AWS the TTL would soon remove items whose expiry is long past.
	return &marketClock{at: time.Now().UTC().Truncate(time.Second)}
}

func (c *marketClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = c.at.Add(time.Second)
	return c.at
}

func (c *marketClock) set(at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = at.Add(-time.Second) // the next reading is at
}

// callCounter counts the reads that reach DynamoDB, for accesses that must answer without one.
type callCounter struct {
	store.DynamoDB
	reads atomic.Int64
}

func (c *callCounter) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	c.reads.Add(1)
	return c.DynamoDB.GetItem(ctx, in, opts...)
}

func (c *callCounter) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	c.reads.Add(1)
	return c.DynamoDB.Query(ctx, in, opts...)
}

func (c *callCounter) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	c.reads.Add(1)
	return c.DynamoDB.BatchGetItem(ctx, in, opts...)
}

// Pattern 44: save a subscription with what goes with it — the applied event, its identities,
// its deployment's terms and a log entry — all or nothing.
func TestSaveSubscription(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	fresh := newSubscription()
	updated := f.subscription(newSubscription())
	stale := f.subscription(newSubscription())
	_, err := f.s.SaveSubscription(ctx, store.SubscriptionChange{Current: stale, Next: stale, Lookups: identitiesOf(stale)})
	must(t, err)
	redelivered := f.subscription(newSubscription())
	redelivered, err = f.s.SaveSubscription(ctx, store.SubscriptionChange{Current: redelivered, Next: redelivered, EventID: "aws-sns:redelivered"})
	must(t, err)
	grabbing := f.subscription(newSubscription())
	dep, bound := f.subscribed()
	orphan := f.subscription(newSubscription())
	copycat := newSubscription()
	copycat.AWSAccountID, copycat.LicenseARN = updated.AWSAccountID, updated.LicenseARN

	save := func(c store.SubscriptionChange) func(context.Context) (marketplace.Subscription, error) {
		return func(ctx context.Context) (marketplace.Subscription, error) { return f.s.SaveSubscription(ctx, c) }
	}
	// change is the change of the subscription as stored now, read when the case runs.
	change := func(id string, edit func(*store.SubscriptionChange)) func(context.Context) (marketplace.Subscription, error) {
		return func(ctx context.Context) (marketplace.Subscription, error) {
			current, err := f.s.GetSubscription(ctx, id)
			if err != nil {
				return marketplace.Subscription{}, err
			}
			c := store.SubscriptionChange{Current: current, Next: current, Lookups: identitiesOf(current)}
			edit(&c)
			return f.s.SaveSubscription(ctx, c)
		}
	}
	activated := func(s marketplace.Subscription) marketplace.Subscription {
		s.State, s.StateAt = marketplace.StateActive, marketAt.Add(time.Hour)
		return s
	}
	capped := true
	run(t, f, []contract[marketplace.Subscription]{
		{name: "ok/create", call: save(store.SubscriptionChange{Next: fresh, EventID: "aws-sns:create", Lookups: identitiesOf(fresh)}),
			want: func(t *testing.T, got marketplace.Subscription) {
				if got.ID != fresh.ID || got.Version != 1 || got.CreatedAt.IsZero() || !got.UpdatedAt.Equal(got.CreatedAt) {
					t.Fatalf("created %+v", got)
				}
			}, after: func(t *testing.T) {
				got := f.stored(t, fresh.ID)
				if got.Version != 1 || got.State != marketplace.StatePending || got.Key() != fresh.Key() || got.Plan != "standard" ||
					got.OfferID != "offer-1" || !got.StateAt.Equal(marketAt) || got.DeploymentID != "" {
					t.Fatalf("stored %+v", got)
				}
				if !f.applied(t, "aws-sns:create") {
					t.Fatal("the event is not recorded as applied")
				}
				for _, l := range identitiesOf(fresh) {
					if by, err := f.s.SubscriptionByLookup(ctx, []string{l}); err != nil || by.ID != fresh.ID {
						t.Fatalf("%s finds %s, %v", l, by.ID, err)
					}
				}
			}},
		{name: "fail/create-with-a-taken-id", call: save(store.SubscriptionChange{Next: updated, Lookups: identitiesOf(updated)}),
			wantErr: store.ErrConflict, wantDetail: "A subscription with the id"},
		{name: "fail/create-with-an-identity-of-another", call: save(store.SubscriptionChange{Next: copycat, EventID: "aws-sns:copycat", Lookups: identitiesOf(copycat)}),
			wantErr: store.ErrConflict, wantDetail: "Another subscription has the identity " + updated.Key(), after: func(t *testing.T) {
				if _, err := f.s.GetSubscription(ctx, copycat.ID); !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("a refused create landed: %v", err)
				}
				if f.applied(t, "aws-sns:copycat") {
					t.Fatal("the event of a refused create is recorded")
				}
				f.unfound(t, "aws-agreement:"+copycat.AgreementID)
			}},
		{name: "ok/update-over-the-version-read", call: save(store.SubscriptionChange{Current: updated, Next: activated(updated), EventID: "aws-sns:update", Lookups: identitiesOf(updated)}),
			want: func(t *testing.T, got marketplace.Subscription) {
				if got.Version != 2 || !got.CreatedAt.Equal(updated.CreatedAt) || !got.UpdatedAt.After(updated.UpdatedAt) {
					t.Fatalf("updated %+v", got)
				}
			}, after: func(t *testing.T) {
				if got := f.stored(t, updated.ID); got.Version != 2 || got.State != marketplace.StateActive || !got.CreatedAt.Equal(updated.CreatedAt) {
					t.Fatalf("stored %+v", got)
				}
				if !f.applied(t, "aws-sns:update") {
					t.Fatal("the event is not recorded as applied")
				}
			}},
		{name: "fail/stale-version", call: save(store.SubscriptionChange{Current: stale, Next: activated(stale), EventID: "aws-sns:stale",
			Lookups: append(identitiesOf(stale), "aws-legacy:cust-stale:prod-signum")}),
			wantErr: store.ErrStale, wantDetail: "changed since it was read", after: func(t *testing.T) {
				if got := f.stored(t, stale.ID); got.Version != 2 || got.State != marketplace.StatePending {
					t.Fatalf("a stale change landed: %+v", got)
				}
				if f.applied(t, "aws-sns:stale") {
					t.Fatal("the event of a stale change is recorded")
				}
				f.unfound(t, "aws-legacy:cust-stale:prod-signum")
			}},
		{name: "fail/event-applied-twice", call: change(redelivered.ID, func(c *store.SubscriptionChange) {
			c.Next.State, c.EventID = marketplace.StateSuspended, "aws-sns:redelivered"
			c.Lookups = append(c.Lookups, "aws-legacy:cust-redelivered:prod-signum")
		}), wantErr: store.ErrEventApplied, after: func(t *testing.T) {
			if got := f.stored(t, redelivered.ID); got.Version != redelivered.Version || got.State != marketplace.StatePending {
				t.Fatalf("a redelivered event was applied again: %+v", got)
			}
			f.unfound(t, "aws-legacy:cust-redelivered:prod-signum")
		}},
		{name: "fail/lookup-key-of-another-subscription", call: change(grabbing.ID, func(c *store.SubscriptionChange) {
			c.Next.State, c.EventID = marketplace.StateActive, "aws-sns:grabbing"
			c.Lookups = append(c.Lookups, "aws-legacy:cust-grabbing:prod-signum", updated.Key())
		}), wantErr: store.ErrConflict, wantDetail: "Another subscription has the identity " + updated.Key(), after: func(t *testing.T) {
			if got := f.stored(t, grabbing.ID); got.Version != 1 || got.State != marketplace.StatePending {
				t.Fatalf("a refused change landed: %+v", got)
			}
			if f.applied(t, "aws-sns:grabbing") {
				t.Fatal("the event of a refused change is recorded")
			}
			f.unfound(t, "aws-legacy:cust-grabbing:prod-signum")
			if by, err := f.s.SubscriptionByLookup(ctx, []string{updated.Key()}); err != nil || by.ID != updated.ID {
				t.Fatalf("the identity moved to %s, %v", by.ID, err)
			}
		}},
		{name: "ok/its-own-identities-again", call: change(grabbing.ID, func(c *store.SubscriptionChange) {}),
			want: func(t *testing.T, got marketplace.Subscription) {
				if got.Version != 2 {
					t.Fatalf("saved %+v", got)
				}
			}},
		{name: "ok/deployment-terms-and-log-in-the-same-transaction", call: change(bound.ID, func(c *store.SubscriptionChange) {
			c.Next.State, c.Next.Plan, c.Next.Quantity, c.EventID = marketplace.StateSuspended, "enterprise", 5, "azure-webhook:suspend"
			c.Deployment = &store.DeploymentTerms{Status: tenant.StatusSuspended, Plan: "enterprise", Quantity: 5, SigningCapped: &capped}
			c.Log = &subscriptionLog
		}), want: func(t *testing.T, got marketplace.Subscription) {
			if got.Version != bound.Version+1 || got.State != marketplace.StateSuspended {
				t.Fatalf("saved %+v", got)
			}
		}, after: func(t *testing.T) {
			got, err := f.s.GetDeployment(ctx, dep.ID)
			must(t, err)
			if got.Status != tenant.StatusSuspended || got.Plan != "enterprise" || got.Quantity != 5 || !got.SigningCapped ||
				got.Version != dep.Version+1 || !got.UpdatedAt.After(dep.UpdatedAt) || got.SubscriptionID != bound.ID || got.Region != tenant.DefaultRegion {
				t.Fatalf("deployment %+v", got)
			}
			if f.logActions(dep.ID)[0] != subscriptionLog.Action {
				t.Fatalf("system log %v", f.logActions(dep.ID))
			}
		}},
		{name: "ok/terms-after-the-suspension-leave-the-cap", call: change(bound.ID, func(c *store.SubscriptionChange) {
			c.Next.State, c.EventID = marketplace.StateActive, "azure-webhook:reinstate"
			c.Deployment = &store.DeploymentTerms{Status: tenant.StatusActive, Plan: "enterprise", Quantity: 0}
		}), want: succeeds[marketplace.Subscription], after: func(t *testing.T) {
			got, err := f.s.GetDeployment(ctx, dep.ID)
			must(t, err)
			if got.Status != tenant.StatusActive || got.Quantity != 0 || !got.SigningCapped || got.Version != dep.Version+2 {
				t.Fatalf("deployment %+v", got)
			}
			if n := len(f.logActions(dep.ID)); n != 2 {
				t.Fatalf("%d log entries, want the provisioning's and the suspension's", n)
			}
		}},
		{name: "fail/deployment-missing", call: change(orphan.ID, func(c *store.SubscriptionChange) {
			c.Next.State, c.Next.DeploymentID, c.EventID = marketplace.StateActive, tenant.NewID("dep_"), "aws-sns:orphan"
			c.Lookups = append(c.Lookups, "aws-legacy:cust-orphan:prod-signum")
			c.Deployment = &store.DeploymentTerms{Status: tenant.StatusActive, Plan: "standard"}
			c.Log = &subscriptionLog
		}), wantErr: store.ErrNotFound, wantDetail: "does not exist", after: func(t *testing.T) {
			if got := f.stored(t, orphan.ID); got.Version != 1 || got.DeploymentID != "" || got.State != marketplace.StatePending {
				t.Fatalf("a refused change landed: %+v", got)
			}
			if f.applied(t, "aws-sns:orphan") {
				t.Fatal("the event of a refused change is recorded")
			}
			f.unfound(t, "aws-legacy:cust-orphan:prod-signum")
		}},
	})
}

// Pattern 45: read a subscription by id, by the first of an event's identities that names
// one, and the one that pays for a deployment.
func TestFindSubscription(t *testing.T) {
	f := newFixture(t)
	first := f.subscription(newSubscription())
	second := f.subscription(newSubscription())
	dep, bound := f.subscribed()
	unpaid := f.deployment()
	lost := dep
	lost.SubscriptionID = tenant.NewID("sub_")
	calls := &callCounter{DynamoDB: f.tg.Clients.DynamoDB}
	counted := store.New(calls, f.tg.Table, randomKey())

	get := func(id string) func(context.Context) (marketplace.Subscription, error) {
		return func(ctx context.Context) (marketplace.Subscription, error) { return f.s.GetSubscription(ctx, id) }
	}
	// getUncalled is get through a store that counts its reads.
	getUncalled := func(id string) func(context.Context) (marketplace.Subscription, error) {
		return func(ctx context.Context) (marketplace.Subscription, error) {
			calls.reads.Store(0)
			return counted.GetSubscription(ctx, id)
		}
	}
	noCall := func(t *testing.T) {
		if n := calls.reads.Load(); n != 0 {
			t.Fatalf("%d reads for an id that cannot exist", n)
		}
	}
	by := func(lookups ...string) func(context.Context) (marketplace.Subscription, error) {
		return func(ctx context.Context) (marketplace.Subscription, error) {
			return f.s.SubscriptionByLookup(ctx, lookups)
		}
	}
	of := func(d tenant.Deployment) func(context.Context) (marketplace.Subscription, error) {
		return func(ctx context.Context) (marketplace.Subscription, error) {
			return f.s.SubscriptionOfDeployment(ctx, d)
		}
	}
	is := func(want marketplace.Subscription) func(*testing.T, marketplace.Subscription) {
		return func(t *testing.T, got marketplace.Subscription) {
			if got.ID != want.ID || got.Version != want.Version || got.Key() != want.Key() || !got.CreatedAt.Equal(want.CreatedAt) {
				t.Fatalf("got %+v, want %+v", got, want)
			}
		}
	}
	run(t, f, []contract[marketplace.Subscription]{
		{name: "ok/get", call: get(first.ID), want: is(first)},
		{name: "fail/get-unknown", call: get(tenant.NewID("sub_")), wantErr: store.ErrNotFound, wantDetail: "No subscription has the id"},
		{name: "fail/get-not-a-subscription-id-without-a-call", call: getUncalled("sub_x"), wantErr: store.ErrNotFound, after: noCall},
		{name: "fail/get-a-deployment-id-without-a-call", call: getUncalled(dep.ID), wantErr: store.ErrNotFound, after: noCall},
		{name: "fail/get-over-long-without-a-call", call: getUncalled("sub_" + strings.Repeat("x", 3000)), wantErr: store.ErrNotFound, after: noCall},
		{name: "ok/by-lookup-first-matching-key-wins", call: by("azure:00000000-0000-0000-0000-000000000000", second.Key(), first.Key()), want: is(second)},
		{name: "ok/by-lookup-any-of-its-identities", call: by("aws-license:" + marketplace.LicenseID(first.LicenseARN)), want: is(first)},
		{name: "ok/by-lookup-blank-and-repeated-keys-are-skipped", call: by("", first.Key(), first.Key()), want: is(first)},
		{name: "fail/by-lookup-none-matches", call: by("aws:000000000000:l-none", "aws-agreement:agmt-none"), wantErr: store.ErrNotFound, wantDetail: "No subscription has these identities"},
		{name: "fail/by-lookup-no-keys", call: by(), wantErr: store.ErrNotFound},
		{name: "ok/of-deployment", call: of(dep), want: is(bound)},
		{name: "fail/of-deployment-without-one", call: of(unpaid), wantErr: store.ErrNotFound, wantDetail: "has no marketplace subscription"},
		{name: "fail/of-deployment-naming-a-missing-one", call: of(lost), wantErr: store.ErrNotFound},
	})
}

// Pattern 46: list every subscription, oldest first, page by page with sealed cursors.
func TestListSubscriptions(t *testing.T) {
	clock := newMarketClock()
	f := newFixture(t, store.WithClock(clock.now))
	ctx := context.Background()
	var want []string
	for range 5 {
		want = append(want, f.subscription(newSubscription()).ID)
	}
	// A subscription's place is its creation: an update does not move it.
	first, err := f.s.GetSubscription(ctx, want[0])
	must(t, err)
	_, err = f.s.SaveSubscription(ctx, store.SubscriptionChange{Current: first, Next: first})
	must(t, err)
	f.deployment() // deployments are listed elsewhere
	f.deployment()

	walkPages := func(limit int) func(context.Context) ([]string, error) {
		return func(ctx context.Context) ([]string, error) {
			var ids []string
			cursor := ""
			for pages := 0; ; pages++ {
				page, err := f.s.ListSubscriptions(ctx, store.PageRequest{Limit: limit, Cursor: cursor})
				if err != nil {
					return nil, err
				}
				if len(page.Items) > limit || pages > 10 {
					return nil, fmt.Errorf("page %d has %d items", pages, len(page.Items))
				}
				for _, s := range page.Items {
					ids = append(ids, s.ID)
				}
				if page.Next == "" {
					return ids, nil
				}
				cursor = page.Next
			}
		}
	}
	f.indexed(func() bool { ids, _ := walkPages(100)(ctx); return len(ids) == len(want) })
	firstPage, err := f.s.ListSubscriptions(ctx, store.PageRequest{Limit: 2})
	must(t, err)
	deployments, err := f.s.ListDeployments(ctx, store.PageRequest{Limit: 1})
	must(t, err)
	from := func(cursor string) func(context.Context) ([]string, error) {
		return func(ctx context.Context) ([]string, error) {
			page, err := f.s.ListSubscriptions(ctx, store.PageRequest{Limit: 2, Cursor: cursor})
			var ids []string
			for _, s := range page.Items {
				ids = append(ids, s.ID)
			}
			return ids, err
		}
	}
	oldestFirst := func(t *testing.T, got []string) {
		if !slices.Equal(got, want) {
			t.Fatalf("listed %v, want %v", got, want)
		}
	}
	run(t, f, []contract[[]string]{
		{name: "ok/pages-of-two", call: walkPages(2), want: oldestFirst},
		{name: "ok/one-page", call: walkPages(10), want: oldestFirst},
		{name: "ok/from-a-cursor", call: from(firstPage.Next), want: func(t *testing.T, got []string) {
			if !slices.Equal(got, want[2:4]) {
				t.Fatalf("second page %v, want %v", got, want[2:4])
			}
		}},
		{name: "fail/tampered-cursor", call: from(firstPage.Next[:len(firstPage.Next)-4]), wantErr: store.ErrInvalidCursor},
		{name: "fail/cursor-of-another-listing", call: from(deployments.Next), wantErr: store.ErrInvalidCursor},
	})
}

// Pattern 47: marketplace events applied, recorded once, so that their redeliveries are known.
func TestMarketEventsApplied(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	saved := f.subscription(newSubscription())
	saved, err := f.s.SaveSubscription(ctx, store.SubscriptionChange{Current: saved, Next: saved, EventID: "aws-eventbridge:saved"})
	must(t, err)

	applied := func(id string) func(context.Context) (bool, error) {
		return func(ctx context.Context) (bool, error) { return f.s.EventApplied(ctx, id) }
	}
	// mark marks id applied and answers whether it is then.
	mark := func(id string) func(context.Context) (bool, error) {
		return func(ctx context.Context) (bool, error) {
			if err := f.s.MarkEventApplied(ctx, id, saved.ID); err != nil {
				return false, err
			}
			return f.s.EventApplied(ctx, id)
		}
	}
	is := func(want bool) func(*testing.T, bool) {
		return func(t *testing.T, got bool) {
			if got != want {
				t.Fatalf("applied %v, want %v", got, want)
			}
		}
	}
	run(t, f, []contract[bool]{
		{name: "ok/unknown-is-not-applied", call: applied("aws-sns:ignored"), want: is(false)},
		{name: "ok/mark", call: mark("aws-sns:ignored"), want: is(true)},
		{name: "ok/mark-again-is-idempotent", call: mark("aws-sns:ignored"), want: is(true)},
		{name: "ok/applied-by-a-save", call: applied("aws-eventbridge:saved"), want: is(true)},
		{name: "ok/mark-after-a-save", call: mark("aws-eventbridge:saved"), want: is(true)},
		{name: "ok/another-event-is-not-applied", call: applied("aws-sns:other"), want: is(false)},
	})
	run(t, f, []contract[marketplace.Subscription]{
		{name: "fail/save-of-a-marked-event", call: func(ctx context.Context) (marketplace.Subscription, error) {
			return f.s.SaveSubscription(ctx, store.SubscriptionChange{Current: saved, Next: saved, EventID: "aws-sns:ignored"})
		}, wantErr: store.ErrEventApplied, after: func(t *testing.T) {
			if got := f.stored(t, saved.ID); got.Version != saved.Version {
				t.Fatalf("saved over a marked event: %+v", got)
			}
		}},
	})
}

// Pattern 48: events that found no subscription, kept under each of their identities until
// one appears, then dropped from all.
func TestPendingMarketEvents(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	customer := newSubscription()
	trial := true
	later := marketplace.Event{ID: "aws-eventbridge:license-updated", Source: "aws-eventbridge", Kind: marketplace.KindPlan,
		At: marketAt.Add(2 * time.Hour), Ref: marketplace.Ref{AWSAccountID: customer.AWSAccountID, LicenseARN: customer.LicenseARN, AgreementID: customer.AgreementID},
		Plan: "enterprise", Quantity: 3, OfferID: "offer-2", FreeTrial: &trial, Detail: "License Updated"}
	earlier := marketplace.Event{ID: "aws-eventbridge:license-suspended", Source: "aws-eventbridge", Kind: marketplace.KindSuspend,
		At: marketAt.Add(time.Hour), Ref: marketplace.Ref{LicenseARN: customer.LicenseARN}}
	earliest := marketplace.Event{ID: "aws-eventbridge:agreement-created", Source: "aws-eventbridge", Kind: marketplace.KindSubscribe,
		At: marketAt, Ref: marketplace.Ref{AgreementID: customer.AgreementID}}
	someoneElse := newSubscription()
	other := marketplace.Event{ID: "aws-eventbridge:other", Source: "aws-eventbridge", Kind: marketplace.KindSuspend,
		At: marketAt, Ref: marketplace.Ref{AWSAccountID: someoneElse.AWSAccountID, LicenseARN: someoneElse.LicenseARN}}
	for _, ev := range []marketplace.Event{later, earlier, earliest, other} {
		must(t, f.s.KeepPendingEvent(ctx, ev))
	}
	short := store.New(shortPages{f.tg.Clients.DynamoDB}, f.tg.Table, randomKey())
	all := identitiesOf(customer)

	pending := func(s *store.Store, lookups ...string) func(context.Context) ([]marketplace.Event, error) {
		return func(ctx context.Context) ([]marketplace.Event, error) { return s.PendingEvents(ctx, lookups) }
	}
	keep := func(ev marketplace.Event) func(context.Context) ([]marketplace.Event, error) {
		return func(ctx context.Context) ([]marketplace.Event, error) {
			if err := f.s.KeepPendingEvent(ctx, ev); err != nil {
				return nil, err
			}
			return f.s.PendingEvents(ctx, all)
		}
	}
	drop := func(ev marketplace.Event) func(context.Context) ([]marketplace.Event, error) {
		return func(ctx context.Context) ([]marketplace.Event, error) {
			if err := f.s.DropPendingEvent(ctx, ev); err != nil {
				return nil, err
			}
			return f.s.PendingEvents(ctx, all)
		}
	}
	are := func(want ...marketplace.Event) func(*testing.T, []marketplace.Event) {
		return func(t *testing.T, got []marketplace.Event) {
			if len(got) != len(want) {
				t.Fatalf("got %d events %+v, want %d", len(got), got, len(want))
			}
			for i := range want {
				g, w := got[i], want[i]
				if g.ID != w.ID || g.Kind != w.Kind || !g.At.Equal(w.At) || g.Ref != w.Ref || g.Plan != w.Plan || g.Quantity != w.Quantity ||
					g.OfferID != w.OfferID || (g.FreeTrial == nil) != (w.FreeTrial == nil) || g.Detail != w.Detail || g.Source != w.Source {
					t.Fatalf("event %d is %+v, want %+v", i, g, w)
				}
			}
		}
	}
	run(t, f, []contract[[]marketplace.Event]{
		{name: "ok/each-once-oldest-first", call: pending(f.s, all...), want: are(earliest, earlier, later)},
		{name: "ok/under-one-identity", call: pending(f.s, "aws-agreement:"+customer.AgreementID), want: are(earliest, later)},
		{name: "ok/another-customer", call: pending(f.s, someoneElse.Key()), want: are(other)},
		{name: "ok/none", call: pending(f.s, "aws:000000000000:l-none"), want: are()},
		{name: "ok/no-identities", call: pending(f.s), want: are()},
		{name: "ok/follows-short-pages", call: pending(short, all...), want: are(earliest, earlier, later)},
		{name: "ok/kept-twice-is-kept-once", call: keep(later), want: are(earliest, earlier, later)},
		{name: "fail/keep-an-event-naming-nothing", call: keep(marketplace.Event{ID: "aws-sns:nameless", At: marketAt}), wantErr: fault.ErrInvalid},
		{name: "ok/drop-from-every-identity", call: drop(later), want: are(earliest, earlier), after: func(t *testing.T) {
			for _, l := range all {
				evs, err := f.s.PendingEvents(ctx, []string{l})
				must(t, err)
				for _, ev := range evs {
					if ev.ID == later.ID {
						t.Fatalf("still kept under %s", l)
					}
				}
			}
		}},
		{name: "ok/drop-again", call: drop(later), want: are(earliest, earlier)},
		{name: "ok/drop-leaves-others", call: drop(earliest), want: are(earlier), after: func(t *testing.T) {
			evs, err := f.s.PendingEvents(ctx, []string{someoneElse.Key()})
			must(t, err)
			are(other)(t, evs)
		}},
	})
}

// Pattern 49: registration tickets, from the marketplace's redirect to the registration page.
func TestRegistrationTickets(t *testing.T) {
	clock := newMarketClock()
	f := newFixture(t, store.WithClock(clock.now))
	start := clock.now()
	expires := start.Add(time.Hour)
	sub := tenant.NewID("sub_")
	must(t, f.s.PutRegistrationTicket(context.Background(), "ticket-old", sub, start.Add(-time.Minute)))

	put := func(ticket string) func(context.Context) (string, error) {
		return func(ctx context.Context) (string, error) {
			return "", f.s.PutRegistrationTicket(ctx, ticket, sub, expires)
		}
	}
	// readAt reads ticket at the time at.
	readAt := func(ticket string, at time.Time) func(context.Context) (string, error) {
		return func(ctx context.Context) (string, error) {
			clock.set(at)
			return f.s.RegistrationTicket(ctx, ticket)
		}
	}
	names := func(t *testing.T, got string) {
		if got != sub {
			t.Fatalf("the ticket names %q, want %q", got, sub)
		}
	}
	run(t, f, []contract[string]{
		{name: "ok/put", call: put("ticket-1"), after: func(t *testing.T) {
			if got, err := f.s.RegistrationTicket(context.Background(), "ticket-1"); err != nil || got != sub {
				t.Fatalf("read %q, %v", got, err)
			}
		}},
		{name: "fail/put-a-taken-ticket", call: put("ticket-1"), wantErr: store.ErrConflict},
		{name: "ok/read", call: readAt("ticket-1", start.Add(time.Minute)), want: names},
		{name: "ok/read-again", call: readAt("ticket-1", start.Add(2*time.Minute)), want: names},
		{name: "ok/read-just-before-expiry", call: readAt("ticket-1", expires.Add(-time.Second)), want: names},
		{name: "fail/unknown", call: readAt("ticket-2", start), wantErr: store.ErrNotFound, wantDetail: "not valid"},
		{name: "fail/expired", call: readAt("ticket-old", start), wantErr: fault.ErrGone, wantDetail: "has expired"},
		{name: "fail/at-expiry", call: readAt("ticket-1", expires), wantErr: fault.ErrGone},
		{name: "fail/after-expiry", call: readAt("ticket-1", expires.Add(time.Hour)), wantErr: fault.ErrGone},
	})
}

// Pattern 50: a deployment registered for a subscription: the subscription bound to it in
// the provisioning transaction, over the version read, so that a subscription registers one
// deployment.
func TestProvisionForSubscription(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pending := f.subscription(newSubscription())
	moved := f.subscription(newSubscription())
	movedNow, err := f.s.SaveSubscription(ctx, store.SubscriptionChange{Current: moved, Next: moved, EventID: "aws-sns:moved"})
	must(t, err)

	// register provisions a deployment named domain for sub as read (current).
	var registered tenant.Deployment
	register := func(current marketplace.Subscription, domain string) func(context.Context) (tenant.Deployment, error) {
		return func(ctx context.Context) (tenant.Deployment, error) {
			d := newDeployment("acme", domain)
			d.IPAllowlist, d.SubscriptionID, d.Region, d.Plan = nil, current.ID, "eu-central-1", "standard-eu"
			next := current
			next.State, next.DeploymentID = marketplace.StateActive, d.ID
			got, created, err := f.s.Provision(ctx, store.Provisioning{Deployment: d, LocalDomain: identity.DefaultLocalDomain(d.ID),
				Log:          tenant.LogEntry{Actor: "marketplace", Action: "deployment.provisioned"},
				Subscription: &store.SubscriptionBinding{Current: current, Next: next}})
			if err == nil && !created {
				err = fmt.Errorf("deployment %s not created", d.ID)
			}
			registered = d
			return got, err
		}
	}
	nothingWritten := func(t *testing.T) {
		if _, err := f.s.GetDeployment(ctx, registered.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the deployment of a refused registration exists: %v", err)
		}
		if _, err := f.s.DeploymentByDomain(ctx, registered.DomainName); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the domain of a refused registration is taken: %v", err)
		}
		if n := len(f.logActions(registered.ID)); n != 0 {
			t.Fatalf("a refused registration logged %d entries", n)
		}
	}
	run(t, f, []contract[tenant.Deployment]{
		{name: "ok/bound-in-the-provisioning-transaction", call: register(pending, "acme.example.com"), want: func(t *testing.T, got tenant.Deployment) {
			if got.SubscriptionID != pending.ID || got.Version != 1 {
				t.Fatalf("provisioned %+v", got)
			}
		}, after: func(t *testing.T) {
			sub := f.stored(t, pending.ID)
			if sub.Version != 2 || sub.State != marketplace.StateActive || sub.DeploymentID != registered.ID ||
				!sub.CreatedAt.Equal(pending.CreatedAt) || sub.Key() != pending.Key() {
				t.Fatalf("subscription %+v", sub)
			}
			d, err := f.s.GetDeployment(ctx, registered.ID)
			must(t, err)
			if d.SubscriptionID != pending.ID || d.Region != "eu-central-1" || d.Plan != "standard-eu" {
				t.Fatalf("deployment %+v", d)
			}
			if of, err := f.s.SubscriptionOfDeployment(ctx, d); err != nil || of.ID != pending.ID {
				t.Fatalf("subscription of the deployment: %s, %v", of.ID, err)
			}
			f.indexed(func() bool {
				page, err := f.s.ListSubscriptions(ctx, store.PageRequest{Limit: 10})
				return err == nil && len(page.Items) == 2 && page.Items[0].Version == 2
			})
			page, err := f.s.ListSubscriptions(ctx, store.PageRequest{Limit: 10})
			must(t, err)
			if len(page.Items) != 2 || page.Items[0].ID != pending.ID {
				t.Fatalf("the binding moved the subscription in the listing: %+v", page.Items)
			}
		}},
		{name: "fail/stale-binding", call: register(moved, "stale.example.com"), wantErr: store.ErrStale, wantDetail: "changed while it was being registered",
			after: func(t *testing.T) {
				nothingWritten(t)
				if sub := f.stored(t, moved.ID); sub.Version != movedNow.Version || sub.DeploymentID != "" || sub.State != marketplace.StatePending {
					t.Fatalf("subscription %+v", sub)
				}
			}},
		{name: "fail/a-second-deployment-for-a-registered-subscription", call: register(pending, "second.example.com"), wantErr: store.ErrStale,
			after: func(t *testing.T) {
				nothingWritten(t)
				if sub := f.stored(t, pending.ID); sub.Version != 2 || sub.DeploymentID == registered.ID {
					t.Fatalf("subscription %+v", sub)
				}
			}},
	})
}
