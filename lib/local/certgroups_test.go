package local_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/opensignum/signum/lib/certificates"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// inGroup creates a certificate group through con (the Signum Administrator's console) and
// returns the groups field of a certificate in it.
func inGroup(t *testing.T, con client) []string {
	t.Helper()
	var g groupJSON
	con.do("POST", "/console/certificate-groups", map[string]any{"name": "Group " + strings.ToLower(tenant.NewID(""))}).must(t, 201, "group").json(t, &g)
	return []string{g.ID}
}

type groupJSON struct {
	ID               string
	Name             string
	CertificateLimit *int
	CertificateCount int
	Version          int64
}

// TestCertificateGroups: the Signum Administrator creates, renames, limits and deletes
// certificate groups through the API; each refusal is its own problem.
func TestCertificateGroups(t *testing.T) {
	srv := startLocal(t)
	sa := consoleAdmin(t, srv)
	detail := func(r resp) string {
		var p struct{ Detail string }
		r.json(t, &p)
		return p.Detail
	}

	var g groupJSON
	r := sa.do("POST", "/console/certificate-groups", map[string]any{"name": " Release ", "certificateLimit": 1}).must(t, 201, "create")
	r.json(t, &g)
	if g.Name != "Release" || g.CertificateLimit == nil || *g.CertificateLimit != 1 || g.CertificateCount != 0 || g.Version != 1 ||
		r.header.Get("ETag") != `"1"` || r.header.Get("Location") != "/console/certificate-groups/"+g.ID {
		t.Fatalf("created %+v %v", g, r.header)
	}
	path := "/console/certificate-groups/" + g.ID
	if d := detail(sa.do("POST", "/console/certificate-groups", map[string]any{"name": "RELEASE"}).must(t, 409, "name taken")); !strings.Contains(d, "exists") {
		t.Fatalf("taken name: %s", d)
	}
	bad := sa.do("POST", "/console/certificate-groups", map[string]any{"name": "", "certificateLimit": -1}).must(t, 400, "bad fields")
	for _, field := range []string{`"name"`, `"certificateLimit"`} {
		if !strings.Contains(bad.body, field) {
			t.Fatalf("no problem for %s: %s", field, bad.body)
		}
	}
	sa.do("GET", "/console/certificate-groups/grp_nothing", nil).must(t, 404, "unknown group")

	// A certificate joins; the limit of 1 is then full.
	cert := func(want int) resp {
		return sa.do("POST", "/console/certificates", map[string]any{"name": "In group", "algorithm": "EC_P256",
			"subject": map[string]string{"commonName": "Acme"}, "groups": []string{g.ID}}).must(t, want, "certificate in the group")
	}
	var c struct{ ID string }
	cert(201).json(t, &c)
	if d := detail(cert(409)); !strings.Contains(d, "holds its limit of 1") {
		t.Fatalf("over the limit: %s", d)
	}
	sa.do("GET", path, nil).must(t, 200, "get").json(t, &g)
	if g.CertificateCount != 1 {
		t.Fatalf("count %+v", g)
	}

	// Stale and malformed If-Match, then a rename that removes the limit.
	sa.do("PATCH", path, map[string]any{"name": "Releases"}, "If-Match", `"7"`).must(t, 412, "stale If-Match")
	sa.do("PATCH", path, map[string]any{"name": "Releases"}, "If-Match", `"x"`).must(t, 412, "malformed If-Match")
	sa.do("PATCH", path, map[string]any{"certificateLimit": 0, "name": "Releases"}, "If-Match", `"1"`).must(t, 200, "rename").json(t, &g)
	if g.Name != "Releases" || g.CertificateLimit != nil || g.Version != 2 {
		t.Fatalf("renamed %+v", g)
	}
	cert(201)

	// Not while it holds certificates: the problem says what to do first.
	if d := detail(sa.do("DELETE", path, nil).must(t, 409, "delete non-empty")); !strings.Contains(d, "holds 2 certificates") || !strings.Contains(d, "move them") {
		t.Fatalf("non-empty delete: %s", d)
	}
	var list struct{ Items []groupJSON }
	sa.do("GET", "/console/certificate-groups", nil).must(t, 200, "list").json(t, &list)
	// The deployment's Default group, made at provisioning, is listed beside it.
	counts := map[string]int{}
	for _, it := range list.Items {
		counts[it.Name] = it.CertificateCount
	}
	if len(list.Items) != 2 || counts["Releases"] != 2 || counts["Default"] != 0 {
		t.Fatalf("listed %+v", list)
	}

	// An empty group goes; its name is free again.
	var empty groupJSON
	sa.do("POST", "/console/certificate-groups", map[string]any{"name": "Empty"}).must(t, 201, "create empty").json(t, &empty)
	sa.do("DELETE", "/console/certificate-groups/"+empty.ID, nil, "If-Match", `"2"`).must(t, 412, "stale delete")
	sa.do("DELETE", "/console/certificate-groups/"+empty.ID, nil, "If-Match", `"1"`).must(t, 204, "delete")
	sa.do("GET", "/console/certificate-groups/"+empty.ID, nil).must(t, 404, "deleted")
	sa.do("POST", "/console/certificate-groups", map[string]any{"name": "empty"}).must(t, 201, "name free again")
}

// TestLabelsBecomeGroupsOnFirstUse: a deployment's free-text labels, written before groups
// existed, are groups by the time the certificates function first answers for it.
func TestLabelsBecomeGroupsOnFirstUse(t *testing.T) {
	srv := startLocal(t)
	st := store.New(srv.Clients.DynamoDB, srv.Config.TableName, function.CursorKey(envFor(srv)))
	// A deployment provisioned before groups existed has no migration marker; today's are
	// provisioned with it (and their Default group).
	if _, err := srv.Clients.DynamoDB.DeleteItem(context.Background(), &dynamodb.DeleteItemInput{TableName: aws.String(srv.Config.TableName),
		Key: map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "DEP#" + srv.Demo.ID},
			"SK": &types.AttributeValueMemberS{Value: "MIGRATED#certificate-groups"}}}); err != nil {
		t.Fatal(err)
	}
	c, err := st.CreateCertificate(context.Background(), certificates.Certificate{ID: tenant.NewID("crt_"), DeploymentID: srv.Demo.ID, Name: "legacy",
		Status: certificates.StatusPending, Backend: "awskms", Algorithm: keys.ECP256, KeyURI: "awskms:///k", Subject: certificates.Subject{CommonName: "x"},
		Groups: []string{"release"}}, tenant.LogEntry{Actor: "test", Action: "fixture"})
	if err != nil {
		t.Fatal(err)
	}
	sa := consoleAdmin(t, srv)
	var list struct{ Items []groupJSON }
	sa.do("GET", "/console/certificate-groups", nil).must(t, 200, "list").json(t, &list)
	var release groupJSON
	for _, g := range list.Items {
		if g.Name == "release" {
			release = g
		}
	}
	if len(list.Items) != 2 || release.CertificateCount != 1 {
		t.Fatalf("groups %+v", list)
	}
	var got struct{ Groups []string }
	sa.do("GET", "/console/certificates/"+c.ID, nil).must(t, 200, "certificate").json(t, &got)
	if len(got.Groups) != 1 || got.Groups[0] != release.ID {
		t.Fatalf("certificate groups %v", got.Groups)
	}
}
