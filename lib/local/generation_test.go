package local_test

import (
	"testing"

	"github.com/opensignum/signum/lib/local"
)

// TestTokenGenerationEndsSessions: a password reset by an admin, a disable followed by a
// re-enable and a change of role end the sessions of the user they change: a token issued
// before is refused (401) after, in the portal and the console alike, and a console token a
// portal user opened the console with goes too. A fresh login works. A change that does not
// concern the sessions (a name, an unlock) leaves them be. Before tokens carried the user's
// token generation, all of these tokens went on working until they expired.
func TestTokenGenerationEndsSessions(t *testing.T) {
	srv := startLocal(t)
	c := client{t: t, srv: srv}
	dep := srv.Demo.ID
	adminTok, _ := register(t, c, srv.DemoAdminInvite, "ada@example.com")
	admin := c.as(adminTok)
	var inv struct{ Token string }
	admin.do("POST", "/portal/deployments/"+dep+"/users", map[string]string{"email": "vic@example.com", "role": "Viewer"}).must(t, 201, "invite").json(t, &inv)
	vicTok, vicID := register(t, c, inv.Token, "vic@example.com")
	portalLogin := func() string {
		var lg struct{ Token string }
		c.do("POST", "/portal/login", map[string]string{"email": "vic@example.com", "password": strongPassword}).must(t, 200, "vic logs in").json(t, &lg)
		return lg.Token
	}
	consoleToken := func(tok string) string {
		var ct struct{ Token string }
		c.as(tok).do("POST", "/portal/deployments/"+dep+"/console-token", nil).must(t, 200, "console token").json(t, &ct)
		return ct.Token
	}
	con := c.at(local.DemoDomain)
	patchVic := func(body map[string]any) {
		admin.do("PATCH", "/portal/deployments/"+dep+"/users/"+vicID, body).must(t, 200, "patch vic")
	}

	// Portal: disable → re-enable.
	vicConsole := consoleToken(vicTok)
	c.as(vicTok).do("GET", "/portal/deployments/"+dep, nil).must(t, 200, "vic reads the deployment")
	patchVic(map[string]any{"status": "disabled"})
	patchVic(map[string]any{"status": "active"})
	r := c.as(vicTok).do("GET", "/portal/deployments/"+dep, nil).must(t, 401, "portal token from before the disable")
	if r.problemType() != "unauthenticated" {
		t.Errorf("problem type %q: %s", r.problemType(), r.body)
	}
	con.as(vicConsole).do("GET", "/console/session", nil).must(t, 401, "console token from before the disable")
	vicTok = portalLogin()
	c.as(vicTok).do("GET", "/portal/deployments/"+dep, nil).must(t, 200, "after a fresh login")
	vicConsole = consoleToken(vicTok)
	con.as(vicConsole).do("GET", "/console/session", nil).must(t, 200, "a fresh console token")

	// Portal: an unlock leaves the sessions be; a change of role ends them.
	patchVic(map[string]any{"unlock": true})
	c.as(vicTok).do("GET", "/portal/deployments/"+dep, nil).must(t, 200, "after an unlock")
	patchVic(map[string]any{"role": "User"})
	c.as(vicTok).do("GET", "/portal/deployments/"+dep, nil).must(t, 401, "portal token from before the change of role")
	con.as(vicConsole).do("GET", "/console/session", nil).must(t, 401, "console token from before the change of role")
	c.as(portalLogin()).do("GET", "/portal/deployments/"+dep, nil).must(t, 200, "after a fresh login")

	// Console: a password reset by an admin, then disable → re-enable.
	sa := con.as(consoleToken(adminTok))
	var sam struct{ ID string }
	sa.do("POST", "/console/users", map[string]any{"username": "sam", "name": "Sam", "password": strongPassword, "roles": []string{"console-viewer"}}).
		must(t, 201, "console user").json(t, &sam)
	consoleLogin := func(pw string) client {
		var lg struct{ Token string }
		con.do("POST", "/console/login", map[string]string{"username": "sam", "password": pw}).must(t, 200, "sam logs in").json(t, &lg)
		return con.as(lg.Token)
	}
	samC := consoleLogin(strongPassword)
	samC.do("GET", "/console/users", nil).must(t, 200, "sam reads")
	sa.do("PATCH", "/console/users/"+sam.ID, map[string]any{"name": "Sam S."}).must(t, 200, "rename")
	samC.do("GET", "/console/users", nil).must(t, 200, "after a rename")
	const newPassword = "Another-Horse-7-Battery"
	sa.do("PATCH", "/console/users/"+sam.ID, map[string]any{"password": newPassword}).must(t, 200, "password reset")
	samC.do("GET", "/console/users", nil).must(t, 401, "console token from before the password reset")
	samC = consoleLogin(newPassword)
	samC.do("GET", "/console/users", nil).must(t, 200, "after a fresh login")
	sa.do("PATCH", "/console/users/"+sam.ID, map[string]any{"status": "disabled"}).must(t, 200, "disable")
	sa.do("PATCH", "/console/users/"+sam.ID, map[string]any{"status": "active"}).must(t, 200, "enable")
	samC.do("GET", "/console/session", nil).must(t, 401, "console token from before the disable")
	consoleLogin(newPassword).do("GET", "/console/session", nil).must(t, 200, "after a fresh login")
}
