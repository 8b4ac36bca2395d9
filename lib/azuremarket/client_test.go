package azuremarket_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/azuremarket"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/marketplace"
	"github.com/opensignum/signum/lib/marketstandin"
)

// clock is a test clock both sides share.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// stack is the Azure stand-in on a loopback server and a Client and Verifier of it.
type stack struct {
	azure    *marketstandin.Azure
	srv      *httptest.Server
	clock    *clock
	cfg      azuremarket.Config
	client   *azuremarket.Client
	verifier *azuremarket.Verifier
}

func newStack(t *testing.T) *stack {
	t.Helper()
	c := &clock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	az := marketstandin.NewAzure(marketstandin.AzureOptions{Now: c.now})
	srv := httptest.NewServer(az)
	t.Cleanup(srv.Close)
	apiBase, loginBase := marketstandin.AzureBases(srv.URL)
	cfg := azuremarket.Config{
		TenantID: az.TenantID(), ClientID: az.ClientID(), ClientSecret: az.ClientSecret(),
		APIBase: apiBase, LoginBase: loginBase, Now: c.now, Backoff: time.Millisecond,
	}
	client, err := azuremarket.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	v, err := azuremarket.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &stack{azure: az, srv: srv, clock: c, cfg: cfg, client: client, verifier: v}
}

// count is how many calls of method to path the stand-in answered.
func (s *stack) count(method, path string) int {
	n := 0
	for _, c := range s.azure.Calls() {
		if c.Method == method && c.Path == path {
			n++
		}
	}
	return n
}

func (s *stack) tokenPath() string { return "/login/" + s.azure.TenantID() + "/oauth2/token" }

const resolvePath = "/api/saas/subscriptions/resolve"

func TestClientLifeCycle(t *testing.T) {
	s := newStack(t)
	ctx := t.Context()
	token, id := s.azure.Subscribe("Acme signing", "signum-saas", "enterprise", 25, "buyer@acme.example")

	// Resolve: the token as the landing page's URL has it (percent-encoded) and decoded.
	for _, tok := range []string{url.QueryEscape(token), token} {
		sub, err := s.client.Resolve(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		if sub.ID != id || sub.Name != "Acme signing" || sub.OfferID != "signum-saas" || sub.PlanID != "enterprise" || sub.Quantity != 25 ||
			sub.Status != "PendingFulfillmentStart" || sub.PurchaserEmail != "buyer@acme.example" || sub.BeneficiaryEmail != "buyer@acme.example" {
			t.Errorf("resolved %+v", sub)
		}
		if _, ok := azuremarket.NormalizeGUID(sub.PurchaserTenant); !ok {
			t.Errorf("purchaser tenant %q", sub.PurchaserTenant)
		}
	}

	// Activate, twice: the second (an activation whose answer was lost) is success too.
	for range 2 {
		if err := s.client.Activate(ctx, strings.ToUpper(id), "enterprise", 25); err != nil {
			t.Fatal(err)
		}
	}
	if a := s.azure.Activations(); len(a) != 1 || a[0].SubscriptionID != id || a[0].PlanID != "enterprise" || a[0].Quantity != 25 {
		t.Errorf("activations %+v", a)
	}
	sub, err := s.client.GetSubscription(ctx, id)
	if err != nil || sub.Status != "Subscribed" || sub.Quantity != 25 {
		t.Fatalf("after activate: %+v %v", sub, err)
	}
	if err := s.client.Activate(ctx, id, "standard", 0); err != nil {
		// Already active: a plan mismatch is not looked at again.
		t.Errorf("activate of an active subscription: %v", err)
	}

	// ChangeQuantity: the webhook body decodes, the operation is confirmed and accepted.
	op := s.azure.StartOperation(id, "ChangeQuantity", "", 30)
	hook, err := azuremarket.DecodeWebhook(op.Body)
	if err != nil {
		t.Fatal(err)
	}
	if hook.ID != op.ID || hook.SubscriptionID != id || hook.Action != "ChangeQuantity" || hook.Quantity != 30 || hook.Status != "InProgress" || !hook.TimeStamp.Equal(s.clock.now()) {
		t.Errorf("webhook %+v", hook)
	}
	got, err := s.client.GetOperation(ctx, hook.SubscriptionID, hook.ID)
	if err != nil || got.Action != "ChangeQuantity" || got.Quantity != 30 || got.PlanID != "enterprise" || got.Status != "InProgress" || got.SubscriptionID != id {
		t.Fatalf("operation %+v %v", got, err)
	}
	if err := s.client.UpdateOperation(ctx, id, op.ID, "enterprise", 30, true); err != nil {
		t.Fatal(err)
	}
	if sub, _ := s.azure.Subscription(id); sub.Quantity != 30 {
		t.Errorf("quantity after the patch: %d", sub.Quantity)
	}
	if got, _ := s.client.GetOperation(ctx, id, op.ID); got.Status != "Succeeded" {
		t.Errorf("status after the patch: %q", got.Status)
	}
	// The same answer again is fine (a retry); the other answer conflicts.
	if err := s.client.UpdateOperation(ctx, id, op.ID, "enterprise", 30, true); err != nil {
		t.Errorf("repeated patch: %v", err)
	}
	if err := s.client.UpdateOperation(ctx, id, op.ID, "enterprise", 30, false); !errors.Is(err, fault.ErrConflict) {
		t.Errorf("contrary patch: %v", err)
	}
	if p := s.azure.OperationPatches(); len(p) != 2 || p[0].OperationID != op.ID || p[0].Status != "Success" || p[0].PlanID != "enterprise" || p[0].Quantity != 30 {
		t.Errorf("patches %+v", p)
	}

	// ChangePlan refused: the plan stays.
	op = s.azure.StartOperation(id, "ChangePlan", "enterprise-eu", 0)
	if err := s.client.UpdateOperation(ctx, id, op.ID, "enterprise-eu", 30, false); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.client.GetOperation(ctx, id, op.ID); got.Status != "Failed" || got.PlanID != "enterprise-eu" {
		t.Errorf("refused change %+v", got)
	}
	if sub, _ := s.azure.Subscription(id); sub.PlanID != "enterprise" {
		t.Errorf("plan after a refused change: %q", sub.PlanID)
	}

	// ChangePlan nobody answers: Azure accepts it after 10 seconds.
	op = s.azure.StartOperation(id, "ChangePlan", "enterprise-eu", 0)
	s.clock.add(11 * time.Second)
	if got, _ := s.client.GetOperation(ctx, id, op.ID); got.Status != "Succeeded" {
		t.Errorf("unanswered change after 11 s: %q", got.Status)
	}
	if sub, _ := s.client.GetSubscription(ctx, id); sub.PlanID != "enterprise-eu" {
		t.Errorf("plan after the accepted change: %q", sub.PlanID)
	}

	// Suspend and Reinstate change the status when they start.
	s.azure.StartOperation(id, "Suspend", "", 0)
	if sub, _ := s.client.GetSubscription(ctx, id); sub.Status != "Suspended" {
		t.Errorf("after Suspend: %q", sub.Status)
	}
	op = s.azure.StartOperation(id, "reinstate", "", 0)
	if sub, _ := s.client.GetSubscription(ctx, id); sub.Status != "Subscribed" {
		t.Errorf("after Reinstate: %q", sub.Status)
	}
	if got, _ := s.client.GetOperation(ctx, id, op.ID); got.Action != "Reinstate" {
		t.Errorf("reinstate operation %+v", got)
	}

	// Every API call carried the api-version and the two GUIDs.
	for _, c := range s.azure.Calls() {
		if !strings.HasPrefix(c.Path, "/api/") {
			continue
		}
		_, okR := azuremarket.NormalizeGUID(c.RequestID)
		_, okC := azuremarket.NormalizeGUID(c.CorrelationID)
		if c.APIVersion != azuremarket.APIVersion || !okR || !okC {
			t.Errorf("call %+v", c)
		}
	}
	if n := s.count(http.MethodPost, s.tokenPath()); n != 1 {
		t.Errorf("%d token requests, want 1 (cached)", n)
	}
}

func TestClientOperationOfAnotherSubscription(t *testing.T) {
	s := newStack(t)
	ctx := t.Context()
	_, a := s.azure.Subscribe("A", "signum-saas", "standard", 0, "a@example.com")
	_, b := s.azure.Subscribe("B", "signum-saas", "standard", 0, "b@example.com")
	op := s.azure.StartOperation(a, "Suspend", "", 0)
	if _, err := s.client.GetOperation(ctx, b, op.ID); !errors.Is(err, fault.ErrNotFound) {
		t.Errorf("operation of A as B's: %v", err)
	}
	if _, err := s.client.GetSubscription(ctx, "00000000-0000-4000-8000-000000000000"); !errors.Is(err, fault.ErrNotFound) {
		t.Errorf("unknown subscription: %v", err)
	}
	if _, err := s.client.GetSubscription(ctx, "../resolve"); !errors.Is(err, fault.ErrInvalid) {
		t.Errorf("a path as id: %v", err)
	}
	s.azure.StartOperation(a, "Unsubscribe", "", 0)
	if err := s.client.Activate(ctx, a, "standard", 0); !errors.Is(err, fault.ErrNotFound) {
		t.Errorf("activate of an unsubscribed subscription: %v", err)
	}
	if err := s.client.Activate(ctx, b, "enterprise", 0); !errors.Is(err, fault.ErrInvalid) {
		t.Errorf("activate with another plan: %v", err)
	}
}

func TestClientResolveRejected(t *testing.T) {
	s := newStack(t)
	ctx := t.Context()
	token, _ := s.azure.Subscribe("Acme", "signum-saas", "standard", 0, "buyer@acme.example")
	for name, tok := range map[string]string{"made-up": "bm90IGEgdG9rZW4=", "empty": "  "} {
		if _, err := s.client.Resolve(ctx, tok); !errors.Is(err, marketplace.ErrTokenRejected) {
			t.Errorf("%s: %v", name, err)
		}
	}
	s.clock.add(24*time.Hour + time.Second)
	_, err := s.client.Resolve(ctx, token)
	if !errors.Is(err, marketplace.ErrTokenRejected) {
		t.Fatalf("expired: %v", err)
	}
	if strings.Contains(err.Error(), token) {
		t.Error("the error repeats the token")
	}
	fresh, _ := s.azure.Subscribe("Acme 2", "signum-saas", "standard", 0, "buyer@acme.example")
	s.azure.ExpireTokens()
	if _, err := s.client.Resolve(ctx, fresh); !errors.Is(err, marketplace.ErrTokenRejected) {
		t.Errorf("ExpireTokens: %v", err)
	}
}

func TestClientUsage(t *testing.T) {
	s := newStack(t)
	ctx := t.Context()
	_, id := s.azure.Subscribe("Acme", "signum-saas", "standard", 0, "buyer@acme.example")
	if err := s.client.Activate(ctx, id, "standard", 0); err != nil {
		t.Fatal(err)
	}
	hour := s.clock.now().Add(-time.Hour).Truncate(time.Hour)
	rec := marketplace.UsageRecord{AzureSubscriptionID: id, Plan: "standard", Dimension: "signatures", Quantity: 120, Hour: hour.Add(17 * time.Minute)}
	first, err := s.client.PostUsage(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	if first.Status != "Accepted" || !first.Accepted || first.ID == "" || first.Record != rec {
		t.Errorf("first %+v", first)
	}
	// The same hour again, even with another quantity: a duplicate, counted as sent.
	rec.Quantity = 7
	dup, err := s.client.PostUsage(ctx, rec)
	if err != nil || dup.Status != "Duplicate" || !dup.Accepted || dup.ID != first.ID {
		t.Errorf("duplicate %+v %v", dup, err)
	}
	// Another dimension of the hour is its own event.
	rec.Dimension = "signatures_overage"
	if r, err := s.client.PostUsage(ctx, rec); err != nil || r.Status != "Accepted" {
		t.Errorf("overage %+v %v", r, err)
	}
	ev := s.azure.UsageEvents()
	if len(ev) != 2 || ev[0].ResourceID != id || ev[0].Quantity != 120 || ev[0].Dimension != "signatures" || !ev[0].Hour.Equal(hour) || ev[0].PlanID != "standard" ||
		ev[0].EffectiveStartTime != hour.Format("2006-01-02T15:04:05Z") {
		t.Errorf("events %+v", ev)
	}

	// Refusals are verdicts, not errors.
	for name, c := range map[string]struct {
		rec    marketplace.UsageRecord
		status string
	}{
		"fail/expired":   {marketplace.UsageRecord{AzureSubscriptionID: id, Plan: "standard", Dimension: "signatures", Quantity: 1, Hour: s.clock.now().Add(-25 * time.Hour)}, "Expired"},
		"fail/dimension": {marketplace.UsageRecord{AzureSubscriptionID: id, Plan: "standard", Dimension: "users", Quantity: 1, Hour: hour}, "InvalidDimension"},
		"fail/resource":  {marketplace.UsageRecord{AzureSubscriptionID: "00000000-0000-4000-8000-000000000000", Plan: "standard", Dimension: "signatures", Quantity: 1, Hour: hour}, "ResourceNotFound"},
	} {
		r, err := s.client.PostUsage(ctx, c.rec)
		if err != nil || r.Accepted || r.Status != c.status {
			t.Errorf("%s: %+v %v", name, r, err)
		}
	}
	// A record that cannot be sent is an error, and no call.
	before := s.count(http.MethodPost, "/api/usageEvent")
	for name, rec := range map[string]marketplace.UsageRecord{
		"fail/zero":    {AzureSubscriptionID: id, Plan: "standard", Dimension: "signatures", Hour: hour},
		"fail/no-id":   {Plan: "standard", Dimension: "signatures", Quantity: 1, Hour: hour},
		"fail/no-hour": {AzureSubscriptionID: id, Plan: "standard", Dimension: "signatures", Quantity: 1},
	} {
		if _, err := s.client.PostUsage(ctx, rec); !errors.Is(err, fault.ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if after := s.count(http.MethodPost, "/api/usageEvent"); after != before {
		t.Errorf("%d calls for records that cannot be sent", after-before)
	}

	// The final usage of a cancelled subscription: hours before the cancellation only.
	s.clock.add(30 * time.Minute)
	s.azure.StartOperation(id, "Unsubscribe", "", 0)
	last := marketplace.UsageRecord{AzureSubscriptionID: id, Plan: "standard", Dimension: "signatures", Quantity: 3, Hour: s.clock.now().Truncate(time.Hour)}
	if r, err := s.client.PostUsage(ctx, last); err != nil || !r.Accepted {
		t.Errorf("final hour %+v %v", r, err)
	}
	last.Hour = last.Hour.Add(time.Hour)
	s.clock.add(time.Hour)
	if r, err := s.client.PostUsage(ctx, last); err != nil || r.Accepted {
		t.Errorf("an hour after the cancellation %+v %v", r, err)
	}
}

func TestClientToken(t *testing.T) {
	s := newStack(t)
	ctx := t.Context()
	_, id := s.azure.Subscribe("Acme", "signum-saas", "standard", 0, "buyer@acme.example")
	get := func() {
		t.Helper()
		if _, err := s.client.GetSubscription(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	get()
	get()
	if n := s.count(http.MethodPost, s.tokenPath()); n != 1 {
		t.Fatalf("%d token requests, want 1", n)
	}
	// Shortly before it expires (an hour), the token is replaced.
	s.clock.add(54 * time.Minute)
	get()
	if n := s.count(http.MethodPost, s.tokenPath()); n != 1 {
		t.Errorf("%d token requests at 54 min, want 1", n)
	}
	s.clock.add(2 * time.Minute)
	get()
	if n := s.count(http.MethodPost, s.tokenPath()); n != 2 {
		t.Errorf("%d token requests at 56 min, want 2", n)
	}
	// A token the API no longer takes (403) is replaced once, transparently.
	s.azure.RevokeAccessTokens()
	get()
	if n := s.count(http.MethodPost, s.tokenPath()); n != 3 {
		t.Errorf("%d token requests after a revocation, want 3", n)
	}

	// A wrong secret is a configuration error: not retried, not "unavailable", and the
	// secret is in no error.
	cfg := s.cfg
	cfg.ClientSecret = "not-the-secret-4711"
	bad, err := azuremarket.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	before := s.count(http.MethodPost, s.tokenPath())
	_, err = bad.GetSubscription(ctx, id)
	if err == nil || errors.Is(err, fault.ErrUnavailable) || strings.Contains(err.Error(), "4711") || !strings.Contains(err.Error(), "invalid_client") {
		t.Errorf("wrong secret: %v", err)
	}
	if n := s.count(http.MethodPost, s.tokenPath()) - before; n != 1 {
		t.Errorf("%d token requests with a wrong secret, want 1", n)
	}
}

func TestClientFailures(t *testing.T) {
	s := newStack(t)
	ctx := t.Context()
	token, id := s.azure.Subscribe("Acme", "signum-saas", "standard", 0, "buyer@acme.example")

	// Two failures are retried away (3 attempts)...
	s.azure.FailNext(resolvePath, 2)
	if _, err := s.client.Resolve(ctx, token); err != nil {
		t.Fatalf("resolve after 2 failures: %v", err)
	}
	if n := s.count(http.MethodPost, resolvePath); n != 3 {
		t.Errorf("%d resolve calls, want 3", n)
	}
	// ...three are unavailable, to retry later.
	getPath := "/api/saas/subscriptions/" + id
	s.azure.FailNext(getPath, 3)
	_, err := s.client.GetSubscription(ctx, id)
	if !errors.Is(err, marketplace.ErrUnavailable) {
		t.Fatalf("get after 3 failures: %v", err)
	}
	if _, ok := fault.RetryAfter(err); !ok {
		t.Error("no Retry-After")
	}
	if _, err := s.client.GetSubscription(ctx, id); err != nil {
		t.Errorf("get after the outage: %v", err)
	}
	// The token endpoint's failures are retried too.
	s.azure.RevokeAccessTokens()
	s.azure.FailNext(s.tokenPath(), 2)
	if _, err := s.client.GetSubscription(ctx, id); err != nil {
		t.Errorf("get after 2 token failures: %v", err)
	}
	// A usage event whose answer failed is sent again; its second sending is accepted
	// once only.
	s.azure.FailNext("/api/usageEvent", 1)
	if err := s.client.Activate(ctx, id, "standard", 0); err != nil {
		t.Fatal(err)
	}
	r, err := s.client.PostUsage(ctx, marketplace.UsageRecord{AzureSubscriptionID: id, Plan: "standard", Dimension: "signatures", Quantity: 5, Hour: s.clock.now()})
	if err != nil || !r.Accepted || len(s.azure.UsageEvents()) != 1 {
		t.Errorf("usage after a failure: %+v %v", r, err)
	}

	// Nobody listening: unavailable.
	s.srv.Close()
	_, err = s.client.GetSubscription(ctx, id)
	if !errors.Is(err, marketplace.ErrUnavailable) {
		t.Errorf("closed server: %v", err)
	}
	// A cancelled context ends the retries.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.client.GetSubscription(cctx, id); !errors.Is(err, marketplace.ErrUnavailable) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestNewClientConfig(t *testing.T) {
	for name, cfg := range map[string]azuremarket.Config{
		"fail/tenant":    {TenantID: "contoso", ClientID: "a", ClientSecret: "b"},
		"fail/client":    {TenantID: marketstandin.AzureTenantID, ClientSecret: "b"},
		"fail/no-secret": {TenantID: marketstandin.AzureTenantID, ClientID: "a"},
	} {
		if _, err := azuremarket.NewClient(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
