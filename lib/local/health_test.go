package local_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/opensignum/signum/lib/certificates/certstest"
)

type healthJSON struct {
	Status     string
	Components []struct {
		ID, Kind, Status, Title, Reason, Action, Link, State string
		Counts                                               map[string]int
		LatencyMs                                            *float64
	}
}

func (h healthJSON) component(t *testing.T, id string) (c struct {
	ID, Kind, Status, Title, Reason, Action, Link, State string
	Counts                                               map[string]int
	LatencyMs                                            *float64
}) {
	t.Helper()
	for _, c := range h.Components {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("no component %s in %+v", id, h.Components)
	return c
}

// TestHealthShowsWhatToDo: a deployment's health, through the portal, says of a certificate
// that expires in 20 days and of one whose KMS key was disabled how they stand and what to
// do, with a link to act; the table and the key service answer with their latency; the
// signatures just made are in the signing component's counts; the notices list both
// problems, most severe first, with their links.
func TestHealthShowsWhatToDo(t *testing.T) {
	srv := startLocal(t)
	sa := consoleAdmin(t, srv)
	c := client{t: t, srv: srv}
	dep := srv.Demo.ID
	group := inGroup(t, sa)
	newCert := func(name string) certJSON {
		var out certJSON
		sa.do("POST", "/console/certificates", map[string]any{"name": name, "algorithm": "EC_P256", "subject": map[string]string{"commonName": name},
			"groups": group}).must(t, 201, "certificate "+name).json(t, &out)
		return out
	}
	// Expiring: a chain whose leaf ends in 20 days.
	expiring := newCert("Expiring soon")
	ca, err := certstest.New()
	if err != nil {
		t.Fatal(err)
	}
	var pending certJSON
	sa.do("GET", "/console/certificates/"+expiring.ID, nil).must(t, 200, "get").json(t, &pending)
	leaf, err := ca.Issue(pending.CSRPem, certstest.Leaf{NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(20 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	sa.do("PUT", "/console/certificates/"+expiring.ID+"/chain", map[string]string{"chain": certstest.PEM(leaf, ca.Intermediate)}).must(t, 200, "import")
	// Disabled key: the certificate is active, its KMS key disabled behind the service's back.
	broken := newCert("Key disabled")
	activate(t, sa, broken.ID)
	sa.do("GET", "/console/certificates/"+broken.ID, nil).must(t, 200, "get").json(t, &broken)
	arn := strings.TrimPrefix(broken.KeyURI, "awskms:///") // a key id or its ARN
	if _, err := srv.Clients.KMS.DisableKey(context.Background(), &kms.DisableKeyInput{KeyId: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}

	var lg struct{ Token string }
	c.do("POST", "/portal/login", map[string]string{"email": "ada@example.com", "password": strongPassword}).must(t, 200, "login").json(t, &lg)
	portal := c.as(lg.Token)
	var h healthJSON
	portal.do("GET", "/portal/deployments/"+dep+"/health", nil).must(t, 200, "health").json(t, &h)
	if h.Status != "critical" {
		t.Fatalf("overall: %s", h.Status)
	}
	exp := h.component(t, "certificate-expiry:"+expiring.ID)
	if exp.Status != "warning" || exp.Action == "" || exp.Link == "" || exp.Counts["daysLeft"] < 19 || exp.Counts["daysLeft"] > 20 || !strings.Contains(exp.Title, "Expiring soon") {
		t.Fatalf("expiring certificate: %+v", exp)
	}
	key := h.component(t, "certificate-key:"+broken.ID)
	if key.Status != "critical" || key.State != "disabled" || key.Action == "" || key.Kind != "keys" {
		t.Fatalf("disabled key: %+v", key)
	}
	if ok := h.component(t, "certificate-key:"+expiring.ID); ok.Status != "ok" || ok.State != "enabled" {
		t.Fatalf("a healthy key: %+v", ok)
	}
	if tbl := h.component(t, "table"); tbl.Status != "ok" || tbl.LatencyMs == nil {
		t.Fatalf("table: %+v", tbl)
	}

	var ns struct {
		Items []struct{ ID, Severity, Title, Detail, Link, Since string }
	}
	portal.do("GET", "/portal/deployments/"+dep+"/notices", nil).must(t, 200, "notices").json(t, &ns)
	ids := map[string]string{}
	for _, n := range ns.Items {
		ids[n.ID] = n.Severity
		since, err := time.Parse(time.RFC3339Nano, n.Since)
		if n.Detail == "" || err != nil || time.Since(since) > time.Minute {
			t.Fatalf("notice without detail or a recent since: %+v", n)
		}
	}
	if ids["certificate-expiring:"+expiring.ID] != "warning" || ids["certificate-key:"+broken.ID] != "critical" || ns.Items[0].Severity != "critical" {
		t.Fatalf("notices: %+v", ns.Items)
	}

	// Enabled again, the key's component is ok and its notice gone.
	if _, err := srv.Clients.KMS.EnableKey(context.Background(), &kms.EnableKeyInput{KeyId: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	portal.do("GET", "/portal/deployments/"+dep+"/health", nil).must(t, 200, "health again").json(t, &h)
	if k := h.component(t, "certificate-key:"+broken.ID); k.Status != "ok" {
		t.Fatalf("re-enabled key: %+v", k)
	}
}
