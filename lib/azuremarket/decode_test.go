package azuremarket

import (
	"errors"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/marketplace"
)

const (
	subID = "37f9dea2-4345-438f-b0bd-03d40d28c7e0"
	opID  = "5c1fa3e0-8d49-4a8f-9a0e-6b2a8f0c4d11"
)

// webhookRenew is Microsoft's documented Renew webhook body, with its ids filled in.
const webhookRenew = `{
    "id": "5C1FA3E0-8D49-4A8F-9A0E-6B2A8F0C4D11",
    "activityId": "9a1b2c3d-0000-4000-8000-000000000001",
    "publisherId": "contoso",
    "offerId": "offer1",
    "planId": "plan1",
    "quantity": 1,
    "subscriptionId": "37f9dea2-4345-438f-b0bd-03d40d28c7e0",
    "timeStamp": "2021-12-04T19:48:06.7054737Z",
    "action": "Renew",
    "status": "Succeeded",
    "operationRequestSource": "Azure",
    "subscription": {
        "id": "37f9dea2-4345-438f-b0bd-03d40d28c7e0",
        "name": "name",
        "planId": "planId",
        "quantity": null,
        "beneficiary": {"emailId": "XXX@gmail.com", "objectId": "<guid>", "tenantId": "<guid>", "puid": null},
        "saasSubscriptionStatus": "Subscribed",
        "term": {"startDate": "2021-12-04T00:00:00Z", "endDate": "2022-01-03T00:00:00Z", "termUnit": "P1M", "chargeDuration": null},
        "autoRenew": true
    },
    "purchaseToken": null
}`

func TestDecodeWebhook(t *testing.T) {
	ts := time.Date(2019, 4, 15, 20, 17, 31, 735064100, time.UTC)
	for name, c := range map[string]struct {
		body string
		want marketplace.AzureOperation
	}{
		"ok/renew-documented": {webhookRenew, marketplace.AzureOperation{ID: opID, SubscriptionID: subID, Action: "Renew", PlanID: "plan1", Quantity: 1, Status: "Succeeded",
			TimeStamp: time.Date(2021, 12, 4, 19, 48, 6, 705473700, time.UTC)}},
		"ok/quantity-padded-string": {`{"id":"` + opID + `","subscriptionId":"` + subID + `","planId":"silver","quantity":" 25","timeStamp":"2019-04-15T20:17:31.7350641Z","action":"ChangeQuantity","status":"Success"}`,
			marketplace.AzureOperation{ID: opID, SubscriptionID: subID, Action: "ChangeQuantity", PlanID: "silver", Quantity: 25, Status: "Succeeded", TimeStamp: ts}},
		"ok/odd-case-and-spaces": {`{"ID":"` + opID + `","SubscriptionID":" ` + subID + ` ","planId":" gold ","quantity":"20","timeStamp":" 2019-04-15T20:17:31.7350641Z ","action":"  reinstate ","status":"In Progress","future":{"x":1}}`,
			marketplace.AzureOperation{ID: opID, SubscriptionID: subID, Action: "Reinstate", PlanID: "gold", Quantity: 20, Status: "InProgress", TimeStamp: ts}},
		"ok/padded-key": {`{"id  ":"` + opID + `","subscriptionId":"` + subID + `","action":"CHANGEPLAN","quantity":"","timeStamp":"2018-12-01T00:00:00"}`,
			marketplace.AzureOperation{ID: opID, SubscriptionID: subID, Action: "ChangePlan", TimeStamp: time.Date(2018, 12, 1, 0, 0, 0, 0, time.UTC)}},
		"ok/quantity-float": {`{"id":"` + opID + `","subscriptionId":"` + subID + `","action":"ChangeQuantity","quantity":5.0}`,
			marketplace.AzureOperation{ID: opID, SubscriptionID: subID, Action: "ChangeQuantity", Quantity: 5}},
		"ok/old-operationType": {`{"id":"` + opID + `","subscriptionId":"` + subID + `","operationType":"Reinstate"}`,
			marketplace.AzureOperation{ID: opID, SubscriptionID: subID, Action: "Reinstate"}},
		"ok/unknown-action-kept": {`{"id":"` + opID + `","subscriptionId":"` + subID + `","action":" Transfer "}`,
			marketplace.AzureOperation{ID: opID, SubscriptionID: subID, Action: "Transfer"}},
	} {
		got, err := DecodeWebhook([]byte(c.body))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got != c.want {
			t.Errorf("%s:\n got %+v\nwant %+v", name, got, c.want)
		}
	}
	for name, body := range map[string]string{
		"fail/not-json":          `{"id":`,
		"fail/array":             `[1]`,
		"fail/null":              `null`,
		"fail/no-id":             `{"subscriptionId":"` + subID + `","action":"Suspend"}`,
		"fail/id-not-guid":       `{"id":"../../x","subscriptionId":"` + subID + `","action":"Suspend"}`,
		"fail/no-subscription":   `{"id":"` + opID + `","action":"Suspend"}`,
		"fail/sub-not-guid":      `{"id":"` + opID + `","subscriptionId":"abc","action":"Suspend"}`,
		"fail/no-action":         `{"id":"` + opID + `","subscriptionId":"` + subID + `"}`,
		"fail/action-object":     `{"id":"` + opID + `","subscriptionId":"` + subID + `","action":{}}`,
		"fail/quantity-word":     `{"id":"` + opID + `","subscriptionId":"` + subID + `","action":"ChangeQuantity","quantity":"many"}`,
		"fail/quantity-negative": `{"id":"` + opID + `","subscriptionId":"` + subID + `","action":"ChangeQuantity","quantity":-1}`,
		"fail/quantity-fraction": `{"id":"` + opID + `","subscriptionId":"` + subID + `","action":"ChangeQuantity","quantity":"2.5"}`,
		"fail/quantity-huge":     `{"id":"` + opID + `","subscriptionId":"` + subID + `","action":"ChangeQuantity","quantity":1e300}`,
		"fail/timestamp":         `{"id":"` + opID + `","subscriptionId":"` + subID + `","action":"Suspend","timeStamp":"yesterday"}`,
	} {
		_, err := DecodeWebhook([]byte(body))
		if !errors.Is(err, fault.ErrInvalid) {
			t.Errorf("%s: error %v, want fault.ErrInvalid", name, err)
		}
	}
	if _, err := DecodeWebhook(make([]byte, MaxWebhookBody+1)); !errors.Is(err, fault.ErrInvalid) {
		t.Errorf("fail/too-large: %v", err)
	}
}

func TestKindOf(t *testing.T) {
	for action, want := range map[string]marketplace.Kind{
		"ChangePlan": marketplace.KindPlan, "changequantity": marketplace.KindPlan, " Renew ": marketplace.KindPlan,
		"SUSPEND": marketplace.KindSuspend, "Reinstate": marketplace.KindReinstate, "un subscribe": marketplace.KindUnsubscribe,
	} {
		if got, ok := KindOf(action); !ok || got != want {
			t.Errorf("ok/%q: %q %v, want %q", action, got, ok, want)
		}
	}
	for _, action := range []string{"", "Subscribe", "Transfer", "Renewal"} {
		if got, ok := KindOf(action); ok {
			t.Errorf("fail/%q: %q", action, got)
		}
	}
}

func TestDecodeSubscription(t *testing.T) {
	// The resolve answer as documented: the summary at the top, details nested, the status
	// padded.
	resolve := `{
  "id": "37F9DEA2-4345-438F-B0BD-03D40D28C7E0",
  "subscriptionName": "Contoso Cloud Solution",
  "offerId": "offer1",
  "planId": "silver",
  "quantity": "20",
  "subscription": {
    "id": "37f9dea2-4345-438f-b0bd-03d40d28c7e0",
    "publisherId": "contoso",
    "offerId": "offer1",
    "name": "Contoso Cloud Solution",
    "saasSubscriptionStatus": " PendingFulfillmentStart ",
    "beneficiary": {"emailId": "ben@test.com", "objectId": "<guid>", "tenantId": "<guid>", "pid": "<ID of the user>"},
    "purchaser": {"emailId": "test@test.com", "objectId": "<guid>", "tenantId": "A1B2C3D4-0000-4000-8000-000000000002", "pid": "<ID of the user>"},
    "planId": "silver",
    "term": {"termUnit": "P1M", "startDate": "2019-05-31", "endDate": "2019-06-29"},
    "isTest": true, "isFreeTrial": false, "allowedCustomerOperations": ["Delete", "Update", "Read"], "sandboxType": "None", "sessionMode": "None"
  }
}`
	// The get answer: all at the top.
	get := `{"id": "37f9dea2-4345-438f-b0bd-03d40d28c7e0", "name": "Contoso", "publisherId": "contoso", "offerId": "offer1", "planId": "gold",
  "quantity": 10, "purchaser": {"emailId": "p@test.com", "tenantId": "t"}, "saasSubscriptionStatus": "subscribed", "term": {}}`
	for name, c := range map[string]struct {
		body string
		want marketplace.AzureSubscription
	}{
		"ok/resolve": {resolve, marketplace.AzureSubscription{ID: subID, Name: "Contoso Cloud Solution", OfferID: "offer1", PlanID: "silver", Quantity: 20,
			Status: "PendingFulfillmentStart", PurchaserEmail: "test@test.com", PurchaserTenant: "a1b2c3d4-0000-4000-8000-000000000002", BeneficiaryEmail: "ben@test.com"}},
		"ok/get": {get, marketplace.AzureSubscription{ID: subID, Name: "Contoso", OfferID: "offer1", PlanID: "gold", Quantity: 10, Status: "Subscribed", PurchaserEmail: "p@test.com", PurchaserTenant: "t"}},
		"ok/nested-only": {`{"subscription": {"id": "` + subID + `", "planId": "gold", "quantity": "3", "saasSubscriptionStatus": "Suspended"}}`,
			marketplace.AzureSubscription{ID: subID, PlanID: "gold", Quantity: 3, Status: "Suspended"}},
	} {
		got, err := decodeSubscription([]byte(c.body))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got != c.want {
			t.Errorf("%s:\n got %+v\nwant %+v", name, got, c.want)
		}
	}
	for name, body := range map[string]string{
		"fail/no-id":            `{"planId": "gold"}`,
		"fail/subscription-str": `{"id": "` + subID + `", "subscription": "x"}`,
		"fail/purchaser-array":  `{"id": "` + subID + `", "purchaser": []}`,
		"fail/quantity":         `{"id": "` + subID + `", "quantity": true}`,
		"fail/empty":            ``,
	} {
		if _, err := decodeSubscription([]byte(body)); !errors.Is(err, fault.ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestLandingToken(t *testing.T) {
	const tok = "ab+cd/ef=="
	for in, want := range map[string]string{
		tok:                  tok,
		"ab%2Bcd%2Fef%3D%3D": tok,
		" ab cd/ef== ":       tok, // a form decoder turned the + into a space
		"ab%2bcd%2fef%3d%3d": tok,
		"%zz":                "%zz",
	} {
		if got := landingToken(in); got != want {
			t.Errorf("landingToken(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestGUID(t *testing.T) {
	for _, s := range []string{subID, " 37F9DEA2-4345-438F-B0BD-03D40D28C7E0 ", newGUID()} {
		if _, ok := NormalizeGUID(s); !ok {
			t.Errorf("ok/%q refused", s)
		}
	}
	for _, s := range []string{"", "37f9dea2-4345-438f-b0bd-03d40d28c7e", "37f9dea2x4345-438f-b0bd-03d40d28c7e0", "{37f9dea2-4345-438f-b0bd-03d40d28c7e0}", "37f9dea2-4345-438f-b0bd-03d40d28c7eg"} {
		if _, ok := NormalizeGUID(s); ok {
			t.Errorf("fail/%q accepted", s)
		}
	}
	if a, b := newGUID(), newGUID(); a == b || a[14] != '4' {
		t.Errorf("newGUID: %s %s", a, b)
	}
}

// FuzzDecodeWebhook: any body decodes or is refused as invalid, never panics, and what
// decodes names GUIDs and a quantity in range.
func FuzzDecodeWebhook(f *testing.F) {
	f.Add([]byte(webhookRenew))
	f.Add([]byte(`{"id":"` + opID + `","subscriptionId":"` + subID + `","quantity":" 25","action":"ChangeQuantity","status":"In Progress","timeStamp":"2019-04-15T20:17:31.7350641Z"}`))
	f.Add([]byte(`{"ID ":"` + opID + `","subscriptionid":"` + subID + `","operationType":"reinstate","quantity":5.0}`))
	f.Add([]byte(`{"id":null,"id ":"x"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		op, err := DecodeWebhook(body)
		if err != nil {
			if !errors.Is(err, fault.ErrInvalid) {
				t.Fatalf("error %v is not invalid", err)
			}
			return
		}
		if !isGUID(op.ID) || !isGUID(op.SubscriptionID) || op.Action == "" || op.Quantity < 0 || op.Quantity > MaxQuantity {
			t.Fatalf("decoded %+v", op)
		}
	})
}

// FuzzDecodeSubscription: the resolve and get answers' decoder.
func FuzzDecodeSubscription(f *testing.F) {
	f.Add([]byte(`{"id":"` + subID + `","subscriptionName":"n","quantity":"20","subscription":{"saasSubscriptionStatus":" Subscribed ","purchaser":{"emailId":"e","tenantId":"t"}}}`))
	f.Add([]byte(`{"subscription":{"id":"` + subID + `","quantity":3}}`))
	f.Add([]byte(`{"id":"` + subID + `","purchaser":null,"quantity":""}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		s, err := decodeSubscription(body)
		if err != nil {
			if !errors.Is(err, fault.ErrInvalid) {
				t.Fatalf("error %v is not invalid", err)
			}
			return
		}
		if !isGUID(s.ID) || s.Quantity < 0 || s.Quantity > MaxQuantity {
			t.Fatalf("decoded %+v", s)
		}
	})
}

// FuzzDecodeOperation: the operations API's answer (also used for the webhook).
func FuzzDecodeOperation(f *testing.F) {
	f.Add([]byte(`{"id  ":"` + opID + `","subscriptionId":"` + subID + `","action":"ChangePlan","timeStamp":"2018-12-01T00:00:00","status":"InProgress","errorStatusCode":"","errorMessage":""}`))
	f.Add([]byte(`{"id":"` + opID + `","timeStamp":"2026-12-01"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		op, err := decodeOperation(body)
		if err != nil {
			if !errors.Is(err, fault.ErrInvalid) {
				t.Fatalf("error %v is not invalid", err)
			}
			return
		}
		if !isGUID(op.ID) || (op.SubscriptionID != "" && !isGUID(op.SubscriptionID)) || op.Quantity < 0 || op.Quantity > MaxQuantity {
			t.Fatalf("decoded %+v", op)
		}
	})
}
