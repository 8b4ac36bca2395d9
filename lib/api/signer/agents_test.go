package signer_test

import (
	"context"
	"crypto"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/certificates"
	"github.com/opensignum/signum/lib/domains"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/keys/awskms"
	"github.com/opensignum/signum/lib/policy"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
	"github.com/opensignum/signum/lib/token"
)

// gatedBackend is the KMS backend whose signatures wait, while the gate is closed, until it
// opens: a request held in flight.
type gatedBackend struct {
	keys.Backend
	mu      sync.Mutex
	gate    chan struct{} // nil: open
	entered chan struct{} // told each time a signature waits at the gate
}

func (b *gatedBackend) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.gate, b.entered = make(chan struct{}), make(chan struct{}, 16)
}

// waiting is told each time a signature waits at the gate closed last.
func (b *gatedBackend) waiting() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.entered
}

func (b *gatedBackend) open() {
	b.mu.Lock()
	defer b.mu.Unlock()
	close(b.gate)
	b.gate = nil
}

func (b *gatedBackend) Open(ctx context.Context, uri string) (keys.Key, error) {
	k, err := b.Backend.Open(ctx, uri)
	return gatedKey{Key: k, b: b}, err
}

type gatedKey struct {
	keys.Key
	b *gatedBackend
}

func (k gatedKey) SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	k.b.mu.Lock()
	gate, entered := k.b.gate, k.b.entered
	k.b.mu.Unlock()
	if gate != nil {
		entered <- struct{}{}
		<-gate
	}
	return k.Key.SignContext(ctx, digest, opts)
}

// domainUser makes a login domain (kind, alias, per-user limit) in d, a console user of it
// with a policy that lets it sign with cert, and a console token for the user; for a CI
// domain, the user is a Local user and the token a job's session through the domain.
func (w *world) domainUser(t *testing.T, d tenant.Deployment, cert certificates.Certificate, kind domains.Kind, alias string, limit int) (domains.Domain, identity.ConsoleUser, string) {
	t.Helper()
	ctx := context.Background()
	log := tenant.LogEntry{Actor: "test", Action: "fixture"}
	dom, err := w.clean.Store.CreateDomain(ctx, domains.Domain{ID: domains.NewID(), DeploymentID: d.ID, Kind: kind, Name: alias, Alias: alias, AgentConcurrency: limit}, log)
	if err != nil {
		t.Fatal(err)
	}
	u := identity.ConsoleUser{ID: tenant.NewID("cu_"), DeploymentID: d.ID, Username: alias + "-user", Roles: []identity.ConsoleRole{identity.Signer}, Status: identity.StatusActive}
	claims := token.Claims{Subject: u.ID, System: token.Console, Deployment: d.ID, Roles: []string{"signer"}}
	if kind == domains.CI {
		claims.Workload = map[string]string{"domain": alias, "rule": "release", "repository": "acme/app"}
	} else {
		u.DomainID, u.Username = dom.ID, "user@"+alias
	}
	if u, err = w.clean.Store.CreateConsoleUser(ctx, u, log); err != nil {
		t.Fatal(err)
	}
	if _, err := w.clean.Store.CreatePolicy(ctx, d.ID, policy.Policy{ID: tenant.NewID("pol_"), Name: alias, Enabled: true, Priority: 10, Action: policy.Allow,
		What: policy.What{Certificates: []string{cert.ID}}, Who: policy.Who{Users: []string{u.ID}}}, log); err != nil {
		t.Fatal(err)
	}
	tok, _, err := w.clean.Issuer.Issue(ctx, claims)
	if err != nil {
		t.Fatal(err)
	}
	return dom, u, tok
}

// TestAgentConcurrency: a user of an OIDC domain whose per-user limit is 1, and a CI job's
// session through a CI domain with the same limit, each with one request held in flight, are
// refused a second at once — 429 with Retry-After, saying how many are in flight and the
// domain's limit, before any decision is recorded, and logged at info without the token —
// while a Local user signs as before; once the held request ends the next one signs, and a
// request that fails gives its slot back too.
func TestAgentConcurrency(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	logs := &syncBuffer{}
	w.env.Log = function.NewLogger(logs, "info")
	d, cert := w.deployment(t, "agents.localhost")
	_, _, localTok := w.signerUser(t, d, cert)
	gated := &gatedBackend{Backend: awskms.New(w.tg.Clients.KMS)}
	h := w.signerOn(w.tg.Clients.DynamoDB, keys.NewRegistry(gated))

	for _, kind := range []domains.Kind{domains.OIDC, domains.CI} {
		t.Run(string(kind), func(t *testing.T) {
			alias := "lim-" + string(kind)
			_, u, tok := w.domainUser(t, d, cert, kind, alias, 1)
			decisions := func() int {
				page, err := w.clean.Store.ListEvents(ctx, d.ID, store.EventFilter{UserID: u.ID}, store.PageRequest{Limit: 100})
				if err != nil {
					t.Fatal(err)
				}
				return len(page.Items)
			}

			gated.close()
			held := make(chan int, 1)
			go func() {
				resp, err := h(ctx, signEvent(d.DomainName, tok, signBody(cert, 1)))
				if err != nil {
					t.Error(err)
				}
				held <- resp.StatusCode
			}()
			select { // the first request holds the user's one slot, at the key
			case <-gated.waiting():
			case code := <-held:
				t.Fatalf("the first request ended: %d", code)
			}
			recorded := decisions()

			// (Were it not refused, it would wait at the gate too: the test fails then, not hangs.)
			second := make(chan events.APIGatewayV2HTTPResponse, 1)
			go func() {
				resp, _ := h(ctx, signEvent(d.DomainName, tok, signBody(cert, 1)))
				second <- resp
			}()
			var resp events.APIGatewayV2HTTPResponse
			select {
			case resp = <-second:
			case <-gated.waiting():
				gated.open()
				t.Fatal("a second request of the user reached the key while one was in flight")
			case <-time.After(10 * time.Second):
				gated.open()
				t.Fatal("the second request did not end")
			}
			if resp.StatusCode != 429 || resp.Headers["Retry-After"] != "1" || !strings.HasPrefix(resp.Headers["Content-Type"], "application/problem+json") {
				t.Fatalf("second request in flight: %d %v %s", resp.StatusCode, resp.Headers, resp.Body)
			}
			var problem struct{ Detail string }
			_ = json.Unmarshal([]byte(resp.Body), &problem)
			if !strings.Contains(problem.Detail, "1 signing request in flight") || !strings.Contains(problem.Detail, "the "+alias+" domain") || !strings.Contains(problem.Detail, "at most 1 at once") {
				t.Fatalf("the refusal says %q", problem.Detail)
			}
			if n := decisions(); n != recorded {
				t.Fatalf("the refusal recorded %d events", n-recorded)
			}
			// A Local user has no limit and is not held up by the other user's. (Its signature
			// waits at the gate too, in the channel's buffer.)
			localDone := make(chan int, 1)
			go func() {
				resp, _ := h(ctx, signEvent(d.DomainName, localTok, signBody(cert, 1)))
				localDone <- resp.StatusCode
			}()

			gated.open()
			if code := <-held; code != 200 {
				t.Fatalf("the held request: %d", code)
			}
			if code := <-localDone; code != 200 {
				t.Fatalf("the Local user: %d", code)
			}
			// Its slot was given back: the next request signs.
			if resp, err := h(ctx, signEvent(d.DomainName, tok, signBody(cert, 1))); err != nil || resp.StatusCode != 200 {
				t.Fatalf("after the first ended: %d %v %s", resp.StatusCode, err, resp.Body)
			}
			// A request that fails (an unknown certificate) gives its slot back as well.
			missing := cert
			missing.ID = tenant.NewID("crt_")
			if resp, _ := h(ctx, signEvent(d.DomainName, tok, signBody(missing, 1))); resp.StatusCode != 404 {
				t.Fatalf("unknown certificate: %d %s", resp.StatusCode, resp.Body)
			}
			if resp, err := h(ctx, signEvent(d.DomainName, tok, signBody(cert, 1))); err != nil || resp.StatusCode != 200 {
				t.Fatalf("after a failed request: %d %v %s", resp.StatusCode, err, resp.Body)
			}

			line := ""
			for _, l := range strings.Split(logs.String(), "\n") {
				if strings.Contains(l, "agent concurrency limit") && strings.Contains(l, u.ID) {
					line = l
				}
			}
			if !strings.Contains(line, `"level":"INFO"`) || !strings.Contains(line, `"inFlight":1`) || !strings.Contains(line, `"limit":1`) || !strings.Contains(line, `"domain":"`+alias+`"`) {
				t.Fatalf("refusal log line %q", line)
			}
			if strings.Contains(logs.String(), tok[len(tok)-20:]) {
				t.Fatal("the token is in the log")
			}
		})
	}
}

// keyedDB records the sort key of every DynamoDB call (per item of a batch).
type keyedDB struct {
	store.DynamoDB
	mu   sync.Mutex
	keys []string // "<operation> <SK>"
}

func (k *keyedDB) note(op string, items ...map[string]types.AttributeValue) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, it := range items {
		sk, _ := it["SK"].(*types.AttributeValueMemberS)
		if sk != nil {
			k.keys = append(k.keys, op+" "+sk.Value)
		}
	}
	if len(items) == 0 {
		k.keys = append(k.keys, op)
	}
}

func (k *keyedDB) take() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := k.keys
	k.keys = nil
	return out
}

func (k *keyedDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	k.note("GetItem", in.Key)
	return k.DynamoDB.GetItem(ctx, in, o...)
}
func (k *keyedDB) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	for _, r := range in.RequestItems {
		k.note("BatchGetItem", r.Keys...)
	}
	return k.DynamoDB.BatchGetItem(ctx, in, o...)
}
func (k *keyedDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	k.note("UpdateItem", in.Key)
	return k.DynamoDB.UpdateItem(ctx, in, o...)
}
func (k *keyedDB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	k.note("PutItem", in.Item)
	return k.DynamoDB.PutItem(ctx, in, o...)
}
func (k *keyedDB) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	k.note("Query")
	return k.DynamoDB.Query(ctx, in, o...)
}
func (k *keyedDB) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, o ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	k.note("TransactWriteItems")
	return k.DynamoDB.TransactWriteItems(ctx, in, o...)
}

// limitCalls are the calls of keys that the concurrency limit reads and writes.
func limitCalls(calls []string) (domainReads, slotWrites int) {
	for _, c := range calls {
		switch {
		case strings.Contains(c, " AUTHDOMAIN#"), strings.Contains(c, " AUTHALIAS#"):
			domainReads++
		case strings.Contains(c, " AGENTS#"):
			slotWrites++
		}
	}
	return
}

// TestAgentLimitCalls counts what the limit costs in DynamoDB calls, by key: a warm POST /sign
// of a Local user, and of a user of a domain without a limit, makes no call for it at all (no
// domain read for the Local user, ever; none after the first for the other); a user of a
// domain with a limit, and a CI job's session, read their domain once per instance (cached,
// domainLimitTTL) and then make exactly two calls per request: take the slot, give it back
// (the user's very first request writes its slots map, a third).
func TestAgentLimitCalls(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	d, cert := w.deployment(t, "agentcalls.localhost")
	_, _, localTok := w.signerUser(t, d, cert)
	_, _, unlimitedTok := w.domainUser(t, d, cert, domains.OIDC, "free", 0)
	_, _, limitedTok := w.domainUser(t, d, cert, domains.SAML, "capped", 5)
	_, _, jobTok := w.domainUser(t, d, cert, domains.CI, "gha", 5)
	db := &keyedDB{DynamoDB: w.tg.Clients.DynamoDB}
	h := w.signerOn(db, keys.NewRegistry(w.kms))

	for _, tt := range []struct {
		name            string
		tok             string
		firstReads      int // domain reads of the first request (an alias is two items)
		slotWritesPerRq int // the user's first request writes its slots map too: one more
	}{
		{"local", localTok, 0, 0},
		{"domain-without-limit", unlimitedTok, 1, 0},
		{"domain-with-limit", limitedTok, 1, 2},
		{"ci-session", jobTok, 2, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for i := 0; i < 5; i++ {
				db.take()
				start := time.Now()
				resp, err := h(ctx, signEvent(d.DomainName, tt.tok, signBody(cert, 1)))
				if err != nil || resp.StatusCode != 200 {
					t.Fatalf("request %d: %d %v %s", i, resp.StatusCode, err, resp.Body)
				}
				reads, writes := limitCalls(db.take())
				wantReads, wantWrites := 0, tt.slotWritesPerRq
				if i == 0 && wantWrites > 0 {
					wantWrites++
				}
				if i == 0 {
					wantReads = tt.firstReads
				}
				if reads != wantReads || writes != wantWrites {
					t.Fatalf("request %d (%s): %d domain reads and %d slot writes, want %d and %d", i, time.Since(start), reads, writes, wantReads, wantWrites)
				}
			}
		})
	}
}
