package store_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/store"
)

// Pattern 40: a CI job's workload token is exchanged once per deployment, whichever domain
// it comes through; the record expires by TTL when the token would be refused anyway; of
// several exchanges at once, one finds the token new.
func TestWorkloadTokens(t *testing.T) {
	f := newFixture(t)
	d, other := f.deployment(), f.deployment()
	until := time.Now().Add(5 * time.Minute).Truncate(time.Second) // a real time: AWS may remove expired items
	const gha, gitlab = "https://token.actions.githubusercontent.com", "https://gitlab.com"
	used := func(dep, domain, issuer, id string) func(context.Context) (bool, error) {
		return func(ctx context.Context) (bool, error) {
			return f.s.WorkloadTokenUsed(ctx, dep, domain, issuer, id, until)
		}
	}
	is := func(want bool) func(*testing.T, bool) {
		return func(t *testing.T, got bool) {
			if got != want {
				t.Fatalf("replayed %v, want %v", got, want)
			}
		}
	}
	run(t, f, []contract[bool]{
		{name: "ok/first-exchange", call: used(d.ID, "dom_a", gha, "jti-1"), want: is(false), after: func(t *testing.T) {
			out, err := f.tg.Clients.DynamoDB.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(f.tg.Table),
				Key: store.WorkloadTokenKey(d.ID, gha, "jti-1"), ConsistentRead: aws.Bool(true)})
			must(t, err)
			ttl, _ := out.Item[store.TTLAttribute].(*types.AttributeValueMemberN)
			if want := strconv.FormatInt(until.Unix()+1, 10); ttl == nil || ttl.Value != want {
				t.Fatalf("expiry %v, want %s", out.Item[store.TTLAttribute], want)
			}
		}},
		{name: "ok/replayed", call: used(d.ID, "dom_a", gha, "jti-1"), want: is(true)},
		{name: "ok/replayed-through-another-domain", call: used(d.ID, "dom_b", gha, "jti-1"), want: is(true)},
		{name: "ok/another-issuer-same-id", call: used(d.ID, "dom_a", gitlab, "jti-1"), want: is(false)},
		{name: "ok/another-deployment", call: used(other.ID, "dom_a", gha, "jti-1"), want: is(false)},
		{name: "ok/another-token", call: used(d.ID, "dom_a", gha, "jti-2"), want: is(false)},
	})
	var wg sync.WaitGroup
	var mu sync.Mutex
	fresh := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if replayed, err := f.s.WorkloadTokenUsed(context.Background(), d.ID, "dom_a", gha, "raced", until); err == nil && !replayed {
				mu.Lock()
				fresh++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if fresh != 1 {
		t.Fatalf("%d exchanges accepted one token", fresh)
	}
}
