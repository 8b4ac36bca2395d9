package local_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/opensignum/signum/lib/audit"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/local"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// TestPlanLimits: the demo deployment is on the trial plan (5 certificates, 10 console users,
// 1000 signatures a month, capped). The 6th certificate and the 11th console user — made by a
// console admin or at a first login at an identity provider — are refused with a plan-limit
// problem that says what the plan allows; a deleted certificate frees its place; a per-seat
// plan allows its quantity of users, and a plan without a limit has none. While the month's
// signatures are used up (SigningCapped), signing is refused with a plan-limit problem. No
// refusal leaves anything: no key in KMS, no record, no system-log entry, no signing event.
func TestPlanLimits(t *testing.T) {
	srv := startLocal(t)
	ctx := context.Background()
	st := function.NewParts(envFor(srv)).Store
	con := consoleAdmin(t, srv)
	groups := inGroup(t, con)
	keys := func() int {
		t.Helper()
		n := 0
		p := kms.NewListKeysPaginator(srv.Clients.KMS, &kms.ListKeysInput{})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			n += len(out.Keys)
		}
		return n
	}
	logged := func(action string) int {
		t.Helper()
		entries, err := store.All(ctx, func(ctx context.Context, pr store.PageRequest) (store.Page[tenant.LogEntry], error) {
			return st.ListLog(ctx, srv.Demo.ID, pr)
		})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range entries {
			if e.Action == action {
				n++
			}
		}
		return n
	}
	count := func(f func(context.Context, string, int) (int, error)) int {
		t.Helper()
		n, err := f(ctx, srv.Demo.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	newCert := func(i int) resp {
		return con.do("POST", "/console/certificates", map[string]any{"groups": groups, "algorithm": "EC_P256", "subject": map[string]string{"commonName": fmt.Sprintf("Limit %d", i)}})
	}
	newUser := func(name string) resp {
		return con.do("POST", "/console/users", map[string]any{"username": name, "roles": []string{"signer"}})
	}
	// nothingWritten runs refuse and checks that it wrote nothing.
	nothingWritten := func(what string, refuse func()) {
		t.Helper()
		k, c, u, lc, lu := keys(), count(st.CountCertificates), count(st.CountConsoleUsers), logged("certificate.created"), logged("consoleUser.created")
		refuse()
		if k2, c2, u2, lc2, lu2 := keys(), count(st.CountCertificates), count(st.CountConsoleUsers), logged("certificate.created"), logged("consoleUser.created"); k2 != k || c2 != c || u2 != u || lc2 != lc || lu2 != lu {
			t.Fatalf("%s wrote: keys %d→%d, certificates %d→%d, users %d→%d, log entries %d→%d and %d→%d", what, k, k2, c, c2, u, u2, lc, lc2, lu, lu2)
		}
	}

	// Certificates: 5, then refused; a deleted one frees its place.
	var first struct{ ID string }
	newCert(0).must(t, 201, "certificate 1").json(t, &first)
	for i := 1; i < 5; i++ {
		newCert(i).must(t, 201, fmt.Sprintf("certificate %d", i+1))
	}
	nothingWritten("the 6th certificate", func() {
		problemIs(t, newCert(5), "plan-limit", "The trial plan allows 5 certificates; this deployment has 5. A portal Admin can change the plan", "the 6th certificate")
	})
	con.do("DELETE", "/console/certificates/"+first.ID, nil).must(t, 204, "delete one")
	newCert(6).must(t, 201, "in the freed place")
	problemIs(t, newCert(7), "plan-limit", "allows 5 certificates", "full again")

	// Console users: 10, then refused, by a console admin and at a first login.
	for i := range 10 {
		newUser(fmt.Sprintf("user-%d", i)).must(t, 201, fmt.Sprintf("user %d", i+1))
	}
	nothingWritten("the 11th console user", func() {
		problemIs(t, newUser("user-10"), "plan-limit", "The trial plan allows 10 console users; this deployment has 10.", "the 11th user")
	})
	var dom domainJSON
	con.do("POST", "/console/domains", map[string]any{"kind": "oidc", "name": "Acme IdP", "alias": "acme", "jit": true, "defaultRole": "console-viewer",
		"oidc": map[string]any{"issuer": srv.IdP.Issuer(), "clientId": local.IdPClientID, "clientSecret": local.IdPClientSecret}}).must(t, 201, "OIDC domain").json(t, &dom)
	nothingWritten("a first login over the limit", func() {
		b := newBrowser(t, srv)
		alice := person("alice")
		refused(t, landed(t, b.get(b.oidcLogin(b.startLogin(dom.ID), alice.Username, alice.Password)).redirected(t, "callback")), "403", "The trial plan allows 10 console users")
	})

	// A per-seat plan allows its quantity; without a quantity it sets no user limit, and its
	// certificate limit is its own.
	changeDeployment(t, srv, func(d *tenant.Deployment) { d.Plan, d.Quantity = "enterprise", 11 })
	newUser("user-10").must(t, 201, "the 11th seat")
	problemIs(t, newUser("user-11"), "plan-limit", "The enterprise plan allows 11 console users; this deployment has 11.", "over the seats")
	changeDeployment(t, srv, func(d *tenant.Deployment) { d.Quantity = 0 })
	newUser("user-11").must(t, 201, "no user limit")
	newCert(8).must(t, 201, "a 6th certificate on enterprise")

	// Signatures: a capped month refuses signing, and nothing is recorded.
	changeDeployment(t, srv, func(d *tenant.Deployment) { d.Plan, d.Quantity = "trial", 0 })
	var cert struct{ ID string }
	var list struct{ Items []struct{ ID, Status string } }
	con.do("GET", "/console/certificates?limit=100", nil).must(t, 200, "list").json(t, &list)
	for _, c := range list.Items {
		if c.Status == "pending" {
			cert.ID = c.ID
			break
		}
	}
	activate(t, con, cert.ID)
	sum := sha256.Sum256([]byte("artifact"))
	body := map[string]any{"certificateId": cert.ID, "digests": []map[string]string{{"digest": b64(sum[:]), "digestAlgorithm": "SHA256"}}}
	// signed counts the signed completions: a capped request signs nothing. (A signer
	// instance that had the deployment cached as not capped decides on it and records that,
	// then finds the deployment changed when it confirms its reads, before the key is used,
	// closes that decision unsigned and decides again on fresh reads, where the cap refuses:
	// the protocol of every cached read that turns out stale.)
	signed := func() int {
		t.Helper()
		page, err := st.ListEvents(ctx, srv.Demo.ID, store.EventFilter{}, store.PageRequest{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range page.Items {
			if e.Outcome == audit.Signed {
				n++
			}
		}
		return n
	}
	con.do("POST", "/sign", body).must(t, 200, "sign")
	changeDeployment(t, srv, func(d *tenant.Deployment) { d.SigningCapped = true })
	before := signed()
	problemIs(t, con.do("POST", "/sign", body), "plan-limit", "The trial plan includes 1000 signatures a month and they are used up;", "capped")
	all := func() int {
		t.Helper()
		page, err := st.ListEvents(ctx, srv.Demo.ID, store.EventFilter{}, store.PageRequest{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		return len(page.Items)
	}
	recorded := all()
	problemIs(t, con.do("POST", "/sign", body), "plan-limit", "used up", "capped again")
	if n := all(); n != recorded {
		t.Fatalf("a capped request on a deployment known capped recorded %d events", n-recorded)
	}
	if n := signed(); n != before {
		t.Fatalf("capped requests signed %d times", n-before)
	}
	con.do("GET", "/sign/certificates", nil).must(t, 200, "listing while capped")
	changeDeployment(t, srv, func(d *tenant.Deployment) { d.SigningCapped = false })
	con.do("POST", "/sign", body).must(t, 200, "sign after the cap is lifted")
}
