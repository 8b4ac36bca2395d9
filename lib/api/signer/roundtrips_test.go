package signer_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/policy"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
	"github.com/opensignum/signum/lib/token"
)

// countingDB counts DynamoDB round trips. With slow set, each call takes at least that long
// and its time is kept, so that a test can tell calls made at the same time from calls made
// one after another (serial).
type countingDB struct {
	store.DynamoDB
	n    atomic.Int64
	gets atomic.Int64 // GetItem calls
	slow time.Duration

	mu    sync.Mutex
	calls []call
}

// call is one DynamoDB call: its operation and when it ran.
type call struct {
	op         string
	start, end time.Time
}

func (c *countingDB) count(op string) func() {
	c.n.Add(1)
	start := time.Now()
	return func() {
		if c.slow > 0 {
			time.Sleep(c.slow)
		}
		c.mu.Lock()
		c.calls = append(c.calls, call{op, start, time.Now()})
		c.mu.Unlock()
	}
}

// reset forgets the calls counted.
func (c *countingDB) reset() {
	c.n.Store(0)
	c.mu.Lock()
	c.calls = nil
	c.mu.Unlock()
}

// serial is the longest chain of the calls counted where each began after the one before
// ended: the round trips a request waited for one after another.
func (c *countingDB) serial() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	calls := slices.Clone(c.calls)
	slices.SortFunc(calls, func(a, b call) int { return a.start.Compare(b.start) })
	depth := make([]int, len(calls))
	longest := 0
	for i, ci := range calls {
		depth[i] = 1
		for j := range i {
			if !calls[j].end.After(ci.start) {
				depth[i] = max(depth[i], depth[j]+1)
			}
		}
		longest = max(longest, depth[i])
	}
	return longest
}

// ops are the operations of the calls counted, sorted.
func (c *countingDB) ops() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, x := range c.calls {
		out = append(out, x.op)
	}
	slices.Sort(out)
	return out
}

func (c *countingDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	defer c.count("GetItem")()
	c.gets.Add(1)
	return c.DynamoDB.GetItem(ctx, in, o...)
}
func (c *countingDB) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	defer c.count("Query")()
	return c.DynamoDB.Query(ctx, in, o...)
}
func (c *countingDB) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, o ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	defer c.count("TransactWriteItems")()
	return c.DynamoDB.TransactWriteItems(ctx, in, o...)
}
func (c *countingDB) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	defer c.count("BatchGetItem")()
	return c.DynamoDB.BatchGetItem(ctx, in, o...)
}
func (c *countingDB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	defer c.count("PutItem")()
	return c.DynamoDB.PutItem(ctx, in, o...)
}
func (c *countingDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	defer c.count("UpdateItem")()
	return c.DynamoDB.UpdateItem(ctx, in, o...)
}

// seedDB writes a transaction's items one by one. The fixtures of the round-trip test use it:
// the DynamoDB stand-in copies its whole table for every transaction (to roll back), which
// makes writing 20,000 fixture items one transaction at a time take most of an hour. Nothing
// else writes while fixtures are seeded, so nothing needs the atomicity.
type seedDB struct{ store.DynamoDB }

func (s seedDB) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, o ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	for _, it := range in.TransactItems {
		var err error
		switch {
		case it.Put != nil:
			_, err = s.PutItem(ctx, &dynamodb.PutItemInput{TableName: it.Put.TableName, Item: it.Put.Item, ConditionExpression: it.Put.ConditionExpression,
				ExpressionAttributeNames: it.Put.ExpressionAttributeNames, ExpressionAttributeValues: it.Put.ExpressionAttributeValues})
		case it.Update != nil:
			_, err = s.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: it.Update.TableName, Key: it.Update.Key, UpdateExpression: it.Update.UpdateExpression,
				ConditionExpression: it.Update.ConditionExpression, ExpressionAttributeNames: it.Update.ExpressionAttributeNames, ExpressionAttributeValues: it.Update.ExpressionAttributeValues})
		case it.Delete != nil:
			_, err = s.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: it.Delete.TableName, Key: it.Delete.Key, ConditionExpression: it.Delete.ConditionExpression,
				ExpressionAttributeNames: it.Delete.ExpressionAttributeNames, ExpressionAttributeValues: it.Delete.ExpressionAttributeValues})
		}
		if err != nil {
			return nil, err
		}
	}
	return &dynamodb.TransactWriteItemsOutput{}, nil
}

// TestRoundTripsDoNotGrow counts the DynamoDB round trips of a warm POST /sign in a
// deployment with 10 policies and users and in one with 10,000 of each: the same, and no
// more than the three the path makes, two of them one after the other around the key — the
// decision event, written while the cached deployment, user, certificate and policies'
// version are confirmed (one PutItem and one BatchGetItem at the same time); then the
// completion event with its lane's checkpoint, the certificate's usage count and the
// request's activity count (one TransactWriteItems). (The warm path reads no policy or user
// listing.) Each call is made to take 2 ms, so that calls made at the same time overlap.
func TestRoundTripsDoNotGrow(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 20,000 users and policies")
	}
	w := newWorld(t)
	ctx := context.Background()
	clean := w.clean
	seed := store.New(seedDB{w.tg.Clients.DynamoDB}, w.tg.Table, store.StaticKey(make([]byte, 32)))

	counts, serial, ops := map[int]int64{}, map[int]int{}, map[int][]string{}
	for _, size := range []int{10, 10000} {
		d, cert := w.deployment(t, fmt.Sprintf("rt%d.localhost", size))
		var err error
		var last identity.ConsoleUser
		for i := 0; i < size; i++ {
			if last, err = seed.CreateConsoleUser(ctx, identity.ConsoleUser{ID: tenant.NewID("cu_"), DeploymentID: d.ID, Username: fmt.Sprintf("u%05d", i),
				Roles: []identity.ConsoleRole{identity.Signer}, Status: identity.StatusActive}, tenant.LogEntry{Actor: "t", Action: "x"}); err != nil {
				t.Fatal(err)
			}
			p := policy.Policy{ID: fmt.Sprintf("pol_%05d", i), Name: "p", Enabled: true, Priority: i, Action: policy.Allow,
				What: policy.What{Certificates: []string{cert.ID}}, Who: policy.Who{Users: []string{last.ID}}}
			if _, err := seed.CreatePolicy(ctx, d.ID, p, tenant.LogEntry{Actor: "t", Action: "x"}); err != nil {
				t.Fatal(err)
			}
		}
		tok, _, _ := clean.Issuer.Issue(ctx, token.Claims{Subject: last.ID, System: token.Console, Deployment: d.ID, Roles: []string{"signer"}})
		db := &countingDB{DynamoDB: w.tg.Clients.DynamoDB, slow: 2 * time.Millisecond}
		h := w.signerOn(db, keys.NewRegistry(w.kms))
		sum := sha256.Sum256([]byte("x"))
		body, _ := json.Marshal(map[string]any{"certificateId": cert.ID, "digests": []map[string]string{{"digest": base64.StdEncoding.EncodeToString(sum[:]), "digestAlgorithm": "SHA256"}}})
		// The first requests warm the policy cache and the event lanes' heads (each request
		// appends to one random lane of eight: after 150, every lane was seen but with a
		// chance of 8·(7/8)^150 ≈ 10⁻⁸).
		for i := 0; i < 151; i++ {
			db.reset()
			resp, err := h(ctx, signEvent(d.DomainName, tok, string(body)))
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("%d policies: %d %v %s", size, resp.StatusCode, err, resp.Body)
			}
		}
		counts[size] = db.n.Load()
		serial[size] = db.serial()
		ops[size] = db.ops()
	}
	t.Logf("DynamoDB calls per warm POST /sign: %v, in series: %v (%v)", counts, serial, ops)
	if counts[10] > 3 || serial[10] > 2 {
		t.Fatalf("a warm POST /sign makes %d DynamoDB calls, %d in series: more than the 3 and 2 it makes (%v)", counts[10], serial[10], ops[10])
	}
	if counts[10] != counts[10000] || serial[10] != serial[10000] || !slices.Equal(ops[10], ops[10000]) {
		t.Fatalf("round trips grow with policies and users: %v, in series %v (%v)", counts, serial, ops)
	}
}
