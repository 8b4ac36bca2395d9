package local_test

import (
	"strings"
	"testing"

	"github.com/opensignum/signum/lib/provisioning"
)

// TestPoliciesThroughTheAPI: the default policy lets portal Users sign; policies are created,
// refused when they would contradict one at equal priority, replaced with optimistic
// concurrency, disabled and deleted; the dry run says which policy decides and why.
func TestPoliciesThroughTheAPI(t *testing.T) {
	srv := startLocal(t)
	con := consoleAdmin(t, srv)
	c := client{t: t, srv: srv}
	dep := srv.Demo.ID

	// A certificate, and a portal User and a console signer to decide for.
	var cert struct{ ID string }
	con.do("POST", "/console/certificates", map[string]any{"groups": inGroup(t, con), "algorithm": "EC_P256", "subject": map[string]string{"commonName": "Policy test"}}).must(t, 201, "cert").json(t, &cert)
	var viewerInv struct{ Token string }
	var adminTok string
	{
		var lg struct{ Token string }
		c.do("POST", "/portal/login", map[string]string{"email": "ada@example.com", "password": strongPassword}).must(t, 200, "login").json(t, &lg)
		adminTok = lg.Token
	}
	c.as(adminTok).do("POST", "/portal/deployments/"+dep+"/users", map[string]string{"role": "User"}).must(t, 201, "invite").json(t, &viewerInv)
	_, userID := register(t, c, viewerInv.Token, "bob@example.com")
	var signer struct{ ID string }
	con.do("POST", "/console/users", map[string]any{"username": "ci-bot", "name": "CI", "password": strongPassword, "roles": []string{"signer"}}).must(t, 201, "signer").json(t, &signer)

	type decision struct {
		Allowed  bool
		PolicyID string
		Reason   string
	}
	eval := func(user, process string) decision {
		var d decision
		con.do("POST", "/console/policies/evaluate", map[string]any{"userId": user, "certificateId": cert.ID, "process": process}).must(t, 200, "evaluate").json(t, &d)
		return d
	}
	// A pending certificate signs for nobody.
	if d := eval(userID, ""); d.Allowed {
		t.Fatalf("pending certificate allowed: %+v", d)
	}
	// Make it active: import a chain.
	activate(t, con, cert.ID)
	if d := eval(userID, ""); !d.Allowed || d.PolicyID != provisioning.DefaultPolicyID {
		t.Fatalf("portal User under the default policy: %+v", d)
	}
	if d := eval(signer.ID, "make"); d.Allowed || d.Reason == "" {
		t.Fatalf("console signer without a policy: %+v", d)
	}

	// A policy for CI: the signer, this certificate, only from "make".
	pol := map[string]any{"name": "CI", "enabled": true, "priority": 10, "action": "allow",
		"what":  map[string]any{"certificates": []string{cert.ID}},
		"who":   map[string]any{"users": []string{signer.ID}},
		"where": []map[string]string{{"process": "make"}}}
	var created struct {
		ID      string
		Version int64
	}
	con.do("POST", "/console/policies", pol).must(t, 201, "create").json(t, &created)
	if d := eval(signer.ID, "make"); !d.Allowed || d.PolicyID != created.ID {
		t.Fatalf("CI policy: %+v", d)
	}
	if d := eval(signer.ID, "cmake"); d.Allowed {
		t.Fatalf("cmake matched make: %+v", d)
	}
	// A deny at the same priority for the same user and certificate contradicts it.
	deny := map[string]any{"name": "No CI", "enabled": true, "priority": 10, "action": "deny",
		"what": map[string]any{"certificates": []string{cert.ID}}, "who": map[string]any{"users": []string{signer.ID}}}
	if r := con.do("POST", "/console/policies", deny).must(t, 409, "contradiction"); !strings.Contains(r.body, created.ID) {
		t.Fatalf("conflict does not name the policy: %s", r.body)
	}
	// Bad policies name the field.
	bad := map[string]any{"name": "x", "enabled": true, "action": "allow", "what": map[string]any{"groups": []string{"*"}}, "who": map[string]any{"roles": []string{"signer"}},
		"where": []map[string]string{{"process": "a)|(b"}}, "when": map[string]any{"timeZone": "Mars/Olympus", "windows": []map[string]any{{"days": []string{"funday"}, "from": "09:00", "to": "17:00"}}}}
	if r := con.do("POST", "/console/policies", bad).must(t, 400, "bad policy"); !strings.Contains(r.body, "when.windows[0].days") {
		t.Fatalf("bad policy detail: %s", r.body)
	}
	// Replace: without the version read it is refused; with a stale one too.
	pol["enabled"] = false
	con.do("PUT", "/console/policies/"+created.ID, pol).must(t, 400, "replace without version")
	pol["version"] = created.Version
	con.do("PUT", "/console/policies/"+created.ID, pol).must(t, 200, "disable")
	con.do("PUT", "/console/policies/"+created.ID, pol).must(t, 412, "stale replace")
	if d := eval(signer.ID, "make"); d.Allowed {
		t.Fatalf("disabled policy still allows: %+v", d)
	}
	con.do("DELETE", "/console/policies/"+created.ID, nil).must(t, 204, "delete")
	con.do("GET", "/console/policies/"+created.ID, nil).must(t, 404, "deleted")
	// The certificate's owner, holding the signer role, may sign with it without a policy.
	con.do("PATCH", "/console/certificates/"+cert.ID, map[string]string{"owner": signer.ID}).must(t, 200, "owner")
	if d := eval(signer.ID, ""); !d.Allowed {
		t.Fatalf("owner refused: %+v", d)
	}
	// A disabled certificate never signs, not even for its owner.
	con.do("PATCH", "/console/certificates/"+cert.ID, map[string]bool{"enabled": false}).must(t, 200, "disable cert")
	if d := eval(signer.ID, ""); d.Allowed {
		t.Fatalf("disabled certificate allowed its owner: %+v", d)
	}
}
