package local_test

import (
	"strings"
	"testing"
)

// TestScopedRoleIsolation: a custom role scoped to certificate group A manages A's certificates
// and policies; group B's certificates do not exist for it — not listed, not counted, not read,
// not changed, not named in a policy — while the Signum Administrator sees both.
func TestScopedRoleIsolation(t *testing.T) {
	srv := startLocal(t)
	sa := consoleAdmin(t, srv)
	var a, b groupJSON
	sa.do("POST", "/console/certificate-groups", map[string]any{"name": "Team A"}).must(t, 201, "group A").json(t, &a)
	sa.do("POST", "/console/certificate-groups", map[string]any{"name": "Team B"}).must(t, 201, "group B").json(t, &b)
	cert := func(c client, name, group string, want int) string {
		var out struct{ ID string }
		c.do("POST", "/console/certificates", map[string]any{"name": name, "algorithm": "EC_P256", "subject": map[string]string{"commonName": name},
			"groups": []string{group}}).must(t, want, "certificate "+name).json(t, &out)
		return out.ID
	}
	inA, inB := cert(sa, "A signing", a.ID, 201), cert(sa, "B signing", b.ID, 201)

	var role struct{ ID string }
	sa.do("POST", "/console/roles", map[string]any{"name": "Team A admins",
		"areas":  map[string]string{"certificates": "manage", "policies": "manage", "events": "read"},
		"groups": []map[string]any{{"groupId": a.ID, "view": true, "add": true, "remove": true, "assign": true}}}).must(t, 201, "role").json(t, &role)
	sa.do("POST", "/console/users", map[string]any{"username": "anna", "password": strongPassword, "roles": []string{"signer"}, "role": role.ID}).must(t, 201, "user")
	var lg struct{ Token string }
	sa.as("").do("POST", "/console/login", map[string]string{"username": "anna", "password": strongPassword}).must(t, 200, "login").json(t, &lg)
	anna := sa.as(lg.Token)

	// Listings: only A's certificates and group, in full pages.
	var list struct {
		Items []struct{ ID string }
		Next  string
	}
	anna.do("GET", "/console/certificates?limit=1", nil).must(t, 200, "list").json(t, &list)
	if len(list.Items) != 1 || list.Items[0].ID != inA || list.Next != "" {
		t.Fatalf("scoped listing %+v", list)
	}
	var groups struct{ Items []groupJSON }
	anna.do("GET", "/console/certificate-groups", nil).must(t, 200, "groups").json(t, &groups)
	if len(groups.Items) != 1 || groups.Items[0].ID != a.ID {
		t.Fatalf("scoped groups %+v", groups.Items)
	}
	sa.do("GET", "/console/certificates", nil).must(t, 200, "SA list").json(t, &list)
	if len(list.Items) != 2 {
		t.Fatalf("the Signum Administrator sees %d certificates", len(list.Items))
	}

	// B's certificate answers as one that does not exist, whatever is asked.
	missing := sa.do("GET", "/console/certificates/crt_nothing", nil).must(t, 404, "missing").body
	for _, probe := range []struct{ method, path string }{
		{"GET", "/console/certificates/" + inB}, {"GET", "/console/certificates/" + inB + "/chain"},
		{"PATCH", "/console/certificates/" + inB}, {"DELETE", "/console/certificates/" + inB},
		{"POST", "/console/certificates/" + inB + "/renew"}, {"GET", "/console/certificate-groups/" + b.ID},
	} {
		var body any
		switch probe.method {
		case "PATCH":
			body = map[string]any{"name": "taken over"}
		case "POST":
			body = map[string]any{}
		}
		r := anna.do(probe.method, probe.path, body).must(t, 404, probe.method+" "+probe.path)
		if strings.Contains(r.body, "B signing") || strings.Contains(r.body, "Team B") {
			t.Fatalf("%s %s leaks: %s", probe.method, probe.path, r.body)
		}
	}
	if !strings.Contains(missing, "No certificate has the id") {
		t.Fatalf("missing: %s", missing)
	}
	anna.do("POST", "/console/policies/evaluate", map[string]any{"userId": "cu_x", "certificateId": inB}).must(t, 404, "dry run on B")

	// Creating: in A yes, in B no; moving A's certificate into B no.
	cert(anna, "A second", a.ID, 201)
	cert(anna, "Into B", b.ID, 403)
	anna.do("PATCH", "/console/certificates/"+inA, map[string]any{"groups": []string{a.ID, b.ID}}).must(t, 403, "move into B")
	anna.do("PATCH", "/console/certificates/"+inA, map[string]any{"name": "A release"}).must(t, 200, "rename in A")

	// Policies: A's group and certificate may be named; B's and "*" not; the default policy
	// (every certificate) is neither changed nor deleted by the scoped role, and reads
	// without what it cannot see.
	pol := func(what map[string]any, want int) {
		anna.do("POST", "/console/policies", map[string]any{"name": "p" + strings.ToLower(t.Name()[:4]) + what["tag"].(string), "enabled": true, "priority": 5, "action": "allow",
			"what": map[string]any{"certificates": what["certificates"], "groups": what["groups"]},
			"who":  map[string]any{"users": []string{}, "roles": []string{"signer"}}}).must(t, want, "policy "+what["tag"].(string))
	}
	pol(map[string]any{"tag": "a", "certificates": []string{inA}, "groups": []string{a.ID}}, 201)
	pol(map[string]any{"tag": "b", "certificates": []string{inB}, "groups": []string{}}, 403)
	pol(map[string]any{"tag": "g", "certificates": []string{}, "groups": []string{b.ID}}, 403)
	pol(map[string]any{"tag": "all", "certificates": []string{}, "groups": []string{"*"}}, 403)
	anna.do("DELETE", "/console/policies/pol_default", nil).must(t, 403, "delete the default policy")
	var def struct{ What struct{ Groups []string } }
	anna.do("GET", "/console/policies/pol_default", nil).must(t, 200, "read the default policy").json(t, &def)
	if len(def.What.Groups) != 0 {
		t.Fatalf("the scoped role reads the default policy's groups %v", def.What.Groups)
	}

	// Events: listed only for A's certificates; the whole log's check is not for a scoped role.
	anna.do("GET", "/console/events?certificateId="+inB, nil).must(t, 200, "events of B")
	anna.do("GET", "/console/events/verify", nil).must(t, 403, "verify the whole log")

	// A certificate in A and B: anna sees it (A) but may not delete or renew it (not in B).
	both := cert(sa, "A and B", a.ID, 201)
	sa.do("PATCH", "/console/certificates/"+both, map[string]any{"groups": []string{a.ID, b.ID}}).must(t, 200, "into B too")
	anna.do("GET", "/console/certificates/"+both, nil).must(t, 200, "sees it through A")
	anna.do("DELETE", "/console/certificates/"+both, nil).must(t, 403, "delete it from B too")
	anna.do("PATCH", "/console/certificates/"+both, map[string]any{"name": "renamed"}).must(t, 403, "change it in B too")

	// The owner signs without a policy: naming one needs Assign (review finding).
	var keeper struct{ ID string }
	sa.do("POST", "/console/roles", map[string]any{"name": "Team A keepers", "areas": map[string]string{"certificates": "manage"},
		"groups": []map[string]any{{"groupId": a.ID, "view": true, "add": true, "remove": true}}}).must(t, 201, "keeper role").json(t, &keeper)
	var otto struct{ ID string }
	sa.do("POST", "/console/users", map[string]any{"username": "otto", "password": strongPassword, "roles": []string{"signer"}, "role": keeper.ID}).must(t, 201, "otto").json(t, &otto)
	sa.as("").do("POST", "/console/login", map[string]string{"username": "otto", "password": strongPassword}).must(t, 200, "otto logs in").json(t, &lg)
	ottoC := sa.as(lg.Token)
	ottoC.do("PATCH", "/console/certificates/"+inA, map[string]any{"owner": otto.ID}).must(t, 403, "make itself the owner")
	ottoC.do("POST", "/console/certificates", map[string]any{"name": "Owned", "algorithm": "EC_P256", "subject": map[string]string{"commonName": "Owned"},
		"groups": []string{a.ID}, "owner": otto.ID}).must(t, 403, "create one it owns")
	ottoC.do("PATCH", "/console/certificates/"+inA, map[string]any{"name": "A release 2"}).must(t, 200, "other changes need only Remove")

	// Areas: none for users, domains, settings and the system log.
	anna.do("GET", "/console/users", nil).must(t, 403, "users")
	anna.do("GET", "/console/system-log", nil).must(t, 403, "system log")
	anna.do("GET", "/console/domains", nil).must(t, 403, "domains")
	var session struct {
		CustomRole string
		Areas      map[string]string
	}
	anna.do("GET", "/console/session", nil).must(t, 200, "session").json(t, &session)
	if session.CustomRole != role.ID || session.Areas["certificates"] != "manage" || session.Areas["users"] != "none" {
		t.Fatalf("session %+v", session)
	}
}

// TestScopedUserDomains: a custom role manages the users of the domains it names only: here the
// Local users domain, not the Certificate users domain.
func TestScopedUserDomains(t *testing.T) {
	srv := startLocal(t)
	sa := consoleAdmin(t, srv)
	var role struct{ ID string }
	sa.do("POST", "/console/roles", map[string]any{"name": "Local user admins", "areas": map[string]string{"users": "manage"},
		"domains": []string{"local"}}).must(t, 201, "role").json(t, &role)
	sa.do("POST", "/console/users", map[string]any{"username": "lena", "password": strongPassword, "roles": []string{"signer"}, "role": role.ID}).must(t, 201, "user")
	var cert struct{ ID string }
	sa.do("POST", "/console/users", map[string]any{"username": "build-agent", "roles": []string{"signer"}}).must(t, 201, "certificate user").json(t, &cert)
	var lg struct{ Token string }
	sa.as("").do("POST", "/console/login", map[string]string{"username": "lena", "password": strongPassword}).must(t, 200, "login").json(t, &lg)
	lena := sa.as(lg.Token)

	var local struct{ ID string }
	lena.do("POST", "/console/users", map[string]any{"username": "luke", "password": strongPassword, "roles": []string{"signer"}}).must(t, 201, "a local user").json(t, &local)
	lena.do("PATCH", "/console/users/"+local.ID, map[string]any{"name": "Luke"}).must(t, 200, "change a local user")
	if body := lena.do("POST", "/console/users", map[string]any{"username": "agent-2", "roles": []string{"signer"}}).must(t, 403, "a certificate user").body; !strings.Contains(body, "certificate") {
		t.Fatalf("refusal: %s", body)
	}
	lena.do("PATCH", "/console/users/"+cert.ID, map[string]any{"name": "Agent"}).must(t, 403, "change a certificate user")
	lena.do("DELETE", "/console/users/"+cert.ID, nil).must(t, 403, "delete a certificate user")
	lena.do("POST", "/console/users/"+cert.ID+"/client-certificates", map[string]any{"kind": "pinned", "certificate": "x"}).must(t, 403, "pin a certificate")
	lena.do("GET", "/console/users", nil).must(t, 200, "read users")

	// No way up: a role that manages users gives only the signer role and changes only users
	// who hold no more (review finding: it could make itself a console admin).
	lena.do("POST", "/console/users", map[string]any{"username": "mallory", "password": strongPassword, "roles": []string{"console-admin"}}).must(t, 403, "create a console admin")
	var carl struct{ ID string }
	sa.do("POST", "/console/users", map[string]any{"username": "carl", "password": strongPassword, "roles": []string{"console-admin"}}).must(t, 201, "a console admin").json(t, &carl)
	lena.do("PATCH", "/console/users/"+carl.ID, map[string]any{"password": strongPassword + "x"}).must(t, 403, "reset a console admin's password")
	lena.do("DELETE", "/console/users/"+carl.ID, nil).must(t, 403, "delete a console admin")
	lena.do("PATCH", "/console/users/"+local.ID, map[string]any{"roles": []string{"console-admin"}}).must(t, 403, "raise a signer")
	var session struct{ UserID string }
	lena.do("GET", "/console/session", nil).must(t, 200, "session").json(t, &session)
	lena.do("PATCH", "/console/users/"+session.UserID, map[string]any{"roles": []string{"signer", "console-admin"}}).must(t, 403, "raise itself")
	lena.do("PATCH", "/console/users/"+session.UserID, map[string]any{"name": "Lena"}).must(t, 403, "change itself (it holds a custom role)")
	lena.do("POST", "/console/roles", map[string]any{"name": "x"}).must(t, 403, "roles are the Signum Administrator's")

	// The Certificate users domain is a domain a role can name.
	var agentsRole struct{ ID string }
	sa.do("POST", "/console/roles", map[string]any{"name": "Agent admins", "areas": map[string]string{"users": "manage"},
		"domains": []string{"certificate"}}).must(t, 201, "a role of the Certificate users domain").json(t, &agentsRole)
	sa.do("POST", "/console/users", map[string]any{"username": "ada2", "password": strongPassword, "roles": []string{"signer"}, "role": agentsRole.ID}).must(t, 201, "its user")
	sa.as("").do("POST", "/console/login", map[string]string{"username": "ada2", "password": strongPassword}).must(t, 200, "login").json(t, &lg)
	ada := sa.as(lg.Token)
	ada.do("POST", "/console/users", map[string]any{"username": "agent-3", "roles": []string{"signer"}}).must(t, 201, "a certificate user")
	ada.do("PATCH", "/console/users/"+local.ID, map[string]any{"name": "L"}).must(t, 403, "a local user")
}
