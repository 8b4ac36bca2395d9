package store_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// Pattern 30: idempotency records of requests made with an Idempotency-Key.
func TestIdempotency(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second) // a real time: AWS may remove expired items
	f := newFixture(t, store.WithClock(func() time.Time { return now }))
	dep, other := tenant.NewID("dep_"), tenant.NewID("dep_")

	claim := func(dep, scope, k, fingerprint string) func(context.Context) (*store.Idempotent, error) {
		return func(ctx context.Context) (*store.Idempotent, error) {
			return f.s.ClaimIdempotency(ctx, dep, scope, k, fingerprint)
		}
	}
	then := func(step func(context.Context) error, next func(context.Context) (*store.Idempotent, error)) func(context.Context) (*store.Idempotent, error) {
		return func(ctx context.Context) (*store.Idempotent, error) {
			if err := step(ctx); err != nil {
				return nil, err
			}
			return next(ctx)
		}
	}
	complete := func(k, response string) func(context.Context) error {
		return func(ctx context.Context) error { return f.s.CompleteIdempotency(ctx, dep, "sign", k, response) }
	}
	release := func(k string) func(context.Context) error {
		return func(ctx context.Context) error { return f.s.ReleaseIdempotency(ctx, dep, "sign", k) }
	}
	isNew := func(t *testing.T, got *store.Idempotent) {
		if got != nil {
			t.Fatalf("a new claim found %+v", got)
		}
	}
	is := func(want store.Idempotent) func(*testing.T, *store.Idempotent) {
		return func(t *testing.T, got *store.Idempotent) {
			if got == nil || *got != want {
				t.Fatalf("claim found %+v, want %+v", got, want)
			}
		}
	}
	run(t, f, []contract[*store.Idempotent]{
		{name: "ok/new", call: claim(dep, "sign", "k1", "fp1"), want: isNew, after: func(t *testing.T) {
			// The record expires by TTL a day after the claim.
			out, err := f.tg.Clients.DynamoDB.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(f.tg.Table),
				Key: store.IdempotencyKey(dep, "sign", "k1"), ConsistentRead: aws.Bool(true)})
			must(t, err)
			ttl, _ := out.Item[store.TTLAttribute].(*types.AttributeValueMemberN)
			if want := strconv.FormatInt(now.Add(store.IdempotencyTTL).Unix(), 10); ttl == nil || ttl.Value != want {
				t.Fatalf("expiry %v, want %s", out.Item[store.TTLAttribute], want)
			}
		}},
		{name: "ok/in-progress-after-new", call: claim(dep, "sign", "k1", "fp2"), want: is(store.Idempotent{Fingerprint: "fp1"})},
		{name: "ok/done-after-complete", call: then(complete("k1", `{"signature":"x"}`), claim(dep, "sign", "k1", "fp1")),
			want: is(store.Idempotent{Done: true, Fingerprint: "fp1", Response: `{"signature":"x"}`})},
		{name: "ok/release-keeps-a-done-record", call: then(release("k1"), claim(dep, "sign", "k1", "fp1")),
			want: is(store.Idempotent{Done: true, Fingerprint: "fp1", Response: `{"signature":"x"}`})},
		{name: "ok/other-scope-apart", call: claim(dep, "operator", "k1", "fp1"), want: isNew},
		{name: "ok/other-deployment-apart", call: claim(other, "sign", "k1", "fp1"), want: isNew},
		{name: "ok/released-claim-is-new-again", call: then(func(ctx context.Context) error {
			if _, err := f.s.ClaimIdempotency(ctx, dep, "sign", "k2", "fp1"); err != nil {
				return err
			}
			return release("k2")(ctx)
		}, claim(dep, "sign", "k2", "fp3")), want: isNew},
		{name: "ok/release-of-nothing", call: then(release("k3"), claim(dep, "sign", "k3", "fp1")), want: isNew},
	})
}
