package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/audit"
	"github.com/opensignum/signum/lib/certificates"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// estate is a deployment as its customer leaves it, and where its items are.
type estate struct {
	d     tenant.Deployment
	email string // of its portal user
	// requestKey is the provisioning request's key ("" when provisioned without one).
	requestKey string
}

// pointers are the keys of the items outside e's partitions that name it.
func (e estate) pointers() []map[string]types.AttributeValue {
	out := []map[string]types.AttributeValue{store.EmailKey(e.email)}
	if e.d.DomainName != "" {
		out = append(out, store.DomainKey(e.d.DomainName))
	}
	if e.requestKey != "" {
		out = append(out, store.ProvisionKey(e.requestKey))
	}
	return out
}

// populated provisions a deployment registered for a marketplace subscription (with the
// default records and a domain name, under the subscription's request key unless keyed is
// false) and fills it: a portal user, a console user, a certificate, signing events in lanes 0
// and 1 with their checkpoints and in lane 5 without one, and a workload token record, whose
// own expiry is in an hour.
func (f *fixture) populated(keyed bool) estate {
	f.t.Helper()
	ctx := context.Background()
	d := newDeployment("acme", "")
	d.IPAllowlist = nil
	d.DomainName = d.ID[4:] + ".example.com"
	d.SubscriptionID = tenant.NewID("sub_")
	e := estate{d: d}
	if keyed {
		e.requestKey = store.MarketplaceRequestKey(d.SubscriptionID)
	}
	def := newPolicy()
	_, created, err := f.s.Provision(ctx, store.Provisioning{
		Deployment: d, RequestKey: e.requestKey, LocalDomain: identity.DefaultLocalDomain(d.ID),
		Log: tenant.LogEntry{Actor: "test", Action: "deployment.provisioned"}, DefaultPolicy: &def,
		FirstGroup: &certificates.Group{ID: certificates.NewGroupID(), Name: "Default"},
	})
	must(f.t, err)
	if !created {
		f.t.Fatalf("fixture: deployment %s not created", d.ID)
	}
	e.email = f.portalUser(d.ID, identity.RoleAdmin).Email
	f.consoleUser(d.ID)
	f.certificate(d.ID)
	for _, lane := range []int{0, 1, 5} {
		var written []audit.Event
		for i := range 3 {
			ev := decision(d.ID, i)
			ev.Lane = lane
			sealed, err := f.s.AppendEvent(ctx, ev)
			must(f.t, err)
			written = append(written, sealed)
		}
		if lane != 5 {
			must(f.t, f.s.CheckpointEvents(ctx, nil, written...))
		}
	}
	_, err = f.s.WorkloadTokenUsed(ctx, d.ID, "dom_ci", "https://ci.example.com", tenant.NewID("jti_"), time.Now().Add(time.Hour))
	must(f.t, err)
	return e
}

// snapshot is every item of e, by key: its partition's and its lanes' (a consistent Query per
// partition, page by page), and the items outside them that name it.
func (f *fixture) snapshot(e estate) map[string]map[string]any {
	f.t.Helper()
	ctx := context.Background()
	db := f.tg.Clients.DynamoDB
	out := map[string]map[string]any{}
	add := func(av map[string]types.AttributeValue) {
		var item map[string]any
		must(f.t, attributevalue.UnmarshalMap(av, &item))
		out[fmt.Sprint(item["PK"], " ", item["SK"])] = item
	}
	partitions := []string{store.DeploymentPartition(e.d.ID)}
	for lane := range audit.Lanes {
		partitions = append(partitions, store.LanePartition(e.d.ID, lane))
	}
	for _, pk := range partitions {
		in := &dynamodb.QueryInput{TableName: aws.String(f.tg.Table), ConsistentRead: aws.Bool(true),
			KeyConditionExpression:    aws.String("PK = :pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: pk}}}
		for {
			page, err := db.Query(ctx, in)
			must(f.t, err)
			for _, av := range page.Items {
				add(av)
			}
			if len(page.LastEvaluatedKey) == 0 {
				break
			}
			in.ExclusiveStartKey = page.LastEvaluatedKey
		}
	}
	for _, k := range e.pointers() {
		got, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(f.tg.Table), Key: k, ConsistentRead: aws.Bool(true)})
		must(f.t, err)
		if len(got.Item) > 0 {
			add(got.Item)
		}
	}
	return out
}

// expiryOf is an item's expiresAt (0: none).
func expiryOf(item map[string]any) int64 {
	n, _ := item["expiresAt"].(float64)
	return int64(n)
}

// marked checks that after is before with every item's expiresAt set to at, but for those
// that expired at or before at already, which keep their time. It returns how many items
// needed the write.
func marked(t *testing.T, before, after map[string]map[string]any, at time.Time) int {
	t.Helper()
	if len(after) != len(before) {
		t.Fatalf("%d items after, %d before", len(after), len(before))
	}
	needed := 0
	for k, item := range before {
		want := map[string]any{}
		for a, v := range item {
			want[a] = v
		}
		if have := expiryOf(item); have == 0 || have > at.Unix() {
			want["expiresAt"] = float64(at.Unix())
			needed++
		}
		if !reflect.DeepEqual(after[k], want) {
			t.Errorf("item %s:\n got %v\nwant %v", k, after[k], want)
		}
	}
	return needed
}

// untouched checks that nothing of the items changed.
func untouched(t *testing.T, before, after map[string]map[string]any) {
	t.Helper()
	if !reflect.DeepEqual(before, after) {
		for k := range before {
			if !reflect.DeepEqual(before[k], after[k]) {
				t.Errorf("item %s changed:\n was %v\n now %v", k, before[k], after[k])
			}
		}
		t.Fatalf("%d items before, %d after", len(before), len(after))
	}
}

// countedUpdates counts the UpdateItem calls that reach the table.
type countedUpdates struct {
	store.DynamoDB
	n *atomic.Int64
}

func (c countedUpdates) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	c.n.Add(1)
	return c.DynamoDB.UpdateItem(ctx, in, opts...)
}

// expiryRun is a walk of ExpireDeployment to its end: the writes of each call, as returned
// and as counted on the wire, and whether the META item was marked before the last call.
type expiryRun struct {
	calls, counted []int
	metaEarly      bool
}

// expireAll runs ExpireDeployment on a store of its own (every Query cut to one item when
// short, as DynamoDB cuts pages at 1 MB) until the cursor is "", checking after each call but
// the last that the deployment's META item is not marked yet.
func (f *fixture) expireAll(ctx context.Context, e estate, at time.Time, budget int, short bool) (expiryRun, error) {
	var n atomic.Int64
	var db store.DynamoDB = f.tg.Clients.DynamoDB
	if short {
		db = shortPages{db}
	}
	s := store.New(countedUpdates{db, &n}, f.tg.Table, randomKey())
	var run expiryRun
	cursor := ""
	for range 10_000 {
		before := n.Load()
		next, written, err := s.ExpireDeployment(ctx, e.d.ID, at, cursor, budget)
		if err != nil {
			return run, err
		}
		run.calls, run.counted = append(run.calls, written), append(run.counted, int(n.Load()-before))
		if next == "" {
			return run, nil
		}
		meta := f.snapshot(e)[fmt.Sprint(store.DeploymentPartition(e.d.ID), " META")]
		if expiryOf(meta) != 0 {
			run.metaEarly = true
		}
		cursor = next
	}
	return run, errors.New("the walk did not end")
}

// Pattern 53: a cancelled deployment's items are marked for the TTL, a budget of writes at a
// time, the META item last; other deployments' items are never touched.
func TestExpireDeployment(t *testing.T) {
	f := newFixture(t)
	at := time.Now().Add(30 * 24 * time.Hour).Truncate(time.Second)
	other := f.populated(true)
	otherBefore := f.snapshot(other)
	otherUntouched := func(t *testing.T) { untouched(t, otherBefore, f.snapshot(other)) }

	// Each budget walks a deployment of its own to its end.
	type walk struct {
		name   string
		budget int
		short  bool
	}
	var cases []contract[expiryRun]
	for _, w := range []walk{{"ok/budget-1", 1, false}, {"ok/budget-3", 3, false}, {"ok/budget-7-short-pages", 7, true}, {"ok/budget-1000", 1000, false}} {
		var e estate
		var before map[string]map[string]any
		cases = append(cases, contract[expiryRun]{name: w.name,
			call: func(ctx context.Context) (expiryRun, error) {
				e = f.populated(true)
				before = f.snapshot(e)
				return f.expireAll(ctx, e, at, w.budget, w.short)
			},
			want: func(t *testing.T, got expiryRun) {
				total := 0
				for i, n := range got.calls {
					if n > w.budget || n != got.counted[i] {
						t.Errorf("call %d wrote %d (counted %d), budget %d", i+1, n, got.counted[i], w.budget)
					}
					total += n
				}
				if got.metaEarly {
					t.Error("the META item was marked before the walk's last call")
				}
				after := f.snapshot(e)
				// Every item was written once: the walk neither repeats nor skips.
				if needed := marked(t, before, after, at); total != needed {
					t.Errorf("%d writes in %d calls for %d items that needed one", total, len(got.calls), needed)
				}
				// The fixture is what the test says it is: a certificate, both kinds of user and
				// the three items outside that name the deployment, events in three lanes, and
				// items of an expiry of their own, sooner (the workload token) or later (the
				// system log).
				kinds := map[string]int{}
				sooner, later := 0, 0
				for _, item := range before {
					kinds[fmt.Sprint(item["type"])]++
					switch have := expiryOf(item); {
					case have != 0 && have <= at.Unix():
						sooner++
					case have > at.Unix():
						later++
					}
				}
				for _, kind := range []string{"deployment", "portalUser", "portalEmail", "consoleUser", "certificate", "domain", "provisionRequest", "eventHead"} {
					if kinds[kind] == 0 {
						t.Errorf("the fixture has no %s item: %v", kind, kinds)
					}
				}
				if kinds["signingEvent"] != 9 || sooner != 1 || later == 0 {
					t.Errorf("fixture: %d events, %d items expiring sooner, %d later", kinds["signingEvent"], sooner, later)
				}
			},
			after: otherUntouched,
		})
	}

	done := f.populated(true)
	_, err := f.expireAll(context.Background(), done, at, 1000, false)
	must(t, err)
	doneAt := f.snapshot(done)

	var started string // a cursor of a walk of the deployment done
	cases = append(cases, []contract[expiryRun]{
		// Run again, the walk changes nothing: the items of the deployment are skipped as read,
		// the three outside and the META item (whose expiry the walk does not read) written to
		// no effect.
		{name: "ok/again-changes-nothing", call: func(ctx context.Context) (expiryRun, error) {
			return f.expireAll(ctx, done, at, 5, false)
		}, want: func(t *testing.T, got expiryRun) {
			if fmt.Sprint(got.calls) != "[4]" {
				t.Errorf("writes per call %v, want [4]", got.calls)
			}
			untouched(t, doneAt, f.snapshot(done))
		}, after: otherUntouched},
		// A later time moves no expiry later.
		{name: "ok/later-time-moves-nothing", call: func(ctx context.Context) (expiryRun, error) {
			return f.expireAll(ctx, done, at.Add(24*time.Hour), 4, false)
		}, after: func(t *testing.T) {
			untouched(t, doneAt, f.snapshot(done))
			otherUntouched(t)
		}},
		// An earlier one moves every expiry after it, outside items included.
		{name: "ok/earlier-time-moves-everything-earlier", call: func(ctx context.Context) (expiryRun, error) {
			return f.expireAll(ctx, done, at.Add(-24*time.Hour), 4, false)
		}, after: func(t *testing.T) {
			marked(t, doneAt, f.snapshot(done), at.Add(-24*time.Hour))
			otherUntouched(t)
		}},
		// A missing item is skipped, not created.
		{name: "ok/missing-item-is-not-created", call: func(ctx context.Context) (expiryRun, error) {
			e := f.populated(true)
			_, err := f.tg.Clients.DynamoDB.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(f.tg.Table), Key: store.EmailKey(e.email)})
			must(f.t, err)
			before := f.snapshot(e)
			got, err := f.expireAll(ctx, e, at, 4, false)
			marked(f.t, before, f.snapshot(e), at)
			return got, err
		}, after: otherUntouched},
		// An item outside that names another deployment is not touched: here the request key
		// the deployment's subscription gives was an operator's Idempotency-Key for another.
		{name: "ok/pointer-of-another-deployment-is-not-touched", call: func(ctx context.Context) (expiryRun, error) {
			e := f.populated(false)
			d := newDeployment("other", "")
			_, created, err := f.s.Provision(ctx, store.Provisioning{Deployment: d, RequestKey: store.MarketplaceRequestKey(e.d.SubscriptionID),
				LocalDomain: identity.DefaultLocalDomain(d.ID), Log: tenant.LogEntry{Actor: "test", Action: "deployment.provisioned"}})
			if err != nil || !created {
				f.t.Fatalf("fixture: %v %v", created, err)
			}
			owner := estate{d: d, email: "nobody@example.com", requestKey: store.MarketplaceRequestKey(e.d.SubscriptionID)}
			ownerBefore, before := f.snapshot(owner), f.snapshot(e)
			got, err := f.expireAll(ctx, e, at, 4, false)
			marked(f.t, before, f.snapshot(e), at)
			untouched(f.t, ownerBefore, f.snapshot(owner))
			return got, err
		}, after: otherUntouched},
		{name: "fail/budget-0", call: func(ctx context.Context) (expiryRun, error) {
			_, _, err := f.s.ExpireDeployment(ctx, other.d.ID, at, "", 0)
			return expiryRun{}, err
		}, wantErr: fault.ErrInvalid, after: otherUntouched},
		{name: "fail/not-a-deployment-id", call: func(ctx context.Context) (expiryRun, error) {
			_, _, err := f.s.ExpireDeployment(ctx, "DEP#x", at, "", 5)
			return expiryRun{}, err
		}, wantErr: store.ErrNotFound},
		{name: "fail/bad-cursor", call: func(ctx context.Context) (expiryRun, error) {
			next, _, err := f.s.ExpireDeployment(ctx, done.d.ID, at, "", 1)
			must(f.t, err)
			started = next
			if len(next) < 20 {
				f.t.Fatalf("cursor %q", next)
			}
			flipped := []byte(next)
			flipped[10] ^= 'A' ^ 'B' // a character of the sealed text, changed
			_, _, err = f.s.ExpireDeployment(ctx, done.d.ID, at, string(flipped), 5)
			return expiryRun{}, err
		}, wantErr: store.ErrInvalidCursor, after: otherUntouched},
		{name: "fail/cursor-of-another-deployment", call: func(ctx context.Context) (expiryRun, error) {
			_, _, err := f.s.ExpireDeployment(ctx, other.d.ID, at, started, 5)
			return expiryRun{}, err
		}, wantErr: fault.ErrInvalid, after: otherUntouched},
		{name: "fail/cursor-of-another-store-key", call: func(ctx context.Context) (expiryRun, error) {
			s := store.New(f.tg.Clients.DynamoDB, f.tg.Table, randomKey())
			_, _, err := s.ExpireDeployment(ctx, done.d.ID, at, started, 5)
			return expiryRun{}, err
		}, wantErr: fault.ErrInvalid, after: otherUntouched},
	}...)
	run(t, f, cases)

	// The untouched deployment has items a walk would mark: the checks above could fail.
	unmarked := 0
	for _, item := range otherBefore {
		if have := expiryOf(item); have == 0 || have > at.Unix() {
			unmarked++
		}
	}
	if unmarked < 20 {
		t.Fatalf("the untouched deployment has %d items to mark", unmarked)
	}
}
