package azuremarket

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/marketplace"
)

// MaxWebhookBody bounds the webhook body DecodeWebhook reads; Microsoft's are 1 to 3 KiB.
const MaxWebhookBody = 64 << 10

// MaxQuantity bounds a quantity (seats); more is refused as nonsense rather than believed.
const MaxQuantity = 10_000_000

// The spellings this package answers with; whatever case and spacing the marketplace used.
var (
	// actions are the webhook's and the operations API's actions. Subscribe comes only for
	// plans the marketplace activates itself.
	actions = []string{"ChangePlan", "ChangeQuantity", "Renew", "Suspend", "Reinstate", "Unsubscribe", "Subscribe"}
	// operationStatuses are an operation's statuses; the webhook has also said Success.
	operationStatuses = []string{"NotStarted", "InProgress", "Succeeded", "Failed", "Conflict"}
	operationAliases  = map[string]string{"success": "Succeeded", "failure": "Failed"}
	// subscriptionStatuses are saasSubscriptionStatus's values.
	subscriptionStatuses = []string{"PendingFulfillmentStart", "Subscribed", "Suspended", "Unsubscribed", "NotStarted"}
)

// DecodeWebhook decodes the body of a marketplace webhook call: the operation it notifies
// about. It needs the operation's id, the subscription's id (GUIDs, returned in lower case)
// and the action (an old form calls it operationType); the rest is optional. Quantity may be
// a number or a string, padded or empty; action and status may be in any case, padded or
// spaced ("In Progress") and are returned in their canonical spelling when known (KindOf
// tells what a known action means), else trimmed as sent. Unknown fields are ignored. The
// body's planId and quantity are what the operation changes to; the nested subscription,
// still the old one, is not read.
//
// The body is not authenticated by its content: act on the operation only after the
// operations API confirms it (Client.GetOperation). Errors wrap fault.ErrInvalid.
func DecodeWebhook(body []byte) (marketplace.AzureOperation, error) {
	if len(body) > MaxWebhookBody {
		return marketplace.AzureOperation{}, fault.Newf(fault.ErrInvalid, "The webhook body is larger than %d bytes.", MaxWebhookBody)
	}
	op, err := decodeOperation(body)
	if err != nil {
		return marketplace.AzureOperation{}, err
	}
	switch {
	case op.SubscriptionID == "":
		return marketplace.AzureOperation{}, fault.Newf(fault.ErrInvalid, "The webhook body names no subscriptionId.")
	case op.Action == "":
		return marketplace.AzureOperation{}, fault.Newf(fault.ErrInvalid, "The webhook body names no action.")
	}
	return op, nil
}

// KindOf is what a webhook's or an operation's action means for a subscription: ChangePlan,
// ChangeQuantity and Renew set its plan and quantity (once the operation is confirmed);
// Suspend, Reinstate and Unsubscribe their states. Case and spaces are ignored. false for any
// other action (Subscribe included: the life cycle learns of a subscription by resolving its
// landing token).
func KindOf(action string) (marketplace.Kind, bool) {
	switch canonical(action, actions, nil) {
	case "ChangePlan", "ChangeQuantity", "Renew":
		return marketplace.KindPlan, true
	case "Suspend":
		return marketplace.KindSuspend, true
	case "Reinstate":
		return marketplace.KindReinstate, true
	case "Unsubscribe":
		return marketplace.KindUnsubscribe, true
	}
	return "", false
}

// decodeOperation decodes an operation: the webhook's body, or the operations API's answer
// (which may omit subscriptionId and action; the caller checks what it needs). The id is
// required.
func decodeOperation(body []byte) (marketplace.AzureOperation, error) {
	o, err := parseObject(body)
	if err != nil {
		return marketplace.AzureOperation{}, err
	}
	var op marketplace.AzureOperation
	var fields fault.Fields
	id, err := o.str("id")
	if err != nil {
		fields.Add("id", "%v", err)
	}
	op.ID, err = guidField(id, true)
	if err != nil {
		fields.Add("id", "%v", err)
	}
	sub, err := o.str("subscriptionId")
	if err != nil {
		fields.Add("subscriptionId", "%v", err)
	}
	if op.SubscriptionID, err = guidField(sub, false); err != nil {
		fields.Add("subscriptionId", "%v", err)
	}
	action, err := o.str("action", "operationType")
	if err != nil {
		fields.Add("action", "%v", err)
	}
	op.Action = canonical(action, actions, nil)
	if op.PlanID, err = o.str("planId"); err != nil {
		fields.Add("planId", "%v", err)
	}
	if op.Quantity, err = o.quantity("quantity"); err != nil {
		fields.Add("quantity", "%v", err)
	}
	status, err := o.str("status")
	if err != nil {
		fields.Add("status", "%v", err)
	}
	op.Status = canonical(status, operationStatuses, operationAliases)
	ts, err := o.str("timeStamp")
	if err != nil {
		fields.Add("timeStamp", "%v", err)
	}
	if op.TimeStamp, err = parseTime(ts); err != nil {
		fields.Add("timeStamp", "%v", err)
	}
	if err := fields.Err(); err != nil {
		return marketplace.AzureOperation{}, err
	}
	return op, nil
}

// decodeSubscription decodes a subscription: the resolve API's answer (the subscription's
// id, subscriptionName, offerId, planId and quantity at the top, the rest in a nested
// "subscription") or the get API's (all at the top). A field missing at the top is taken from
// the nested object. The id is required.
func decodeSubscription(body []byte) (marketplace.AzureSubscription, error) {
	top, err := parseObject(body)
	if err != nil {
		return marketplace.AzureSubscription{}, err
	}
	nested, err := top.object("subscription")
	if err != nil {
		return marketplace.AzureSubscription{}, fault.Newf(fault.ErrInvalid, "%v", err)
	}
	var s marketplace.AzureSubscription
	var fields fault.Fields
	// pick is the first non-empty string of the names, at the top first.
	pick := func(names ...string) string {
		for _, o := range []object{top, nested} {
			v, err := o.str(names...)
			if err != nil {
				fields.Add(names[0], "%v", err)
				return ""
			}
			if v != "" {
				return v
			}
		}
		return ""
	}
	if s.ID, err = guidField(pick("id"), true); err != nil {
		fields.Add("id", "%v", err)
	}
	s.Name = pick("subscriptionName", "name")
	s.OfferID = pick("offerId")
	s.PlanID = pick("planId")
	s.Status = canonical(pick("saasSubscriptionStatus"), subscriptionStatuses, nil)
	for _, o := range []object{top, nested} {
		q, err := o.quantity("quantity")
		if err != nil {
			fields.Add("quantity", "%v", err)
			break
		}
		if q != 0 {
			s.Quantity = q
			break
		}
	}
	person := func(name string) (email, tenant string) {
		for _, o := range []object{top, nested} {
			p, err := o.object(name)
			if err != nil {
				fields.Add(name, "%v", err)
				return "", ""
			}
			e, err1 := p.str("emailId")
			t, err2 := p.str("tenantId")
			if err1 != nil || err2 != nil {
				fields.Add(name, "the emailId or tenantId is not a string")
				return "", ""
			}
			if e != "" || t != "" {
				return e, strings.ToLower(t)
			}
		}
		return "", ""
	}
	s.PurchaserEmail, s.PurchaserTenant = person("purchaser")
	s.BeneficiaryEmail, _ = person("beneficiary")
	if err := fields.Err(); err != nil {
		return marketplace.AzureSubscription{}, err
	}
	return s, nil
}

// object is a JSON object whose member names are trimmed and in lower case, so that "id  "
// and "ID" are found as "id" (Microsoft's examples have both).
type object map[string]json.RawMessage

func parseObject(b []byte) (object, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fault.Wrap(fault.ErrInvalid, err, "The body is not a JSON object.")
	}
	if raw == nil {
		return nil, fault.Newf(fault.ErrInvalid, "The body is not a JSON object.")
	}
	// Names that collide once normalized are taken in sorted order, the first non-null one
	// winning, so that the outcome does not depend on map order.
	names := make([]string, 0, len(raw))
	for k := range raw {
		names = append(names, k)
	}
	slices.Sort(names)
	out := make(object, len(raw))
	for _, k := range names {
		nk := strings.ToLower(strings.TrimSpace(k))
		if prev, ok := out[nk]; ok && !isNull(prev) {
			continue
		}
		out[nk] = raw[k]
	}
	return out, nil
}

func isNull(v json.RawMessage) bool {
	return len(bytes.TrimSpace(v)) == 0 || string(bytes.TrimSpace(v)) == "null"
}

// str is the first of names present and not null, as a trimmed string: a JSON string, or a
// number in its JSON spelling. Missing or null is "".
func (o object) str(names ...string) (string, error) {
	for _, name := range names {
		v, ok := o[strings.ToLower(name)]
		if !ok || isNull(v) {
			continue
		}
		var s string
		if err := json.Unmarshal(v, &s); err == nil {
			return strings.TrimSpace(s), nil
		}
		var n json.Number
		if err := json.Unmarshal(v, &n); err == nil {
			return n.String(), nil
		}
		return "", fmt.Errorf("%s is not a string", name)
	}
	return "", nil
}

// object is the member name as an object; nil when it is missing or null.
func (o object) object(name string) (object, error) {
	v, ok := o[strings.ToLower(name)]
	if !ok || isNull(v) {
		return nil, nil
	}
	sub, err := parseObject(v)
	if err != nil {
		return nil, fmt.Errorf("%s is not an object", name)
	}
	return sub, nil
}

// quantity is the member as a whole number: a JSON number, or a string holding one (padded
// or not). Missing, null and "" are 0.
func (o object) quantity(name string) (int, error) {
	s, err := o.str(name)
	if err != nil {
		return 0, err
	}
	return parseQuantity(s)
}

func parseQuantity(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 || n > MaxQuantity {
			return 0, fmt.Errorf("%d is not a quantity between 0 and %d", n, MaxQuantity)
		}
		return int(n), nil
	}
	// 5.0 and 1e2 are whole numbers too (the metering API writes quantities as 5.0).
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || f != math.Trunc(f) || f < 0 || f > MaxQuantity {
		return 0, fmt.Errorf("%q is not a whole number between 0 and %d", fault.Clip(s, 40), MaxQuantity)
	}
	return int(f), nil
}

// guidField checks an id: "" is allowed unless required; anything else must be a GUID. It
// is returned in lower case.
func guidField(s string, required bool) (string, error) {
	if s == "" {
		if required {
			return "", fmt.Errorf("is missing")
		}
		return "", nil
	}
	g, ok := NormalizeGUID(s)
	if !ok {
		return "", fmt.Errorf("%q is not a GUID", fault.Clip(s, 60))
	}
	return g, nil
}

// parseTime reads the marketplace's times: RFC 3339 with up to 9 fractional digits
// ("2019-04-15T20:17:31.7350641Z"), or without a zone ("2018-12-01T00:00:00", UTC as the API
// documents), or a date. "" is the zero time.
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time", fault.Clip(s, 60))
}

// canonical is s in its known spelling when it is one of known (or an alias) once case,
// spaces, hyphens and underscores are ignored; else s trimmed and clipped.
func canonical(s string, known []string, aliases map[string]string) string {
	k := squash(s)
	if k == "" {
		return ""
	}
	for _, c := range known {
		if squash(c) == k {
			return c
		}
	}
	if c, ok := aliases[k]; ok {
		return c
	}
	return fault.Clip(strings.TrimSpace(s), 64)
}

func squash(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || r == '-' || r == '_' {
			return -1
		}
		return unicode.ToLower(r)
	}, s)
}
