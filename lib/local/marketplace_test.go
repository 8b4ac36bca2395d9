package local_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/fulfilment"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/local"
	"github.com/opensignum/signum/lib/marketplace"
	"github.com/opensignum/signum/lib/marketstandin"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// marketTicket is a registration ticket answer.
type marketTicket struct {
	Ticket       string
	Subscription struct{ ID, State, Plan string }
}

// registered is what registration answers.
type registered struct {
	Deployment struct {
		ID, Status, Plan string
		Quantity         int
	}
	FirstAdminInvite struct{ Token string }
}

// marketSigner registers the first Admin of a marketplace deployment on domain, makes a
// certificate, and returns a console client of a portal User who may sign with it, and the
// certificate's id.
func marketSigner(t *testing.T, srv *local.Server, reg registered, domain, email string) (admin, signer client, certID string) {
	t.Helper()
	c := client{t: t, srv: srv}
	adminTok, _ := register(t, c, reg.FirstAdminInvite.Token, email)
	var ct struct{ Token string }
	c.as(adminTok).do("POST", "/portal/deployments/"+reg.Deployment.ID+"/console-token", nil).must(t, 200, "console token").json(t, &ct)
	admin = c.at(domain).as(ct.Token)
	var cert struct{ ID string }
	admin.do("POST", "/console/certificates", map[string]any{"groups": inGroup(t, admin), "algorithm": "EC_P256", "subject": map[string]string{"commonName": "Market"}}).must(t, 201, "cert").json(t, &cert)
	activate(t, admin, cert.ID)
	var inv struct{ Token string }
	c.as(adminTok).do("POST", "/portal/deployments/"+reg.Deployment.ID+"/users", map[string]string{"role": "User"}).must(t, 201, "invite").json(t, &inv)
	userTok, _ := register(t, c, inv.Token, "signer."+email)
	c.as(userTok).do("POST", "/portal/deployments/"+reg.Deployment.ID+"/console-token", nil).must(t, 200, "console token").json(t, &ct)
	return admin, c.at(domain).as(ct.Token), cert.ID
}

// sign asks for n signatures and returns the status.
func sign(signer client, certID string, n int) resp {
	var digests []map[string]string
	for i := range n {
		sum := sha256.Sum256([]byte(fmt.Sprintf("file-%d-%d", i, time.Now().UnixNano())))
		digests = append(digests, map[string]string{"digest": b64(sum[:]), "digestAlgorithm": "SHA256"})
	}
	return signer.do("POST", "/sign", map[string]any{"certificateId": certID, "digests": digests})
}

// deploymentState reads the deployment as the operator's store has it.
func deploymentState(t *testing.T, st *store.Store, id string) tenant.Deployment {
	t.Helper()
	d, err := st.GetDeployment(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func marketStore(srv *local.Server) *store.Store {
	env := envFor(srv)
	return store.New(srv.Clients.DynamoDB, srv.Config.TableName, function.CursorKey(env))
}

// sqsBatch wraps SNS notifications (each a message JSON) as an SQS batch: the first in an
// SNS envelope, the rest as raw deliveries, as the two subscription settings deliver them.
func sqsBatch(t *testing.T, at time.Time, messages ...string) json.RawMessage {
	t.Helper()
	var ev events.SQSEvent
	for i, m := range messages {
		body := m
		if i == 0 {
			env, _ := json.Marshal(map[string]string{"Type": "Notification", "MessageId": tenant.NewID("sns-"),
				"TopicArn": "arn:aws:sns:us-east-1:287250355862:aws-mp-subscription-notification-prodcode", "Message": m,
				"Timestamp": at.UTC().Format("2006-01-02T15:04:05.000Z")})
			body = string(env)
		}
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: tenant.NewID("msg-"), Body: body, EventSource: "aws:sqs",
			Attributes: map[string]string{"SentTimestamp": fmt.Sprint(at.UnixMilli())}})
	}
	raw, _ := json.Marshal(ev)
	return raw
}

// eventBridge is an aws.agreement-marketplace event.
func eventBridge(detailType string, at time.Time, detail map[string]any) json.RawMessage {
	raw, _ := json.Marshal(map[string]any{"version": "0", "id": tenant.NewID("eb-"), "detail-type": detailType,
		"source": "aws.agreement-marketplace", "account": "444455556666", "time": at.UTC().Format(time.RFC3339),
		"region": "us-east-1", "resources": []string{}, "detail": detail})
	return raw
}

func invokeEvent(t *testing.T, srv *local.Server, fn string, raw json.RawMessage) string {
	t.Helper()
	out, err := srv.Events[fn](context.Background(), raw)
	if err != nil {
		t.Fatalf("%s: %v", fn, err)
	}
	b, _ := json.Marshal(out)
	return string(b)
}

func scheduled(at time.Time) json.RawMessage {
	raw, _ := json.Marshal(map[string]any{"version": "0", "id": tenant.NewID("sched-"), "detail-type": "Scheduled Event",
		"source": "aws.events", "time": at.UTC().Format(time.RFC3339), "detail": map[string]any{}})
	return raw
}

// TestAWSMarketplaceSequence: a buyer subscribes in AWS Marketplace, arrives at the
// fulfilment URL, registers, signs, changes plan (a contract's entitlement), is suspended
// (the entitlement expires) and reinstated, and the agreement ends and the license is
// deprovisioned; SNS messages and EventBridge events arrive twice and out of order, one of
// them before registration. The deployment follows, and metering sends each hour's usage
// once, the final usage after the end, and nothing after.
func TestAWSMarketplaceSequence(t *testing.T) {
	srv := startLocal(t)
	aws := srv.Stack.AWSMarket
	st := marketStore(srv)
	c := client{t: t, srv: srv}
	// The events and the metering ticks are of the last hours: a tick cannot be from the
	// future (the function meters the time it was scheduled for, or now).
	t0 := time.Now().UTC().Truncate(time.Hour).Add(-3 * time.Hour)

	token, customer := aws.Subscribe("111122223333", "prodcode-signum", "standard", 1)
	// The SNS subscribe-success arrives before the buyer (raw delivery, PascalCase, padded),
	// and again (SNS delivers at least once).
	msg := fmt.Sprintf(`{"Action":" subscribe-success ","CustomerIdentifier":" %s","ProductCode":"%s","CustomerAWSAccountId":"%s","LicenseArn":"%s","OfferIdentifier":"offer-1","isFreeTrialTermPresent":"false"}`,
		customer.CustomerIdentifier, customer.ProductCode, customer.AWSAccountID, customer.LicenseARN)
	batch := sqsBatch(t, t0, msg)
	for range 2 {
		if out := invokeEvent(t, srv, "MarketplaceAwsEventsFunction", batch); !strings.Contains(out, `"batchItemFailures":[]`) {
			t.Fatalf("subscribe-success: %s", out)
		}
	}
	// A License Updated event names the license and the agreement before registration.
	invokeEvent(t, srv, "MarketplaceAwsEventsFunction", eventBridge("License Updated - Manufacturer", t0.Add(time.Second), map[string]any{
		"agreement": map[string]any{"id": "agmt-aws1"}, "acceptor": map[string]any{"accountId": customer.AWSAccountID},
		"product": map[string]any{"code": customer.ProductCode}, "license": map[string]any{"arn": customer.LicenseARN}}))

	// The fulfilment URL: a browser's form post is sent on to the registration page.
	form := url.Values{"x-amzn-marketplace-token": {token}}.Encode()
	req, _ := http.NewRequest("POST", srv.URL+"/marketplace/aws/register", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc := res.Header.Get("Location")
	if res.StatusCode != 303 || !strings.HasPrefix(loc, "/app/marketplace/register#ticket=mkt_") {
		t.Fatalf("fulfilment URL: %d %q", res.StatusCode, loc)
	}
	ticket, _ := url.QueryUnescape(strings.TrimPrefix(loc, "/app/marketplace/register#ticket="))
	var preview struct{ ID, State, Plan, Marketplace string }
	c.do("POST", "/marketplace/registrations/preview", map[string]string{"ticket": ticket}).must(t, 200, "preview").json(t, &preview)
	if preview.State != "pending" || preview.Plan != "standard" || preview.Marketplace != "aws" {
		t.Fatalf("preview: %+v", preview)
	}
	// An expired token is refused with a page that says so, and nothing is created.
	aws.ExpireTokens()
	c.do("POST", "/marketplace/aws/register", map[string]string{"x-amzn-marketplace-token": token}).must(t, 410, "expired token")

	var reg registered
	c.do("POST", "/marketplace/registrations", map[string]string{"ticket": ticket, "name": "Acme AWS", "domainName": "acme-aws.localhost", "adminEmail": "owner@acme.example"}).
		must(t, 201, "register").json(t, &reg)
	if reg.Deployment.Status != "active" || reg.Deployment.Plan != "standard" {
		t.Fatalf("registered: %+v", reg.Deployment)
	}
	c.do("POST", "/marketplace/registrations", map[string]string{"ticket": ticket, "adminEmail": "other@acme.example"}).must(t, 409, "second registration")
	sub, err := st.SubscriptionByLookup(context.Background(), []string{marketplace.AWSKey(customer.AWSAccountID, customer.LicenseARN)})
	if err != nil || sub.DeploymentID != reg.Deployment.ID || sub.AgreementID != "agmt-aws1" {
		t.Fatalf("subscription %+v: %v", sub, err)
	}

	// Use: 3 signatures, metered in the next hourly run, once.
	_, signer, certID := marketSigner(t, srv, reg, "acme-aws.localhost", "owner@acme.example")
	sign(signer, certID, 3).must(t, 200, "sign")
	h1 := t0.Add(5 * time.Minute)
	for range 2 {
		invokeEvent(t, srv, "MarketplaceMeteringFunction", scheduled(h1))
	}
	if recs := aws.MeterRecords(); len(recs) != 2 || recs[0].Dimension != "signatures" || recs[0].Quantity != 3 || recs[1].Dimension != "certificates" || recs[1].Quantity != 1 {
		t.Fatalf("metered after the first hour: %+v", recs)
	}

	// Plan change: the contract moves to enterprise with 25 seats (entitlement-updated on the
	// entitlement topic).
	aws.RemoveEntitlements(customer)
	aws.SetEntitlement(customer, "enterprise", 25, time.Time{})
	ent := fmt.Sprintf(`{"action":"entitlement-updated","customer-identifier":"%s","product-code":"%s"}`, customer.CustomerIdentifier, customer.ProductCode)
	invokeEvent(t, srv, "MarketplaceAwsEventsFunction", sqsBatch(t, t0.Add(time.Minute), ent))
	if d := deploymentState(t, st, reg.Deployment.ID); d.Plan != "enterprise" || d.Quantity != 25 {
		t.Fatalf("after the plan change: %s %d", d.Plan, d.Quantity)
	}

	// Suspension: the entitlement expired. Signing is refused; reinstated, it works again.
	aws.SetEntitlement(customer, "enterprise", 25, time.Now().Add(-time.Minute))
	invokeEvent(t, srv, "MarketplaceAwsEventsFunction", eventBridge("Purchase Agreement Amended - Manufacturer", t0.Add(2*time.Minute), map[string]any{
		"agreement": map[string]any{"id": "agmt-aws1"}}))
	if d := deploymentState(t, st, reg.Deployment.ID); d.Status != tenant.StatusSuspended {
		t.Fatalf("after expiry: %s", d.Status)
	}
	if r := sign(signer, certID, 1); r.status != 403 {
		t.Fatalf("signing while suspended: %d %s", r.status, r.body)
	}
	aws.SetEntitlement(customer, "enterprise", 30, time.Time{})
	invokeEvent(t, srv, "MarketplaceAwsEventsFunction", eventBridge("License Updated - Manufacturer", t0.Add(3*time.Minute), map[string]any{
		"product": map[string]any{"code": customer.ProductCode}, "license": map[string]any{"arn": customer.LicenseARN}}))
	if d := deploymentState(t, st, reg.Deployment.ID); d.Status != tenant.StatusActive || d.Quantity != 30 {
		t.Fatalf("after reinstatement: %s %d", d.Status, d.Quantity)
	}
	sign(signer, certID, 2).must(t, 200, "sign after reinstatement")

	// The end: the agreement ends (unsubscribe-pending: still working), then the license is
	// deprovisioned (cancelled). A late redelivery of the first Amended (older) changes nothing.
	invokeEvent(t, srv, "MarketplaceAwsEventsFunction", eventBridge("Purchase Agreement Ended - Manufacturer", t0.Add(4*time.Minute), map[string]any{
		"agreement": map[string]any{"id": "agmt-aws1", "status": "CANCELLED"}}))
	if d := deploymentState(t, st, reg.Deployment.ID); d.Status != tenant.StatusActive {
		t.Fatalf("unsubscribe-pending should still work: %s", d.Status)
	}
	invokeEvent(t, srv, "MarketplaceAwsEventsFunction", eventBridge("License Deprovisioned - Manufacturer", t0.Add(5*time.Minute), map[string]any{
		"product": map[string]any{"code": customer.ProductCode}, "license": map[string]any{"arn": customer.LicenseARN}}))
	invokeEvent(t, srv, "MarketplaceAwsEventsFunction", sqsBatch(t, t0.Add(-time.Minute), strings.Replace(msg, "subscribe-success", "unsubscribe-pending", 1)))
	if d := deploymentState(t, st, reg.Deployment.ID); d.Status != tenant.StatusCancelled {
		t.Fatalf("after deprovisioning: %s", d.Status)
	}
	if r := sign(signer, certID, 1); r.status != 403 {
		t.Fatalf("signing when cancelled: %d %s", r.status, r.body)
	}
	// The final usage (2 signatures since the last record) goes in the next run; then nothing.
	h2 := h1.Add(time.Hour)
	for _, at := range []time.Time{h2, h2, h2.Add(time.Hour)} {
		invokeEvent(t, srv, "MarketplaceMeteringFunction", scheduled(at))
	}
	recs := aws.MeterRecords()
	var sigs, users []int64
	for _, r := range recs {
		switch r.Dimension {
		case "signatures":
			sigs = append(sigs, r.Quantity)
		case "users":
			users = append(users, r.Quantity)
		}
	}
	if fmt.Sprint(sigs) != "[3 2]" || len(users) != 1 {
		t.Fatalf("meter records: %+v", recs)
	}
	records, err := st.ListMeterRecords(context.Background(), sub.ID, store.PageRequest{})
	if err != nil || len(records.Items) != 2 || !records.Items[0].Final || records.Items[0].Status != marketplace.MeterSent {
		t.Fatalf("recorded metering: %+v %v", records.Items, err)
	}
	// The console is closed; the operator hands the signing-event log over.
	if r := call(t, srv, "GET", "/operator/deployments/"+reg.Deployment.ID+"/events", "", "", true); r.status != 200 ||
		strings.Count(r.body, "\n") < 5 || !strings.Contains(r.body, certID) {
		t.Fatalf("operator export of a cancelled deployment's events: %d %s", r.status, r.body)
	}
	// The operator sees the subscription and what was metered.
	r := call(t, srv, "GET", "/operator/subscriptions/"+sub.ID+"/metering", "", "", true)
	if r.status != 200 || !strings.Contains(r.body, `"final":true`) || !strings.Contains(r.body, `"dimension":"signatures","quantity":2`) {
		t.Fatalf("operator metering: %d %s", r.status, r.body)
	}
}

// TestAzureMarketplaceSequence: the landing page resolves the token, registration creates
// the deployment and activates the subscription; the webhook's plan change is accepted after
// the operation is read back; a change to another region is rejected; suspend, reinstate
// and unsubscribe follow, each delivered twice; a forged or misaddressed token changes
// nothing; metering sends the month's overage once.
func TestAzureMarketplaceSequence(t *testing.T) {
	srv := startLocal(t)
	az := srv.Stack.AzureMarket
	st := marketStore(srv)
	c := client{t: t, srv: srv}

	token, subID := az.Subscribe("Contoso signing", "signum-saas", "standard", 0, "buyer@contoso.example")
	var tk marketTicket
	c.do("POST", "/marketplace/azure/resolve", map[string]string{"token": token}).must(t, 201, "resolve").json(t, &tk)
	if tk.Subscription.State != "pending" || len(az.Activations()) != 0 {
		t.Fatalf("resolved: %+v, activations %d", tk.Subscription, len(az.Activations()))
	}
	c.do("POST", "/marketplace/azure/resolve", map[string]string{"token": "not-a-token"}).must(t, 410, "bad token")
	var reg registered
	c.do("POST", "/marketplace/registrations", map[string]string{"ticket": tk.Ticket, "domainName": "contoso.localhost", "adminEmail": "buyer@contoso.example"}).
		must(t, 201, "register").json(t, &reg)
	if a := az.Activations(); len(a) != 1 || !strings.EqualFold(a[0].SubscriptionID, subID) {
		t.Fatalf("activations: %+v", a)
	}
	if s, _ := az.Subscription(subID); s.Status != "Subscribed" {
		t.Fatalf("azure status %s", s.Status)
	}
	_, signer, certID := marketSigner(t, srv, reg, "contoso.localhost", "buyer@contoso.example")
	sign(signer, certID, 2).must(t, 200, "sign")

	hook := func(body []byte, tok string) resp {
		return c.do("POST", "/marketplace/azure/webhook", string(body), "Authorization", "Bearer "+tok)
	}
	good := az.WebhookToken(marketstandin.AzureWebhookTokenOptions{})
	deliver := func(action, plan string, qty int) (marketstandin.AzureOperation, string) {
		op := az.StartOperation(subID, action, plan, qty)
		var out struct{ Outcome string }
		hook(op.Body, good).must(t, 200, action).json(t, &out)
		var again struct{ Outcome string }
		hook(op.Body, good).must(t, 200, action+" again").json(t, &again)
		if again.Outcome != "duplicate" {
			t.Fatalf("%s redelivered: %s", action, again.Outcome)
		}
		return op, out.Outcome
	}

	// Bad tokens: 401, nothing done.
	forged := az.StartOperation(subID, "Suspend", "", 0)
	for name, tok := range map[string]string{
		"wrong audience": az.WebhookToken(marketstandin.AzureWebhookTokenOptions{Audience: "00000000-0000-0000-0000-000000000001"}),
		"wrong tenant":   az.WebhookToken(marketstandin.AzureWebhookTokenOptions{TenantID: "00000000-0000-0000-0000-000000000002"}),
		"wrong azp":      az.WebhookToken(marketstandin.AzureWebhookTokenOptions{AZP: "00000000-0000-0000-0000-000000000003"}),
		"expired":        az.WebhookToken(marketstandin.AzureWebhookTokenOptions{Expires: time.Now().Add(-time.Hour), NotBefore: time.Now().Add(-2 * time.Hour)}),
		"unsigned":       az.WebhookToken(marketstandin.AzureWebhookTokenOptions{Alg: "none"}),
	} {
		hook(forged.Body, tok).must(t, 401, name)
	}
	if d := deploymentState(t, st, reg.Deployment.ID); d.Status != tenant.StatusActive {
		t.Fatalf("a refused webhook changed the deployment: %s", d.Status)
	}
	// A body the operation API does not confirm (another action) is ignored.
	lie := strings.Replace(string(forged.Body), "Suspend", "Unsubscribe", 1)
	var out struct{ Outcome string }
	hook([]byte(lie), good).must(t, 200, "unconfirmed").json(t, &out)
	if out.Outcome != "unconfirmed" || deploymentState(t, st, reg.Deployment.ID).Status != tenant.StatusActive {
		t.Fatalf("an unconfirmed operation was acted on: %s", out.Outcome)
	}

	// Plan change within the region: accepted; to another region: rejected.
	if _, o := deliver("ChangePlan", "enterprise", 20); o != "applied" {
		t.Fatalf("ChangePlan: %s", o)
	}
	if d := deploymentState(t, st, reg.Deployment.ID); d.Plan != "enterprise" || d.Quantity != 20 {
		t.Fatalf("after ChangePlan: %s %d", d.Plan, d.Quantity)
	}
	if _, o := deliver("ChangePlan", "enterprise-eu", 20); o != "rejected" {
		t.Fatalf("ChangePlan to another region: %s", o)
	}
	patches := az.OperationPatches()
	if len(patches) != 2 || !strings.EqualFold(patches[0].Status, "Success") || !strings.EqualFold(patches[1].Status, "Failure") {
		t.Fatalf("operation patches: %+v", patches)
	}
	// Suspend, reinstate, and the suspension delivered late changes nothing.
	suspend, _ := deliver("Suspend", "", 0)
	if d := deploymentState(t, st, reg.Deployment.ID); d.Status != tenant.StatusSuspended {
		t.Fatalf("after Suspend: %s", d.Status)
	}
	if r := sign(signer, certID, 1); r.status != 403 || r.problemType() != "subscription-inactive" {
		t.Fatalf("signing while suspended: %d %s", r.status, r.body)
	}
	deliver("Reinstate", "", 0)
	if d := deploymentState(t, st, reg.Deployment.ID); d.Status != tenant.StatusActive {
		t.Fatalf("after Reinstate: %s", d.Status)
	}
	hook(suspend.Body, good).must(t, 200, "late suspend")
	if d := deploymentState(t, st, reg.Deployment.ID); d.Status != tenant.StatusActive {
		t.Fatalf("a late suspension won: %s", d.Status)
	}
	sign(signer, certID, 1).must(t, 200, "sign after reinstatement")
	deliver("Unsubscribe", "", 0)
	if d := deploymentState(t, st, reg.Deployment.ID); d.Status != tenant.StatusCancelled {
		t.Fatalf("after Unsubscribe: %s", d.Status)
	}
	// The portal stays readable and shows the subscription's history.
	var lg struct{ Token string }
	c.do("POST", "/portal/login", map[string]string{"email": "buyer@contoso.example", "password": strongPassword}).must(t, 200, "portal login").json(t, &lg)
	var view struct {
		Subscription struct{ State string }
		History      []struct{ Change, Detail string }
	}
	c.as(lg.Token).do("GET", "/portal/deployments/"+reg.Deployment.ID+"/subscription", nil).must(t, 200, "portal subscription").json(t, &view)
	var changes []string
	for _, h := range view.History {
		changes = append(changes, h.Change)
	}
	if view.Subscription.State != "cancelled" || strings.Join(changes, " ") != "unsubscribe reinstate suspend changeRejected plan activated" {
		t.Fatalf("portal view: %s %v", view.Subscription.State, changes)
	}
	// Metering: the enterprise plan bills no Azure overage, so nothing is sent; the hour is
	// recorded once, final.
	h1 := time.Now().UTC().Truncate(time.Hour).Add(-2*time.Hour + 5*time.Minute)
	invokeEvent(t, srv, "MarketplaceMeteringFunction", scheduled(h1))
	invokeEvent(t, srv, "MarketplaceMeteringFunction", scheduled(h1.Add(time.Hour)))
	sub, err := st.SubscriptionByLookup(context.Background(), []string{marketplace.AzureKey(subID)})
	if err != nil {
		t.Fatal(err)
	}
	records, err := st.ListMeterRecords(context.Background(), sub.ID, store.PageRequest{})
	if err != nil || len(records.Items) != 1 || !records.Items[0].Final {
		t.Fatalf("metering records: %+v %v", records.Items, err)
	}
	if n := len(az.UsageEvents()); n != 0 {
		t.Fatalf("usage events: %d", n)
	}
}

// TestMarketplaceEventsBeforeRegistration: a notification naming a customer the service has
// not heard of is kept, not lost, and applies when the customer appears: an Azure suspension
// that comes before the buyer's landing page, and an AWS agreement event that names only an
// agreement no subscription is known by yet (applied when a license event teaches it).
func TestMarketplaceEventsBeforeRegistration(t *testing.T) {
	srv := startLocal(t)
	st := marketStore(srv)
	c := client{t: t, srv: srv}

	az := srv.Stack.AzureMarket
	token, subID := az.Subscribe("Early", "signum-saas", "standard", 0, "early@contoso.example")
	op := az.StartOperation(subID, "Suspend", "", 0)
	var out struct{ Outcome string }
	c.do("POST", "/marketplace/azure/webhook", string(op.Body), "Authorization", "Bearer "+az.WebhookToken(marketstandin.AzureWebhookTokenOptions{})).
		must(t, 200, "early suspend").json(t, &out)
	if out.Outcome != "kept" {
		t.Fatalf("an event before the subscription: %s", out.Outcome)
	}
	var tk marketTicket
	c.do("POST", "/marketplace/azure/resolve", map[string]string{"token": token}).must(t, 201, "resolve").json(t, &tk)
	if tk.Subscription.State != "suspended" {
		t.Fatalf("the kept suspension did not apply: %s", tk.Subscription.State)
	}
	var reg registered
	c.do("POST", "/marketplace/registrations", map[string]string{"ticket": tk.Ticket, "adminEmail": "early@contoso.example"}).must(t, 201, "register").json(t, &reg)
	if reg.Deployment.Status != "suspended" {
		t.Fatalf("registered while suspended: %s", reg.Deployment.Status)
	}

	aws := srv.Stack.AWSMarket
	at := time.Now().UTC().Add(-time.Hour)
	_, customer := aws.Subscribe("222233334444", "prodcode-signum", "", 0)
	invokeEvent(t, srv, "MarketplaceAwsEventsFunction", eventBridge("Purchase Agreement Ended - Manufacturer", at.Add(10*time.Minute), map[string]any{
		"agreement": map[string]any{"id": "agmt-early", "status": "CANCELLED"}}))
	sns := fmt.Sprintf(`{"action":"subscribe-success","customer-identifier":"%s","product-code":"%s","customer-aws-account-id":"%s","license-arn":"%s"}`,
		customer.CustomerIdentifier, customer.ProductCode, customer.AWSAccountID, customer.LicenseARN)
	invokeEvent(t, srv, "MarketplaceAwsEventsFunction", sqsBatch(t, at, sns))
	sub, err := st.SubscriptionByLookup(context.Background(), []string{marketplace.AWSLegacyKey(customer.CustomerIdentifier, customer.ProductCode)})
	if err != nil || sub.State != marketplace.StatePending {
		t.Fatalf("subscribed: %+v %v", sub, err)
	}
	invokeEvent(t, srv, "MarketplaceAwsEventsFunction", eventBridge("License Updated - Manufacturer", at.Add(time.Minute), map[string]any{
		"agreement": map[string]any{"id": "agmt-early"}, "acceptor": map[string]any{"accountId": customer.AWSAccountID},
		"product": map[string]any{"code": customer.ProductCode}, "license": map[string]any{"arn": customer.LicenseARN}}))
	if sub, err = st.GetSubscription(context.Background(), sub.ID); err != nil || sub.State != marketplace.StateUnsubscribePending {
		t.Fatalf("the kept agreement event did not apply once the agreement was known: %+v %v", sub, err)
	}
}

// TestCancelledDataIsDeleted: once the retention period after a cancellation has passed, the
// hourly run marks every item of the deployment for deletion (TTL), a bounded number a run,
// and records it on the subscription, which stays.
func TestCancelledDataIsDeleted(t *testing.T) {
	srv := startLocal(t)
	st := marketStore(srv)
	c := client{t: t, srv: srv}
	az := srv.Stack.AzureMarket
	subID, reg := azureDeployment(t, srv, "gone.localhost", "gone@contoso.example")
	op := az.StartOperation(subID, "Unsubscribe", "", 0)
	c.do("POST", "/marketplace/azure/webhook", string(op.Body), "Authorization", "Bearer "+az.WebhookToken(marketstandin.AzureWebhookTokenOptions{})).must(t, 200, "unsubscribe")

	env := envFor(srv)
	svc, _, err := function.Fulfilment(context.Background(), env, function.NewParts(env))
	if err != nil {
		t.Fatal(err)
	}
	// Within the retention period nothing is marked.
	if rep, err := svc.Retain(context.Background(), time.Now()); err != nil || rep.Marked != 0 {
		t.Fatalf("within retention: %+v %v", rep, err)
	}
	later := time.Now().Add(fulfilment.DefaultRetention + time.Hour)
	rep, err := svc.Retain(context.Background(), later)
	if err != nil || rep.Marked == 0 || rep.Done != 1 {
		t.Fatalf("after retention: %+v %v", rep, err)
	}
	sub, err := st.SubscriptionByLookup(context.Background(), []string{marketplace.AzureKey(subID)})
	if err != nil || !sub.Retention.ExpiresAt.Equal(sub.EndedAt.Add(fulfilment.DefaultRetention)) {
		t.Fatalf("subscription after retention: %+v %v", sub.Retention, err)
	}
	out, err := srv.Clients.DynamoDB.Query(context.Background(), &dynamodb.QueryInput{TableName: &srv.Config.TableName,
		KeyConditionExpression:    awssdk.String("PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: "DEP#" + reg.Deployment.ID}}})
	if err != nil || len(out.Items) == 0 {
		t.Fatalf("items: %v", err)
	}
	for _, it := range out.Items {
		if _, ok := it["expiresAt"]; !ok {
			t.Fatalf("an item of the cancelled deployment has no expiry: %v %v", it["PK"], it["SK"])
		}
	}
	// A second run has nothing left to do.
	if rep, err := svc.Retain(context.Background(), later); err != nil || rep.Marked != 0 {
		t.Fatalf("second run: %+v %v", rep, err)
	}
}

// TestAzureOverageMetering: an Azure standard plan includes 100,000 signatures a month; the
// hour that crosses it sends the signatures beyond it as a usage event of the overage
// dimension, once, however often the hour's run is retried, and a failed send is retried
// with the same record by the next run.
func TestAzureOverageMetering(t *testing.T) {
	srv := startLocal(t)
	st := marketStore(srv)
	az := srv.Stack.AzureMarket
	subID, reg := azureDeployment(t, srv, "busy.localhost", "busy@contoso.example")
	_, signer, certID := marketSigner(t, srv, reg, "busy.localhost", "busy@contoso.example")

	// The month so far: 99,998 signatures metered (as earlier hours would have left it).
	now := time.Now().UTC()
	ctx := context.Background()
	sub, err := st.SubscriptionByLookup(ctx, []string{marketplace.AzureKey(subID)})
	if err != nil {
		t.Fatal(err)
	}
	seeded := sub
	first := now.Truncate(time.Hour).Add(-3 * time.Hour)
	seeded.Metered = marketplace.MeterCursor{Hour: first, Month: time.Date(first.Year(), first.Month(), 1, 0, 0, 0, 0, time.UTC), MonthSignatures: 99_998}
	if _, err := st.SaveSubscription(ctx, store.SubscriptionChange{Current: sub, Next: seeded}); err != nil {
		t.Fatal(err)
	}
	sign(signer, certID, 5).must(t, 200, "sign")

	// The next hour's run fails to reach Azure (three times: the client's retries), then the
	// retried tick and the next hour's run send the same record, which Azure counts once.
	az.FailNext("/api/usageEvent", 3)
	tick := first.Add(2*time.Hour + 5*time.Minute) // meters the hour after first
	if _, err := srv.Events["MarketplaceMeteringFunction"](ctx, scheduled(tick)); err == nil {
		t.Fatal("a metering run that could not reach Azure reported success")
	}
	invokeEvent(t, srv, "MarketplaceMeteringFunction", scheduled(tick))
	invokeEvent(t, srv, "MarketplaceMeteringFunction", scheduled(tick.Add(time.Hour)))
	events := az.UsageEvents()
	if len(events) != 1 || events[0].Dimension != "signatures_overage" || events[0].Quantity != 3 || !events[0].Hour.Equal(first.Add(time.Hour)) {
		t.Fatalf("usage events: %+v", events)
	}
	records, err := st.ListMeterRecords(ctx, sub.ID, store.PageRequest{})
	if err != nil || len(records.Items) != 2 || records.Items[1].Status != marketplace.MeterSent || records.Items[1].Attempts != 2 {
		t.Fatalf("meter records: %+v %v", records.Items, err)
	}
}
