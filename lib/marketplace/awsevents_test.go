package marketplace_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/marketplace"
)

// The identities the fixtures in events/marketplace-aws-events use.
const (
	fxAccount  = "111122223333"
	fxProduct  = "prodcode-signum-standard"
	fxLicense  = "arn:aws:license-manager::111122223333:license:l-0123456789abcdef0"
	fxCustomer = "cust-standin-1"
	fxAgmt     = "agmt-0123456789abcdef0"
	fxOffer    = "offer-0123456789abcd"
	fixtureDir = "../../events/marketplace-aws-events"
)

var sent = time.Date(2026, 12, 3, 14, 15, 0, 0, time.UTC)

// snsBody is an SQS body holding msg in an SNS envelope.
func snsBody(msg string) string {
	b, _ := json.Marshal(map[string]string{
		"Type": "Notification", "MessageId": "0b6fbd3c-4a4e-5b5a-9f8e-3c1b7a0c9e21",
		"TopicArn":  "arn:aws:sns:us-east-1:287250355862:aws-mp-subscription-notification-" + fxProduct,
		"Message":   msg,
		"Timestamp": "2026-12-03T14:15:00.123Z",
	})
	return string(b)
}

func TestDecodeSQSMessage(t *testing.T) {
	tru, fls := true, false
	newCustomer := `"customer-identifier":"cust-standin-1","product-code":"prodcode-signum-standard","customer-aws-account-id":"111122223333","license-arn":"` + fxLicense + `"`
	legacyRef := marketplace.Ref{CustomerIdentifier: fxCustomer, ProductCode: fxProduct}
	fullRef := marketplace.Ref{CustomerIdentifier: fxCustomer, ProductCode: fxProduct, AWSAccountID: fxAccount, LicenseARN: fxLicense}
	for name, c := range map[string]struct {
		body string
		want marketplace.Event
	}{
		"ok/sns-subscribe-success": {
			snsBody(`{"action":"subscribe-success",` + newCustomer + `,"offer-identifier":"offer-0123456789abcd","isFreeTrialTermPresent":"true"}`),
			marketplace.Event{ID: "aws-sns:0b6fbd3c-4a4e-5b5a-9f8e-3c1b7a0c9e21", Source: "aws-sns", Kind: marketplace.KindSubscribe,
				At: time.Date(2026, 12, 3, 14, 15, 0, 123e6, time.UTC), Ref: fullRef, OfferID: fxOffer, FreeTrial: &tru, Detail: "subscribe-success"},
		},
		"ok/raw-legacy-customer": {
			`{"action":"unsubscribe-pending","customer-identifier":" cust-standin-1","product-code":"prodcode-signum-standard"}`,
			marketplace.Event{ID: "aws-sqs:m-1", Source: "aws-sns", Kind: marketplace.KindUnsubscribePending, At: sent, Ref: legacyRef, Detail: "unsubscribe-pending"},
		},
		"ok/raw-account-and-license-only": {
			`{"action":"entitlement-updated","customer-aws-account-id":"111122223333","license-arn":"` + fxLicense + `"}`,
			marketplace.Event{ID: "aws-sqs:m-1", Source: "aws-sns", Kind: marketplace.KindEntitlementChanged, At: sent,
				Ref: marketplace.Ref{AWSAccountID: fxAccount, LicenseARN: fxLicense}, Detail: "entitlement-updated"},
		},
		"ok/pascal-case-padded-upper-case-action": {
			`{"Action":" UNSUBSCRIBE-SUCCESS ","CustomerIdentifier":"cust-standin-1 ","ProductCode":" prodcode-signum-standard","IsFreeTrialTermPresent":false}`,
			marketplace.Event{ID: "aws-sqs:m-1", Source: "aws-sns", Kind: marketplace.KindUnsubscribe, At: sent, Ref: legacyRef, FreeTrial: &fls, Detail: "unsubscribe-success"},
		},
		"ok/camel-case": {
			`{"action":"subscribe-fail","customerIdentifier":"cust-standin-1","productCode":"prodcode-signum-standard"}`,
			marketplace.Event{ID: "aws-sqs:m-1", Source: "aws-sns", Kind: marketplace.KindSubscribeFail, At: sent, Ref: legacyRef, Detail: "subscribe-fail"},
		},
		"ok/same-key-twice-same-value": {
			`{"action":"subscribe-fail","customer-identifier":"cust-standin-1","CustomerIdentifier":" cust-standin-1","product-code":"prodcode-signum-standard"}`,
			marketplace.Event{ID: "aws-sqs:m-1", Source: "aws-sns", Kind: marketplace.KindSubscribeFail, At: sent, Ref: legacyRef, Detail: "subscribe-fail"},
		},
		"ok/account-as-number": {
			`{"action":"entitlement-updated","customer-aws-account-id":111122223333,"license-arn":"` + fxLicense + `"}`,
			marketplace.Event{ID: "aws-sqs:m-1", Source: "aws-sns", Kind: marketplace.KindEntitlementChanged, At: sent,
				Ref: marketplace.Ref{AWSAccountID: fxAccount, LicenseARN: fxLicense}, Detail: "entitlement-updated"},
		},
		"ok/unreadable-free-trial-flag-is-unsaid": {
			`{"action":"subscribe-success","customer-identifier":"cust-standin-1","product-code":"prodcode-signum-standard","isFreeTrialTermPresent":"maybe"}`,
			marketplace.Event{ID: "aws-sqs:m-1", Source: "aws-sns", Kind: marketplace.KindSubscribe, At: sent, Ref: legacyRef, Detail: "subscribe-success"},
		},
		"ok/envelope-message-as-object": {
			`{"Type":"Notification","MessageId":"x-1","Message":{"action":"subscribe-fail","customer-identifier":"cust-standin-1","product-code":"prodcode-signum-standard"}}`,
			marketplace.Event{ID: "aws-sns:x-1", Source: "aws-sns", Kind: marketplace.KindSubscribeFail, At: sent, Ref: legacyRef, Detail: "subscribe-fail"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := marketplace.DecodeSQSMessage("m-1", c.body, sent)
			if err != nil {
				t.Fatal(err)
			}
			assertEvent(t, got, c.want)
		})
	}
	for name, c := range map[string]struct {
		id, body string
		sentAt   time.Time
		reason   string
	}{
		"fail/not-json":                      {"m-1", `subscribe-success`, sent, "not a JSON object"},
		"fail/json-array":                    {"m-1", `[{"action":"subscribe-success"}]`, sent, "not a JSON object"},
		"fail/null":                          {"m-1", `null`, sent, "not a JSON object"},
		"fail/trailing-data":                 {"m-1", `{"action":"subscribe-fail","customer-identifier":"c","product-code":"p"} {}`, sent, "not a JSON object"},
		"fail/unknown-action":                {"m-1", `{"action":"subscribe-maybe","customer-identifier":"c","product-code":"p"}`, sent, `unknown action "subscribe-maybe"`},
		"fail/no-action":                     {"m-1", `{"customer-identifier":"c","product-code":"p"}`, sent, "no action"},
		"fail/action-not-string":             {"m-1", `{"action":1,"customer-identifier":"c","product-code":"p"}`, sent, "action is not a string"},
		"fail/no-customer":                   {"m-1", `{"action":"subscribe-success","offer-identifier":"offer-1"}`, sent, "names no customer"},
		"fail/identifier-without-code":       {"m-1", `{"action":"subscribe-success","customer-identifier":"c"}`, sent, "names no customer"},
		"fail/account-without-license":       {"m-1", `{"action":"subscribe-success","customer-aws-account-id":"111122223333"}`, sent, "names no customer"},
		"fail/blank-identity":                {"m-1", `{"action":"subscribe-success","customer-identifier":"  ","product-code":" "}`, sent, "names no customer"},
		"fail/identity-not-string":           {"m-1", `{"action":"subscribe-success","customer-identifier":{"id":"c"},"product-code":"p"}`, sent, "customeridentifier is not a string"},
		"fail/conflicting-keys":              {"m-1", `{"action":"subscribe-success","customer-identifier":"a","CustomerIdentifier":"b","product-code":"p"}`, sent, "customeridentifier twice"},
		"fail/account-not-digits":            {"m-1", `{"action":"subscribe-success","customer-aws-account-id":"1111-2222","license-arn":"l-1"}`, sent, "not digits"},
		"fail/identifier-too-long":           {"m-1", `{"action":"subscribe-success","customer-identifier":"` + strings.Repeat("c", 300) + `","product-code":"p"}`, sent, "longer than"},
		"fail/control-characters":            {"m-1", `{"action":"subscribe-success","customer-identifier":"c\u0000","product-code":"p"}`, sent, "control characters"},
		"fail/raw-without-message-id":        {" ", `{"action":"subscribe-fail","customer-identifier":"c","product-code":"p"}`, sent, "no id"},
		"fail/no-time":                       {"m-1", `{"action":"subscribe-fail","customer-identifier":"c","product-code":"p"}`, time.Time{}, "no time"},
		"fail/subscription-confirmation":     {"m-1", `{"Type":"SubscriptionConfirmation","MessageId":"x","Message":"You have chosen to subscribe"}`, sent, `"SubscriptionConfirmation", not a Notification`},
		"fail/envelope-without-id":           {"m-1", `{"Type":"Notification","Message":"{}"}`, sent, "no MessageId"},
		"fail/envelope-without-message":      {"m-1", `{"Type":"Notification","MessageId":"x"}`, sent, "no Message"},
		"fail/envelope-message-not-json":     {"m-1", snsBody(`{"action":"subscribe-success","customer-identifier":`), sent, "Message is not a JSON object"},
		"fail/envelope-bad-timestamp":        {"m-1", `{"Type":"Notification","MessageId":"x","Timestamp":"yesterday","Message":"{\"action\":\"subscribe-fail\",\"customer-identifier\":\"c\",\"product-code\":\"p\"}"}`, sent, `"yesterday" is not an RFC 3339 time`},
		"fail/eventbridge-of-another-source": {"m-1", `{"id":"e","detail-type":"Purchase Agreement Created - Proposer","source":"aws.marketplacecatalog","time":"2026-12-03T14:15:00Z","detail":{}}`, sent, "source"},
	} {
		t.Run(name, func(t *testing.T) {
			ev, err := marketplace.DecodeSQSMessage(c.id, c.body, c.sentAt)
			assertMalformed(t, ev, err, c.reason)
		})
	}
}

// TestDecodeSQSMessageEventBridge: a queue that an EventBridge rule feeds gets the event as
// the body; it decodes as DecodeEventBridge does, under the event's own id.
func TestDecodeSQSMessageEventBridge(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(fixtureDir, "eventbridge-license-updated.json"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := marketplace.DecodeSQSMessage("m-1", string(raw), sent)
	if err != nil {
		t.Fatal(err)
	}
	want, err := marketplace.DecodeEventBridge(raw)
	if err != nil {
		t.Fatal(err)
	}
	assertEvent(t, got, want)
	if !strings.HasPrefix(got.ID, "aws-eventbridge:") {
		t.Errorf("id %q", got.ID)
	}
}

// ebEvent is an agreement or license event with detail.
func ebEvent(detailType, detail string) string {
	return `{"version":"0","id":"12345678-1234-1234-1234-123456789012","detail-type":"` + detailType +
		`","source":"aws.agreement-marketplace","account":"444455556666","time":"2026-12-03T14:15:02Z","region":"us-east-1",` +
		`"resources":["arn:aws:aws-marketplace::aws:agreement:agmt-0123456789abcdef0"],"detail":` + detail + `}`
}

func TestDecodeEventBridge(t *testing.T) {
	agreement := `{"requestId":"r","catalog":"AWSMarketplace","agreement":{"id":"agmt-0123456789abcdef0","intent":"NEW","status":"ACTIVE"},` +
		`"resaleAuthorization":{"id":null},"acceptor":{"accountId":"111122223333"},"proposer":{"accountId":"444455556666"},"offer":{"id":"offer-0123456789abcd"}}`
	ended := func(status string) string {
		return `{"agreement":{"id":"agmt-0123456789abcdef0","status":"` + status + `"},"acceptor":{"accountId":"111122223333"},"offer":{"id":"offer-0123456789abcd"}}`
	}
	license := `{"agreement":{"id":"agmt-0123456789abcdef0"},"product":{"code":"prodcode-signum-standard","id":"prod-0123456789abc"},` +
		`"license":{"arn":"` + fxLicense + `"},"acceptor":{"accountId":"111122223333"},"offer":{"id":"offer-0123456789abcd"}}`
	at := time.Date(2026, 12, 3, 14, 15, 2, 0, time.UTC)
	agreementRef := marketplace.Ref{AgreementID: fxAgmt, AWSAccountID: fxAccount}
	licenseRef := marketplace.Ref{AgreementID: fxAgmt, AWSAccountID: fxAccount, LicenseARN: fxLicense, ProductCode: fxProduct}
	ev := func(kind marketplace.Kind, detailType string, ref marketplace.Ref) marketplace.Event {
		return marketplace.Event{ID: "aws-eventbridge:12345678-1234-1234-1234-123456789012", Source: "aws-eventbridge",
			Kind: kind, At: at, Ref: ref, OfferID: fxOffer, Detail: detailType}
	}
	for name, c := range map[string]struct {
		raw  string
		want marketplace.Event
	}{
		"ok/created-proposer":      {ebEvent("Purchase Agreement Created - Proposer", agreement), ev(marketplace.KindSubscribe, "Purchase Agreement Created - Proposer", agreementRef)},
		"ok/created-manufacturer":  {ebEvent("Purchase Agreement Created - Manufacturer", agreement), ev(marketplace.KindSubscribe, "Purchase Agreement Created - Manufacturer", agreementRef)},
		"ok/amended":               {ebEvent("Purchase Agreement Amended - Manufacturer", agreement), ev(marketplace.KindEntitlementChanged, "Purchase Agreement Amended - Manufacturer", agreementRef)},
		"ok/ended-cancelled":       {ebEvent("Purchase Agreement Ended - Proposer", ended("CANCELLED")), ev(marketplace.KindUnsubscribePending, "Purchase Agreement Ended - Proposer", agreementRef)},
		"ok/ended-expired":         {ebEvent("Purchase Agreement Ended - Manufacturer", ended("EXPIRED")), ev(marketplace.KindUnsubscribePending, "Purchase Agreement Ended - Manufacturer", agreementRef)},
		"ok/ended-renewed":         {ebEvent("Purchase Agreement Ended - Proposer", ended("RENEWED")), ev(marketplace.KindEntitlementChanged, "Purchase Agreement Ended - Proposer", agreementRef)},
		"ok/ended-replaced":        {ebEvent("Purchase Agreement Ended - Proposer", ended("replaced")), ev(marketplace.KindEntitlementChanged, "Purchase Agreement Ended - Proposer", agreementRef)},
		"ok/license-updated":       {ebEvent("License Updated - Manufacturer", license), ev(marketplace.KindEntitlementChanged, "License Updated - Manufacturer", licenseRef)},
		"ok/license-deprovisioned": {ebEvent("License Deprovisioned - Manufacturer", license), ev(marketplace.KindUnsubscribe, "License Deprovisioned - Manufacturer", licenseRef)},
		// AWS's own example prints the license ARN without its "arn:" prefix; LicenseID reads both.
		"ok/license-arn-without-prefix": {
			ebEvent("License Updated - Manufacturer", `{"license":{"arn":"aws:license-manager:us-east-1:123456789012:l-e52ca6f38bf84d0fafb8802ca15ac11x"},"acceptor":{"accountId":"111122223333"}}`),
			marketplace.Event{ID: "aws-eventbridge:12345678-1234-1234-1234-123456789012", Source: "aws-eventbridge", Kind: marketplace.KindEntitlementChanged, At: at,
				Ref: marketplace.Ref{AWSAccountID: fxAccount, LicenseARN: "aws:license-manager:us-east-1:123456789012:l-e52ca6f38bf84d0fafb8802ca15ac11x"}, Detail: "License Updated - Manufacturer"},
		},
		"ok/license-arn-flat-and-acceptor-in-agreement": {
			ebEvent("License Updated - Manufacturer", `{"licenseArn":" `+fxLicense+` ","agreement":{"id":"agmt-0123456789abcdef0","acceptor":{"accountId":"111122223333"}}}`),
			marketplace.Event{ID: "aws-eventbridge:12345678-1234-1234-1234-123456789012", Source: "aws-eventbridge", Kind: marketplace.KindEntitlementChanged, At: at,
				Ref: marketplace.Ref{AWSAccountID: fxAccount, LicenseARN: fxLicense, AgreementID: fxAgmt}, Detail: "License Updated - Manufacturer"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := marketplace.DecodeEventBridge([]byte(c.raw))
			if err != nil {
				t.Fatal(err)
			}
			assertEvent(t, got, c.want)
			if got.Ref.LicenseARN != "" && marketplace.LicenseID(got.Ref.LicenseARN) == "" {
				t.Errorf("license %q has no id", got.Ref.LicenseARN)
			}
		})
	}
	for name, c := range map[string]struct{ raw, reason string }{
		"fail/not-json":                {`{"id":`, "not a JSON object"},
		"fail/array":                   {`[]`, "not a JSON object"},
		"fail/other-source":            {strings.Replace(ebEvent("License Updated - Manufacturer", license), "aws.agreement-marketplace", "aws.marketplacecatalog", 1), `"aws.marketplacecatalog", not aws.agreement-marketplace`},
		"fail/ending-reminder":         {ebEvent("Purchase Agreement Ending - Proposer", agreement), `"Purchase Agreement Ending - Proposer" is not`},
		"fail/offer-released":          {ebEvent("Offer Released", agreement), `"Offer Released" is not`},
		"fail/unknown-role":            {ebEvent("License Updated - Acceptor", license), `"License Updated - Acceptor" is not`},
		"fail/no-id":                   {strings.Replace(ebEvent("License Updated - Manufacturer", license), `"id":"12345678-1234-1234-1234-123456789012"`, `"id":""`, 1), "no id"},
		"fail/bad-time":                {strings.Replace(ebEvent("License Updated - Manufacturer", license), "2026-12-03T14:15:02Z", "03/12/2026", 1), `"03/12/2026" is not an RFC 3339 time`},
		"fail/no-detail":               {strings.Replace(ebEvent("License Updated - Manufacturer", "null"), `"detail":null`, `"other":1`, 1), "no detail"},
		"fail/detail-wrong-shape":      {ebEvent("License Updated - Manufacturer", `{"license":"arn"}`), "expected shape"},
		"fail/no-agreement-or-license": {ebEvent("Purchase Agreement Created - Proposer", `{"acceptor":{"accountId":"111122223333"},"offer":{"id":"offer-1"}}`), "neither an agreement nor a license"},
		"fail/account-not-digits":      {ebEvent("Purchase Agreement Created - Proposer", `{"agreement":{"id":"agmt-1"},"acceptor":{"accountId":"<Buyer Account ID>"}}`), "not digits"},
	} {
		t.Run(name, func(t *testing.T) {
			ev, err := marketplace.DecodeEventBridge([]byte(c.raw))
			assertMalformed(t, ev, err, c.reason)
		})
	}
}

// fixtureWant is what decoding one record (or the event) of a fixture gives: a kind, or
// with reason a malformed-event error saying it.
type fixtureWant struct {
	kind   marketplace.Kind
	reason string
}

// fixtureWants lists every file of events/marketplace-aws-events: one want per SQS record, or
// one for an EventBridge event. A file without an entry fails the test, so each is decoded.
var fixtureWants = map[string][]fixtureWant{
	"sqs-subscribe-success-sns.json":                  {{kind: marketplace.KindSubscribe}},
	"sqs-subscribe-success-raw-pascalcase.json":       {{kind: marketplace.KindSubscribe}},
	"sqs-subscribe-success-free-trial-bool.json":      {{kind: marketplace.KindSubscribe}},
	"sqs-subscribe-fail.json":                         {{kind: marketplace.KindSubscribeFail}},
	"sqs-unsubscribe-pending.json":                    {{kind: marketplace.KindUnsubscribePending}},
	"sqs-unsubscribe-success.json":                    {{kind: marketplace.KindUnsubscribe}},
	"sqs-entitlement-updated.json":                    {{kind: marketplace.KindEntitlementChanged}},
	"sqs-batch-one-malformed.json":                    {{kind: marketplace.KindSubscribe}, {reason: "the SNS Message is not a JSON object"}, {kind: marketplace.KindEntitlementChanged}},
	"eventbridge-agreement-created-proposer.json":     {{kind: marketplace.KindSubscribe}},
	"eventbridge-agreement-created-manufacturer.json": {{kind: marketplace.KindSubscribe}},
	"eventbridge-agreement-amended.json":              {{kind: marketplace.KindEntitlementChanged}},
	"eventbridge-agreement-ended.json":                {{kind: marketplace.KindUnsubscribePending}},
	"eventbridge-license-updated.json":                {{kind: marketplace.KindEntitlementChanged}},
	"eventbridge-license-deprovisioned.json":          {{kind: marketplace.KindUnsubscribe}},
}

// fixture is one file of the directory, read as whichever of the two shapes it is.
type fixture struct {
	name string
	raw  []byte
	sqs  *events.SQSEvent
}

// readFixtures reads every file of the fixture directory, failing on any that is not an SQS
// batch of AWS's shape or an EventBridge event.
func readFixtures(t testing.TB) []fixture {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(fixtureDir, "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures in %s: %v", fixtureDir, err)
	}
	var out []fixture
	for _, file := range files {
		name := filepath.Base(file)
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(name, ".json") || !json.Valid(raw) {
			t.Errorf("%s is not a JSON file", name)
			continue
		}
		var probe map[string]json.RawMessage
		if err := json.Unmarshal(raw, &probe); err != nil {
			t.Errorf("%s is not a JSON object: %v", name, err)
			continue
		}
		f := fixture{name: name, raw: raw}
		if _, ok := probe["Records"]; ok {
			f.sqs = &events.SQSEvent{}
			if err := json.Unmarshal(raw, f.sqs); err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			if err := checkSQSBatch(*f.sqs); err != nil {
				t.Errorf("%s is not an SQS batch of AWS's shape: %v", name, err)
				continue
			}
		} else if err := checkEventBridge(probe); err != nil {
			t.Errorf("%s is neither an SQS batch nor an EventBridge event: %v", name, err)
			continue
		}
		out = append(out, f)
	}
	return out
}

func checkSQSBatch(b events.SQSEvent) error {
	if len(b.Records) == 0 {
		return errors.New("no records")
	}
	for i, r := range b.Records {
		switch {
		case r.MessageId == "", r.ReceiptHandle == "", r.Body == "":
			return errors.New("record " + strconv.Itoa(i) + " lacks messageId, receiptHandle or body")
		case r.EventSource != "aws:sqs" || !strings.HasPrefix(r.EventSourceARN, "arn:aws:sqs:"):
			return errors.New("record " + strconv.Itoa(i) + " is not from SQS")
		case r.Attributes["SentTimestamp"] == "":
			return errors.New("record " + strconv.Itoa(i) + " has no SentTimestamp")
		}
		if _, err := strconv.ParseInt(r.Attributes["SentTimestamp"], 10, 64); err != nil {
			return err
		}
	}
	return nil
}

func checkEventBridge(e map[string]json.RawMessage) error {
	for _, k := range []string{"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"} {
		if _, ok := e[k]; !ok {
			return errors.New("no " + k)
		}
	}
	var d map[string]any
	if err := json.Unmarshal(e["detail"], &d); err != nil || d == nil {
		return errors.New("detail is not an object")
	}
	return nil
}

func sentAt(r events.SQSMessage) time.Time {
	ms, _ := strconv.ParseInt(r.Attributes["SentTimestamp"], 10, 64)
	return time.UnixMilli(ms).UTC()
}

// TestAWSEventFixtures decodes every fixture: each SQS record with DecodeSQSMessage, each
// EventBridge event with DecodeEventBridge, as the functions will.
func TestAWSEventFixtures(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range readFixtures(t) {
		seen[f.name] = true
		t.Run(f.name, func(t *testing.T) {
			wants, ok := fixtureWants[f.name]
			if !ok {
				t.Fatalf("%s has no expected outcome in fixtureWants", f.name)
			}
			var got []marketplace.Event
			var errs []error
			if f.sqs != nil {
				for _, r := range f.sqs.Records {
					ev, err := marketplace.DecodeSQSMessage(r.MessageId, r.Body, sentAt(r))
					got, errs = append(got, ev), append(errs, err)
				}
			} else {
				ev, err := marketplace.DecodeEventBridge(f.raw)
				got, errs = append(got, ev), append(errs, err)
			}
			if len(got) != len(wants) {
				t.Fatalf("%d records, want %d", len(got), len(wants))
			}
			for i, w := range wants {
				if w.reason != "" {
					assertMalformed(t, got[i], errs[i], w.reason)
					continue
				}
				if errs[i] != nil {
					t.Errorf("record %d: %v", i, errs[i])
					continue
				}
				ev := got[i]
				if ev.Kind != w.kind {
					t.Errorf("record %d: kind %q, want %q", i, ev.Kind, w.kind)
				}
				checkFixtureEvent(t, ev)
			}
		})
	}
	for name := range fixtureWants {
		if !seen[name] {
			t.Errorf("fixtureWants names %s, which is not in %s", name, fixtureDir)
		}
	}
}

// checkFixtureEvent: every fixture is about the one buyer, in December 2026.
func checkFixtureEvent(t *testing.T, ev marketplace.Event) {
	t.Helper()
	if ev.At.Year() != 2026 || ev.At.Month() != time.December {
		t.Errorf("%s: at %v", ev.ID, ev.At)
	}
	r := ev.Ref
	if r.AWSAccountID != "" && r.AWSAccountID != fxAccount || r.LicenseARN != "" && r.LicenseARN != fxLicense ||
		r.CustomerIdentifier != "" && r.CustomerIdentifier != fxCustomer || r.ProductCode != "" && r.ProductCode != fxProduct ||
		r.AgreementID != "" && r.AgreementID != fxAgmt || ev.OfferID != "" && ev.OfferID != fxOffer {
		t.Errorf("%s: ref %+v offer %q", ev.ID, r, ev.OfferID)
	}
	if len(r.Lookups()) == 0 {
		t.Errorf("%s: ref %+v has no lookup key", ev.ID, r)
	}
	switch ev.Source {
	case marketplace.SourceSNS:
		if !strings.HasPrefix(ev.ID, "aws-sns:") && !strings.HasPrefix(ev.ID, "aws-sqs:") {
			t.Errorf("id %q", ev.ID)
		}
	case marketplace.SourceEventBridge:
		if !strings.HasPrefix(ev.ID, "aws-eventbridge:") || ev.Detail == "" {
			t.Errorf("id %q detail %q", ev.ID, ev.Detail)
		}
	default:
		t.Errorf("source %q", ev.Source)
	}
}

// TestAWSEventFixtureDetails pins what the special fixtures are there to show.
func TestAWSEventFixtureDetails(t *testing.T) {
	one := func(name string) marketplace.Event {
		t.Helper()
		for _, f := range readFixtures(t) {
			if f.name == name {
				r := f.sqs.Records[0]
				ev, err := marketplace.DecodeSQSMessage(r.MessageId, r.Body, sentAt(r))
				if err != nil {
					t.Fatal(err)
				}
				return ev
			}
		}
		t.Fatalf("no %s", name)
		return marketplace.Event{}
	}
	full := marketplace.Ref{CustomerIdentifier: fxCustomer, ProductCode: fxProduct, AWSAccountID: fxAccount, LicenseARN: fxLicense}
	sns := one("sqs-subscribe-success-sns.json")
	if sns.Ref != full || sns.OfferID != fxOffer || sns.FreeTrial == nil || *sns.FreeTrial ||
		!strings.HasPrefix(sns.ID, "aws-sns:") || !sns.At.Equal(time.Date(2026, 12, 3, 14, 15, 0, 123e6, time.UTC)) {
		t.Errorf("SNS envelope: %+v", sns)
	}
	raw := one("sqs-subscribe-success-raw-pascalcase.json")
	if raw.Ref != full || raw.OfferID != fxOffer || raw.FreeTrial == nil || !*raw.FreeTrial ||
		!strings.HasPrefix(raw.ID, "aws-sqs:") || !raw.At.Equal(time.Date(2026, 12, 3, 14, 16, 5, 0, time.UTC)) {
		t.Errorf("raw delivery: %+v", raw)
	}
	if b := one("sqs-subscribe-success-free-trial-bool.json"); b.FreeTrial == nil || !*b.FreeTrial {
		t.Errorf("free trial as a boolean: %+v", b)
	}
	if f := one("sqs-subscribe-fail.json"); f.Ref != (marketplace.Ref{CustomerIdentifier: fxCustomer, ProductCode: fxProduct}) {
		t.Errorf("legacy customer: %+v", f.Ref)
	}
}

func assertEvent(t *testing.T, got, want marketplace.Event) {
	t.Helper()
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	if string(gj) != string(wj) || !got.At.Equal(want.At) {
		t.Errorf("got  %s\nwant %s", gj, wj)
	}
}

func assertMalformed(t *testing.T, ev marketplace.Event, err error, reason string) {
	t.Helper()
	if err == nil {
		t.Fatalf("decoded %+v, want an error saying %q", ev, reason)
	}
	if !errors.Is(err, fault.ErrInvalid) || !errors.Is(err, marketplace.ErrMalformedEvent) {
		t.Errorf("%v is not a malformed event (fault.ErrInvalid)", err)
	}
	if d, _ := fault.DetailOf(err); !strings.Contains(d, reason) {
		t.Errorf("detail %q, want it to say %q", d, reason)
	}
}
