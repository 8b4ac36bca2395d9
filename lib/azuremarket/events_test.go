package azuremarket_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/opensignum/signum/lib/azuremarket"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/marketplace"
)

// TestWebhookEvents: the webhook function's fixtures (events/marketplace-azure-webhook) are
// API Gateway HTTP API events of the webhook's route, and their bodies decode to what their
// names say (or are refused, for the malformed one).
func TestWebhookEvents(t *testing.T) {
	const sub = "37f9dea2-4345-438f-b0bd-03d40d28c7e0"
	want := map[string]struct {
		action, plan, status string
		quantity             int
		kind                 marketplace.Kind
	}{
		"change-plan":            {"ChangePlan", "enterprise", "InProgress", 10, marketplace.KindPlan},
		"change-quantity-string": {"ChangeQuantity", "enterprise", "InProgress", 25, marketplace.KindPlan},
		"renew":                  {"Renew", "enterprise", "Succeeded", 25, marketplace.KindPlan},
		"suspend":                {"Suspend", "enterprise", "Succeeded", 25, marketplace.KindSuspend},
		"suspend-duplicate":      {"Suspend", "enterprise", "Succeeded", 25, marketplace.KindSuspend},
		"reinstate":              {"Reinstate", "enterprise", "InProgress", 25, marketplace.KindReinstate},
		"unsubscribe":            {"Unsubscribe", "enterprise", "Succeeded", 25, marketplace.KindUnsubscribe},
		"odd-spelling":           {"ChangePlan", "Standard-EU", "InProgress", 25, marketplace.KindPlan},
	}
	files, err := filepath.Glob("../../events/marketplace-azure-webhook/*.json")
	if err != nil || len(files) != len(want)+1 {
		t.Fatalf("fixtures %v %v", files, err)
	}
	ids := map[string]string{}
	for _, f := range files {
		name := filepath.Base(f)
		name = name[:len(name)-len(".json")]
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if ev.RawPath != "/marketplace/azure/webhook" || ev.RequestContext.HTTP.Method != "POST" || ev.RouteKey != "POST /marketplace/azure/webhook" ||
			ev.Headers["authorization"] != "Bearer REPLACED-AT-INVOKE" || ev.Headers["content-length"] != strconv.Itoa(len(ev.Body)) {
			t.Errorf("%s: not the webhook route's event: %s %s %q", name, ev.RequestContext.HTTP.Method, ev.RawPath, ev.Headers)
		}
		at := time.UnixMilli(ev.RequestContext.TimeEpoch).UTC()
		op, err := azuremarket.DecodeWebhook([]byte(ev.Body))
		if name == "malformed" {
			if !errors.Is(err, fault.ErrInvalid) {
				t.Errorf("malformed: %v", err)
			}
			continue
		}
		w, ok := want[name]
		if !ok {
			t.Errorf("%s: unexpected fixture", name)
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		kind, _ := azuremarket.KindOf(op.Action)
		if op.SubscriptionID != sub || op.Action != w.action || op.PlanID != w.plan || op.Status != w.status || op.Quantity != w.quantity || kind != w.kind {
			t.Errorf("%s: %+v", name, op)
		}
		if op.TimeStamp.Year() != 2026 || op.TimeStamp.Month() != 12 || op.TimeStamp.After(at) {
			t.Errorf("%s: time stamp %s, delivered %s", name, op.TimeStamp, at)
		}
		ids[name] = op.ID
	}
	if ids["suspend"] == "" || ids["suspend"] != ids["suspend-duplicate"] {
		t.Errorf("the duplicate's id %q is not the original's %q", ids["suspend-duplicate"], ids["suspend"])
	}
	seen := map[string]bool{}
	for name, id := range ids {
		if name == "suspend-duplicate" {
			continue
		}
		if seen[id] {
			t.Errorf("%s: operation id %s used twice", name, id)
		}
		seen[id] = true
	}
}
