package signer_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/opensignum/signum/lib/audit"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/ratelimit"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
	"github.com/opensignum/signum/lib/token"
)

// TestSigningIsRateLimited: a caller's signing requests and a deployment's signatures are
// limited; over a limit the answer is 429 too-many-requests with Retry-After, nothing is
// signed and nothing is recorded; another deployment is not affected; a request larger than
// the plan allows in a whole window is a 400 that says so, not a 429 to retry forever.
func TestSigningIsRateLimited(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.env.Config.Limits = function.Limits{
		SigningPerCaller: ratelimit.Limit{N: 3, Per: time.Hour},
		SigningPerPlan:   map[string]ratelimit.Limit{"standard": {N: 6, Per: time.Hour}},
	}
	h := w.signerOn(w.tg.Clients.DynamoDB, keys.NewRegistry(w.kms))
	d, cert := w.deployment(t, "limited.localhost")
	_, _, ci := w.signerUser(t, d, cert)
	other, otherCert := w.deployment(t, "unlimited.localhost")
	_, _, otherCI := w.signerUser(t, other, otherCert)

	sign := func(host, tok string, n int) (int, string, edge.Problem) {
		t.Helper()
		resp, err := h(ctx, signEvent(host, tok, signBody(cert, n)))
		if err != nil {
			t.Fatal(err)
		}
		var p edge.Problem
		_ = json.Unmarshal([]byte(resp.Body), &p)
		return resp.StatusCode, resp.Headers["Retry-After"], p
	}
	events := func(dep string) int {
		t.Helper()
		page, err := w.clean.Store.ListEvents(ctx, dep, store.EventFilter{}, store.PageRequest{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		return len(page.Items)
	}
	// ok: two requests of 2 digests (2 of 3 requests, 4 of 6 signatures).
	for i := range 2 {
		if code, _, p := sign(d.DomainName, ci, 2); code != 200 {
			t.Fatalf("ok/request %d: %d %+v", i, code, p)
		}
	}
	before := events(d.ID)
	// The deployment has 2 signatures left: 3 digests are refused. The request was allowed,
	// so its decision is in the log, closed unsigned with the reason.
	code, retry, p := sign(d.DomainName, ci, 3)
	if secs, _ := strconv.Atoi(retry); code != 429 || p.Type != edge.ProblemTypeBase+"too-many-requests" || secs < 1 || secs > 3600 {
		t.Fatalf("fail/deployment: %d Retry-After %q %+v", code, retry, p)
	}
	page, err := w.clean.Store.ListEvents(ctx, d.ID, store.EventFilter{}, store.PageRequest{Limit: 100})
	if err != nil || len(page.Items) != before+2 {
		t.Fatalf("fail/deployment: %d events after %d, want the decision and a completion (%v)", len(page.Items), before, err)
	}
	if last := page.Items[len(page.Items)-1]; last.Kind != audit.KindCompletion || last.Outcome != audit.Failed || !strings.Contains(last.Reason, "rate limit") {
		t.Errorf("fail/deployment: the request is closed as %+v", last)
	}
	// The caller has used its 3 requests (the refused one counts): the next is refused, even
	// for a single digest.
	if code, _, p := sign(d.DomainName, ci, 1); code != 429 {
		t.Fatalf("fail/caller: %d %+v", code, p)
	}
	// Another deployment (same plan) is not limited by this one's use.
	for i := range 3 {
		body := signBody(otherCert, 1)
		resp, err := h(ctx, signEvent(other.DomainName, otherCI, body))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("ok/other deployment %d: %d %v %s", i, resp.StatusCode, err, resp.Body)
		}
	}
	// A request larger than a whole window of the plan: 400 on digests.
	big, bigCert := w.deployment(t, "big.localhost")
	_, _, bigCI := w.signerUser(t, big, bigCert)
	resp, err := h(ctx, signEvent(big.DomainName, bigCI, signBody(bigCert, 7)))
	if err != nil || resp.StatusCode != 400 || !strings.Contains(resp.Body, "the standard plan signs at most 6 digests") {
		t.Fatalf("fail/larger than the plan: %d %v %s", resp.StatusCode, err, resp.Body)
	}
}

// TestOnlyAllowedRequestsSpendTheDeploymentsLimit: a caller who may not sign cannot use up the
// signatures its deployment's signers share (its denied requests take nothing from the
// deployment's limit), and a request the route runs again on fresh reads (HandleCached) is
// charged once.
func TestOnlyAllowedRequestsSpendTheDeploymentsLimit(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.env.Config.Limits = function.Limits{
		SigningPerCaller: ratelimit.Limit{N: 2, Per: time.Hour},
		SigningPerPlan:   map[string]ratelimit.Limit{"standard": {N: 6, Per: time.Hour}},
	}
	db := &rateCounter{DynamoDB: w.tg.Clients.DynamoDB}
	h := w.signerOn(db, keys.NewRegistry(w.kms))
	d, cert := w.deployment(t, "shared.localhost")
	_, _, ci := w.signerUser(t, d, cert)
	viewer, err := w.clean.Store.CreateConsoleUser(ctx, identity.ConsoleUser{ID: tenant.NewID("cu_"), DeploymentID: d.ID, Username: "viewer",
		Roles: []identity.ConsoleRole{identity.ConsoleViewer}, Status: identity.StatusActive}, tenant.LogEntry{Actor: "test", Action: "fixture"})
	if err != nil {
		t.Fatal(err)
	}
	vtok, _, err := w.clean.Issuer.Issue(ctx, token.Claims{Subject: viewer.ID, System: token.Console, Deployment: d.ID, Roles: []string{"console-viewer"}})
	if err != nil {
		t.Fatal(err)
	}
	do := func(tok string, n int) int {
		t.Helper()
		resp, err := h(ctx, signEvent(d.DomainName, tok, signBody(cert, n)))
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode
	}
	// The viewer's two denied requests of 6 digests take nothing from the deployment.
	for i := range 2 {
		if code := do(vtok, 6); code != 403 {
			t.Fatalf("fail/viewer %d: %d", i, code)
		}
	}
	if code := do(ci, 6); code != 200 {
		t.Fatalf("ok/the signer after the viewer: %d", code)
	}
	// The viewer's third request is over its own limit of 2: refused before anything is
	// recorded, and charged once although the route runs again on fresh reads.
	db.takes.Store(0)
	if code := do(vtok, 1); code != 429 {
		t.Fatalf("fail/viewer over its limit: %d", code)
	}
	if n := db.takes.Load(); n != 1 {
		t.Errorf("a refused request took from rate limits %d times, want once", n)
	}
	// An allowed request takes from two limits, once each.
	db.takes.Store(0)
	if code := do(ci, 1); code != 429 { // the deployment's 6 are used
		t.Fatalf("fail/deployment used up: %d", code)
	}
	if n := db.takes.Load(); n != 2 {
		t.Errorf("a request refused by the deployment's limit took %d times, want 2 (caller, deployment)", n)
	}
}

// rateCounter counts the table writes that take from rate limits.
type rateCounter struct {
	store.DynamoDB
	takes atomic.Int64
}

func (c *rateCounter) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if pk, ok := in.Key["PK"].(*types.AttributeValueMemberS); ok && strings.HasPrefix(pk.Value, "RATE#") {
		c.takes.Add(1)
	}
	return c.DynamoDB.UpdateItem(ctx, in, o...)
}
