package local_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/local"
	"github.com/opensignum/signum/lib/marketplace"
	"github.com/opensignum/signum/lib/marketstandin"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// awsDeployment is a deployment registered from AWS Marketplace by a new buyer in account
// (standard plan) on domain, with the customer the stand-in made.
func awsDeployment(t *testing.T, srv *local.Server, account, domain string) (marketplace.AWSCustomer, registered) {
	t.Helper()
	c := client{t: t, srv: srv}
	token, customer := srv.Stack.AWSMarket.Subscribe(account, "prodcode-signum", "standard", 1)
	var tk marketTicket
	c.do("POST", "/marketplace/aws/register", map[string]string{"x-amzn-marketplace-token": token}).must(t, 201, "resolve").json(t, &tk)
	var reg registered
	c.do("POST", "/marketplace/registrations", map[string]string{"ticket": tk.Ticket, "domainName": domain, "adminEmail": "owner@" + domain}).
		must(t, 201, "register").json(t, &reg)
	return customer, reg
}

// azureDeployment is a deployment registered from Azure Marketplace (standard plan) on
// domain, with the Azure subscription's id.
func azureDeployment(t *testing.T, srv *local.Server, domain, email string) (string, registered) {
	t.Helper()
	c := client{t: t, srv: srv}
	token, subID := srv.Stack.AzureMarket.Subscribe("Contoso", "signum-saas", "standard", 0, email)
	var tk marketTicket
	c.do("POST", "/marketplace/azure/resolve", map[string]string{"token": token}).must(t, 201, "resolve").json(t, &tk)
	var reg registered
	c.do("POST", "/marketplace/registrations", map[string]string{"ticket": tk.Ticket, "domainName": domain, "adminEmail": email}).
		must(t, 201, "register").json(t, &reg)
	return subID, reg
}

// meterRecords are the metering records of the AWS customer's subscription, newest first.
func meterRecords(t *testing.T, st *store.Store, customer marketplace.AWSCustomer) []marketplace.MeterRecord {
	t.Helper()
	sub, err := st.SubscriptionByLookup(context.Background(), []string{marketplace.AWSKey(customer.AWSAccountID, customer.LicenseARN)})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := st.ListMeterRecords(context.Background(), sub.ID, store.PageRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return recs.Items
}

// meter runs the hourly function for the tick at, n times, and returns the last error.
func meter(srv *local.Server, at time.Time, n int) error {
	var err error
	for range n {
		_, err = srv.Events["MarketplaceMeteringFunction"](context.Background(), scheduled(at))
	}
	return err
}

// TestMeteringResendsTheFinalRecord: the final record of a cancelled subscription whose send
// failed is sent again by a later run.
func TestMeteringResendsTheFinalRecord(t *testing.T) {
	srv := startLocal(t)
	aws := srv.Stack.AWSMarket
	st := marketStore(srv)
	customer, reg := awsDeployment(t, srv, "999922223333", "fin.localhost")
	_, signer, certID := marketSigner(t, srv, reg, "fin.localhost", "owner@fin.localhost")
	sign(signer, certID, 4).must(t, 200, "sign")
	invokeEvent(t, srv, "MarketplaceAwsEventsFunction", eventBridge("License Deprovisioned - Manufacturer", time.Now().UTC(), map[string]any{
		"product": map[string]any{"code": customer.ProductCode}, "license": map[string]any{"arn": customer.LicenseARN}}))
	if d := deploymentState(t, st, reg.Deployment.ID); d.Status != tenant.StatusCancelled {
		t.Fatalf("not cancelled: %s", d.Status)
	}
	tick := time.Now().UTC().Truncate(time.Hour).Add(-time.Hour + 5*time.Minute)
	// Every attempt of one run fails (the SDK makes 3).
	aws.FailNext("AWSMPMeteringService.BatchMeterUsage", 3)
	if err := meter(srv, tick, 1); err == nil {
		t.Fatal("a run that could not reach AWS reported success")
	}
	if err := meter(srv, tick.Add(time.Hour), 1); err != nil {
		t.Fatal(err)
	}
	recs := meterRecords(t, st, customer)
	if len(aws.MeterRecords()) == 0 || len(recs) != 1 || !recs[0].Final || recs[0].Status != marketplace.MeterSent {
		t.Fatalf("the final usage was not sent again: AWS has %+v; records %+v", aws.MeterRecords(), recs)
	}
}

// TestMeteringResendsUnprocessedRecords: records AWS leaves unprocessed (its advice: retry)
// stay pending and are sent by the next run, so every signature is billed.
func TestMeteringResendsUnprocessedRecords(t *testing.T) {
	srv := startLocal(t)
	aws := srv.Stack.AWSMarket
	_, reg := awsDeployment(t, srv, "999922224444", "unp.localhost")
	_, signer, certID := marketSigner(t, srv, reg, "unp.localhost", "owner@unp.localhost")
	sign(signer, certID, 7).must(t, 200, "sign")
	aws.UnprocessNext(2)
	tick := time.Now().UTC().Truncate(time.Hour).Add(-time.Hour + 5*time.Minute)
	if err := meter(srv, tick, 1); err == nil {
		t.Fatal("a run with unprocessed records reported success")
	}
	if err := meter(srv, tick.Add(time.Hour), 1); err != nil {
		t.Fatal(err)
	}
	var sigs int64
	for _, r := range aws.MeterRecords() {
		if r.Dimension == "signatures" {
			sigs += r.Quantity
		}
	}
	if sigs != 7 {
		t.Fatalf("AWS billed %d of 7 signatures", sigs)
	}
}

// TestRejectedAzureChangeStaysRejected: a rejected Azure ChangePlan whose webhook comes again
// (our applied mark lost after the PATCH: a throttle, a timeout) is not applied.
func TestRejectedAzureChangeStaysRejected(t *testing.T) {
	srv := startLocal(t)
	az := srv.Stack.AzureMarket
	st := marketStore(srv)
	c := client{t: t, srv: srv}
	subID, reg := azureDeployment(t, srv, "rej.localhost", "b@contoso.example")
	good := az.WebhookToken(marketstandin.AzureWebhookTokenOptions{})
	op := az.StartOperation(subID, "ChangePlan", "enterprise-eu", 20)
	var out struct{ Outcome string }
	c.do("POST", "/marketplace/azure/webhook", string(op.Body), "Authorization", "Bearer "+good).must(t, 200, "hook").json(t, &out)
	if out.Outcome != "rejected" {
		t.Fatalf("first delivery: %s", out.Outcome)
	}
	_, err := srv.Clients.DynamoDB.DeleteItem(context.Background(), &dynamodb.DeleteItemInput{TableName: &srv.Config.TableName,
		Key: map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "MKTEVENT#azure-op:" + strings.ToLower(op.ID)}, "SK": &types.AttributeValueMemberS{Value: "MKTEVENT"}}})
	if err != nil {
		t.Fatal(err)
	}
	c.do("POST", "/marketplace/azure/webhook", string(op.Body), "Authorization", "Bearer "+good).must(t, 200, "hook again").json(t, &out)
	if d := deploymentState(t, st, reg.Deployment.ID); d.Plan == "enterprise-eu" || out.Outcome != "rejected" {
		t.Fatalf("the rejected cross-region ChangePlan was applied on redelivery: %s, plan %s, region %s", out.Outcome, d.Plan, d.Region)
	}
}

// TestRefusedRecordDoesNotBlockMetering: a pending record AWS will never take (too old after
// an outage longer than its window) is rejected, and the hours after it are metered.
func TestRefusedRecordDoesNotBlockMetering(t *testing.T) {
	srv := startLocal(t)
	aws := srv.Stack.AWSMarket
	st := marketStore(srv)
	customer, reg := awsDeployment(t, srv, "999922225555", "poi.localhost")
	_, signer, certID := marketSigner(t, srv, reg, "poi.localhost", "owner@poi.localhost")
	sign(signer, certID, 3).must(t, 200, "sign")
	aws.FailNext("AWSMPMeteringService.BatchMeterUsage", 3)
	tick := time.Now().UTC().Truncate(time.Hour).Add(-time.Hour + 5*time.Minute)
	if err := meter(srv, tick, 1); err == nil {
		t.Fatal("a run that could not reach AWS reported success")
	}
	// AWS is back, 30 hours later: the pending hour is out of its window.
	later := time.Now().Add(30 * time.Hour)
	aws.SetClock(func() time.Time { return later })
	sign(signer, certID, 5).must(t, 200, "sign")
	_ = meter(srv, tick.Add(time.Hour), 1)
	_ = meter(srv, tick.Add(2*time.Hour), 1)
	recs := meterRecords(t, st, customer)
	if len(recs) < 2 || recs[len(recs)-1].Status != marketplace.MeterRejected {
		t.Fatalf("metering stuck on one pending hour, or the refused hour not recorded: %+v", recs)
	}
}

// TestLateSuspendAfterReinstate: Azure's Suspend then Reinstate, delivered in the other order
// (the Suspend's first delivery failed and Azure retried it): the newer Reinstate wins.
func TestLateSuspendAfterReinstate(t *testing.T) {
	srv := startLocal(t)
	az := srv.Stack.AzureMarket
	st := marketStore(srv)
	c := client{t: t, srv: srv}
	subID, reg := azureDeployment(t, srv, "ord.localhost", "b@contoso.example")
	good := az.WebhookToken(marketstandin.AzureWebhookTokenOptions{})
	susp := az.StartOperation(subID, "Suspend", "", 0)
	time.Sleep(10 * time.Millisecond)
	rein := az.StartOperation(subID, "Reinstate", "", 0)
	c.do("POST", "/marketplace/azure/webhook", string(rein.Body), "Authorization", "Bearer "+good).must(t, 200, "reinstate")
	c.do("POST", "/marketplace/azure/webhook", string(susp.Body), "Authorization", "Bearer "+good).must(t, 200, "late suspend")
	if d := deploymentState(t, st, reg.Deployment.ID); d.Status != tenant.StatusActive {
		t.Fatalf("the older Suspend overrode the newer Reinstate: %s", d.Status)
	}
}
