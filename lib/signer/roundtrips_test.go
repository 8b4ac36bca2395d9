package signer_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/policy"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
	"github.com/opensignum/signum/lib/token"
)

// countingDB counts DynamoDB round trips.
type countingDB struct {
	store.DynamoDB
	n atomic.Int64
}

func (c *countingDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	c.n.Add(1)
	return c.DynamoDB.GetItem(ctx, in, o...)
}
func (c *countingDB) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	c.n.Add(1)
	return c.DynamoDB.Query(ctx, in, o...)
}
func (c *countingDB) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, o ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	c.n.Add(1)
	return c.DynamoDB.TransactWriteItems(ctx, in, o...)
}
func (c *countingDB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	c.n.Add(1)
	return c.DynamoDB.PutItem(ctx, in, o...)
}
func (c *countingDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	c.n.Add(1)
	return c.DynamoDB.UpdateItem(ctx, in, o...)
}

// TestRoundTripsDoNotGrow counts the DynamoDB round trips of a warm POST /sign in a
// deployment with 10 policies and users and in one with 1,000 of each: the same. (10,000 of each takes
// minutes to write into the local DynamoDB stand-in, whose writes slow down as a table grows;
// the warm path reads no policy or user listing, so the count cannot depend on the size.)
func TestRoundTripsDoNotGrow(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 2,000 users and policies")
	}
	w := newWorld(t)
	ctx := context.Background()
	clean := w.clean

	counts := map[int]int64{}
	for _, size := range []int{10, 1000} {
		d, cert := w.deployment(t, fmt.Sprintf("rt%d.localhost", size))
		var err error
		var last identity.ConsoleUser
		for i := 0; i < size; i++ {
			if last, err = clean.Store.CreateConsoleUser(ctx, identity.ConsoleUser{ID: tenant.NewID("cu_"), DeploymentID: d.ID, Username: fmt.Sprintf("u%05d", i),
				Roles: []identity.ConsoleRole{identity.Signer}, Status: identity.StatusActive}, tenant.LogEntry{Actor: "t", Action: "x"}); err != nil {
				t.Fatal(err)
			}
			p := policy.Policy{ID: fmt.Sprintf("pol_%05d", i), Name: "p", Enabled: true, Priority: i, Action: policy.Allow,
				What: policy.What{Certificates: []string{cert.ID}}, Who: policy.Who{Users: []string{last.ID}}}
			if _, err := clean.Store.CreatePolicy(ctx, d.ID, p, tenant.LogEntry{Actor: "t", Action: "x"}); err != nil {
				t.Fatal(err)
			}
		}
		tok, _, _ := clean.Issuer.Issue(ctx, token.Claims{Subject: last.ID, System: token.Console, Deployment: d.ID, Roles: []string{"signer"}})
		db := &countingDB{DynamoDB: w.tg.Clients.DynamoDB}
		h := w.signerOn(db, keys.NewRegistry(w.kms))
		sum := sha256.Sum256([]byte("x"))
		body, _ := json.Marshal(map[string]any{"certificateId": cert.ID, "digests": []map[string]string{{"digest": base64.StdEncoding.EncodeToString(sum[:]), "digestAlgorithm": "SHA256"}}})
		// The first requests warm the policy cache and the event lanes' heads (each request
		// appends to two random lanes of eight: after 60, every lane was seen but with a
		// chance of about 10⁻⁶).
		for i := 0; i < 61; i++ {
			db.n.Store(0)
			resp, err := h(ctx, signEvent(d.DomainName, tok, string(body)))
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("%d policies: %d %v %s", size, resp.StatusCode, err, resp.Body)
			}
		}
		counts[size] = db.n.Load()
	}
	t.Logf("DynamoDB round trips per warm POST /sign: %v", counts)
	if counts[10] != counts[1000] {
		t.Fatalf("round trips grow with policies and users: %v", counts)
	}
}
