package marketplace_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/marketplace"
)

// kinds are the kinds an AWS event may decode to.
var kinds = map[marketplace.Kind]bool{
	marketplace.KindSubscribe: true, marketplace.KindSubscribeFail: true, marketplace.KindEntitlementChanged: true,
	marketplace.KindUnsubscribePending: true, marketplace.KindUnsubscribe: true,
}

// checkDecoded holds for whatever a decoder answers: a malformed-event error, or an event the
// life cycle can apply (an id of its source, a known kind, a time, a key to find it under).
// Decoding twice answers the same, so a redelivery is the same event.
func checkDecoded(t *testing.T, decode func() (marketplace.Event, error)) {
	ev, err := decode()
	again, err2 := decode()
	if !reflect.DeepEqual(ev, again) || (err == nil) != (err2 == nil) || err != nil && err.Error() != err2.Error() {
		t.Fatalf("decoding twice differs: %+v %v / %+v %v", ev, err, again, err2)
	}
	if err != nil {
		if !errors.Is(err, marketplace.ErrMalformedEvent) || !errors.Is(err, fault.ErrInvalid) {
			t.Fatalf("error %v is not a malformed event", err)
		}
		if d, ok := fault.DetailOf(err); !ok || d == "" || len(d) > 200 {
			t.Fatalf("detail %q is not a short reason", d)
		}
		return
	}
	switch {
	case !kinds[ev.Kind]:
		t.Fatalf("kind %q", ev.Kind)
	case ev.At.IsZero() || ev.At.Location() != time.UTC:
		t.Fatalf("at %v", ev.At)
	case len(ev.Ref.Lookups()) == 0:
		t.Fatalf("ref %+v has no lookup key", ev.Ref)
	case ev.Source == marketplace.SourceSNS && !strings.HasPrefix(ev.ID, "aws-sns:") && !strings.HasPrefix(ev.ID, "aws-sqs:"),
		ev.Source == marketplace.SourceEventBridge && !strings.HasPrefix(ev.ID, "aws-eventbridge:"),
		ev.Source != marketplace.SourceSNS && ev.Source != marketplace.SourceEventBridge:
		t.Fatalf("id %q from %q", ev.ID, ev.Source)
	}
	for _, s := range []string{ev.ID, ev.Ref.AWSAccountID, ev.Ref.LicenseARN, ev.Ref.CustomerIdentifier, ev.Ref.ProductCode, ev.Ref.AgreementID, ev.OfferID} {
		if s != strings.TrimSpace(s) || len(s) > 300 {
			t.Fatalf("value %q is untrimmed or too long", s)
		}
	}
	if strings.ContainsFunc(ev.Ref.AWSAccountID, func(r rune) bool { return r < '0' || r > '9' }) {
		t.Fatalf("account %q", ev.Ref.AWSAccountID)
	}
}

// FuzzDecodeSQSMessage feeds the SQS decoder message bodies, seeded with every record of the
// fixtures and every EventBridge fixture (a queue an EventBridge rule feeds gets those).
func FuzzDecodeSQSMessage(f *testing.F) {
	for _, fx := range readFixtures(f) {
		if fx.sqs == nil {
			f.Add("m-1", string(fx.raw), int64(0))
			continue
		}
		for _, r := range fx.sqs.Records {
			f.Add(r.MessageId, r.Body, sentAt(r).UnixMilli())
		}
	}
	f.Add("", `{"action":"subscribe-success","CustomerIdentifier":"c","customer-identifier":"c","ProductCode":"p"}`, int64(1))
	f.Add("m", `{"Type":"Notification","MessageId":"x","Message":{"action":"entitlement-updated","license-arn":"l","customer-aws-account-id":1}}`, int64(-1))
	f.Fuzz(func(t *testing.T, id, body string, sentMillis int64) {
		var at time.Time
		if sentMillis != 0 {
			at = time.UnixMilli(sentMillis)
		}
		checkDecoded(t, func() (marketplace.Event, error) { return marketplace.DecodeSQSMessage(id, body, at) })
	})
}

// FuzzDecodeEventBridge feeds the EventBridge decoder events, seeded with the fixtures (the
// SQS ones too: what an EventBridge target must refuse).
func FuzzDecodeEventBridge(f *testing.F) {
	for _, fx := range readFixtures(f) {
		f.Add(fx.raw)
		if fx.sqs != nil {
			f.Add([]byte(fx.sqs.Records[0].Body))
		}
	}
	f.Add([]byte(ebEvent("Purchase Agreement Ended - Proposer", `{"agreement":{"id":"agmt-1","status":"RENEWED"},"licenseArn":"l-1"}`)))
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkDecoded(t, func() (marketplace.Event, error) { return marketplace.DecodeEventBridge(raw) })
	})
}
