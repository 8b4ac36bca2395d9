package local_test

import (
	"crypto/sha256"
	"encoding/csv"
	"strings"
	"testing"
	"time"
)

type dashboardJSON struct {
	From, To string
	Days     []struct {
		Date                   string
		Signed, Failed, Denied int
		ByCertificate          map[string]int
	}
	Certificates []struct{ ID, Name string }
	Totals       struct{ Signed, Failed, Denied int }
	DeniedBy     []struct {
		Name, Label string
		Count       int
	}
	TopUsers, TopAgents []struct {
		Name, Label string
		Count       int
	}
	Licence *struct {
		Plan                                            string
		Certificates, ConsoleUsers, SignaturesThisMonth struct {
			Used  int
			Limit *int
		}
	}
}

// TestDashboardCountsSignatures: the signatures, failures and denials the signer makes show
// in the portal's and the console's dashboards the moment they are made (counters moved with
// each request's checkpoint), by day and certificate, with the top user and agent, denials
// by reason and this month's signatures against the plan; the CSV has the same numbers; a
// role scoped to one certificate group sees that group's certificates only, and no
// deployment-wide rankings; a range that is not 7, 30 or 90 days is a 400 naming `days`.
func TestDashboardCountsSignatures(t *testing.T) {
	srv := startLocal(t)
	sa := consoleAdmin(t, srv)
	c := client{t: t, srv: srv}
	dep := srv.Demo.ID
	var a, b groupJSON
	sa.do("POST", "/console/certificate-groups", map[string]any{"name": "Dash A"}).must(t, 201, "group A").json(t, &a)
	sa.do("POST", "/console/certificate-groups", map[string]any{"name": "Dash B"}).must(t, 201, "group B").json(t, &b)
	cert := func(name, group string) string {
		var out struct{ ID string }
		sa.do("POST", "/console/certificates", map[string]any{"name": name, "algorithm": "EC_P256", "subject": map[string]string{"commonName": name},
			"groups": []string{group}}).must(t, 201, "certificate "+name).json(t, &out)
		activate(t, sa, out.ID)
		return out.ID
	}
	inA, inB := cert("Dash A cert", a.ID), cert("Dash B cert", b.ID)
	sign := func(certID string, n int, agent string) resp {
		var ds []map[string]string
		for i := range n {
			sum := sha256.Sum256([]byte(agent + string(rune('a'+i))))
			ds = append(ds, map[string]string{"digest": b64(sum[:]), "digestAlgorithm": "SHA256"})
		}
		return sa.do("POST", "/sign", map[string]any{"certificateId": certID, "digests": ds,
			"context": map[string]string{"process": "signum", "agentId": agent}})
	}
	sign(inA, 3, "build-7").must(t, 200, "sign 3 with A")
	sign(inB, 1, "build-8").must(t, 200, "sign 1 with B")
	// B disabled: one denial, by reason.
	sa.do("PATCH", "/console/certificates/"+inB, map[string]any{"enabled": false}).must(t, 200, "disable B")
	sign(inB, 1, "build-8").must(t, 403, "denied")

	var lg struct{ Token string }
	c.do("POST", "/portal/login", map[string]string{"email": "ada@example.com", "password": strongPassword}).must(t, 200, "login").json(t, &lg)
	portal := c.as(lg.Token)
	var d dashboardJSON
	portal.do("GET", "/portal/deployments/"+dep+"/dashboard?days=7", nil).must(t, 200, "portal dashboard").json(t, &d)
	today := time.Now().UTC().Format("2006-01-02")
	if len(d.Days) != 7 || d.To != today || d.Days[6].Date != today {
		t.Fatalf("7 days ending today: %+v", d)
	}
	last := d.Days[6]
	if last.Signed != 4 || last.Denied != 1 || last.ByCertificate[inA] != 3 || last.ByCertificate[inB] != 1 || d.Totals.Signed != 4 || d.Totals.Denied != 1 {
		t.Fatalf("today's counts: %+v totals %+v", last, d.Totals)
	}
	if len(d.Certificates) != 2 || len(d.TopAgents) != 2 || d.TopAgents[0].Name != "build-7" || d.TopAgents[0].Count != 3 ||
		len(d.TopUsers) != 1 || d.TopUsers[0].Count != 4 || d.TopUsers[0].Label == "" ||
		len(d.DeniedBy) != 1 || d.DeniedBy[0].Name != "certificate-inactive" || d.DeniedBy[0].Label == "" {
		t.Fatalf("rankings: %+v", d)
	}
	if d.Licence == nil || d.Licence.SignaturesThisMonth.Used != 4 || d.Licence.Certificates.Used < 2 {
		t.Fatalf("licence: %+v", d.Licence)
	}
	var con dashboardJSON
	sa.do("GET", "/console/dashboard", nil).must(t, 200, "console dashboard").json(t, &con)
	if len(con.Days) != 30 || con.Totals != d.Totals {
		t.Fatalf("console dashboard: %+v", con)
	}

	// The CSV: a row for each certificate that signed today, and today's whole.
	r := portal.do("GET", "/portal/deployments/"+dep+"/dashboard?days=7&format=csv", nil).must(t, 200, "csv")
	if !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv content type %q", r.header.Get("Content-Type"))
	}
	rows, err := csv.NewReader(strings.NewReader(r.body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{today + "," + inA + ",Dash A cert,3,,": true, today + "," + inB + ",Dash B cert,1,,": true, today + ",,all,4,0,1": true}
	for _, row := range rows {
		delete(want, strings.Join(row, ","))
	}
	if len(rows) != 1+7+2 || len(want) != 0 {
		t.Fatalf("csv rows missing %v in %v", want, rows)
	}

	// A role scoped to group A sees A's signatures only, no rankings, no licence.
	var role struct{ ID string }
	sa.do("POST", "/console/roles", map[string]any{"name": "Dash A readers", "areas": map[string]string{"events": "read"},
		"groups": []map[string]any{{"groupId": a.ID, "view": true}}}).must(t, 201, "role").json(t, &role)
	sa.do("POST", "/console/users", map[string]any{"username": "dana", "password": strongPassword, "roles": []string{"signer"}, "role": role.ID}).must(t, 201, "user")
	sa.as("").do("POST", "/console/login", map[string]string{"username": "dana", "password": strongPassword}).must(t, 200, "login dana").json(t, &lg)
	var scoped dashboardJSON
	sa.as(lg.Token).do("GET", "/console/dashboard?days=7", nil).must(t, 200, "scoped dashboard").json(t, &scoped)
	if scoped.Totals.Signed != 3 || scoped.Totals.Denied != 0 || len(scoped.Certificates) != 1 || scoped.Certificates[0].ID != inA ||
		len(scoped.TopUsers) != 0 || len(scoped.DeniedBy) != 0 || scoped.Licence != nil || scoped.Days[6].ByCertificate[inB] != 0 {
		t.Fatalf("scoped: %+v", scoped)
	}

	// Bad input.
	if r := portal.do("GET", "/portal/deployments/"+dep+"/dashboard?days=14", nil).must(t, 400, "days=14"); !strings.Contains(r.body, `"days"`) {
		t.Fatalf("days=14: %s", r.body)
	}
	portal.do("GET", "/portal/deployments/"+dep+"/dashboard?format=xml", nil).must(t, 400, "format=xml")
}
