package local_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	signum "github.com/opensignum/signum"
	"github.com/opensignum/signum/lib/apigw"
	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/local"
	"github.com/opensignum/signum/lib/marketstandin"
)

// eventCase is what invoking a function with a file of events/ must give.
type eventCase struct {
	// status is the HTTP status of an HTTP function's answer; 0 for an event-driven
	// function, whose answer is its handler's result (as JSON) or, with err, an error.
	status int
	// contains are substrings the response body must hold.
	contains []string
	err      string
}

// eventCases lists every file under events/; a file without a case fails the test, so each
// fixture is exercised.
var eventCases = map[string]eventCase{
	"health/get.json":                                     {status: 200, contains: []string{`"status":"ok"`, `"table"`, `"kms"`}},
	"operator/create-deployment.json":                     {status: 201, contains: []string{`"name":"Acme Corp"`, `"domainName":"sign.acme.example"`, `"198.51.100.0/24"`, `"2001:db8::/32"`}},
	"operator/create-deployment-unknown-field.json":       {status: 400, contains: []string{`Unknown field \"colour\"`, "application/problem+json"}},
	"operator/create-deployment-malformed.json":           {status: 400, contains: []string{"truncated JSON"}},
	"operator/create-deployment-wrong-content-type.json":  {status: 415, contains: []string{"application/x-www-form-urlencoded"}},
	"operator/create-deployment-invalid-fields.json":      {status: 400, contains: []string{`"invalid-params"`, `"name":"name"`, `"name":"plan"`, `"name":"domainName"`, `"name":"ipAllowlist"`}},
	"operator/create-deployment-no-iam.json":              {status: 401, contains: []string{"SigV4"}},
	"operator/list-deployments.json":                      {status: 200, contains: []string{`"items":[{"id":"dep_`, `"name":"Acme Corp"`}},
	"operator/list-deployments-bad-cursor.json":           {status: 400, contains: []string{"cursor is not valid"}},
	"operator/get-deployment-missing.json":                {status: 404, contains: []string{"dep_doesnotexist"}},
	"portal-auth/login-unknown-user.json":                 {status: 401, contains: []string{"credentials are wrong"}},
	"portal-auth/register-unknown-link.json":              {status: 410, contains: []string{"not valid"}},
	"portal-deployments/get-without-token.json":           {status: 401, contains: []string{"bearer token"}},
	"portal-users/list-malformed-token.json":              {status: 401, contains: []string{"token is not valid"}},
	"console-auth/login-unknown-host.json":                {status: 404, contains: []string{"sign.unknown.example"}},
	"console-users/list-unknown-host.json":                {status: 404, contains: []string{"sign.unknown.example"}},
	"console-settings/system-log-unknown-host.json":       {status: 404, contains: []string{"sign.unknown.example"}},
	"console-certificates/create-unknown-host.json":       {status: 404, contains: []string{"sign.unknown.example"}},
	"console-certificates/import-chain-unknown-host.json": {status: 404, contains: []string{"sign.unknown.example"}},
	"console-policies/create-unknown-host.json":           {status: 404, contains: []string{"sign.unknown.example"}},
	"console-policies/evaluate-unknown-host.json":         {status: 404, contains: []string{"sign.unknown.example"}},
	"signer/certificates-mtls-unregistered.json":          {status: 401, contains: []string{"serial 42f7b7e1cc3184028e458cddc332734035c25313", "is not registered"}},
	"fallback/unknown-route.json":                         {status: 404, contains: []string{"No route serves GET /no/such/thing"}},
	"fallback/wrong-method.json":                          {status: 405, contains: []string{"DELETE is not allowed on /health", `"allow":["GET"]`}},
	// The truststore function publishes the (here empty) bundle to the truststore bucket once
	// the listing shows the stream's change (a removal: it lists nothing); the schedule's tick
	// then finds it current and uploads nothing.
	"truststore/removal-stream.json": {contains: []string{`"truststoreUri":"s3://signum-truststore/truststore.pem"`, `"certificates":0`, `"uploaded":true`}},
	"truststore/scheduled.json":      {contains: []string{`"current":true`, `"certificates":0`}},
	"truststore/not-an-event.json":   {err: `a record from "aws:sqs"`},
	// AWS Marketplace's events, on a fresh table: each is applied or, naming a customer who
	// has not registered, kept for later; the malformed record alone is reported failed.
	"marketplace-aws-events/eventbridge-agreement-amended.json":              {contains: []string{`"handled":"aws-eventbridge:a969e389-1bd2-488f-b943-4a2672e135b2"`}},
	"marketplace-aws-events/eventbridge-agreement-created-manufacturer.json": {contains: []string{`"handled":"aws-eventbridge:c6760303-6255-4beb-a365-0f7cd080f15a"`}},
	"marketplace-aws-events/eventbridge-agreement-created-proposer.json":     {contains: []string{`"handled":"aws-eventbridge:aa5ee74e-44c7-481b-95ee-51fab4051221"`}},
	"marketplace-aws-events/eventbridge-agreement-ended.json":                {contains: []string{`"handled":"aws-eventbridge:`}},
	"marketplace-aws-events/eventbridge-license-deprovisioned.json":          {contains: []string{`"handled":"aws-eventbridge:`}},
	"marketplace-aws-events/eventbridge-license-updated.json":                {contains: []string{`"handled":"aws-eventbridge:`}},
	"marketplace-aws-events/sqs-batch-one-malformed.json":                    {contains: []string{`"batchItemFailures":[{"itemIdentifier":"8b50dab8-f264-4181-b3e0-a31751bffc5d"}]`}},
	"marketplace-aws-events/sqs-entitlement-updated.json":                    {contains: []string{`"batchItemFailures":[]`}},
	"marketplace-aws-events/sqs-subscribe-fail.json":                         {contains: []string{`"batchItemFailures":[]`}},
	"marketplace-aws-events/sqs-subscribe-success-free-trial-bool.json":      {contains: []string{`"batchItemFailures":[]`}},
	"marketplace-aws-events/sqs-subscribe-success-raw-pascalcase.json":       {contains: []string{`"batchItemFailures":[]`}},
	"marketplace-aws-events/sqs-subscribe-success-sns.json":                  {contains: []string{`"batchItemFailures":[]`}},
	"marketplace-aws-events/sqs-unsubscribe-pending.json":                    {contains: []string{`"batchItemFailures":[]`}},
	"marketplace-aws-events/sqs-unsubscribe-success.json":                    {contains: []string{`"batchItemFailures":[]`}},
	// Azure's webhook with a token of the stand-in's tenant (make invoke mints one too): the
	// operations are not in the stand-in, so the read-back does not confirm them and nothing
	// is done; a malformed body is a 400.
	"marketplace-azure-webhook/change-plan.json":            {status: 200, contains: []string{`"outcome":"unconfirmed"`}},
	"marketplace-azure-webhook/change-quantity-string.json": {status: 200, contains: []string{`"outcome":"unconfirmed"`}},
	"marketplace-azure-webhook/odd-spelling.json":           {status: 200, contains: []string{`"outcome":"unconfirmed"`}},
	"marketplace-azure-webhook/reinstate.json":              {status: 200, contains: []string{`"outcome":"unconfirmed"`}},
	"marketplace-azure-webhook/renew.json":                  {status: 200, contains: []string{`"outcome":"unconfirmed"`}},
	"marketplace-azure-webhook/suspend.json":                {status: 200, contains: []string{`"outcome":"unconfirmed"`}},
	"marketplace-azure-webhook/suspend-duplicate.json":      {status: 200, contains: []string{`"outcome":"unconfirmed"`}},
	"marketplace-azure-webhook/unsubscribe.json":            {status: 200, contains: []string{`"outcome":"unconfirmed"`}},
	"marketplace-azure-webhook/malformed.json":              {status: 400, contains: []string{"application/problem+json"}},
	// The updater: a message for a run that is not there is done with (nothing to do), a
	// body that names no run is dropped (delivering it again would not help); a tick on a
	// table with no active run starts and sends nothing.
	"updater/sqs-run.json":                  {contains: []string{`"batchItemFailures":[]`}},
	"updater/tick.json":                     {contains: []string{`"started":[]`, `"rekicked":[]`}},
	"portal-updates/get-without-token.json": {status: 401, contains: []string{"bearer token"}},
	// No subscription is registered on this table: the hourly run meters nothing.
	"marketplace-metering/scheduled.json": {contains: []string{`"subscriptions":0`, `"metered":0`}},
	// The hourly notices run syncs the deployments there are (the demo's) and fails none.
	"notices/scheduled.json": {contains: []string{`"synced":`, `"failed":0`}},
	// Requests no longer held (none in this table) are skipped, not retried.
	"notices/approval-stream.json": {contains: []string{`"batchItemFailures":[]`}},
}

// TestEventsDriveHandlers invokes each function's Lambda handler — the one lambda.Start runs —
// with the real-shaped API Gateway events in events/, against the stand-ins.
func TestEventsDriveHandlers(t *testing.T) {
	tg := devstack.NewEmbedded(t)
	tpl, err := apigw.ParseTemplate(signum.Template)
	if err != nil {
		t.Fatal(err)
	}
	cfg := tg.Stack.Env(tg.Table)
	cfg.OperatorAccountID = "111122223333" // the account of the events' IAM caller
	env := function.Env{Config: cfg, Clients: tg.Clients, Log: function.NewLogger(os.Stderr, "warn"), Now: time.Now}
	handlers := map[string]edge.LambdaHandler{}
	eventHandlers := map[string]function.EventHandler{}
	for id, fn := range tpl.Functions {
		if eb, ok := local.EventBuilds[id]; ok {
			h, err := eb(context.Background(), env)
			if err != nil {
				t.Fatalf("build %s: %v", id, err)
			}
			eventHandlers[strings.TrimPrefix(fn.Dir, "functions/")] = h
			continue
		}
		h, err := local.Builds[id](context.Background(), env)
		if err != nil {
			t.Fatalf("build %s: %v", id, err)
		}
		handlers[strings.TrimPrefix(fn.Dir, "functions/")] = edge.Lambda(h)
	}

	files, err := filepath.Glob("../../events/*/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no events: %v", err)
	}
	sort.Strings(files)
	seen := map[string]bool{}
	for _, file := range files {
		name := strings.TrimPrefix(filepath.ToSlash(file), "../../events/")
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			want, ok := eventCases[name]
			if !ok {
				t.Fatalf("events/%s has no expected outcome in eventCases", name)
			}
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			// The Azure webhook fixtures' token is minted by the running stand-in (as make
			// invoke does).
			raw = []byte(strings.ReplaceAll(string(raw), "REPLACED-AT-INVOKE", tg.Stack.AzureMarket.WebhookToken(marketstandin.AzureWebhookTokenOptions{})))
			if eh := eventHandlers[strings.Split(name, "/")[0]]; eh != nil {
				out, err := eh(context.Background(), raw)
				if want.err != "" {
					if err == nil || !strings.Contains(err.Error(), want.err) {
						t.Fatalf("error %v, want one saying %q", err, want.err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				whole, _ := json.Marshal(out)
				for _, s := range want.contains {
					if !strings.Contains(string(whole), s) {
						t.Errorf("result lacks %q: %s", s, whole)
					}
				}
				return
			}
			h := handlers[strings.Split(name, "/")[0]]
			if h == nil {
				t.Fatalf("events/%s: no function for directory", name)
			}
			var ev events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal(raw, &ev); err != nil {
				t.Fatalf("event is not an API Gateway v2 request: %v", err)
			}
			resp, err := h(context.Background(), ev)
			if err != nil {
				t.Fatal(err)
			}
			whole := resp.Body + " " + resp.Headers["Content-Type"]
			if resp.StatusCode != want.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, want.status, resp.Body)
			}
			for _, s := range want.contains {
				if !strings.Contains(whole, s) {
					t.Errorf("response lacks %q: %s", s, whole)
				}
			}
			if resp.StatusCode >= 400 && resp.Headers["Content-Type"] != "application/problem+json" {
				t.Errorf("error with content type %q", resp.Headers["Content-Type"])
			}
			// The idempotency key of the create event makes a redelivery return the same deployment.
			if name == "operator/create-deployment.json" {
				again, err := h(context.Background(), ev)
				if err != nil || again.StatusCode != 200 {
					t.Fatalf("replay: %d %v %s", again.StatusCode, err, again.Body)
				}
				var a, b struct{ ID string }
				_ = json.Unmarshal([]byte(resp.Body), &a)
				_ = json.Unmarshal([]byte(again.Body), &b)
				if a.ID == "" || a.ID != b.ID {
					t.Fatalf("replay created another deployment: %s vs %s", a.ID, b.ID)
				}
			}
		})
	}
	for name := range eventCases {
		if !seen[name] {
			t.Errorf("eventCases names events/%s, which does not exist", name)
		}
	}
}
