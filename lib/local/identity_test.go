package local_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/local"
	"github.com/opensignum/signum/lib/store"
)

const strongPassword = "Correct-Horse-9-Battery"

// register uses a deployment link and logs in; it returns the portal token and user id.
func register(t *testing.T, c client, invite, email string) (tok, id string) {
	t.Helper()
	var u struct{ ID, Role string }
	c.do("POST", "/portal/register", map[string]string{"token": invite, "email": email, "name": "T", "password": strongPassword}).
		must(t, 201, "register "+email).json(t, &u)
	var lg struct{ Token string }
	c.do("POST", "/portal/login", map[string]string{"email": email, "password": strongPassword}).must(t, 200, "login "+email).json(t, &lg)
	return lg.Token, u.ID
}

func noSecrets(t *testing.T, r resp) {
	t.Helper()
	for _, s := range []string{"$argon2id", "passwordHash", "PasswordHash", "inv_"} {
		if strings.Contains(r.body, s) {
			t.Fatalf("response leaks %q: %s", s, r.body)
		}
	}
}

// TestPortalEndToEnd: registration → login → portal user management → deployment settings,
// with the refusals along the way, all over HTTP through the local gateway.
func TestPortalEndToEnd(t *testing.T) {
	logs := &syncBuffer{}
	srv := startLocalLogging(t, logs, "debug")
	c := client{t: t, srv: srv}
	dep := srv.Demo.ID
	var secrets []string // everything secret this test handles: none may reach the logs
	defer func() {
		out := logs.String()
		for _, s := range append(secrets, strongPassword, srv.DemoAdminInvite, "Wrong-Password-123", "$argon2id") {
			if s != "" && strings.Contains(out, s) {
				t.Errorf("logs contain a secret (%.12s…)", s)
			}
		}
		if !strings.Contains(out, `"msg":"admitted"`) {
			t.Error("no debug line of admitted principals: is logging at debug on?")
		}
	}()

	// Registration refuses a weak password and names the rule it breaks; nothing is used up.
	weak := c.do("POST", "/portal/register", map[string]string{"token": srv.DemoAdminInvite, "email": "ada@example.com", "name": "Ada", "password": "short"}).must(t, 400, "weak password")
	if !strings.Contains(weak.body, "at least 12 characters") {
		t.Fatalf("weak password detail: %s", weak.body)
	}
	adminTok, adminID := register(t, c, srv.DemoAdminInvite, "ada@example.com")
	admin := c.as(adminTok)
	secrets = append(secrets, adminTok)

	// fail: the link is single-use.
	if r := c.do("POST", "/portal/register", map[string]string{"token": srv.DemoAdminInvite, "email": "eve@example.com", "name": "Eve", "password": strongPassword}); r.status != 410 {
		t.Fatalf("reused link: %d %s", r.status, r.body)
	}
	// fail: an expired link is gone too.
	st := store.New(srv.Clients.DynamoDB, srv.Config.TableName, function.CursorKey(envFor(srv)))
	expiredTok, expiredHash := identity.NewInviteToken()
	if err := st.CreateInvite(context.Background(), expiredHash, identity.Invite{DeploymentID: dep, Role: identity.RoleUser, ExpiresAt: time.Now().Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if r := c.do("POST", "/portal/register", map[string]string{"token": expiredTok, "email": "late@example.com", "name": "Late", "password": strongPassword}); r.status != 410 {
		t.Fatalf("expired link: %d %s", r.status, r.body)
	}

	// Wrong password and unknown user: the same answer.
	wrong := c.do("POST", "/portal/login", map[string]string{"email": "ada@example.com", "password": "Wrong-Password-123"})
	unknown := c.do("POST", "/portal/login", map[string]string{"email": "nobody@example.com", "password": "Wrong-Password-123"})
	if wrong.status != 401 || unknown.status != 401 || stripInstance(wrong.body) != stripInstance(unknown.body) {
		t.Fatalf("login answers differ:\n%s\n%s", wrong.body, unknown.body)
	}

	// The Admin invites a User and a Viewer.
	var inv struct{ Token, Role string }
	r := admin.do("POST", "/portal/deployments/"+dep+"/users", map[string]string{"email": "bob@example.com", "role": "User"}).must(t, 201, "invite")
	r.json(t, &inv)
	secrets = append(secrets, inv.Token)
	bobTok, bobID := register(t, c, inv.Token, "bob@example.com")
	secrets = append(secrets, bobTok)
	admin.do("POST", "/portal/deployments/"+dep+"/users", map[string]string{"role": "Viewer"}).must(t, 201, "invite viewer").json(t, &inv)
	_, viewerID := register(t, c, inv.Token, "vic@example.com")
	// A link made for one address does not register another.
	admin.do("POST", "/portal/deployments/"+dep+"/users", map[string]string{"email": "only@example.com", "role": "User"}).must(t, 201, "invite").json(t, &inv)
	c.do("POST", "/portal/register", map[string]string{"token": inv.Token, "email": "other@example.com", "name": "O", "password": strongPassword}).must(t, 400, "link for another address")

	list := admin.do("GET", "/portal/deployments/"+dep+"/users", nil).must(t, 200, "list users")
	noSecrets(t, list)
	for _, want := range []string{`"email":"ada@example.com","name":"T","role":"Admin"`, `"signumAdministrator":true`, "bob@example.com", "vic@example.com"} {
		if !strings.Contains(list.body, want) {
			t.Errorf("user list lacks %s: %s", want, list.body)
		}
	}
	// fail: a User may not manage users; the last Admin cannot be demoted or removed.
	c.as(bobTok).do("GET", "/portal/deployments/"+dep+"/users", nil).must(t, 403, "User lists users")
	admin.do("PATCH", "/portal/deployments/"+dep+"/users/"+adminID, map[string]string{"role": "User"}).must(t, 409, "demote last Admin")
	admin.do("DELETE", "/portal/deployments/"+dep+"/users/"+adminID, nil).must(t, 409, "remove last Admin")
	// ok: with a second Admin, the first may step down.
	admin.do("PATCH", "/portal/deployments/"+dep+"/users/"+viewerID, map[string]string{"role": "Admin"}).must(t, 200, "promote")
	admin.do("PATCH", "/portal/deployments/"+dep+"/users/"+viewerID, map[string]string{"role": "Viewer"}).must(t, 200, "demote again")
	// A disabled user cannot log in.
	admin.do("PATCH", "/portal/deployments/"+dep+"/users/"+bobID, map[string]string{"status": "disabled"}).must(t, 200, "disable")
	c.do("POST", "/portal/login", map[string]string{"email": "bob@example.com", "password": strongPassword}).must(t, 401, "disabled login")
	admin.do("PATCH", "/portal/deployments/"+dep+"/users/"+bobID, map[string]string{"status": "active"}).must(t, 200, "enable")
	// Disabling ended bob's sessions: his earlier token stays refused; he logs in again.
	c.as(bobTok).do("GET", "/portal/deployments/"+dep, nil).must(t, 401, "token from before the disable")
	var relog struct{ Token string }
	c.do("POST", "/portal/login", map[string]string{"email": "bob@example.com", "password": strongPassword}).must(t, 200, "bob logs in again").json(t, &relog)
	bobTok = relog.Token
	// No API grants the Signum Administrator role.
	admin.do("PATCH", "/portal/deployments/"+dep+"/users/"+bobID, `{"signumAdministrator":true}`).must(t, 400, "grant SA")
	admin.do("POST", "/portal/deployments/"+dep+"/users", `{"role":"Admin","signumAdministrator":true}`).must(t, 400, "invite SA")

	// Lockout: five failures lock the account, even for the right password.
	for i := 0; i < 5; i++ {
		c.do("POST", "/portal/login", map[string]string{"email": "vic@example.com", "password": fmt.Sprintf("Wrong-Guess-%03d", i)}).must(t, 401, "failure")
	}
	c.do("POST", "/portal/login", map[string]string{"email": "vic@example.com", "password": strongPassword}).must(t, 401, "locked")
	admin.do("PATCH", "/portal/deployments/"+dep+"/users/"+viewerID, map[string]bool{"unlock": true}).must(t, 200, "unlock")
	c.do("POST", "/portal/login", map[string]string{"email": "vic@example.com", "password": strongPassword}).must(t, 200, "after unlock")

	// Deployment settings: domain name and IP allowlist, with optimistic concurrency.
	var d struct {
		DomainName  string
		IPAllowlist []string
		Version     int64
	}
	g := admin.do("GET", "/portal/deployments/"+dep, nil).must(t, 200, "get deployment")
	g.json(t, &d)
	etag := g.header.Get("ETag")
	c.as(bobTok).do("PATCH", "/portal/deployments/"+dep, map[string]any{"ipAllowlist": []string{}}).must(t, 403, "User changes settings")
	admin.do("PATCH", "/portal/deployments/"+dep, map[string]any{"ipAllowlist": []string{"300.0.0.0/8"}}).must(t, 400, "bad CIDR")
	admin.do("PATCH", "/portal/deployments/"+dep, map[string]any{"domainName": "ada.localhost", "ipAllowlist": []string{"10.0.0.0/8", "2001:db8::/32"}}, "If-Match", etag).must(t, 200, "settings").json(t, &d)
	if d.DomainName != "ada.localhost" || len(d.IPAllowlist) != 2 {
		t.Fatalf("settings: %+v", d)
	}
	admin.do("PATCH", "/portal/deployments/"+dep, map[string]any{"name": "Stale"}, "If-Match", etag).must(t, 412, "stale If-Match")
	logPage, err := st.ListLog(context.Background(), dep, store.PageRequest{})
	if err != nil || !strings.Contains(logPage.Items[0].Detail, "ada.localhost") || logPage.Items[0].Actor != "portal:"+adminID {
		t.Fatalf("settings change not in the system log: %+v %v", logPage.Items, err)
	}

	// The allowlist applies to the console, not to the portal.
	console := c.at("ada.localhost")
	console.do("POST", "/console/login", map[string]string{"username": "x", "password": "y"}).must(t, 403, "console outside allowlist")
	admin.do("GET", "/portal/deployments/"+dep, nil).must(t, 200, "portal stays reachable")
	admin.do("PATCH", "/portal/deployments/"+dep, map[string]any{"ipAllowlist": []string{"127.0.0.1/32"}}).must(t, 200, "allow loopback")
	console.do("POST", "/console/login", map[string]string{"username": "x", "password": "y"}).must(t, 401, "console inside allowlist (wrong password)")
}

func stripInstance(body string) string {
	if i := strings.Index(body, `"instance"`); i >= 0 {
		return body[:i]
	}
	return body
}

// TestConsoleEndToEnd: a portal Admin opens the console, manages console users and the Local
// users domain; console users log in with the domain's policies.
func TestConsoleEndToEnd(t *testing.T) {
	srv := startLocal(t)
	c := client{t: t, srv: srv}
	adminTok, _ := register(t, c, srv.DemoAdminInvite, "ada@example.com")
	var ct struct {
		Token         string
		Roles         []string
		ConsoleDomain string
	}
	c.as(adminTok).do("POST", "/portal/deployments/"+srv.Demo.ID+"/console-token", nil).must(t, 200, "console token").json(t, &ct)
	if ct.ConsoleDomain != local.DemoDomain || strings.Join(ct.Roles, ",") != "console-admin,signer,signum-administrator" {
		t.Fatalf("console token: %+v", ct)
	}
	con := c.at(local.DemoDomain)
	sa := con.as(ct.Token)
	// A portal token is not a console token.
	con.as(adminTok).do("GET", "/console/session", nil).must(t, 401, "portal token at console")
	sa.do("GET", "/console/session", nil).must(t, 200, "session")

	// Console users: the password policy of the Local users domain applies.
	sa.do("POST", "/console/users", map[string]any{"username": "carol", "name": "Carol", "password": "weak", "roles": []string{"console-admin"}}).must(t, 400, "weak")
	sa.do("POST", "/console/users", map[string]any{"username": "carol", "name": "Carol", "password": strongPassword, "roles": []string{"signum-administrator"}}).must(t, 400, "grant SA")
	var carol struct{ ID string }
	r := sa.do("POST", "/console/users", map[string]any{"username": "Carol", "name": "Carol", "password": strongPassword, "roles": []string{"console-admin"}}).must(t, 201, "create")
	noSecrets(t, r)
	r.json(t, &carol)
	sa.do("POST", "/console/users", map[string]any{"username": "carol", "name": "Again", "password": strongPassword, "roles": []string{"signer"}}).must(t, 409, "duplicate user name")
	sa.do("POST", "/console/users", map[string]any{"username": "sam", "name": "Sam", "password": strongPassword, "roles": []string{"signer"}}).must(t, 201, "signer")

	var lg struct{ Token string }
	con.do("POST", "/console/login", map[string]string{"username": "carol", "password": strongPassword}).must(t, 200, "console login").json(t, &lg)
	carolC := con.as(lg.Token)
	carolC.do("GET", "/console/users", nil).must(t, 200, "console admin lists")
	// Only the Signum Administrator changes the domain's policies.
	policy := map[string]any{"lockoutPolicy": map[string]any{"mode": "permanent", "maxFailures": 3}}
	carolC.do("PATCH", "/console/domains/local", policy).must(t, 403, "console admin edits domain")
	sa.do("PATCH", "/console/domains/local", map[string]any{"lockoutPolicy": map[string]any{"mode": "forever"}}).must(t, 400, "bad policy")
	sa.do("PATCH", "/console/domains/local", policy).must(t, 200, "SA edits domain")
	// Permanent lockout after three failures, until an admin resets it.
	for i := 0; i < 3; i++ {
		con.do("POST", "/console/login", map[string]string{"username": "sam", "password": "Wrong-Guess-" + fmt.Sprint(i)}).must(t, 401, "failure")
	}
	con.do("POST", "/console/login", map[string]string{"username": "sam", "password": strongPassword}).must(t, 401, "locked for good")
	var sam struct {
		Items []struct {
			ID, Username string
			Locked       bool
		}
	}
	carolC.do("GET", "/console/users", nil).must(t, 200, "list").json(t, &sam)
	samID := ""
	for _, u := range sam.Items {
		if u.Username == "sam" {
			samID = u.ID
			if !u.Locked {
				t.Fatal("sam not shown as locked")
			}
		}
	}
	carolC.do("PATCH", "/console/users/"+samID, map[string]bool{"unlock": true}).must(t, 200, "unlock")
	con.do("POST", "/console/login", map[string]string{"username": "sam", "password": strongPassword}).must(t, 200, "after unlock").json(t, &lg)
	// A signer has no console administration.
	con.as(lg.Token).do("GET", "/console/users", nil).must(t, 403, "signer lists users")
	con.as(lg.Token).do("GET", "/console/session", nil).must(t, 200, "signer session")
	// The system log records it all, and console admins can read it.
	logs := carolC.do("GET", "/console/system-log?limit=100", nil).must(t, 200, "system log")
	for _, action := range []string{"consoleUser.created", "localDomain.updated", "consoleUser.updated", "portalUser.registered", "deployment.provisioned"} {
		if !strings.Contains(logs.body, action) {
			t.Errorf("system log lacks %s", action)
		}
	}
	// A disabled console user cannot log in.
	carolC.do("PATCH", "/console/users/"+samID, map[string]string{"status": "disabled"}).must(t, 200, "disable")
	con.do("POST", "/console/login", map[string]string{"username": "sam", "password": strongPassword}).must(t, 401, "disabled")
	carolC.do("DELETE", "/console/users/"+samID, nil).must(t, 204, "delete")
	carolC.do("GET", "/console/users/"+samID, nil).must(t, 404, "deleted")
}
