package signer_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/ratelimit"
	"github.com/opensignum/signum/lib/store"
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
	// The deployment has 2 signatures left: 3 digests are refused.
	code, retry, p := sign(d.DomainName, ci, 3)
	if secs, _ := strconv.Atoi(retry); code != 429 || p.Type != edge.ProblemTypeBase+"too-many-requests" || secs < 1 || secs > 3600 {
		t.Fatalf("fail/deployment: %d Retry-After %q %+v", code, retry, p)
	}
	if got := events(d.ID); got != before {
		t.Errorf("fail/deployment: a refused request wrote %d events", got-before)
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
