package signer_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/audit"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/policy"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
	"github.com/opensignum/signum/lib/token"
	"github.com/opensignum/signum/lib/wire"
)

// chaos decides, per call, whether to fail it and how.
type chaos struct {
	mu  sync.Mutex
	rng *rand.Rand
	p   float64 // probability that a call fails
	on  bool
}

type fate int

const (
	ok        fate = iota
	failFirst      // the call does not happen
	failAfter      // the call happens, its answer is lost
	timeout        // the caller's deadline passes
)

func (c *chaos) roll() fate {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.on || c.rng.Float64() >= c.p {
		return ok
	}
	return fate(1 + c.rng.IntN(3))
}

var errInjected = &types.InternalServerError{Message: aws.String("injected fault")}

// faultyDB fails DynamoDB calls at random: before, after (the write lands, the answer is
// lost) or as a timeout.
type faultyDB struct {
	store.DynamoDB
	c *chaos
}

func do[T any](c *chaos, call func() (T, error)) (T, error) {
	var zero T
	switch c.roll() {
	case failFirst:
		return zero, errInjected
	case timeout:
		return zero, context.DeadlineExceeded
	case failAfter:
		_, _ = call()
		return zero, errInjected
	}
	return call()
}

func (f faultyDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return do(f.c, func() (*dynamodb.GetItemOutput, error) { return f.DynamoDB.GetItem(ctx, in, o...) })
}

func (f faultyDB) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return do(f.c, func() (*dynamodb.QueryOutput, error) { return f.DynamoDB.Query(ctx, in, o...) })
}

func (f faultyDB) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, o ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	return do(f.c, func() (*dynamodb.TransactWriteItemsOutput, error) {
		return f.DynamoDB.TransactWriteItems(ctx, in, o...)
	})
}

func (f faultyDB) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	return do(f.c, func() (*dynamodb.BatchGetItemOutput, error) { return f.DynamoDB.BatchGetItem(ctx, in, o...) })
}

func (f faultyDB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return do(f.c, func() (*dynamodb.PutItemOutput, error) { return f.DynamoDB.PutItem(ctx, in, o...) })
}

func (f faultyDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return do(f.c, func() (*dynamodb.UpdateItemOutput, error) { return f.DynamoDB.UpdateItem(ctx, in, o...) })
}

// faultyKeys fails key operations at random.
type faultyKeys struct {
	keys.Backend
	c *chaos
}

type faultyKey struct {
	keys.Key
	c *chaos
}

func (f faultyKeys) Open(ctx context.Context, uri string) (keys.Key, error) {
	k, err := do(f.c, func() (keys.Key, error) { return f.Backend.Open(ctx, uri) })
	if err != nil {
		return nil, errors.Join(keys.ErrUnavailable, err)
	}
	return faultyKey{k, f.c}, nil
}

func (k faultyKey) SignContext(ctx context.Context, d []byte, o crypto.SignerOpts) ([]byte, error) {
	sig, err := do(k.c, func() ([]byte, error) { return k.Key.SignContext(ctx, d, o) })
	if err != nil {
		return nil, errors.Join(keys.ErrUnavailable, err)
	}
	return sig, nil
}

// TestFaultsNeverLoseTheRecord injects table and KMS faults at every step of the signing path
// over many randomized requests, then checks the two promises: no signature is returned
// without its completed event, and no event claims a signature that was not returned.
func TestFaultsNeverLoseTheRecord(t *testing.T) {
	runs := 3000
	if testing.Short() {
		runs = 200
	}
	w := newWorld(t)
	ctx := context.Background()
	clean := w.clean
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	ch := &chaos{rng: rand.New(rand.NewPCG(seed, 1)), p: 0.15}

	// A deployment with a console signer, a policy for it, and an active P-256 certificate.
	d, cert := w.deployment(t, "chaos.localhost")
	u, err := clean.Store.CreateConsoleUser(ctx, identity.ConsoleUser{ID: tenant.NewID("cu_"), DeploymentID: d.ID, Username: "bot", Roles: []identity.ConsoleRole{identity.Signer}, Status: identity.StatusActive}, tenant.LogEntry{Actor: "t", Action: "x"})
	if err != nil {
		t.Fatal(err)
	}
	pol := policy.Policy{ID: "pol_ci", Name: "ci", Enabled: true, Priority: 1, Action: policy.Allow, What: policy.What{Certificates: []string{cert.ID}}, Who: policy.Who{Users: []string{u.ID}}}
	if _, err := clean.Store.CreatePolicy(ctx, d.ID, pol, tenant.LogEntry{Actor: "t", Action: "x"}); err != nil {
		t.Fatal(err)
	}
	tok, _, err := clean.Issuer.Issue(ctx, token.Claims{Subject: u.ID, System: token.Console, Deployment: d.ID, Roles: []string{"signer"}})
	if err != nil {
		t.Fatal(err)
	}

	// The signer under test, on a faulty table and faulty keys.
	h := w.signerOn(faultyDB{w.tg.Clients.DynamoDB, ch}, keys.NewRegistry(faultyKeys{w.kms, ch}))

	pub := w.leaf.PublicKey.(*ecdsa.PublicKey)
	returned := map[string][]byte{} // "<decision event id>#<digest's index>" → signature returned to the client
	statuses := map[int]int{}
	ch.on = true
	for i := 0; i < runs; i++ {
		ch.mu.Lock()
		ch.p = ch.rng.Float64() * 0.12 // from no faults to many, so both outcomes are common
		ch.mu.Unlock()
		n := 1 + i%3
		var digests []map[string]string
		var raw [][]byte
		for j := 0; j < n; j++ {
			sum := sha256.Sum256([]byte{byte(i), byte(j), byte(i >> 8)})
			raw = append(raw, sum[:])
			digests = append(digests, map[string]string{"digest": base64.StdEncoding.EncodeToString(sum[:]), "digestAlgorithm": "SHA256"})
		}
		body, _ := json.Marshal(map[string]any{"certificateId": cert.ID, "digests": digests})
		resp, err := h(ctx, signEvent(d.DomainName, tok, string(body)))
		if err != nil {
			t.Fatal(err)
		}
		statuses[resp.StatusCode]++
		if resp.StatusCode != 200 {
			if strings.Contains(resp.Body, `"signatures"`) {
				t.Fatalf("a %d answer carries signatures: %s", resp.StatusCode, resp.Body)
			}
			continue
		}
		var out wire.Response
		if err := json.Unmarshal([]byte(resp.Body), &out); err != nil || len(out.Signatures) != n {
			t.Fatalf("200 answer: %s", resp.Body)
		}
		for j, s := range out.Signatures {
			sig, _ := base64.StdEncoding.DecodeString(s.Signature)
			if !ecdsa.VerifyASN1(pub, raw[j], sig) {
				t.Fatalf("run %d: signature %d does not verify", i, j)
			}
			returned[fmt.Sprintf("%s#%d", s.EventID, j)] = sig
		}
	}
	ch.on = false
	t.Logf("%d runs, statuses %v, %d signatures returned", runs, statuses, len(returned))
	if statuses[200] == 0 || statuses[503] == 0 {
		t.Fatalf("the run did not exercise both outcomes: %v", statuses)
	}

	// Read the whole log, faults off.
	var all []audit.Event
	cursor := ""
	for {
		page, err := clean.Store.ListEvents(ctx, d.ID, store.EventFilter{}, store.PageRequest{Limit: 100, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page.Items...)
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	claimed := map[string]string{} // "<decision id>#<digest's index>" → signature SHA-256 a completion claims
	for _, e := range all {
		if e.Kind != audit.KindCompletion || e.Outcome != audit.Signed {
			continue
		}
		// A request is one decision: its completion lists a hash per digest, in order.
		ids, sums := strings.Split(e.Of, ","), strings.Split(e.SignatureSHA256, ",")
		if len(ids) != 1 {
			t.Fatalf("completion %s closes %d decisions", e.ID, len(ids))
		}
		for k, sum := range sums {
			claimed[fmt.Sprintf("%s#%d", ids[0], k)] = sum
		}
	}
	// Promise 1: every returned signature has its completion, with its hash.
	for id, sig := range returned {
		sum := sha256.Sum256(sig)
		if claimed[id] != hex.EncodeToString(sum[:]) {
			t.Fatalf("signature %s was returned without its completed event", id)
		}
	}
	// Promise 2: every signature a completion claims was returned.
	for id := range claimed {
		if _, ok := returned[id]; !ok {
			t.Fatalf("completion claims signature %s, which was not returned", id)
		}
	}
	// And the chains are intact whatever failed along the way.
	if problems, _, err := audit.Verify(ctx, clean.Store, d.ID, audit.Lanes); err != nil || len(problems) != 0 {
		t.Fatalf("event log after faults: %+v %v", problems, err)
	}
}

func signEvent(host, tok, body string) events.APIGatewayV2HTTPRequest {
	return events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "POST /sign", RawPath: "/sign", Body: body,
		Headers: map[string]string{"content-type": "application/json", "authorization": "Bearer " + tok, "host": host},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			DomainName: host, RequestID: "r",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST", Path: "/sign", SourceIP: "198.51.100.7"},
		},
	}
}
