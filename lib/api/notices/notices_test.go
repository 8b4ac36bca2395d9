package notices_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/opensignum/signum/lib/api/notices"
	"github.com/opensignum/signum/lib/certificates"
	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/keys/awskms"
	ns "github.com/opensignum/signum/lib/notices"
	"github.com/opensignum/signum/lib/notices/eventbus"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// The function, as wired (its EventBridge client pointed at the stack's stand-in), takes its schedule's event (the fixture make invoke sends) and
// publishes the notice of a deployment's expiring certificate through the EventBridge stand-in.
func TestScheduledRun(t *testing.T) {
	tg := devstack.NewEmbedded(t)
	ctx := context.Background()
	env := function.Env{Config: tg.Stack.Env(tg.Table), Clients: tg.Clients, Log: function.NewLogger(io.Discard, "error"), Now: time.Now}
	raw, err := os.ReadFile("../../../events/notices/scheduled.json")
	if err != nil {
		t.Fatal(err)
	}
	var tick struct{ Time time.Time }
	if err := json.Unmarshal(raw, &tick); err != nil {
		t.Fatal(err)
	}
	st := function.NewParts(env).Store
	d, _, err := st.Provision(ctx, store.Provisioning{Deployment: tenant.Deployment{ID: tenant.NewID("dep_"), Name: "acme", Status: tenant.StatusActive,
		Plan: "standard", SoftwareVersion: "1.0.0"}, RequestKey: tenant.NewID("req_"), Log: tenant.LogEntry{Actor: "test", Action: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	k, err := awskms.New(tg.Clients.KMS).Generate(ctx, keys.GenerateRequest{Algorithm: keys.ECP256, Label: "release-" + rand.Text()[:8]})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateCertificate(ctx, certificates.Certificate{ID: tenant.NewID("crt_"), DeploymentID: d.ID, Name: "release",
		Status: certificates.StatusActive, Backend: awskms.Scheme, Algorithm: keys.ECP256, KeyURI: k.URI(),
		NotBefore: tick.Time.Add(-time.Hour), NotAfter: tick.Time.Add(20 * 24 * time.Hour)}, tenant.LogEntry{Actor: "test", Action: "test"}); err != nil {
		t.Fatal(err)
	}
	eb := tg.Stack.Events
	before := len(eb.Entries()) // the stack is shared with other tests
	h, err := notices.Build(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	out, err := h(ctx, raw)
	rep, ok := out.(ns.RunReport)
	if err != nil || !ok || rep.Synced != 1 || rep.Raised != 1 || rep.Published != 1 {
		t.Fatalf("run: %+v, %v", out, err)
	}
	if got := eb.Entries()[before:]; len(got) != 1 || got[0].DetailType != eventbus.DetailTypeRaised {
		t.Fatalf("published %+v", got)
	}
	if out, err := h(ctx, raw); err != nil || out.(ns.RunReport).Published != 0 {
		t.Fatalf("retried tick: %+v, %v", out, err)
	}
}

// The function, as wired, takes a batch of the table's stream (the fixture make invoke sends)
// and publishes signum.approval.requested for the held request it names, skipping one that is
// gone; delivered again, it publishes again (consumers dedupe on the request id).
func TestApprovalRequestedPublished(t *testing.T) {
	tg := devstack.NewEmbedded(t)
	ctx := context.Background()
	env := function.Env{Config: tg.Stack.Env(tg.Table), Clients: tg.Clients, Log: function.NewLogger(io.Discard, "error"), Now: time.Now}
	raw, err := os.ReadFile("../../../events/notices/approval-stream.json")
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(tg.Clients.DynamoDB, tg.Table, function.CursorKey(env))
	at := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	if _, err := st.CreateApprovalRequest(ctx, store.ApprovalRequest{ID: "evt_approvalnotifiedaaaaaaaaaaa", DeploymentID: "dep_approvalsnotifiedaaaaaaaaaa",
		UserID: "cu_ci", CertificateID: "crt_release", PolicyID: "pol_gated", Scheme: "ECDSA", Required: 2, Users: []string{"cu_alice"},
		Digests: []store.HeldDigest{{Digest: "AAAA", Algorithm: "SHA256", FileName: "app.exe"}}, CreatedAt: at, Expires: at.Add(time.Hour), Status: "pending", Decision: "{}"}); err != nil {
		t.Fatal(err)
	}
	h, err := notices.Build(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	eb := tg.Stack.Events
	for delivery := 1; delivery <= 2; delivery++ {
		before := len(eb.Entries())
		out, err := h(ctx, raw)
		if err != nil {
			t.Fatal(err)
		}
		if res, ok := out.(events.DynamoDBEventResponse); !ok || len(res.BatchItemFailures) != 0 {
			t.Fatalf("delivery %d: %+v", delivery, out)
		}
		got := eb.Entries()[before:]
		if len(got) != 1 || got[0].DetailType != eventbus.DetailTypeApprovalRequested || got[0].Source != eventbus.ApprovalSource ||
			!strings.Contains(got[0].Detail, `"requestId":"evt_approvalnotifiedaaaaaaaaaaa"`) || !strings.Contains(got[0].Detail, `"files":["app.exe"]`) {
			t.Fatalf("delivery %d published %+v", delivery, got)
		}
	}
}
