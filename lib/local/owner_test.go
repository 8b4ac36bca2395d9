package local_test

import (
	"crypto/sha256"
	"net/url"
	"strings"
	"testing"

	"github.com/opensignum/signum/lib/provisioning"
)

// TestOwnerDoesNotOutrankPolicies drives the owner exception over HTTP, the way the review
// found it: a certificate's owner may sign without any policy, but a Deny that names the owner
// refuses it even at the highest priority, and a demotion to portal Viewer (which loses the
// signer role) ends the exception with the very next request. A certificate that is disabled
// signs for nobody, its owner included.
func TestOwnerDoesNotOutrankPolicies(t *testing.T) {
	srv := startLocal(t)
	con := consoleAdmin(t, srv)
	c := client{t: t, srv: srv}
	dep := srv.Demo.ID

	var cert struct{ ID string }
	con.do("POST", "/console/certificates", map[string]any{"groups": inGroup(t, con), "algorithm": "EC_P256", "subject": map[string]string{"commonName": "Owner test"}}).must(t, 201, "cert").json(t, &cert)
	activate(t, con, cert.ID)

	// Bob, a portal User, owns the certificate and signs with his console token.
	var lg struct{ Token string }
	c.do("POST", "/portal/login", map[string]string{"email": "ada@example.com", "password": strongPassword}).must(t, 200, "login").json(t, &lg)
	portalAdmin := c.as(lg.Token)
	var inv struct{ Token string }
	portalAdmin.do("POST", "/portal/deployments/"+dep+"/users", map[string]string{"role": "User"}).must(t, 201, "invite").json(t, &inv)
	_, bobID := register(t, c, inv.Token, "bob@example.com")
	// asBob logs Bob in afresh: a change of role ends the tokens issued before it.
	asBob := func() client {
		var lg, ct struct{ Token string }
		c.do("POST", "/portal/login", map[string]string{"email": "bob@example.com", "password": strongPassword}).must(t, 200, "login bob").json(t, &lg)
		c.as(lg.Token).do("POST", "/portal/deployments/"+dep+"/console-token", nil).must(t, 200, "console token").json(t, &ct)
		return con.as(ct.Token)
	}
	bob := asBob()
	con.do("PATCH", "/console/certificates/"+cert.ID, map[string]string{"owner": bobID}).must(t, 200, "owner")

	sum := sha256.Sum256([]byte("owner.exe"))
	sign := func(who client) resp {
		return who.do("POST", "/sign", map[string]any{"certificateId": cert.ID,
			"digests": []map[string]string{{"digest": b64(sum[:]), "digestAlgorithm": "SHA256"}}})
	}

	// ok/owner-without-policy: with no policy left at all, the owner still signs.
	con.do("DELETE", "/console/policies/"+provisioning.DefaultPolicyID, nil).must(t, 204, "delete the default policy")
	sign(bob).must(t, 200, "owner without any policy")

	// fail/deny-names-owner: a Deny at the highest priority naming the owner refuses it.
	var deny struct{ ID string }
	con.do("POST", "/console/policies", map[string]any{"name": "Freeze Bob", "enabled": true, "priority": 1_000_000, "action": "deny",
		"what": map[string]any{"certificates": []string{cert.ID}}, "who": map[string]any{"users": []string{bobID}}}).must(t, 201, "deny").json(t, &deny)
	sign(bob).must(t, 403, "owner named by a deny policy")
	con.do("DELETE", "/console/policies/"+deny.ID, nil).must(t, 204, "delete the deny")
	sign(bob).must(t, 200, "owner once the deny is gone")

	// fail/demoted-owner: a portal Viewer holds no signer role, so owning the certificate no
	// longer lets Bob sign, and it is no longer among those he may sign with.
	portalAdmin.do("PATCH", "/portal/deployments/"+dep+"/users/"+bobID, map[string]string{"role": "Viewer"}).must(t, 200, "demote")
	bob = asBob()
	sign(bob).must(t, 403, "owner demoted to Viewer")
	var list struct{ Items []struct{ ID string } }
	if r := bob.do("GET", "/sign/certificates", nil); r.status == 200 {
		r.json(t, &list)
		for _, it := range list.Items {
			if it.ID == cert.ID {
				t.Fatalf("a demoted owner still lists the certificate as signable: %s", r.body)
			}
		}
	} else if r.status != 403 {
		t.Fatalf("signable certificates of a Viewer: %d %s", r.status, r.body)
	}
	var d struct {
		Allowed, Owner bool
		Reason         string
	}
	con.do("POST", "/console/policies/evaluate", map[string]any{"userId": bobID, "certificateId": cert.ID}).must(t, 200, "dry run").json(t, &d)
	if d.Allowed || d.Owner || !strings.Contains(d.Reason, "owns") {
		t.Fatalf("dry run for the demoted owner: %+v", d)
	}

	// ok/promoted-again: the exception comes back with the signer role; a disabled
	// certificate still signs for nobody.
	portalAdmin.do("PATCH", "/portal/deployments/"+dep+"/users/"+bobID, map[string]string{"role": "User"}).must(t, 200, "promote")
	bob = asBob()
	sign(bob).must(t, 200, "owner with the signer role again")
	con.do("PATCH", "/console/certificates/"+cert.ID, map[string]bool{"enabled": false}).must(t, 200, "disable")
	sign(bob).must(t, 403, "owner of a disabled certificate")
}

// TestDenialNamesNoPolicy: a signer refused by a policy is told that a policy denies, not
// which one (it may not read policies); the event log, for auditors, keeps the policy and the
// full reason. A request no policy allows is told so, without names either.
func TestDenialNamesNoPolicy(t *testing.T) {
	srv := startLocal(t)
	con := consoleAdmin(t, srv)
	var cert struct{ ID string }
	con.do("POST", "/console/certificates", map[string]any{"groups": inGroup(t, con), "algorithm": "EC_P256", "subject": map[string]string{"commonName": "Denial test"}}).must(t, 201, "cert").json(t, &cert)
	activate(t, con, cert.ID)

	var bot struct{ ID string }
	con.do("POST", "/console/users", map[string]any{"username": "ci-bot", "name": "CI", "password": strongPassword, "roles": []string{"signer"}}).must(t, 201, "signer").json(t, &bot)
	var lg struct{ Token string }
	con.do("POST", "/console/login", map[string]string{"username": "ci-bot", "password": strongPassword}).must(t, 200, "bot login").json(t, &lg)
	ci := con.as(lg.Token)
	sum := sha256.Sum256([]byte("denied.exe"))
	sign := func() resp {
		return ci.do("POST", "/sign", map[string]any{"certificateId": cert.ID,
			"digests": []map[string]string{{"digest": b64(sum[:]), "digestAlgorithm": "SHA256"}}})
	}
	const name = "Secret freeze of the release key"
	var allow, deny struct{ ID string }
	con.do("POST", "/console/policies", map[string]any{"name": "Hidden CI allowance", "enabled": true, "priority": 5, "action": "allow",
		"what": map[string]any{"certificates": []string{cert.ID}}, "who": map[string]any{"users": []string{bot.ID}}}).must(t, 201, "allow").json(t, &allow)
	// The certificates the bot may sign with are listed without the policy that allows them.
	if r := ci.do("GET", "/sign/certificates", nil).must(t, 200, "listing"); !strings.Contains(r.body, cert.ID) || strings.Contains(r.body, allow.ID) || strings.Contains(r.body, "policyId") {
		t.Errorf("listing names the allowing policy, or not the certificate: %s", r.body)
	}
	con.do("POST", "/console/policies", map[string]any{"name": name, "enabled": true, "priority": 50, "action": "deny",
		"what": map[string]any{"certificates": []string{cert.ID}}, "who": map[string]any{"roles": []string{"signer"}}}).must(t, 201, "deny").json(t, &deny)

	names := func(r resp, what string) {
		t.Helper()
		var p struct{ Detail string }
		r.json(t, &p)
		for _, secret := range []string{deny.ID, name, allow.ID, "Hidden CI allowance", provisioning.DefaultPolicyID, "Default signing policy", "priority"} {
			if strings.Contains(r.body, secret) {
				t.Errorf("%s: the answer names %q: %s", what, secret, r.body)
			}
		}
		if !strings.Contains(p.Detail, "not allowed") || !strings.Contains(p.Detail, cert.ID) {
			t.Errorf("%s: detail %q does not say what was refused", what, p.Detail)
		}
	}
	r := sign().must(t, 403, "denied by a policy")
	names(r, "denied by a policy")
	if !strings.Contains(r.body, "a policy denies this request") {
		t.Errorf("denied by a policy: %s", r.body)
	}

	// The auditor's event log keeps which policy denied, and why.
	var events struct {
		Items []struct{ Decision, PolicyID, Reason string }
	}
	con.do("GET", "/console/events?decision=deny&userId="+url.QueryEscape(bot.ID), nil).must(t, 200, "events").json(t, &events)
	found := false
	for _, e := range events.Items {
		found = found || e.PolicyID == deny.ID && strings.Contains(e.Reason, name)
	}
	if !found {
		t.Fatalf("the event log lost the deciding policy: %+v", events.Items)
	}

	// No policy matches once the allow is gone and the deny disabled: no names either.
	con.do("DELETE", "/console/policies/"+allow.ID, nil).must(t, 204, "delete allow")
	var cur struct{ Version int64 }
	con.do("GET", "/console/policies/"+deny.ID, nil).must(t, 200, "get deny").json(t, &cur)
	con.do("PUT", "/console/policies/"+deny.ID, map[string]any{"name": name, "enabled": false, "priority": 50, "action": "deny", "version": cur.Version,
		"what": map[string]any{"certificates": []string{cert.ID}}, "who": map[string]any{"roles": []string{"signer"}}}).must(t, 200, "disable deny")
	r = sign().must(t, 403, "no policy allows")
	names(r, "no policy allows")
	if !strings.Contains(r.body, "no policy allows this request") {
		t.Errorf("no policy allows: %s", r.body)
	}
}
