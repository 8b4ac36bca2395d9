package local_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/marketplace"
	"github.com/opensignum/signum/lib/marketstandin"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// REPRO 1: the final record of a cancelled subscription is never sent again after a failed send.
func TestMeteringResendsTheFinalRecord(t *testing.T) {
	srv := startLocal(t)
	aws := srv.Stack.AWSMarket
	st := marketStore(srv)
	c := client{t: t, srv: srv}
	token, customer := aws.Subscribe("999922223333", "prodcode-signum", "standard", 1)
	var tk marketTicket
	c.do("POST", "/marketplace/aws/register", map[string]string{"x-amzn-marketplace-token": token}).must(t, 201, "resolve").json(t, &tk)
	var reg registered
	c.do("POST", "/marketplace/registrations", map[string]string{"ticket": tk.Ticket, "domainName": "fin.localhost", "adminEmail": "o@fin.example"}).must(t, 201, "register").json(t, &reg)
	_, signer, certID := marketSigner(t, srv, reg, "fin.localhost", "o@fin.example")
	sign(signer, certID, 4).must(t, 200, "sign")
	t0 := time.Now().UTC().Truncate(time.Hour).Add(-3 * time.Hour)
	invokeEvent(t, srv, "MarketplaceAwsEventsFunction", eventBridge("License Deprovisioned - Manufacturer", time.Now().UTC(), map[string]any{
		"product": map[string]any{"code": customer.ProductCode}, "license": map[string]any{"arn": customer.LicenseARN}}))
	if d := deploymentState(t, st, reg.Deployment.ID); d.Status != tenant.StatusCancelled {
		t.Fatalf("not cancelled: %s", d.Status)
	}
	aws.FailNext("AWSMPMeteringService.BatchMeterUsage", 20)
	tick := t0.Add(2*time.Hour + 5*time.Minute)
	if _, err := srv.Events["MarketplaceMeteringFunction"](context.Background(), scheduled(tick)); err == nil {
		t.Log("first run reported success?")
	}
	aws.FailNext("AWSMPMeteringService.BatchMeterUsage", 0)
	// drain remaining failures
	for i := 0; i < 30; i++ {
		_, _ = srv.Events["MarketplaceMeteringFunction"](context.Background(), scheduled(tick))
	}
	invokeEvent(t, srv, "MarketplaceMeteringFunction", scheduled(tick.Add(time.Hour)))
	sub, _ := st.SubscriptionByLookup(context.Background(), []string{marketplace.AWSKey(customer.AWSAccountID, customer.LicenseARN)})
	recs, _ := st.ListMeterRecords(context.Background(), sub.ID, store.PageRequest{})
	for _, r := range recs.Items {
		t.Logf("record hour=%s status=%s final=%v attempts=%d", r.Hour, r.Status, r.Final, r.Attempts)
	}
	t.Logf("AWS accepted records: %+v", aws.MeterRecords())
	if len(aws.MeterRecords()) == 0 {
		t.Errorf("REPRODUCED: final usage never sent (sub.Metered.Final=%v)", sub.Metered.Final)
	}
}

// REPRO 2: a record AWS leaves Unprocessed (retry advised) is recorded as rejected and never sent again.
func TestMeteringResendsUnprocessedRecords(t *testing.T) {
	srv := startLocal(t)
	aws := srv.Stack.AWSMarket
	st := marketStore(srv)
	c := client{t: t, srv: srv}
	token, customer := aws.Subscribe("999922224444", "prodcode-signum", "standard", 1)
	var tk marketTicket
	c.do("POST", "/marketplace/aws/register", map[string]string{"x-amzn-marketplace-token": token}).must(t, 201, "resolve").json(t, &tk)
	var reg registered
	c.do("POST", "/marketplace/registrations", map[string]string{"ticket": tk.Ticket, "domainName": "unp.localhost", "adminEmail": "o@unp.example"}).must(t, 201, "register").json(t, &reg)
	_, signer, certID := marketSigner(t, srv, reg, "unp.localhost", "o@unp.example")
	sign(signer, certID, 7).must(t, 200, "sign")
	aws.UnprocessNext(2)
	tick := time.Now().UTC().Truncate(time.Hour).Add(-time.Hour + 5*time.Minute)
	_, _ = srv.Events["MarketplaceMeteringFunction"](context.Background(), scheduled(tick))
	invokeEvent(t, srv, "MarketplaceMeteringFunction", scheduled(tick.Add(time.Hour)))
	sub, _ := st.SubscriptionByLookup(context.Background(), []string{marketplace.AWSKey(customer.AWSAccountID, customer.LicenseARN)})
	recs, _ := st.ListMeterRecords(context.Background(), sub.ID, store.PageRequest{})
	for _, r := range recs.Items {
		t.Logf("record hour=%s status=%s attempts=%d results=%+v", r.Hour, r.Status, r.Attempts, r.Results)
	}
	var sigs int64
	for _, r := range aws.MeterRecords() {
		if r.Dimension == "signatures" {
			sigs += r.Quantity
		}
	}
	if sigs != 7 {
		t.Errorf("REPRODUCED: AWS billed %d of 7 signatures", sigs)
	}
}

// REPRO 3: a rejected Azure ChangePlan is applied when its webhook is delivered again after
// the PATCH went out but the applied mark was lost.
func TestRejectedAzureChangeStaysRejected(t *testing.T) {
	srv := startLocal(t)
	az := srv.Stack.AzureMarket
	st := marketStore(srv)
	c := client{t: t, srv: srv}
	token, subID := az.Subscribe("Contoso", "signum-saas", "standard", 0, "b@contoso.example")
	var tk marketTicket
	c.do("POST", "/marketplace/azure/resolve", map[string]string{"token": token}).must(t, 201, "resolve").json(t, &tk)
	var reg registered
	c.do("POST", "/marketplace/registrations", map[string]string{"ticket": tk.Ticket, "domainName": "rej.localhost", "adminEmail": "b@contoso.example"}).must(t, 201, "register").json(t, &reg)
	good := az.WebhookToken(marketstandin.AzureWebhookTokenOptions{})
	op := az.StartOperation(subID, "ChangePlan", "enterprise-eu", 20)
	var out struct{ Outcome string }
	c.do("POST", "/marketplace/azure/webhook", string(op.Body), "Authorization", "Bearer "+good).must(t, 200, "hook").json(t, &out)
	if out.Outcome != "rejected" {
		t.Fatalf("first: %s", out.Outcome)
	}
	// The applied mark is lost (MarkEventApplied failed after the PATCH: throttle, timeout).
	_, err := srv.Clients.DynamoDB.DeleteItem(context.Background(), &dynamodb.DeleteItemInput{TableName: &srv.Config.TableName,
		Key: map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "MKTEVENT#azure-op:" + strings.ToLower(op.ID)}, "SK": &types.AttributeValueMemberS{Value: "MKTEVENT"}}})
	if err != nil {
		t.Fatal(err)
	}
	out.Outcome = ""
	c.do("POST", "/marketplace/azure/webhook", string(op.Body), "Authorization", "Bearer "+good).must(t, 200, "hook again").json(t, &out)
	d := deploymentState(t, st, reg.Deployment.ID)
	t.Logf("second delivery: %s; deployment plan %s region %s", out.Outcome, d.Plan, d.Region)
	if d.Plan == "enterprise-eu" {
		t.Errorf("REPRODUCED: the rejected cross-region ChangePlan was applied (plan %s, region %s)", d.Plan, d.Region)
	}
}

var _ = fmt.Sprint
var _ = awssdk.String

// REPRO 4: a pending record the marketplace will never take (TimestampOutOfBounds after an
// outage longer than AWS's window) blocks every later hour of the subscription for ever.
func TestRefusedRecordDoesNotBlockMetering(t *testing.T) {
	srv := startLocal(t)
	aws := srv.Stack.AWSMarket
	st := marketStore(srv)
	c := client{t: t, srv: srv}
	token, customer := aws.Subscribe("999922225555", "prodcode-signum", "standard", 1)
	var tk marketTicket
	c.do("POST", "/marketplace/aws/register", map[string]string{"x-amzn-marketplace-token": token}).must(t, 201, "resolve").json(t, &tk)
	var reg registered
	c.do("POST", "/marketplace/registrations", map[string]string{"ticket": tk.Ticket, "domainName": "poi.localhost", "adminEmail": "o@poi.example"}).must(t, 201, "register").json(t, &reg)
	_, signer, certID := marketSigner(t, srv, reg, "poi.localhost", "o@poi.example")
	sign(signer, certID, 3).must(t, 200, "sign")
	aws.FailNext("AWSMPMeteringService.BatchMeterUsage", 50)
	tick := time.Now().UTC().Truncate(time.Hour).Add(-time.Hour + 5*time.Minute)
	for i := 0; i < 12; i++ {
		_, _ = srv.Events["MarketplaceMeteringFunction"](context.Background(), scheduled(tick))
	}
	later := time.Now().Add(30 * time.Hour)
	aws.SetClock(func() time.Time { return later })
	sign(signer, certID, 5).must(t, 200, "sign")
	for i := 0; i < 12; i++ {
		_, _ = srv.Events["MarketplaceMeteringFunction"](context.Background(), scheduled(tick))
	}
	for i := 1; i <= 3; i++ {
		_, err := srv.Events["MarketplaceMeteringFunction"](context.Background(), scheduled(tick.Add(time.Duration(i)*time.Hour)))
		t.Logf("run +%dh: err=%v", i, err)
	}
	sub, _ := st.SubscriptionByLookup(context.Background(), []string{marketplace.AWSKey(customer.AWSAccountID, customer.LicenseARN)})
	recs, _ := st.ListMeterRecords(context.Background(), sub.ID, store.PageRequest{})
	for _, r := range recs.Items {
		t.Logf("record hour=%s status=%s attempts=%d", r.Hour, r.Status, r.Attempts)
	}
	if len(recs.Items) == 1 {
		t.Errorf("REPRODUCED: metering stuck on one pending hour; cursor %s", sub.Metered.Hour)
	}
}

// REPRO 5: Azure Suspend (t1) then Reinstate (t2), delivered in the other order (the Suspend's
// first delivery failed and Azure retried it): the older Suspend wins.
func TestLateSuspendAfterReinstate(t *testing.T) {
	srv := startLocal(t)
	az := srv.Stack.AzureMarket
	st := marketStore(srv)
	c := client{t: t, srv: srv}
	token, subID := az.Subscribe("Contoso", "signum-saas", "standard", 0, "b@contoso.example")
	var tk marketTicket
	c.do("POST", "/marketplace/azure/resolve", map[string]string{"token": token}).must(t, 201, "resolve").json(t, &tk)
	var reg registered
	c.do("POST", "/marketplace/registrations", map[string]string{"ticket": tk.Ticket, "domainName": "ord.localhost", "adminEmail": "b@contoso.example"}).must(t, 201, "register").json(t, &reg)
	good := az.WebhookToken(marketstandin.AzureWebhookTokenOptions{})
	susp := az.StartOperation(subID, "Suspend", "", 0)
	time.Sleep(10 * time.Millisecond)
	rein := az.StartOperation(subID, "Reinstate", "", 0)
	var out struct{ Outcome string }
	c.do("POST", "/marketplace/azure/webhook", string(rein.Body), "Authorization", "Bearer "+good).must(t, 200, "reinstate").json(t, &out)
	t.Logf("reinstate first: %s", out.Outcome)
	c.do("POST", "/marketplace/azure/webhook", string(susp.Body), "Authorization", "Bearer "+good).must(t, 200, "late suspend").json(t, &out)
	t.Logf("late suspend: %s", out.Outcome)
	s, _ := az.Subscription(subID)
	d := deploymentState(t, st, reg.Deployment.ID)
	t.Logf("azure status %s; deployment %s", s.Status, d.Status)
	if d.Status == tenant.StatusSuspended {
		t.Errorf("REPRODUCED: the older Suspend overrode the newer Reinstate (Azure says %s)", s.Status)
	}
}
