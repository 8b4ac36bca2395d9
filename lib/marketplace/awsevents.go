package marketplace

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/opensignum/signum/lib/fault"
)

// The wire forms of AWS Marketplace's SaaS notifications, as AWS documents them (Seller Guide,
// "Amazon SNS notifications for SaaS products" and "Amazon EventBridge events"):
//
//   - The legacy SNS topics aws-mp-subscription-notification-<product code> and
//     aws-mp-entitlement-notification-<product code> publish a small JSON message
//     {"action": ..., "customer-identifier": ..., "product-code": ..., ...} that reaches us
//     through an SQS queue, either inside the SNS envelope or, with raw message delivery, as
//     is. The documentation itself prints the keys hyphenated and PascalCase, and the values
//     with a leading space (" X01EXAMPLEX"), so both spellings are read and values trimmed.
//   - EventBridge events of source aws.agreement-marketplace: "Purchase Agreement Created",
//     "Amended" and "Ended" (each "- Proposer" or "- Manufacturer"; a seller that is both gets
//     only the Proposer one) and "License Updated" and "License Deprovisioned" ("-
//     Manufacturer"). Agreement events name the agreement, the acceptor's account and the
//     offer; license events add the license ARN and the product (code and prod-… id).

// Sources of AWS events (Event.Source).
const (
	SourceSNS         = "aws-sns"
	SourceEventBridge = "aws-eventbridge"
)

// EventBridgeSource is the source of AWS Marketplace's agreement and license events.
const EventBridgeSource = "aws.agreement-marketplace"

// ErrMalformedEvent is a marketplace notification this package cannot read: not JSON, not a
// shape AWS sends, an action it does not know, or no customer to apply it to. Retrying does
// not help; such a message belongs in the dead-letter queue.
var ErrMalformedEvent = fmt.Errorf("marketplace: malformed event: %w", fault.ErrInvalid)

func malformed(format string, args ...any) error {
	return fault.Newf(ErrMalformedEvent, format, args...)
}

// snsActions are the actions of the two SNS topics and what they mean.
var snsActions = map[string]Kind{
	"subscribe-success":   KindSubscribe,
	"subscribe-fail":      KindSubscribeFail,
	"unsubscribe-pending": KindUnsubscribePending,
	"unsubscribe-success": KindUnsubscribe,
	"entitlement-updated": KindEntitlementChanged,
}

// The keys of an SNS message, normalised by normKey: hyphens, underscores and case do not
// matter ("customer-identifier", "CustomerIdentifier" and "customerIdentifier" are one key).
const (
	keyAction       = "action"
	keyCustomer     = "customeridentifier"
	keyProduct      = "productcode"
	keyAccount      = "customerawsaccountid"
	keyLicense      = "licensearn"
	keyOffer        = "offeridentifier"
	keyFreeTrial    = "isfreetrialtermpresent"
	maxIDLength     = 256
	maxQuotedLength = 40
)

var snsKeys = map[string]bool{keyAction: true, keyCustomer: true, keyProduct: true, keyAccount: true, keyLicense: true, keyOffer: true, keyFreeTrial: true}

// DecodeSQSMessage decodes the body of one SQS message of the AWS Marketplace queue: an SNS
// notification of either SaaS topic, in its SNS envelope or delivered raw, or an EventBridge
// event the queue received from a rule (then it is DecodeEventBridge's). messageID is the SQS
// message id (the event's id for a raw delivery, which has no other) and sentAt its
// SentTimestamp (the event's time when there is no SNS Timestamp). Anything else is an error
// wrapping ErrMalformedEvent with a short reason.
func DecodeSQSMessage(messageID, body string, sentAt time.Time) (Event, error) {
	var top map[string]any
	if err := decodeObject([]byte(body), &top); err != nil {
		return Event{}, malformed("the SQS message body is not a JSON object")
	}
	if _, ok := top["detail-type"]; ok {
		if _, ok := top["source"]; ok {
			return DecodeEventBridge([]byte(body))
		}
	}
	ev := Event{Source: SourceSNS}
	msg := top
	if t, ok := top["Type"]; ok {
		// The SNS envelope. Its keys are SNS's own and exact.
		if typ, _ := t.(string); typ != "Notification" {
			return Event{}, malformed("the SNS message is a %s, not a Notification", quote(fmt.Sprint(t)))
		}
		id, err := text(top["MessageId"])
		if err != nil || id == "" {
			return Event{}, malformed("the SNS envelope has no MessageId")
		}
		if err := checkID("SNS MessageId", id); err != nil {
			return Event{}, err
		}
		ev.ID = "aws-sns:" + id
		switch m := top["Message"].(type) {
		case string:
			if err := decodeObject([]byte(m), &msg); err != nil {
				return Event{}, malformed("the SNS Message is not a JSON object")
			}
		case map[string]any: // not what SNS sends, but what a hand-made test message often is
			msg = m
		default:
			return Event{}, malformed("the SNS envelope has no Message")
		}
		if ts, ok := top["Timestamp"]; ok {
			s, _ := ts.(string)
			at, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
			if err != nil {
				return Event{}, malformed("the SNS Timestamp %s is not an RFC 3339 time", quote(fmt.Sprint(ts)))
			}
			ev.At = at.UTC()
		}
	} else {
		id := strings.TrimSpace(messageID)
		if id == "" {
			return Event{}, malformed("the SQS message has no id")
		}
		if err := checkID("SQS messageId", id); err != nil {
			return Event{}, err
		}
		ev.ID = "aws-sqs:" + id
	}
	if ev.At.IsZero() {
		ev.At = sentAt.UTC()
	}
	if ev.At.IsZero() {
		return Event{}, malformed("the message has no time (no SNS Timestamp, no SentTimestamp)")
	}
	if err := snsMessage(msg, &ev); err != nil {
		return Event{}, err
	}
	return ev, nil
}

// snsMessage reads the marketplace's message into ev.
func snsMessage(raw map[string]any, ev *Event) error {
	m := make(map[string]any, len(raw))
	// In key order, so that which of two conflicting keys an error names does not vary.
	for _, k := range slices.Sorted(maps.Keys(raw)) {
		v, nk := raw[k], normKey(k)
		if !snsKeys[nk] {
			continue
		}
		if prev, dup := m[nk]; dup && canonical(nk, prev) != canonical(nk, v) {
			return malformed("the message gives %s twice, with different values", nk)
		}
		m[nk] = v
	}
	action, ok := m[keyAction].(string)
	if m[keyAction] != nil && !ok {
		return malformed("the action is not a string")
	}
	action = strings.ToLower(strings.TrimSpace(action))
	if action == "" {
		return malformed("the message has no action")
	}
	kind, known := snsActions[action]
	if !known {
		return malformed("unknown action %s", quote(action))
	}
	ev.Kind, ev.Detail = kind, action
	for _, f := range []struct {
		key string
		dst *string
	}{
		{keyCustomer, &ev.Ref.CustomerIdentifier},
		{keyProduct, &ev.Ref.ProductCode},
		{keyAccount, &ev.Ref.AWSAccountID},
		{keyLicense, &ev.Ref.LicenseARN},
		{keyOffer, &ev.OfferID},
	} {
		s, err := text(m[f.key])
		if err != nil {
			return malformed("%s is not a string", f.key)
		}
		*f.dst = s
	}
	if err := checkRef(ev.Ref, ev.OfferID); err != nil {
		return err
	}
	if (ev.Ref.CustomerIdentifier == "" || ev.Ref.ProductCode == "") && (ev.Ref.AWSAccountID == "" || ev.Ref.LicenseARN == "") {
		return malformed("the message names no customer (customer identifier and product code, or account and license)")
	}
	ev.FreeTrial = boolish(m[keyFreeTrial])
	return nil
}

// ebEvent is an EventBridge event of AWS Marketplace; unknown fields are ignored.
type ebEvent struct {
	ID         string    `json:"id"`
	DetailType string    `json:"detail-type"`
	Source     string    `json:"source"`
	Time       string    `json:"time"`
	Detail     *ebDetail `json:"detail"`
}

type ebAccount struct {
	AccountID string `json:"accountId"`
}

type ebDetail struct {
	Agreement struct {
		ID     string `json:"id"`
		Intent string `json:"intent"`
		Status string `json:"status"`
		// Acceptor is not where AWS's examples put it (detail.acceptor), but is read here
		// too, should an event carry it inside the agreement.
		Acceptor ebAccount `json:"acceptor"`
	} `json:"agreement"`
	Acceptor ebAccount `json:"acceptor"`
	Offer    struct {
		ID string `json:"id"`
	} `json:"offer"`
	Product struct {
		// Code is the product code (what ResolveCustomer and metering call ProductCode); ID
		// is the catalogue's prod-… entity id, which nothing here keys on.
		Code string `json:"code"`
		ID   string `json:"id"`
	} `json:"product"`
	License struct {
		ARN string `json:"arn"`
		ID  string `json:"id"`
	} `json:"license"`
	LicenseArn string `json:"licenseArn"`
}

// ebKinds are the EventBridge detail types (without their " - Role" suffix) and what they
// mean.
var ebKinds = map[string]Kind{
	"Purchase Agreement Created": KindSubscribe,
	"Purchase Agreement Amended": KindEntitlementChanged,
	"Purchase Agreement Ended":   KindUnsubscribePending,
	"License Updated":            KindEntitlementChanged,
	"License Deprovisioned":      KindUnsubscribe,
}

// DecodeEventBridge decodes an AWS Marketplace agreement or license event from EventBridge.
// Any other event is an error wrapping ErrMalformedEvent.
//
// An agreement that ends because it was renewed or replaced (status RENEWED or REPLACED:
// AWS sends "Purchase Agreement Ended" then, and "Created" for the agreement that follows)
// does not end the subscription: it is KindEntitlementChanged, which asks the marketplace
// what the customer holds now, rather than KindUnsubscribePending.
func DecodeEventBridge(raw []byte) (Event, error) {
	var e ebEvent
	if err := decodeObject(raw, &e); err != nil {
		return Event{}, malformed("the EventBridge event is not a JSON object of the expected shape")
	}
	if e.Source != EventBridgeSource {
		return Event{}, malformed("the EventBridge event's source is %s, not %s", quote(e.Source), EventBridgeSource)
	}
	name, role, _ := strings.Cut(strings.TrimSpace(e.DetailType), " - ")
	kind, ok := ebKinds[name]
	if !ok || (role != "Manufacturer" && role != "Proposer") {
		return Event{}, malformed("the detail-type %s is not an agreement or license event", quote(e.DetailType))
	}
	id := strings.TrimSpace(e.ID)
	if id == "" {
		return Event{}, malformed("the EventBridge event has no id")
	}
	if err := checkID("EventBridge id", id); err != nil {
		return Event{}, err
	}
	at, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(e.Time))
	if err != nil {
		return Event{}, malformed("the EventBridge event's time %s is not an RFC 3339 time", quote(e.Time))
	}
	if e.Detail == nil {
		return Event{}, malformed("the EventBridge event has no detail")
	}
	d := e.Detail
	ev := Event{
		ID:      "aws-eventbridge:" + id,
		Source:  SourceEventBridge,
		Kind:    kind,
		At:      at.UTC(),
		OfferID: strings.TrimSpace(d.Offer.ID),
		Detail:  strings.TrimSpace(e.DetailType),
		Ref: Ref{
			AgreementID:  strings.TrimSpace(d.Agreement.ID),
			AWSAccountID: firstNonEmpty(d.Acceptor.AccountID, d.Agreement.Acceptor.AccountID),
			LicenseARN:   firstNonEmpty(d.License.ARN, d.LicenseArn, d.License.ID),
			ProductCode:  strings.TrimSpace(d.Product.Code),
		},
	}
	if name == "Purchase Agreement Ended" {
		switch strings.ToUpper(strings.TrimSpace(d.Agreement.Status)) {
		case "RENEWED", "REPLACED":
			ev.Kind = KindEntitlementChanged
		}
	}
	if err := checkRef(ev.Ref, ev.OfferID); err != nil {
		return Event{}, err
	}
	if ev.Ref.AgreementID == "" && ev.Ref.LicenseARN == "" {
		return Event{}, malformed("the event names neither an agreement nor a license")
	}
	return ev, nil
}

// decodeObject decodes one JSON object (numbers as json.Number) with nothing after it.
func decodeObject(raw []byte, v any) error {
	if t := bytes.TrimLeft(raw, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return errors.New("not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the object")
	}
	return nil
}

// normKey is k without hyphens, underscores and spaces, in lower case.
func normKey(k string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '-', '_', ' ':
			return -1
		}
		return unicode.ToLower(r)
	}, k)
}

// canonical is v as compared for duplicates of key: actions and flags without case.
func canonical(key string, v any) string {
	s := strings.TrimSpace(fmt.Sprint(v))
	if key == keyAction || key == keyFreeTrial {
		s = strings.ToLower(s)
	}
	return s
}

// text is v as a trimmed string: a JSON string, or a number (an account id sent as one).
func text(v any) (string, error) {
	switch t := v.(type) {
	case nil:
		return "", nil
	case string:
		return strings.TrimSpace(t), nil
	case json.Number:
		return t.String(), nil
	}
	return "", errors.New("not a string")
}

// boolish reads the free-trial flag, which AWS documents as the string "true" and which some
// deliveries carry as a JSON boolean; anything else is "not said".
func boolish(v any) *bool {
	var b bool
	switch t := v.(type) {
	case bool:
		b = t
	case string:
		switch strings.ToLower(strings.TrimSpace(t)) {
		case "true":
			b = true
		case "false":
		default:
			return nil
		}
	default:
		return nil
	}
	return &b
}

// checkRef refuses identities no AWS event carries: longer than any AWS id, with control
// characters, or an account id that is not digits. They would only make keys the store
// cannot write.
func checkRef(r Ref, offer string) error {
	for _, f := range [][2]string{
		{"customer identifier", r.CustomerIdentifier}, {"product code", r.ProductCode},
		{"account id", r.AWSAccountID}, {"license ARN", r.LicenseARN}, {"agreement id", r.AgreementID},
		{"offer id", offer},
	} {
		if err := checkID(f[0], f[1]); err != nil {
			return err
		}
	}
	if strings.ContainsFunc(r.AWSAccountID, func(c rune) bool { return c < '0' || c > '9' }) {
		return malformed("the account id %s is not digits", quote(r.AWSAccountID))
	}
	return nil
}

func checkID(name, v string) error {
	if len(v) > maxIDLength {
		return malformed("the %s is longer than %d bytes", name, maxIDLength)
	}
	if strings.ContainsFunc(v, func(c rune) bool { return unicode.IsControl(c) || c == unicode.ReplacementChar }) {
		return malformed("the %s holds control characters", name)
	}
	return nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// quote is s quoted for an error message, cut short: a reason names the value, it does not
// repeat a message.
func quote(s string) string {
	if r := []rune(s); len(r) > maxQuotedLength {
		s = string(r[:maxQuotedLength]) + "…"
	}
	return fmt.Sprintf("%q", s)
}
