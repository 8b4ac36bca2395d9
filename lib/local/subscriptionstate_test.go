package local_test

import (
	"context"
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/local"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
	"github.com/opensignum/signum/lib/token"
)

// changeDeployment changes the demo deployment through the store, as the marketplace's
// events do, and returns it as stored.
func changeDeployment(t *testing.T, srv *local.Server, f func(*tenant.Deployment)) tenant.Deployment {
	t.Helper()
	ctx := context.Background()
	st := function.NewParts(envFor(srv)).Store
	cur, err := st.GetDeployment(ctx, srv.Demo.ID)
	if err != nil {
		t.Fatal(err)
	}
	next := cur
	f(&next)
	if next, err = st.UpdateDeployment(ctx, cur, next, nil); err != nil {
		t.Fatal(err)
	}
	return next
}

// problemIs fails the test unless r is a 403 problem of type typ whose detail says want.
func problemIs(t *testing.T, r resp, typ, want, what string) {
	t.Helper()
	var p struct{ Detail string }
	r.must(t, 403, what).json(t, &p)
	if r.problemType() != typ || !strings.Contains(p.Detail, want) {
		t.Fatalf("%s: want %s saying %q: %s", what, typ, want, r.body)
	}
}

// TestSubscriptionState: what a deployment's subscription state lets through, as the
// marketplace moves it. Suspended: the signer refuses everything, the console reads (the
// policies' dry run too) and refuses every change, people log in with a password or at their
// identity provider, but a CI job gets no session and a first login at an identity provider
// makes no user; the portal reads and opens the console, and refuses changes. Reinstated:
// everything works again at once. Cancelled: the signer and the console refuse everything,
// their logins and opening the console from the portal included; the portal still reads, and
// the operator still sees the deployment. Nothing refused is written. Another tenant's caller,
// an anonymous caller of a route that needs a token, and a caller outside the IP allowlist
// learn nothing of the state.
func TestSubscriptionState(t *testing.T) {
	srv := startLocal(t)
	ctx := context.Background()
	st := function.NewParts(envFor(srv)).Store
	con := consoleAdmin(t, srv)
	anon := client{t: t, srv: srv, host: local.DemoDomain}
	var portal struct{ Token string }
	client{t: t, srv: srv}.do("POST", "/portal/login", map[string]string{"email": "ada@example.com", "password": strongPassword}).must(t, 200, "portal login").json(t, &portal)
	pa := client{t: t, srv: srv, token: portal.Token}
	depPath := "/portal/deployments/" + srv.Demo.ID

	// Active: a certificate to sign with, a console viewer who logs in with a password, and
	// alice of an OIDC domain that makes users at their first login (bob has no user yet).
	var cert struct{ ID string }
	con.do("POST", "/console/certificates", map[string]any{"groups": inGroup(t, con), "algorithm": "EC_P256", "subject": map[string]string{"commonName": "State"}}).must(t, 201, "cert").json(t, &cert)
	activate(t, con, cert.ID)
	sum := sha256.Sum256([]byte("artifact"))
	signBody := map[string]any{"certificateId": cert.ID, "digests": []map[string]string{{"digest": b64(sum[:]), "digestAlgorithm": "SHA256"}}}
	con.do("POST", "/sign", signBody).must(t, 200, "active: sign")
	var vera struct{ ID string }
	con.do("POST", "/console/users", map[string]any{"username": "vera", "password": strongPassword, "roles": []string{"console-viewer"}}).must(t, 201, "viewer").json(t, &vera)
	dryRun := map[string]any{"userId": vera.ID, "certificateId": cert.ID}
	var dom domainJSON
	con.do("POST", "/console/domains", map[string]any{"kind": "oidc", "name": "Acme IdP", "alias": "acme", "jit": true, "defaultRole": "console-viewer",
		"oidc": map[string]any{"issuer": srv.IdP.Issuer(), "clientId": local.IdPClientID, "clientSecret": local.IdPClientSecret}}).must(t, 201, "OIDC domain").json(t, &dom)
	sso := func(name string) map[string][]string {
		t.Helper()
		b := newBrowser(t, srv)
		p := person(name)
		return landed(t, b.get(b.oidcLogin(b.startLogin(dom.ID), p.Username, p.Password)).redirected(t, "callback"))
	}
	loggedIn(t, sso("alice"))
	policies := func() int {
		t.Helper()
		all, err := st.AllPolicies(ctx, srv.Demo.ID)
		if err != nil {
			t.Fatal(err)
		}
		return len(all)
	}
	users := func() int {
		t.Helper()
		n, err := st.CountConsoleUsers(ctx, srv.Demo.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	policy := map[string]any{"name": "CI", "enabled": true, "priority": 20, "action": "allow", "what": map[string]any{"groups": []string{"*"}},
		"who": map[string]any{"roles": []string{"signer"}}, "where": []map[string]string{}}

	t.Run("suspended", func(t *testing.T) {
		if d := changeDeployment(t, srv, func(d *tenant.Deployment) { d.Status = tenant.StatusSuspended }); d.Status != tenant.StatusSuspended {
			t.Fatalf("status %s", d.Status)
		}
		const signing, readOnly = "suspended; signing resumes when the marketplace reinstates it. A portal Admin can settle it in the marketplace.", "suspended, so its console is read-only"
		problemIs(t, con.do("POST", "/sign", signBody), "subscription-inactive", signing, "sign")
		problemIs(t, con.do("GET", "/sign/certificates", nil), "subscription-inactive", signing, "list to sign")
		problemIs(t, anon.do("POST", "/console/workload-session", map[string]string{"token": "x"}), "subscription-inactive", signing, "CI session")

		con.do("GET", "/console/session", nil).must(t, 200, "session")
		con.do("GET", "/console/certificates", nil).must(t, 200, "certificates")
		con.do("GET", "/console/certificates/"+cert.ID, nil).must(t, 200, "certificate")
		con.do("GET", "/console/policies", nil).must(t, 200, "policies")
		con.do("GET", "/console/events", nil).must(t, 200, "events")
		con.do("GET", "/console/system-log", nil).must(t, 200, "system log")
		con.do("POST", "/console/policies/evaluate", dryRun).must(t, 200, "dry run")

		before, usersBefore := policies(), users()
		problemIs(t, con.do("POST", "/console/policies", policy), "subscription-inactive", readOnly, "new policy")
		problemIs(t, con.do("POST", "/console/users", map[string]any{"username": "nina", "password": strongPassword, "roles": []string{"signer"}}), "subscription-inactive", readOnly, "new user")
		problemIs(t, con.do("POST", "/console/certificates", map[string]any{"groups": inGroupRead(t, con), "algorithm": "EC_P256", "subject": map[string]string{"commonName": "X"}}), "subscription-inactive", readOnly, "new certificate")
		problemIs(t, con.do("PATCH", "/console/domains/local", map[string]any{}), "subscription-inactive", readOnly, "domain settings")
		problemIs(t, con.do("DELETE", "/console/certificates/"+cert.ID, nil), "subscription-inactive", readOnly, "delete certificate")
		if policies() != before || users() != usersBefore {
			t.Fatalf("refused changes wrote: %d policies (was %d), %d users (was %d)", policies(), before, users(), usersBefore)
		}
		// Refusals tell the state only to the deployment's callers the rule admits.
		anon.do("POST", "/console/policies", policy).must(t, 401, "no token")
		con.as("").do("GET", "/console/certificates", nil).must(t, 401, "no token, read")
		otherDeploymentCaller(t, srv).do("POST", "/console/policies", policy).must(t, 404, "another tenant's token")

		// Logins work: a password, the portal opening the console, an identity provider's
		// user that exists; a first login there makes no user.
		var lg struct{ Token string }
		anon.do("POST", "/console/login", map[string]string{"username": "vera", "password": strongPassword}).must(t, 200, "password login").json(t, &lg)
		anon.as(lg.Token).do("GET", "/console/certificates", nil).must(t, 200, "viewer reads")
		var ct struct{ Token string }
		pa.do("POST", depPath+"/console-token", nil).must(t, 200, "console from the portal").json(t, &ct)
		anon.as(ct.Token).do("GET", "/console/session", nil).must(t, 200, "portal user's console session")
		loggedIn(t, sso("alice"))
		refused(t, sso("bob"), "403", readOnly)
		if users() != usersBefore {
			t.Fatalf("a first login while suspended made a user: %d users, was %d", users(), usersBefore)
		}

		// The portal reads and shows the state; it changes nothing.
		var d struct{ Status string }
		pa.do("GET", depPath, nil).must(t, 200, "portal deployment").json(t, &d)
		if d.Status != "suspended" {
			t.Fatalf("the portal shows %q", d.Status)
		}
		pa.do("GET", depPath+"/users", nil).must(t, 200, "portal users")
		problemIs(t, pa.do("PATCH", depPath, map[string]any{"name": "Renamed"}), "subscription-inactive", "suspended, so its settings and portal users cannot be changed", "portal settings")
		problemIs(t, pa.do("POST", depPath+"/users", map[string]string{"role": "User"}), "subscription-inactive", "suspended", "portal invite")

		// The IP allowlist still comes first, with its own answer.
		changeDeployment(t, srv, func(d *tenant.Deployment) { d.IPAllowlist, _ = tenant.ParseAllowlist([]string{"203.0.113.0/24"}) })
		r := anon.do("POST", "/console/login", map[string]string{"username": "vera", "password": strongPassword}).must(t, 403, "outside the allowlist")
		if r.problemType() != "forbidden" || strings.Contains(r.body, "suspended") {
			t.Fatalf("outside the allowlist: %s", r.body)
		}
		changeDeployment(t, srv, func(d *tenant.Deployment) { d.IPAllowlist = nil })
	})

	t.Run("reinstated", func(t *testing.T) {
		changeDeployment(t, srv, func(d *tenant.Deployment) { d.Status = tenant.StatusActive })
		con.do("POST", "/sign", signBody).must(t, 200, "sign again")
		con.do("POST", "/console/policies", policy).must(t, 201, "change again")
		loggedIn(t, sso("bob"))
	})

	t.Run("cancelled", func(t *testing.T) {
		changeDeployment(t, srv, func(d *tenant.Deployment) { d.Status = tenant.StatusCancelled })
		const closed = "cancelled, so its console and signer are closed"
		problemIs(t, con.do("POST", "/sign", signBody), "subscription-inactive", closed, "sign")
		problemIs(t, con.do("GET", "/sign/certificates", nil), "subscription-inactive", closed, "list to sign")
		problemIs(t, con.do("GET", "/console/session", nil), "subscription-inactive", closed, "session")
		problemIs(t, con.do("GET", "/console/certificates", nil), "subscription-inactive", closed, "certificates")
		problemIs(t, con.do("POST", "/console/policies/evaluate", dryRun), "subscription-inactive", closed, "dry run")
		problemIs(t, con.do("POST", "/console/policies", policy), "subscription-inactive", closed, "new policy")
		problemIs(t, anon.do("POST", "/console/login", map[string]string{"username": "vera", "password": strongPassword}), "subscription-inactive", closed, "password login")
		problemIs(t, anon.do("GET", "/console/login/domains", nil), "subscription-inactive", closed, "login domains")
		problemIs(t, pa.do("POST", depPath+"/console-token", nil), "subscription-inactive", closed, "console from the portal")
		anon.do("GET", "/console/certificates", nil).must(t, 401, "no token")
		otherDeploymentCaller(t, srv).do("GET", "/console/certificates", nil).must(t, 404, "another tenant's token")

		var d struct{ Status string }
		pa.do("GET", depPath, nil).must(t, 200, "portal deployment").json(t, &d)
		if d.Status != "cancelled" {
			t.Fatalf("the portal shows %q", d.Status)
		}
		pa.do("GET", depPath+"/users", nil).must(t, 200, "portal users")
		problemIs(t, pa.do("PATCH", depPath, map[string]any{"name": "Renamed"}), "subscription-inactive", "cancelled, so the deployment cannot be changed", "portal settings")
		signed(t, srv, "GET", "/operator/deployments/"+srv.Demo.ID, "").must(t, 200, "operator")
	})
}

// inGroupRead is the groups field of a certificate in an existing group, read through con
// (which may only read while the console is read-only).
func inGroupRead(t *testing.T, con client) []string {
	t.Helper()
	var list struct{ Items []groupJSON }
	con.do("GET", "/console/certificate-groups", nil).must(t, 200, "groups").json(t, &list)
	if len(list.Items) == 0 {
		t.Fatal("no certificate group")
	}
	return []string{list.Items[0].ID}
}

// otherDeploymentCaller is a console admin of another deployment whose token is sent to the
// demo deployment's host.
func otherDeploymentCaller(t *testing.T, srv *local.Server) client {
	t.Helper()
	ctx := context.Background()
	parts := function.NewParts(envFor(srv))
	d := tenant.Deployment{ID: tenant.NewID("dep_"), Name: "Other", Status: tenant.StatusActive, Plan: "standard", SoftwareVersion: "1"}
	if _, _, err := parts.Store.Provision(ctx, store.Provisioning{Deployment: d, LocalDomain: identity.DefaultLocalDomain(d.ID), Log: tenant.LogEntry{Actor: "test", Action: "fixture"}}); err != nil {
		t.Fatal(err)
	}
	u, err := parts.Store.CreateConsoleUser(ctx, identity.ConsoleUser{ID: tenant.NewID("cu_"), DeploymentID: d.ID, Username: "mallory",
		Roles: []identity.ConsoleRole{identity.ConsoleAdmin}, Status: identity.StatusActive}, tenant.LogEntry{Actor: "test", Action: "fixture"})
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := parts.Issuer.Issue(ctx, token.Claims{Subject: u.ID, System: token.Console, Deployment: d.ID, Roles: []string{"console-admin"}})
	if err != nil {
		t.Fatal(err)
	}
	return client{t: t, srv: srv, host: local.DemoDomain, token: tok}
}
