package health_test

import (
	"context"
	"crypto/rand"
	"crypto/x509/pkix"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/opensignum/signum/lib/activity"
	"github.com/opensignum/signum/lib/certificates"
	"github.com/opensignum/signum/lib/certificates/certstest"
	"github.com/opensignum/signum/lib/clientauth"
	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/health"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/keys/awskms"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
	"github.com/opensignum/signum/lib/truststore"
)

var entry = tenant.LogEntry{Actor: "test", Action: "test"}

// fixture is a deployment in the store on the stand-ins, with a KMS key backend.
type fixture struct {
	t    *testing.T
	tg   *devstack.Target
	s    *store.Store
	kms  *awskms.Backend
	dep  tenant.Deployment
	src  health.Sources
	now  time.Time
	ctx  context.Context
	user identity.ConsoleUser
}

func newFixture(t *testing.T, plan string) *fixture {
	t.Helper()
	tg := devstack.NewTarget(t)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	s := store.New(tg.Clients.DynamoDB, tg.Table, store.StaticKey(key))
	ctx := context.Background()
	d := tenant.Deployment{ID: tenant.NewID("dep_"), Name: "acme", Status: tenant.StatusActive, Plan: plan, SoftwareVersion: "1.0.0"}
	d, _, err := s.Provision(ctx, store.Provisioning{Deployment: d, RequestKey: tenant.NewID("req_"), Log: entry})
	if err != nil {
		t.Fatal(err)
	}
	b := awskms.New(tg.Clients.KMS)
	f := &fixture{t: t, tg: tg, s: s, kms: b, dep: d, now: time.Now().UTC(), ctx: ctx}
	f.src = health.Sources{Deployments: s, Certificates: s, Keys: keys.NewRegistry(b), ClientCredentials: s, Activity: s, Subscriptions: s}
	return f
}

// certificate stores an active certificate with a new KMS key that expires at notAfter.
func (f *fixture) certificate(name string, notAfter time.Time) certificates.Certificate {
	f.t.Helper()
	k, err := f.kms.Generate(f.ctx, keys.GenerateRequest{Algorithm: keys.ECP256, Label: name + "-" + rand.Text()[:8]})
	if err != nil {
		f.t.Fatal(err)
	}
	c, err := f.s.CreateCertificate(f.ctx, certificates.Certificate{ID: tenant.NewID("crt_"), DeploymentID: f.dep.ID, Name: name,
		Status: certificates.StatusActive, Backend: awskms.Scheme, Algorithm: keys.ECP256, KeyURI: k.URI(),
		NotBefore: f.now.Add(-time.Hour), NotAfter: notAfter}, entry)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// clientCertificate registers a pinned client certificate expiring at notAfter for a new user.
func (f *fixture) clientCertificate(notAfter time.Time) clientauth.Credential {
	f.t.Helper()
	u, err := f.s.CreateConsoleUser(f.ctx, identity.ConsoleUser{ID: identity.NewConsoleUserID(), DeploymentID: f.dep.ID, Username: "ci-" + rand.Text()[:6],
		Name: "CI", Roles: []identity.ConsoleRole{identity.Signer}, Status: identity.StatusActive}, entry)
	if err != nil {
		f.t.Fatal(err)
	}
	ca, err := certstest.New()
	if err != nil {
		f.t.Fatal(err)
	}
	cert, err := ca.Client(pkix.Name{CommonName: "agent-1"}, certstest.Leaf{NotBefore: f.now.Add(-time.Hour), NotAfter: notAfter})
	if err != nil {
		f.t.Fatal(err)
	}
	c, err := f.s.CreateClientCredential(f.ctx, clientauth.Credential{ID: tenant.NewID("ccr_"), DeploymentID: f.dep.ID, UserID: u.ID,
		Kind: clientauth.Pinned, Name: "build agent", CertificateDER: cert.Leaf.Raw, CreatedAt: f.now}, u.Version, entry)
	if err != nil {
		f.t.Fatal(err)
	}
	f.user = u
	return c
}

func (f *fixture) check() health.Report {
	f.t.Helper()
	r, err := health.Check(f.ctx, f.src, f.dep.ID, f.now)
	if err != nil {
		f.t.Fatalf("Check: %v", err)
	}
	return r
}

func component(t *testing.T, r health.Report, id string) health.Component {
	t.Helper()
	c, ok := r.Component(id)
	if !ok {
		var ids []string
		for _, c := range r.Components {
			ids = append(ids, c.ID)
		}
		t.Fatalf("no component %s in %v", id, ids)
	}
	return c
}

// TestExpiringCertificateAndDisabledKey: the "done when" — a certificate that expires in
// 20 days and one whose key is disabled in KMS each show with their status and what to do; the
// rest of the deployment is told too.
func TestExpiringCertificateAndDisabledKey(t *testing.T) {
	f := newFixture(t, "trial")
	expiring := f.certificate("release", f.now.Add(20*24*time.Hour))
	disabled := f.certificate("nightly", f.now.Add(365*24*time.Hour))
	later := f.certificate("later", f.now.Add(75*24*time.Hour))
	if _, err := f.tg.Clients.KMS.DisableKey(f.ctx, &kms.DisableKeyInput{KeyId: aws.String(strings.TrimPrefix(disabled.KeyURI, "awskms:///"))}); err != nil {
		t.Fatal(err)
	}
	cred := f.clientCertificate(f.now.Add(10 * 24 * time.Hour))
	r := f.check()

	if r.Status != health.StatusCritical || r.DeploymentID != f.dep.ID || !r.CheckedAt.Equal(f.now) {
		t.Errorf("report %s %s %v, want critical", r.Status, r.DeploymentID, r.CheckedAt)
	}
	exp := component(t, r, "certificate-expiry:"+expiring.ID)
	if exp.Status != health.StatusWarning || !strings.Contains(exp.Reason, "in 20 days") || !strings.Contains(exp.Action, "Renew") ||
		exp.Link != "/app/console/certificates/"+expiring.ID || !exp.At.Equal(expiring.NotAfter) || exp.Subject != "release" {
		t.Errorf("expiring certificate: %+v", exp)
	}
	if c := component(t, r, "certificate-expiry:"+later.ID); c.Status != health.StatusOK || !strings.Contains(c.Reason, "within 90 days") {
		t.Errorf("certificate expiring in 75 days: %+v", c)
	}
	if _, ok := r.Component("certificate-expiry:" + disabled.ID); ok {
		t.Error("a certificate expiring in a year is reported")
	}
	key := component(t, r, "certificate-key:"+disabled.ID)
	if key.Status != health.StatusCritical || !strings.Contains(key.Reason, "disabled") || !strings.Contains(key.Action, "Enable the key") || key.Link == "" {
		t.Errorf("disabled key: %+v", key)
	}
	if c := component(t, r, "certificate-key:"+expiring.ID); c.Status != health.StatusOK || c.Action != "" {
		t.Errorf("enabled key: %+v", c)
	}
	if c := component(t, r, "table"); c.Status != health.StatusOK {
		t.Errorf("table: %+v", c)
	}
	if c := component(t, r, "key-service"); c.Status != health.StatusOK || c.Latency <= 0 {
		t.Errorf("key service: %+v", c)
	}
	if c := component(t, r, "client-certificate-expiry:"+cred.ID); c.Status != health.StatusWarning || c.Link != "/app/console/users/"+f.user.ID || c.Action == "" {
		t.Errorf("client certificate: %+v", c)
	}
	if c := component(t, r, "truststore"); c.Status != health.StatusUnknown || !strings.Contains(c.Reason, "not configured") {
		t.Errorf("truststore without a publisher: %+v", c)
	}
	if c := component(t, r, "subscription"); c.Status != health.StatusOK || !strings.Contains(c.Reason, "no marketplace subscription") {
		t.Errorf("subscription: %+v", c)
	}
	if c := component(t, r, "plan-usage"); c.Counts["certificates"] != 3 || c.Counts["certificatesLimit"] != 5 || c.Status != health.StatusOK {
		t.Errorf("plan usage: %+v", c)
	}
	if c := component(t, r, "signing-errors"); c.Status != health.StatusOK {
		t.Errorf("signing errors: %+v", c)
	}
	if _, ok := r.Component("updates"); ok {
		t.Error("an updates component without an Updates source")
	}

	// Pending deletion carries the date; a key gone from KMS is missing.
	if _, err := f.tg.Clients.KMS.ScheduleKeyDeletion(f.ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(strings.TrimPrefix(expiring.KeyURI, "awskms:///")), PendingWindowInDays: aws.Int32(7)}); err != nil {
		t.Fatal(err)
	}
	r = f.check()
	if c := component(t, r, "certificate-key:"+expiring.ID); c.Status != health.StatusCritical || c.At.IsZero() || !strings.Contains(c.Action, "cancel the key's deletion") {
		t.Errorf("pending deletion: %+v", c)
	}
}

// TestNoCertificates: a new deployment is ok, with nothing of its own to check yet.
func TestNoCertificates(t *testing.T) {
	f := newFixture(t, "standard")
	r := f.check()
	if r.Status != health.StatusOK {
		t.Errorf("status %s: %+v", r.Status, r.Components)
	}
	for _, id := range []string{"table", "key-service", "truststore", "signing-errors", "signing-denials", "subscription", "plan-usage"} {
		component(t, r, id)
	}
	if c := component(t, r, "truststore"); c.Status != health.StatusOK {
		t.Errorf("truststore with no client certificates: %+v", c)
	}
	if _, err := health.Check(f.ctx, f.src, "dep_missing", f.now); !errors.Is(err, fault.ErrNotFound) {
		t.Errorf("fail/unknown deployment: %v", err)
	}
}

// days is an activity source that answers with fixed days.
type days []activity.Day

func (d days) Activity(context.Context, string, time.Time, time.Time) ([]activity.Day, error) {
	return d, nil
}

// trust is a truststore that answers with a fixed status.
type trust truststore.Status

func (t trust) Check(context.Context) (truststore.Status, error) { return truststore.Status(t), nil }

// updates is an Updates source with a fixed state.
type updates struct{ state, reason string }

func (u updates) UpdateState(context.Context, string) (string, string, error) {
	return u.state, u.reason, nil
}

// TestRatesTruststoreAndUpdates: the error and denial rates of the last hour and day against the
// thresholds; a truststore that is behind; an update that failed.
func TestRatesTruststoreAndUpdates(t *testing.T) {
	f := newFixture(t, "standard")
	f.clientCertificate(f.now.Add(365 * 24 * time.Hour))
	now := time.Date(2026, 12, 3, 22, 30, 0, 0, time.UTC)
	f.now = now
	day := func(date string, hour int, h activity.Hour) activity.Day {
		d := activity.Day{Date: date, DeniedBy: map[string]int{"no-policy": h.Denied}}
		d.Hours[hour] = h
		d.Signed, d.Failed, d.Denied = h.Signed, h.Failed, h.Denied
		return d
	}
	for _, tc := range []struct {
		name           string
		days           days
		errors, denied health.Status
	}{
		{"ok/quiet", nil, health.StatusOK, health.StatusOK},
		{"ok/too-few-to-judge", days{day("2026-12-03", 22, activity.Hour{Signed: 5, Failed: 5})}, health.StatusOK, health.StatusOK},
		{"warning/errors-last-hour", days{day("2026-12-03", 22, activity.Hour{Signed: 90, Failed: 10})}, health.StatusWarning, health.StatusOK},
		{"critical/errors-last-hour", days{day("2026-12-03", 21, activity.Hour{Signed: 60, Failed: 40})}, health.StatusCritical, health.StatusOK},
		{"critical/errors-last-day", days{day("2026-12-02", 23, activity.Hour{Signed: 60, Failed: 40})}, health.StatusCritical, health.StatusOK},
		{"ok/errors-before-the-day", days{day("2026-12-02", 21, activity.Hour{Signed: 60, Failed: 40})}, health.StatusOK, health.StatusOK},
		{"warning/denials", days{day("2026-12-03", 22, activity.Hour{Signed: 20, Denied: 30})}, health.StatusOK, health.StatusWarning},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.src.Activity = tc.days
			r := f.check()
			e, d := component(t, r, "signing-errors"), component(t, r, "signing-denials")
			if e.Status != tc.errors || d.Status != tc.denied {
				t.Fatalf("errors %s (%s), denials %s (%s); want %s, %s", e.Status, e.Reason, d.Status, d.Reason, tc.errors, tc.denied)
			}
			if e.Status != health.StatusOK && e.Action == "" || d.Status != health.StatusOK && !strings.Contains(d.Reason, "no-policy") {
				t.Fatalf("no action or reason: %+v %+v", e, d)
			}
		})
	}
	f.src.Activity = days(nil)
	f.src.Truststore = trust{Current: false, Reasons: []string{"the uploaded bundle does not hold exactly the registered certificates"}, WantedSHA256: "a", UploadedSHA256: "b"}
	f.src.Updates = updates{health.UpdateFailed, "The migration certificate-groups failed at batch 3: the table refused a write."}
	r := f.check()
	if c := component(t, r, "truststore"); c.Status != health.StatusWarning || !strings.Contains(c.Reason, "does not hold") || c.Action == "" {
		t.Errorf("truststore behind: %+v", c)
	}
	if c := component(t, r, "updates"); c.Status != health.StatusCritical || !strings.Contains(c.Reason, "certificate-groups") || c.Link != "/app/portal/deployments/"+f.dep.ID+"/updates" {
		t.Errorf("failed update: %+v", c)
	}
	if r.Status != health.StatusCritical {
		t.Errorf("overall %s", r.Status)
	}
	f.src.Truststore = trust{Current: false, Reasons: []string{"the uploaded bundle does not hold exactly the registered certificates"}, WantedSHA256: "a", UploadedSHA256: "b",
		LastPublish: &truststore.Outcome{At: time.Now().Add(time.Hour)}}
	if c := component(t, f.check(), "truststore"); c.Status != health.StatusOK || !strings.Contains(c.Reason, "published after") {
		t.Errorf("truststore behind, but published after this deployment's registrations: %+v", c)
	}
	f.src.Truststore = trust{Current: false, Reasons: []string{"the last publish failed: boom"},
		LastPublish: &truststore.Outcome{At: time.Now().Add(time.Hour), Error: "boom"}}
	if c := component(t, f.check(), "truststore"); c.Status != health.StatusWarning {
		t.Errorf("truststore whose last publish failed: %+v", c)
	}
	f.src.Truststore = trust{Current: true}
	if c := component(t, f.check(), "truststore"); c.Status != health.StatusOK || c.Counts["registered"] != 1 {
		t.Errorf("truststore current: %+v", c)
	}
}

// TestTruststoreReasonKeepsOperatorDetailsOut: the health report is any tenant's Viewer's; the
// truststore's own reasons are the operator's (GET /operator/truststore/status): the last
// publish's raw SDK error names the bucket, the account, a role and request ids, and API
// Gateway's warnings are about the bundle all tenants share (other tenants' CAs). The report
// says the same in fixed sentences.
func TestTruststoreReasonKeepsOperatorDetailsOut(t *testing.T) {
	f := newFixture(t, "standard")
	f.clientCertificate(f.now.Add(365 * 24 * time.Hour))
	sdkErr := "upload s3://signum-truststore-123456789012/truststore.pem: operation error S3: PutObject, https response error StatusCode: 403, " +
		"RequestID: 7XKQ2B, api error AccessDenied: User: arn:aws:sts::123456789012:assumed-role/signum-truststore/fn is not authorized"
	warning := "Certificate CN=Globex Build CA (tenant dep_other) has expired"
	f.src.Truststore = trust{Current: false, WantedSHA256: "a", UploadedSHA256: "a", DomainName: "mtls.example.com", DomainVersion: "v1", UploadedVersion: "v1",
		Reasons:     []string{"the last publish failed: " + sdkErr, "API Gateway warns about the bundle the domain uses: " + warning},
		Warnings:    []string{warning},
		LastPublish: &truststore.Outcome{At: f.now.Add(-time.Hour), Error: sdkErr}}
	c := component(t, f.check(), "truststore")
	if c.Status != health.StatusWarning || !strings.Contains(c.Reason, "the last publish failed; the operator is told") ||
		!strings.Contains(c.Reason, "API Gateway reported problems with the shared bundle") {
		t.Fatalf("truststore: %+v", c)
	}
	for _, leak := range []string{"123456789012", "arn:", "RequestID", "s3://", "Globex", "dep_other", "AccessDenied"} {
		if strings.Contains(c.Reason+c.Action, leak) {
			t.Errorf("the report shows %q: %s", leak, c.Reason)
		}
	}

	// Behind, but published after this deployment's registrations: ok, and the reasons given
	// for registrations made since are the fixed ones too.
	f.src.Truststore = trust{Current: false, WantedSHA256: "a", UploadedSHA256: "b", Warnings: []string{warning},
		Reasons:     []string{"the uploaded bundle does not hold exactly the registered certificates", "API Gateway warns about the bundle the domain uses: " + warning},
		LastPublish: &truststore.Outcome{At: f.now.Add(time.Hour)}}
	c = component(t, f.check(), "truststore")
	if c.Status != health.StatusOK || strings.Contains(c.Reason, "Globex") || !strings.Contains(c.Reason, "does not hold exactly") {
		t.Fatalf("truststore held since: %+v", c)
	}
}
