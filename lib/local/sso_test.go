package local_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/local"
	"github.com/opensignum/signum/lib/oidclogin"
	"github.com/opensignum/signum/lib/samlidp"
	"github.com/opensignum/signum/lib/store"
)

// browser is a web browser as far as single sign-on needs one: a cookie jar, redirects
// followed by hand (so that each hop can be looked at), navigations that accept HTML, and
// every *.localhost name at 127.0.0.1, as browsers resolve them.
type browser struct {
	t    *testing.T
	hc   *http.Client
	base string // the demo deployment as a browser reaches it: http://demo.localhost:<port>
}

func newBrowser(t *testing.T, srv *local.Server) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if host, port, err := net.SplitHostPort(addr); err == nil && strings.HasSuffix(host, ".localhost") {
			addr = net.JoinHostPort("127.0.0.1", port)
		}
		return dialer.DialContext(ctx, network, addr)
	}}
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	return &browser{t: t, base: "http://" + net.JoinHostPort(local.DemoDomain, port), hc: &http.Client{Jar: jar, Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// page is a response as the browser got it.
type page struct {
	status   int
	location string
	body     string
	url      string
}

func (b *browser) send(method, u string, form url.Values) page {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	p := page{status: res.StatusCode, body: string(raw), url: u}
	if loc := res.Header.Get("Location"); loc != "" {
		ref, err := url.Parse(loc)
		if err != nil {
			b.t.Fatal(err)
		}
		p.location = req.URL.ResolveReference(ref).String()
	}
	return p
}

func (b *browser) get(u string) page { return b.send("GET", u, nil) }

// redirected is the Location of a 302 or 303, or the test fails.
func (p page) redirected(t *testing.T, what string) string {
	t.Helper()
	if (p.status != 302 && p.status != 303) || p.location == "" {
		t.Fatalf("%s: %d from %s, want a redirect: %.400s", what, p.status, p.url, p.body)
	}
	return p.location
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// hidden are the hidden inputs of the page's form.
func (p page) hidden() url.Values {
	v := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(p.body, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	return v
}

var formAction = regexp.MustCompile(`<form method="post"(?: action="([^"]*)")?`)

// action is where the page's form posts, resolved against the page.
func (p page) action(t *testing.T) string {
	t.Helper()
	m := formAction.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no form at %s: %.400s", p.url, p.body)
	}
	base, _ := url.Parse(p.url)
	ref, err := url.Parse(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	return base.ResolveReference(ref).String()
}

// landed is the fragment the web app's login page gets at the end of a login.
func landed(t *testing.T, location string) url.Values {
	t.Helper()
	u, err := url.Parse(location)
	if err != nil || u.Path != "/app/console/login" {
		t.Fatalf("the login ended at %q, not the console's login page", location)
	}
	f, err := url.ParseQuery(u.EscapedFragment())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// loggedIn is the token of a fragment that carries one.
func loggedIn(t *testing.T, f url.Values) string {
	t.Helper()
	if f.Get("token") == "" || f.Get("error") != "" {
		t.Fatalf("no token: %v", f)
	}
	if at, err := time.Parse(time.RFC3339, f.Get("expiresAt")); err != nil || at.Before(time.Now()) {
		t.Fatalf("expiresAt %q", f.Get("expiresAt"))
	}
	return f.Get("token")
}

// refused checks that a fragment carries a refusal with status and a detail saying want.
func refused(t *testing.T, f url.Values, status, want string) {
	t.Helper()
	if f.Get("token") != "" || f.Get("status") != status || !strings.Contains(f.Get("error"), want) {
		if f.Get("token") != "" {
			f.Set("token", "(a token)")
		}
		t.Fatalf("refusal %v, want %s saying %q", f, status, want)
	}
}

// startLogin starts a login at domain id and returns where the deployment sends the browser.
func (b *browser) startLogin(id string) string {
	b.t.Helper()
	return b.get(b.base+"/console/domains/"+id+"/login").redirected(b.t, "start")
}

// oidcLogin logs in at the OIDC stand-in as username and returns the callback the IdP sends
// the browser to.
func (b *browser) oidcLogin(authorize, username, pw string) string {
	b.t.Helper()
	form := b.get(authorize)
	if form.status != 200 || !strings.Contains(form.body, `name="password"`) {
		b.t.Fatalf("IdP login form: %d %.300s", form.status, form.body)
	}
	v := form.hidden()
	v.Set("username", username)
	v.Set("password", pw)
	return b.send("POST", form.action(b.t), v).redirected(b.t, "IdP login")
}

// samlLogin goes to the SAML stand-in's SSO URL and, when it asks, logs in as username;
// it returns the page of the response form (to be posted to the ACS).
func (b *browser) samlLogin(sso, username, pw string) page {
	b.t.Helper()
	p := b.get(sso)
	if strings.Contains(p.body, `name="password"`) {
		v := p.hidden()
		v.Set("username", username)
		v.Set("password", pw)
		v.Set("action", "login")
		p = b.send("POST", p.action(b.t), v)
	}
	if p.status != 200 || p.hidden().Get("SAMLResponse") == "" {
		b.t.Fatalf("SAML response form: %d %.400s", p.status, p.body)
	}
	return p
}

// post posts the response form to the ACS and returns the page the browser is sent to.
func (b *browser) post(form page) url.Values {
	b.t.Helper()
	return landed(b.t, b.send("POST", form.action(b.t), form.hidden()).redirected(b.t, "ACS"))
}

func person(name string) local.DemoPerson {
	for _, p := range local.DemoPeople {
		if p.Username == name {
			return p
		}
	}
	panic("no demo person " + name)
}

type ssoUser struct {
	ID, Username, DomainID, RoleSource string
	Roles                              []string
}

// usersOf lists the console users of domain id.
func usersOf(t *testing.T, sa client, id string) []ssoUser {
	t.Helper()
	var list struct{ Items []ssoUser }
	sa.do("GET", "/console/users?limit=100", nil).must(t, 200, "users").json(t, &list)
	var out []ssoUser
	for _, u := range list.Items {
		if u.DomainID == id {
			out = append(out, u)
		}
	}
	return out
}

func session(t *testing.T, sa client, tok string) (name string, roles []string) {
	t.Helper()
	var s struct {
		Name  string
		Roles []string
	}
	sa.as(tok).do("GET", "/console/session", nil).must(t, 200, "session").json(t, &s)
	return s.Name, s.Roles
}

// TestOIDCLogin: a person of an OIDC domain logs in at the domain's IdP (the stand-in, over
// HTTP) with the authorization code flow and PKCE: made at the first login with the role its
// IdP group maps to, the same user at the second, refused without a role, and refused when
// the state, the browser or the PKCE verifier is not the login's own; every login is in the
// system log.
func TestOIDCLogin(t *testing.T) {
	srv := startLocal(t)
	sa := consoleAdmin(t, srv)
	var dom domainJSON
	sa.do("POST", "/console/domains", map[string]any{"kind": "oidc", "name": "Acme IdP", "alias": "acme", "jit": true,
		"groupRoles": []map[string]any{{"group": "release", "role": "console-admin", "priority": 1}},
		"oidc":       map[string]any{"issuer": srv.IdP.Issuer(), "clientId": local.IdPClientID, "clientSecret": local.IdPClientSecret}}).must(t, 201, "OIDC domain").json(t, &dom)

	// The login page lists it, for anyone.
	var listed struct{ Items []map[string]string }
	client{t: t, srv: srv, host: local.DemoDomain}.do("GET", "/console/login/domains", nil).must(t, 200, "login domains").json(t, &listed)
	if len(listed.Items) != 1 || listed.Items[0]["id"] != dom.ID || listed.Items[0]["kind"] != "oidc" || len(listed.Items[0]) != 3 {
		t.Fatalf("login domains %v", listed.Items)
	}

	alice := person("alice")
	b := newBrowser(t, srv)
	login := func(b *browser, p local.DemoPerson) url.Values {
		authorize := b.startLogin(dom.ID)
		if !strings.HasPrefix(authorize, srv.IdP.Issuer()+"/authorize?") || !strings.Contains(authorize, "code_challenge_method=S256") {
			t.Fatalf("start sent the browser to %s", authorize)
		}
		return landed(t, b.get(b.oidcLogin(authorize, p.Username, p.Password)).redirected(t, "callback"))
	}
	// A test login (the domains page's) goes to the IdP and back and says what a login would
	// do, making nobody.
	authorize := b.get(b.base+"/console/domains/"+dom.ID+"/login?test=1").redirected(t, "test login")
	f := landed(t, b.get(b.oidcLogin(authorize, alice.Username, alice.Password)).redirected(t, "test callback"))
	if f.Get("token") != "" || !strings.Contains(f.Get("test"), "Console user alice@acme would be created at the first login, with the role console-admin.") {
		t.Fatalf("test login: %v", f)
	}
	if u := usersOf(t, sa, dom.ID); len(u) != 0 {
		t.Fatalf("a test login made %+v", u)
	}
	if e, ok := find(systemLog(t, sa, url.Values{"action": {"login.console.tested"}}), "login.console.tested", ""); !ok || e.Object != "alice@acme" {
		t.Fatalf("the test login is not in the system log: %+v", e)
	}

	tok := loggedIn(t, login(b, alice))
	name, roles := session(t, sa, tok)
	if name != "alice@acme" || !slices.Equal(roles, []string{"console-admin"}) {
		t.Fatalf("first login: %s %v", name, roles)
	}
	users := usersOf(t, sa, dom.ID)
	if len(users) != 1 || users[0].Username != "alice@acme" || users[0].RoleSource != "idp-groups" {
		t.Fatalf("users of the domain %+v", users)
	}

	// The second login is the same user; by alias too, in another browser.
	tok2 := loggedIn(t, login(newBrowser(t, srv), alice))
	if name, _ := session(t, sa, tok2); name != "alice@acme" || len(usersOf(t, sa, dom.ID)) != 1 {
		t.Fatalf("second login: %s, %d users", name, len(usersOf(t, sa, dom.ID)))
	}
	if loc := b.get(b.base+"/console/domains/acme/login").redirected(t, "start by alias"); !strings.HasPrefix(loc, srv.IdP.Issuer()) {
		t.Fatalf("start by alias: %s", loc)
	}
	var d domainJSON
	sa.do("GET", "/console/domains/"+dom.ID, nil).must(t, 200, "domain").json(t, &d)
	if d.UserCount != 1 {
		t.Fatalf("the domain counts %d users", d.UserCount)
	}

	// bob's group maps to nothing and the domain has no default role.
	refused(t, login(newBrowser(t, srv), person("bob")), "403", "map to no role")
	if len(usersOf(t, sa, dom.ID)) != 1 {
		t.Fatal("a user without a role was made")
	}

	// A state no login has: 401, on the page for a browser, as a problem for others.
	refused(t, landed(t, b.get(b.base+"/console/login/oidc/callback?code=x&state=forged").redirected(t, "forged state")), "401", "unknown here")
	r := client{t: t, srv: srv, host: local.DemoDomain}.do("GET", "/console/login/oidc/callback?code=x&state=forged", nil).must(t, 401, "forged state, no browser")
	if r.problemType() != "unauthenticated" {
		t.Fatalf("problem %s", r.body)
	}
	// The callback in another browser than the one that started the login.
	callback := b.oidcLogin(b.startLogin(dom.ID), alice.Username, alice.Password)
	refused(t, landed(t, newBrowser(t, srv).get(callback).redirected(t, "other browser")), "401", "another browser")
	// The callback a second time.
	callback = b.oidcLogin(b.startLogin(dom.ID), alice.Username, alice.Password)
	loggedIn(t, landed(t, b.get(callback).redirected(t, "callback")))
	refused(t, landed(t, b.get(callback).redirected(t, "callback again")), "401", "unknown here")
	// A PKCE verifier that is not the one the IdP saw the challenge of.
	callback = b.oidcLogin(b.startLogin(dom.ID), alice.Username, alice.Password)
	swapVerifier(t, srv, callback)
	refused(t, landed(t, b.get(callback).redirected(t, "wrong verifier")), "401", "refused the authorization code")
	// The IdP's own refusal.
	refused(t, landed(t, b.get(b.base+"/console/login/oidc/callback?error=access_denied&state="+stateOf(t, b.startLogin(dom.ID))).redirected(t, "IdP error")), "401", "access_denied")

	// The system log has each login, by the user when known.
	entries := systemLog(t, sa, url.Values{"action": {"login.console"}, "limit": {"100"}})
	var ok, noRole, forged int
	for _, e := range entries {
		switch {
		case e.Action == "login.console.succeeded" && e.Object == "alice@acme" && e.Actor == "console:"+users[0].ID:
			ok++
		case e.Action == "login.console.failed" && e.Object == "bob@acme" && strings.Contains(e.Detail, "no role"):
			noRole++
		case e.Action == "login.console.failed" && strings.Contains(e.Detail, "unknown here"):
			forged++
		}
	}
	if ok != 3 || noRole != 1 || forged != 0 {
		t.Fatalf("system log: %d logins, %d without a role, %d forged states (not logged): %+v", ok, noRole, forged, entries)
	}

	// A role from IdP groups is worked out again at each login (and the change ends the
	// sessions before it); a role a console admin gives is direct and stays; a disabled user
	// is refused.
	r = sa.do("GET", "/console/domains/"+dom.ID, nil).must(t, 200, "domain")
	var w map[string]any
	r.json(t, &w)
	for _, k := range []string{"id", "builtIn", "userCount", "version", "createdAt", "updatedAt", "registration"} {
		delete(w, k)
	}
	w["groupRoles"] = []map[string]any{{"group": "release", "role": "console-viewer", "priority": 1}}
	sa.do("PATCH", "/console/domains/"+dom.ID, w, "If-Match", r.header.Get("ETag")).must(t, 200, "remap release")
	tok3 := loggedIn(t, login(b, alice))
	if _, roles := session(t, sa, tok3); !slices.Equal(roles, []string{"console-viewer"}) {
		t.Fatalf("after the remapping: %v", roles)
	}
	sa.as(tok).do("GET", "/console/session", nil).must(t, 401, "a session from before the role changed")
	sa.do("PATCH", "/console/users/"+users[0].ID, map[string]any{"roles": []string{"signer"}}).must(t, 200, "direct role")
	if u := usersOf(t, sa, dom.ID); len(u) != 1 || u[0].RoleSource != "direct" {
		t.Fatalf("after a direct role: %+v", u)
	}
	if _, roles := session(t, sa, loggedIn(t, login(b, alice))); !slices.Equal(roles, []string{"signer"}) {
		t.Fatalf("a direct role after login: %v", roles)
	}
	sa.do("PATCH", "/console/users/"+users[0].ID, map[string]any{"status": "disabled"}).must(t, 200, "disable")
	refused(t, login(b, alice), "403", "disabled")
}

// stateOf is the state of an authorization URL.
func stateOf(t *testing.T, authorize string) string {
	t.Helper()
	u, err := url.Parse(authorize)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("state")
}

// swapVerifier replaces the PKCE verifier of the login in progress that callback answers,
// as a login whose verifier is not the one the challenge was made of.
func swapVerifier(t *testing.T, srv *local.Server, callback string) {
	t.Helper()
	u, _ := url.Parse(callback)
	state := u.Query().Get("state")
	st := store.New(srv.Clients.DynamoDB, srv.Config.TableName, function.CursorKey(envFor(srv)))
	l, err := st.TakeSSOLogin(context.Background(), srv.Demo.ID, state)
	if err != nil {
		t.Fatal(err)
	}
	var p oidclogin.Pending
	if err := json.Unmarshal(l.Pending, &p); err != nil {
		t.Fatal(err)
	}
	p.Verifier = strings.Repeat("x", 43)
	if l.Pending, err = json.Marshal(p); err != nil {
		t.Fatal(err)
	}
	if err := st.PutSSOLogin(context.Background(), l); err != nil {
		t.Fatal(err)
	}
}

// TestSAMLLogin: a person of a SAML domain logs in at the SAML stand-in, which learns the
// domain from its metadata URL (the entity ID) on first use: made at the first login with the
// role its IdP group maps to, the same user at the second; a response used again, unsigned,
// or for another audience is refused, as a person without a role and a domain at its user
// limit; every login is in the system log.
func TestSAMLLogin(t *testing.T) {
	srv := startLocal(t)
	sa := consoleAdmin(t, srv)
	res, err := http.Get(srv.SAML.MetadataURL())
	if err != nil {
		t.Fatal(err)
	}
	meta, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var dom domainJSON
	sa.do("POST", "/console/domains", map[string]any{"kind": "saml", "name": "Okta", "alias": "okta", "jit": true, "userLimit": 1,
		"groupRoles": []map[string]any{{"group": "release", "role": "console-viewer", "priority": 1}, {"group": "signum-admins", "role": "console-admin", "priority": 2}},
		"saml":       map[string]any{"idpMetadataXml": string(meta)}}).must(t, 201, "SAML domain").json(t, &dom)

	b := newBrowser(t, srv)
	// The SP metadata, at the entity ID.
	md := b.get(b.base + "/console/domains/" + dom.ID + "/saml/metadata")
	if md.status != 200 || !strings.Contains(md.body, `entityID="`+b.base+"/console/domains/"+dom.ID+`/saml/metadata"`) ||
		!strings.Contains(md.body, b.base+"/console/login/saml/acs") {
		t.Fatalf("SP metadata %d: %.600s", md.status, md.body)
	}

	alice := person("alice")
	start := func(b *browser) string {
		sso := b.startLogin(dom.ID)
		if !strings.HasPrefix(sso, srv.SAML.SSOURL()+"?") || !strings.Contains(sso, "SAMLRequest=") || !strings.Contains(sso, "RelayState=") {
			t.Fatalf("start sent the browser to %s", sso)
		}
		return sso
	}
	first := b.samlLogin(start(b), alice.Username, alice.Password)
	tok := loggedIn(t, b.post(first))
	name, roles := session(t, sa, tok)
	if name != "alice@okta" || !slices.Equal(roles, []string{"console-admin"}) {
		t.Fatalf("first login: %s %v (the higher priority mapping wins)", name, roles)
	}
	// The second login (the stand-in remembers alice) is the same user.
	loggedIn(t, b.post(b.samlLogin(start(b), alice.Username, alice.Password)))
	users := usersOf(t, sa, dom.ID)
	if len(users) != 1 || users[0].Username != "alice@okta" {
		t.Fatalf("users of the domain %+v", users)
	}

	// The first response again, with its login item put back as if another instance still
	// had it: the assertion was used.
	st := store.New(srv.Clients.DynamoDB, srv.Config.TableName, function.CursorKey(envFor(srv)))
	relay := first.hidden().Get("RelayState")
	sso := start(b)
	fresh := b.samlLogin(sso, alice.Username, alice.Password)
	l, err := st.TakeSSOLogin(context.Background(), srv.Demo.ID, fresh.hidden().Get("RelayState"))
	if err != nil {
		t.Fatal(err)
	}
	l.Key = relay
	l.RequestID = inResponseTo(t, first)
	if err := st.PutSSOLogin(context.Background(), l); err != nil {
		t.Fatal(err)
	}
	refused(t, b.post(first), "401", "already used")
	// The same response and relay state once more: the login is gone.
	refused(t, b.post(first), "401", "unknown here")

	// Unsigned, and for another audience.
	srv.SAML.SetMisbehaviour(samlidp.Misbehaviour{Unsigned: true})
	refused(t, b.post(b.samlLogin(start(b), alice.Username, alice.Password)), "401", "not signed")
	srv.SAML.SetMisbehaviour(samlidp.Misbehaviour{Audience: "https://other.example/sp"})
	refused(t, b.post(b.samlLogin(start(b), alice.Username, alice.Password)), "401", "another service provider")
	srv.SAML.SetMisbehaviour(samlidp.Misbehaviour{})

	// bob's group maps to nothing here; with a mapping, the domain is at its limit of 1.
	bob := person("bob")
	refused(t, newBrowser(t, srv).post(newBrowser(t, srv).samlLogin(start(newBrowser(t, srv)), bob.Username, bob.Password)), "401", "another browser")
	bb := newBrowser(t, srv)
	refused(t, bb.post(bb.samlLogin(start(bb), bob.Username, bob.Password)), "403", "map to no role")
	var cur domainJSON
	r := sa.do("GET", "/console/domains/"+dom.ID, nil).must(t, 200, "domain")
	r.json(t, &cur)
	var full map[string]any
	r.json(t, &full)
	full["defaultRole"] = "console-viewer"
	for _, k := range []string{"id", "builtIn", "userCount", "version", "createdAt", "updatedAt", "registration"} {
		delete(full, k)
	}
	sa.do("PATCH", "/console/domains/"+dom.ID, full, "If-Match", r.header.Get("ETag")).must(t, 200, "default role")
	bb = newBrowser(t, srv)
	refused(t, bb.post(bb.samlLogin(start(bb), bob.Username, bob.Password)), "409", "holds its limit of 1 users")
	if len(usersOf(t, sa, dom.ID)) != 1 {
		t.Fatal("a user over the limit was made")
	}

	entries := systemLog(t, sa, url.Values{"action": {"login.console"}, "limit": {"100"}})
	var ok, replayed, unsigned, audience, limit int
	for _, e := range entries {
		switch {
		case e.Action == "login.console.succeeded" && e.Object == "alice@okta":
			ok++
		case e.Action != "login.console.failed":
		case strings.Contains(e.Detail, "already used"):
			replayed++
		case strings.Contains(e.Detail, "not signed"):
			unsigned++
		case strings.Contains(e.Detail, "another service provider"):
			audience++
		case e.Object == "bob@okta" && strings.Contains(e.Detail, "limit of 1"):
			limit++
		}
	}
	if ok != 2 || replayed != 1 || unsigned != 1 || audience != 1 || limit != 1 {
		t.Fatalf("system log: %d %d %d %d %d: %+v", ok, replayed, unsigned, audience, limit, entries)
	}
}

var inResponseToAttr = regexp.MustCompile(`InResponseTo="([^"]+)"`)

// inResponseTo is the request ID the response of a response form answers.
func inResponseTo(t *testing.T, form page) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(form.hidden().Get("SAMLResponse"))
	if err != nil {
		t.Fatal(err)
	}
	m := inResponseToAttr.FindStringSubmatch(string(raw))
	if m == nil {
		t.Fatal("the response answers no request")
	}
	return m[1]
}

// TestDomainUsersMadeByAdmins: a domain without just-in-time provisioning admits only the
// users a console admin made in it (named <IdP user name>@<alias>, without a password, with
// direct roles), counted by the domain, which cannot go while it holds them.
func TestDomainUsersMadeByAdmins(t *testing.T) {
	srv := startLocal(t)
	sa := consoleAdmin(t, srv)
	var dom domainJSON
	sa.do("POST", "/console/domains", map[string]any{"kind": "oidc", "name": "Corp", "alias": "corp",
		"groupRoles": []map[string]any{{"group": "release", "role": "console-admin", "priority": 1}},
		"oidc":       map[string]any{"issuer": srv.IdP.Issuer(), "clientId": local.IdPPublicClientID}}).must(t, 201, "OIDC domain").json(t, &dom)
	alice := person("alice")
	login := func() url.Values {
		b := newBrowser(t, srv)
		return landed(t, b.get(b.oidcLogin(b.startLogin(dom.ID), alice.Username, alice.Password)).redirected(t, "callback"))
	}
	refused(t, login(), "403", "does not create users at their first login")

	sa.do("POST", "/console/users", map[string]any{"username": "alice", "domainId": dom.ID, "password": strongPassword, "roles": []string{"console-viewer"}}).
		must(t, 400, "a password for a domain user")
	sa.do("POST", "/console/users", map[string]any{"username": "alice", "domainId": "dom_nothere", "roles": []string{"console-viewer"}}).
		must(t, 400, "no such domain")
	var u ssoUser
	sa.do("POST", "/console/users", map[string]any{"username": "alice", "domainId": dom.ID, "roles": []string{"console-viewer"}}).
		must(t, 201, "a user of the domain").json(t, &u)
	if u.Username != "alice@corp" || u.DomainID != dom.ID || u.RoleSource != "direct" {
		t.Fatalf("made %+v", u)
	}
	// The direct role beats the groups' console-admin.
	if name, roles := session(t, sa, loggedIn(t, login())); name != "alice@corp" || !slices.Equal(roles, []string{"console-viewer"}) {
		t.Fatalf("logged in as %s %v", name, roles)
	}
	sa.do("DELETE", "/console/domains/"+dom.ID, nil).must(t, 409, "a domain with a user")
	sa.do("DELETE", "/console/users/"+u.ID, nil).must(t, 204, "the user goes")
	sa.do("DELETE", "/console/domains/"+dom.ID, nil).must(t, 204, "the empty domain goes")
}

// TestSSOSubjectBinding: a console user of an OIDC or SAML domain is found by the user name
// the IdP sends, which many IdPs let people change, so it is bound to the person's subject at
// the IdP at its first login: a user the login makes is made bound, a user a console admin
// made is bound at its first login, and whoever takes a bound user's name at the IdP later is
// refused (403, in the system log), changing nothing. A subject never finds a user of another
// domain.
func TestSSOSubjectBinding(t *testing.T) {
	srv := startLocal(t)
	sa := consoleAdmin(t, srv)
	st := store.New(srv.Clients.DynamoDB, srv.Config.TableName, function.CursorKey(envFor(srv)))
	stored := func(username string) identity.ConsoleUser {
		t.Helper()
		u, err := st.ConsoleUserByUsername(context.Background(), srv.Demo.ID, username)
		if err != nil {
			t.Fatalf("%s: %v", username, err)
		}
		return u
	}
	var acme, corp domainJSON
	sa.do("POST", "/console/domains", map[string]any{"kind": "oidc", "name": "Acme IdP", "alias": "acme", "jit": true,
		"groupRoles": []map[string]any{{"group": "release", "role": "console-viewer", "priority": 1}, {"group": "viewers", "role": "console-viewer", "priority": 1}},
		"oidc":       map[string]any{"issuer": srv.IdP.Issuer(), "clientId": local.IdPClientID, "clientSecret": local.IdPClientSecret}}).must(t, 201, "JIT domain").json(t, &acme)
	sa.do("POST", "/console/domains", map[string]any{"kind": "oidc", "name": "Corp", "alias": "corp",
		"oidc": map[string]any{"issuer": srv.IdP.Issuer(), "clientId": local.IdPPublicClientID}}).must(t, 201, "domain without JIT").json(t, &corp)
	login := func(domainID, username, pw string, query string) url.Values {
		b := newBrowser(t, srv)
		authorize := b.get(b.base+"/console/domains/"+domainID+"/login"+query).redirected(t, "start")
		return landed(t, b.get(b.oidcLogin(authorize, username, pw)).redirected(t, "callback"))
	}
	alice, bob := person("alice"), person("bob")
	subject := func(who string) string { return srv.IdP.Issuer() + "|local-" + who }

	// A user made at its first login is bound from the start.
	loggedIn(t, login(acme.ID, "alice", alice.Password, ""))
	a := stored("alice@acme")
	if a.IdPSubject != subject("alice") {
		t.Fatalf("alice@acme is bound to %q, want %q", a.IdPSubject, subject("alice"))
	}

	// A user a console admin made is bound at its first login, and keeps its direct role.
	var made ssoUser
	sa.do("POST", "/console/users", map[string]any{"username": "bob", "domainId": corp.ID, "roles": []string{"console-viewer"}}).
		must(t, 201, "a user of the domain").json(t, &made)
	if u := stored("bob@corp"); u.IdPSubject != "" {
		t.Fatalf("bob@corp is bound before any login: %q", u.IdPSubject)
	}
	if name, roles := session(t, sa, loggedIn(t, login(corp.ID, "bob", bob.Password, ""))); name != "bob@corp" || !slices.Equal(roles, []string{"console-viewer"}) {
		t.Fatalf("bob at corp: %s %v", name, roles)
	}
	if u := stored("bob@corp"); u.ID != made.ID || u.IdPSubject != subject("bob") || u.RoleSource != "" {
		t.Fatalf("bob@corp after its first login: %+v", u)
	}
	if e, ok := find(systemLog(t, sa, url.Values{"action": {"consoleUser.updated"}}), "consoleUser.updated", "console:"+made.ID); !ok || !strings.Contains(e.Detail, "bound to the identity") {
		t.Fatalf("the binding is not in the system log: %+v", e)
	}
	loggedIn(t, login(corp.ID, "bob", bob.Password, ""))
	// bob's subject finds nothing at acme: he is a new user there, not bob@corp.
	loggedIn(t, login(acme.ID, "bob", bob.Password, ""))
	if u := stored("bob@acme"); u.ID == made.ID || u.IdPSubject != subject("bob") || u.DomainID != acme.ID {
		t.Fatalf("bob at acme: %+v", u)
	}

	// A console admin gives alice@acme a role directly; at the IdP, alice renames herself and
	// bob takes her name.
	sa.do("PATCH", "/console/users/"+a.ID, map[string]any{"roles": []string{"console-admin"}}).must(t, 200, "direct role")
	a = stored("alice@acme")
	if err := srv.IdP.Rename("local-alice", "alice-renamed"); err != nil {
		t.Fatal(err)
	}
	if err := srv.IdP.Rename("local-bob", "alice"); err != nil {
		t.Fatal(err)
	}
	// The domains page's test login says what a login would do; the login is refused.
	if f := login(acme.ID, "alice", bob.Password, "?test=1"); !strings.Contains(f.Get("test"), "Console user alice@acme belongs to another identity at the identity provider: this person would be refused.") {
		t.Fatalf("test login: %v", f)
	}
	refused(t, login(acme.ID, "alice", bob.Password, ""), "403", "This acme account belongs to another identity at the identity provider; ask the Signum Administrator.")
	if u := stored("alice@acme"); u.Version != a.Version || u.IdPSubject != subject("alice") || !slices.Equal(u.Roles, a.Roles) || u.TokenGeneration != a.TokenGeneration {
		t.Fatalf("the refused login changed alice@acme: %+v, was %+v", u, a)
	}
	if users := usersOf(t, sa, acme.ID); len(users) != 2 {
		t.Fatalf("users of acme after the refusal: %+v", users)
	}
	var refusals int
	for _, e := range systemLog(t, sa, url.Values{"action": {"login.console.failed"}, "limit": {"100"}}) {
		if e.Object == "alice@acme" && e.Actor == "console:"+a.ID && strings.Contains(e.Detail, "belongs to another identity") {
			refusals++
		}
	}
	if refusals != 1 {
		t.Fatalf("%d refusals of another identity in the system log, want 1", refusals)
	}
	// Her account is still hers once she takes her name back.
	if err := srv.IdP.Rename("local-bob", "bob"); err != nil {
		t.Fatal(err)
	}
	if err := srv.IdP.Rename("local-alice", "alice"); err != nil {
		t.Fatal(err)
	}
	if name, roles := session(t, sa, loggedIn(t, login(acme.ID, "alice", alice.Password, ""))); name != "alice@acme" || !slices.Equal(roles, []string{"console-admin"}) {
		t.Fatalf("alice back: %s %v", name, roles)
	}
}
