package signer_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/audit"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/policy"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
	"github.com/opensignum/signum/lib/token"
)

// grantPolicy replaces pol (the signer user's policy) by one whose grant allows max
// signatures in [from, to), and returns it.
func (w *world) grantPolicy(t *testing.T, d tenant.Deployment, pol policy.Policy, max int, from, to time.Time) policy.Policy {
	t.Helper()
	next := pol
	next.Grant = &policy.Grant{MaxSignatures: max, From: from, To: to}
	if err := next.Validate(); err != nil {
		t.Fatal(err)
	}
	p, err := w.clean.Store.UpdatePolicy(context.Background(), d.ID, pol, next, tenant.LogEntry{Actor: "test", Action: "fixture"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// events are the deployment's signing events, oldest first.
func (w *world) events(t *testing.T, dep string) []audit.Event {
	t.Helper()
	all, err := store.All(context.Background(), func(ctx context.Context, pr store.PageRequest) (store.Page[audit.Event], error) {
		return w.clean.Store.ListEvents(ctx, dep, store.EventFilter{}, pr)
	})
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// The done-when of issue 20's grants: a policy whose grant allows 2 signatures, 16 requests
// of one digest at once: exactly 2 are signed, 14 refused with the grant named (403), each
// recorded as a denial with that reason, and the grant's count is 2.
func TestGrantExactUnderConcurrency(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	d, cert := w.deployment(t, "grants.localhost")
	_, pol, tok := w.signerUser(t, d, cert)
	now := time.Now()
	pol = w.grantPolicy(t, d, pol, 2, now.Add(-time.Hour), now.Add(time.Hour))
	h := w.signerOn(w.tg.Clients.DynamoDB, keys.NewRegistry(w.kms))

	statuses := map[int]int{}
	var bodies []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, err := h(ctx, signEvent(d.DomainName, tok, signBody(cert, 1)))
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			statuses[resp.StatusCode]++
			if resp.StatusCode != 200 {
				bodies = append(bodies, resp.Body)
			}
		}()
	}
	close(start)
	wg.Wait()
	if statuses[200] != 2 || statuses[403] != 14 {
		t.Fatalf("statuses %v, want 2 signed and 14 refused; %v", statuses, bodies)
	}
	want := "grant of policy " + pol.ID + " is used up: 2 of 2 signatures"
	for _, b := range bodies {
		var p struct{ Type, Detail string }
		if err := json.Unmarshal([]byte(b), &p); err != nil || !strings.Contains(p.Detail, want) {
			t.Fatalf("refusal %s does not name the grant (%q)", b, want)
		}
	}
	if n, err := w.clean.Store.PolicyGrantUsed(ctx, d.ID, pol.ID, pol.Grant.From); err != nil || n != 2 {
		t.Fatalf("grant count %d %v, want 2", n, err)
	}
	denied, signed := 0, 0
	for _, e := range w.events(t, d.ID) {
		switch {
		case e.Kind == audit.KindCompletion && e.Outcome == audit.Signed:
			signed++
		case e.Kind == audit.KindCompletion && strings.HasPrefix(e.Reason, "denied: ") && strings.Contains(e.Reason, want):
			denied++
		}
	}
	if signed != 2 || denied != 14 {
		t.Fatalf("log: %d signed, %d denied by the grant; want 2 and 14", signed, denied)
	}
}

// A policy's grant outside its window, and a user grant: allowed without any policy, used up,
// not open, revoked, and overruled by a matching deny policy.
func TestGrantRefusals(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	d, cert := w.deployment(t, "grant-refusals.localhost")
	_, pol, tok := w.signerUser(t, d, cert)
	h := w.signerOn(w.tg.Clients.DynamoDB, keys.NewRegistry(w.kms))
	sign := func(tok string) (int, string) {
		t.Helper()
		resp, err := h(ctx, signEvent(d.DomainName, tok, signBody(cert, 1)))
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, resp.Body
	}
	expect := func(name string, tok string, status int, detail string) {
		t.Helper()
		got, body := sign(tok)
		if got != status || !strings.Contains(body, detail) {
			t.Fatalf("%s: %d %s, want %d with %q", name, got, body, status, detail)
		}
	}
	now := time.Now()
	pol = w.grantPolicy(t, d, pol, 5, now.Add(time.Hour), now.Add(2*time.Hour))
	expect("not started", tok, 403, "is not open now: it allows signing from ")
	pol = w.grantPolicy(t, d, pol, 5, now.Add(-2*time.Hour), now.Add(-time.Hour))
	expect("ended", tok, 403, "is not open now: it allows signing from ")
	last := w.events(t, d.ID)
	if e := last[len(last)-1]; e.Decision != audit.Deny || e.PolicyID != pol.ID || !strings.Contains(e.Reason, "grant of policy") {
		t.Fatalf("the refusal is recorded as %+v", e)
	}

	// A user no policy names, with a one-off grant of 1 signature.
	u, err := w.clean.Store.CreateConsoleUser(ctx, identity.ConsoleUser{ID: tenant.NewID("cu_"), DeploymentID: d.ID, Username: "oneoff",
		Roles: []identity.ConsoleRole{identity.Signer}, Status: identity.StatusActive}, tenant.LogEntry{Actor: "test", Action: "fixture"})
	if err != nil {
		t.Fatal(err)
	}
	utok, _, _ := w.clean.Issuer.Issue(ctx, token.Claims{Subject: u.ID, System: token.Console, Deployment: d.ID, Roles: []string{"signer"}})
	expect("no grant yet", utok, 403, "no policy allows this request")
	log := tenant.LogEntry{Actor: "test", Action: "grant.created"}
	g, err := w.clean.Store.CreateGrant(ctx, d.ID, policy.UserGrant{ID: tenant.NewID("gnt_"), UserID: u.ID, CertificateID: cert.ID,
		Grant: policy.Grant{MaxSignatures: 1, From: now.Add(-time.Minute), To: now.Add(time.Hour)}}, log)
	if err != nil {
		t.Fatal(err)
	}
	expect("granted", utok, 200, `"signatures"`)
	evs := w.events(t, d.ID)
	if e := evs[len(evs)-2]; e.Decision != audit.Allow || e.PolicyID != g.ID {
		t.Fatalf("the grant's signature was decided by %+v, want the grant", e)
	}
	expect("used up", utok, 403, "grant "+g.ID+" is used up: 1 of 1 signatures")

	later, err := w.clean.Store.CreateGrant(ctx, d.ID, policy.UserGrant{ID: tenant.NewID("gnt_"), UserID: u.ID, CertificateID: cert.ID,
		Grant: policy.Grant{MaxSignatures: 1, From: now.Add(time.Hour)}}, log)
	if err != nil {
		t.Fatal(err)
	}
	// The first is used up but still open: it is the one that ends first.
	expect("used up, another not open", utok, 403, "is used up")
	cur, _ := w.clean.Store.GetGrant(ctx, d.ID, g.ID)
	if _, err := w.clean.Store.RevokeGrant(ctx, d.ID, cur, now, log); err != nil {
		t.Fatal(err)
	}
	expect("revoked; the other not open", utok, 403, "grant "+later.ID+" is not open now")
	cur, _ = w.clean.Store.GetGrant(ctx, d.ID, later.ID)
	if _, err := w.clean.Store.RevokeGrant(ctx, d.ID, cur, now, log); err != nil {
		t.Fatal(err)
	}
	expect("all revoked", utok, 403, "was revoked")

	// An open grant, but a deny policy matches: the deny wins.
	if _, err := w.clean.Store.CreateGrant(ctx, d.ID, policy.UserGrant{ID: tenant.NewID("gnt_"), UserID: u.ID, CertificateID: cert.ID,
		Grant: policy.Grant{MaxSignatures: 10}}, log); err != nil {
		t.Fatal(err)
	}
	expect("open grant", utok, 200, `"signatures"`)
	if _, err := w.clean.Store.CreatePolicy(ctx, d.ID, policy.Policy{ID: tenant.NewID("pol_"), Name: "no", Enabled: true, Priority: 1, Action: policy.Deny,
		What: policy.What{Certificates: []string{cert.ID}}, Who: policy.Who{Users: []string{u.ID}}}, log); err != nil {
		t.Fatal(err)
	}
	expect("deny wins", utok, 403, "a policy denies this request")
}

// A request allowed by its grant whose key then fails gives its signature back: a grant of 1
// still signs once after a KMS fault (issue 20's fault injection, at the grant's step).
func TestGrantGivenBackAfterKeyFault(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	d, cert := w.deployment(t, "grant-refund.localhost")
	_, pol, tok := w.signerUser(t, d, cert)
	pol = w.grantPolicy(t, d, pol, 1, time.Time{}, time.Time{})
	ch := &chaos{rng: rand.New(rand.NewPCG(1, 2)), p: 1, on: true}
	faulty := w.signerOn(w.tg.Clients.DynamoDB, keys.NewRegistry(faultyKeys{w.kms, ch}))
	for i := 0; i < 3; i++ {
		resp, err := faulty(ctx, signEvent(d.DomainName, tok, signBody(cert, 1)))
		if err != nil || resp.StatusCode != 503 {
			t.Fatalf("with KMS failing: %d %v %s", resp.StatusCode, err, resp.Body)
		}
	}
	if n, err := w.clean.Store.PolicyGrantUsed(ctx, d.ID, pol.ID, time.Time{}); err != nil || n != 0 {
		t.Fatalf("after 3 failed signatures the grant counts %d (%v), want 0", n, err)
	}
	h := w.signerOn(w.tg.Clients.DynamoDB, keys.NewRegistry(w.kms))
	for i, want := range []int{200, 403} {
		resp, err := h(ctx, signEvent(d.DomainName, tok, signBody(cert, 1)))
		if err != nil || resp.StatusCode != want {
			t.Fatalf("request %d after the fault: %d %v %s, want %d", i, resp.StatusCode, err, resp.Body, want)
		}
	}
}

// TestFaultsKeepGrantsBounded injects table and KMS faults while a policy's grant of 40
// signatures is being used: whatever fails, no more than 40 signatures are ever returned, the
// count never falls below what was returned (a signature given back was not returned), and
// once the faults stop the grant signs exactly what its count has left.
func TestFaultsKeepGrantsBounded(t *testing.T) {
	runs := 400
	if testing.Short() {
		runs = 100
	}
	w := newWorld(t)
	ctx := context.Background()
	d, cert := w.deployment(t, "grant-chaos.localhost")
	_, pol, tok := w.signerUser(t, d, cert)
	const max = 40
	pol = w.grantPolicy(t, d, pol, max, time.Time{}, time.Time{})
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	ch := &chaos{rng: rand.New(rand.NewPCG(seed, 3)), on: true}
	h := w.signerOn(faultyDB{w.tg.Clients.DynamoDB, ch}, keys.NewRegistry(faultyKeys{w.kms, ch}))
	returned := 0
	statuses := map[int]int{}
	for i := 0; i < runs && returned < max; i++ {
		ch.mu.Lock()
		ch.p = ch.rng.Float64() * 0.2
		ch.mu.Unlock()
		n := 1 + i%2
		resp, err := h(ctx, signEvent(d.DomainName, tok, signBody(cert, n)))
		if err != nil {
			t.Fatal(err)
		}
		statuses[resp.StatusCode]++
		if resp.StatusCode == 200 {
			returned += n
		}
		if returned > max {
			t.Fatalf("%d signatures returned under a grant of %d", returned, max)
		}
	}
	ch.on = false
	used, err := w.clean.Store.PolicyGrantUsed(ctx, d.ID, pol.ID, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("statuses %v; %d signatures returned, the grant counts %d", statuses, returned, used)
	if statuses[503] == 0 {
		t.Fatalf("no request failed: the faults were not exercised (%v)", statuses)
	}
	if used < returned || used > max {
		t.Fatalf("the grant counts %d with %d signatures returned (max %d)", used, returned, max)
	}
	clean := w.signerOn(w.tg.Clients.DynamoDB, keys.NewRegistry(w.kms))
	for {
		resp, err := clean(ctx, signEvent(d.DomainName, tok, signBody(cert, 1)))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 {
			if resp.StatusCode != 403 || !strings.Contains(resp.Body, "is used up") {
				t.Fatalf("after the faults: %d %s", resp.StatusCode, resp.Body)
			}
			break
		}
		returned++
		used++
	}
	if final, _ := w.clean.Store.PolicyGrantUsed(ctx, d.ID, pol.ID, time.Time{}); final != max || used != max || returned > max {
		t.Fatalf("after the faults the grant counts %d (expected %d), %d signatures returned of %d", final, used, returned, max)
	}
	if problems, _, err := audit.Verify(ctx, w.clean.Store, d.ID, audit.Lanes); err != nil || len(problems) != 0 {
		t.Fatalf("event log after faults: %+v %v", problems, err)
	}
}
