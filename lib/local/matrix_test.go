package local_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	signum "github.com/opensignum/signum"
	"github.com/opensignum/signum/lib/access"
	"github.com/opensignum/signum/lib/apigw"
	"github.com/opensignum/signum/lib/certificates"
	"github.com/opensignum/signum/lib/certificates/certstest"
	"github.com/opensignum/signum/lib/clientauth"
	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/domains"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/local"
	"github.com/opensignum/signum/lib/marketplace"
	"github.com/opensignum/signum/lib/password"
	"github.com/opensignum/signum/lib/policy"
	"github.com/opensignum/signum/lib/provisioning"
	"github.com/opensignum/signum/lib/roles"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
	"github.com/opensignum/signum/lib/token"
	"github.com/opensignum/signum/lib/updates"
)

// principal is one kind of caller in the matrix.
type principal struct {
	name string
	// of is the principal as the rules see it (Kind Anonymous for no credentials).
	of access.Principal
	// token is its bearer token; operator principals sign with SigV4 instead.
	token    string
	operator bool
	// foreign is true for principals of the other deployment.
	foreign bool
	// inactive is true for a token whose user was removed or disabled after it was issued.
	inactive bool
	// cert, instead of a token, authenticates over the mutual-TLS port.
	cert *tls.Certificate
}

// tenantFixture is a deployment with one principal of every kind.
type tenantFixture struct {
	dep        tenant.Deployment
	principals []principal
	portalUser string // a portal user id (role User) to act on
	consoleUsr string // a console user id to act on
	cert       string // a certificate id to act on
	credential string // a client-certificate credential of consoleUsr to act on
	group      string // a certificate group id to act on
	domain     string // a (CI) domain id to act on
}

// passwordHash is one argon2id hash reused for fixture users: hashing per user would only
// slow the matrix down.
var fixtureCreds identity.Credentials

func setupTenant(t *testing.T, srv *local.Server, st *store.Store, p *function.Parts, d tenant.Deployment, foreign bool) tenantFixture {
	t.Helper()
	ctx := context.Background()
	f := tenantFixture{dep: d}
	suffix := d.ID[len(d.ID)-6:]
	newPortal := func(role identity.PortalRole, sa bool) identity.PortalUser {
		tok, hash := identity.NewInviteToken()
		_ = tok
		if err := st.CreateInvite(ctx, hash, identity.Invite{DeploymentID: d.ID, Role: role, SignumAdmin: sa, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		u, err := st.Register(ctx, hash, identity.PortalUser{ID: tenant.NewID("pu_"), DeploymentID: d.ID,
			Email: strings.ToLower(fmt.Sprintf("%s-%s@example.com", role, tenant.NewID(""))), Role: role, Status: identity.StatusActive, SignumAdmin: sa, Credentials: fixtureCreds})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	issue := func(sys string, u string, roles []string) string {
		c := claims(sys, u, d.ID, roles)
		tok, _, err := p.Issuer.Issue(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	add := func(name string, of access.Principal, tok string) {
		of.DeploymentID = d.ID
		// The guard joins the caller's roles into its scope; the table's rules are checked
		// against the same.
		of.Scope = roles.ScopeOf(of.ConsoleRoles, nil)
		prefix := "A "
		if foreign {
			prefix = "B "
		}
		f.principals = append(f.principals, principal{name: prefix + name, of: of, token: tok, foreign: foreign})
	}
	for _, role := range []identity.PortalRole{identity.RoleAdmin, identity.RoleUser, identity.RoleViewer} {
		u := newPortal(role, false)
		if role == identity.RoleUser {
			f.portalUser = u.ID
		}
		add("portal "+string(role), access.Principal{Kind: access.Portal, UserID: u.ID, PortalRole: role}, issue("portal", u.ID, []string{string(role)}))
	}
	sa := newPortal(identity.RoleAdmin, true)
	saRoles := identity.ConsoleRolesFor(sa)
	add("Signum Administrator", access.Principal{Kind: access.Console, UserID: sa.ID, ConsoleRoles: saRoles}, issue("console", sa.ID, names(saRoles)))
	for _, role := range []identity.ConsoleRole{identity.ConsoleAdmin, identity.ConsoleViewer, identity.Signer} {
		u, err := st.CreateConsoleUser(ctx, identity.ConsoleUser{ID: tenant.NewID("cu_"), DeploymentID: d.ID,
			Username: string(role) + "-" + suffix, Roles: []identity.ConsoleRole{role}, Status: identity.StatusActive, Credentials: fixtureCreds}, tenant.LogEntry{Actor: "test", Action: "fixture"})
		if err != nil {
			t.Fatal(err)
		}
		if role == identity.Signer {
			f.consoleUsr = u.ID
		}
		add("console "+string(role), access.Principal{Kind: access.Console, UserID: u.ID, ConsoleRoles: []identity.ConsoleRole{role}}, issue("console", u.ID, []string{string(role)}))
	}
	// The certificates acted on are in the tenant's group, which custom roles are scoped to.
	f.group = fixtureGroup(t, st, d.ID)
	scopeGroups[d.ID] = f.group
	f.cert = fixtureCertificate(t, st, d.ID)
	// Custom roles: one scoped to the group with certificates at manage, one that reads only
	// the system log. Their users hold the signer role besides.
	custom := func(name string, r roles.Role) {
		r.ID, r.DeploymentID, r.Name = roles.NewID(), d.ID, name+" "+suffix
		role, err := st.CreateRole(ctx, r, tenant.LogEntry{Actor: "test", Action: "fixture"})
		if err != nil {
			t.Fatal(err)
		}
		u, err := st.CreateConsoleUser(ctx, identity.ConsoleUser{ID: tenant.NewID("cu_"), DeploymentID: d.ID, Username: strings.ReplaceAll(name, " ", "-") + "-" + suffix,
			Roles: []identity.ConsoleRole{identity.Signer}, Role: role.ID, Status: identity.StatusActive, Credentials: fixtureCreds}, tenant.LogEntry{Actor: "test", Action: "fixture"})
		if err != nil {
			t.Fatal(err)
		}
		of := access.Principal{Kind: access.Console, UserID: u.ID, ConsoleRoles: u.Roles, CustomRole: role.ID}
		add(name, of, issue("console", u.ID, []string{string(identity.Signer)}))
		f.principals[len(f.principals)-1].of.Scope = roles.ScopeOf(u.Roles, &role)
	}
	custom("custom certificates manager", roles.Role{Areas: map[roles.Area]roles.Level{roles.Certificates: roles.Manage},
		Groups: map[string]roles.GroupRights{f.group: {View: true, Add: true, Remove: true, Assign: true}}})
	custom("custom system-log reader", roles.Role{Areas: map[roles.Area]roles.Level{roles.SystemLog: roles.Read}})
	f.domain = fixtureDomain(t, st, d.ID)
	// The console signer also has a pinned client certificate: the same user, authenticated
	// over mutual TLS.
	var tc tls.Certificate
	tc, f.credential = fixtureClientCertificate(t, st, d.ID, f.consoleUsr)
	add("certificate signer", access.Principal{Kind: access.Console, UserID: f.consoleUsr, ConsoleRoles: []identity.ConsoleRole{identity.Signer}}, "")
	f.principals[len(f.principals)-1].cert = &tc
	if !foreign {
		// Tokens that outlive their users' rights: a removed portal Admin, a disabled
		// console admin.
		gone := newPortal(identity.RoleAdmin, false)
		goneTok := issue("portal", gone.ID, []string{"Admin"})
		if err := st.DeletePortalUser(ctx, gone, tenant.LogEntry{Actor: "test", Action: "fixture"}); err != nil {
			t.Fatal(err)
		}
		add("removed portal Admin", access.Principal{Kind: access.Portal, UserID: gone.ID, PortalRole: identity.RoleAdmin}, goneTok)
		off, err := st.CreateConsoleUser(ctx, identity.ConsoleUser{ID: tenant.NewID("cu_"), DeploymentID: d.ID, Username: "off-" + suffix,
			Roles: []identity.ConsoleRole{identity.ConsoleAdmin}, Status: identity.StatusActive, Credentials: fixtureCreds}, tenant.LogEntry{Actor: "test", Action: "fixture"})
		if err != nil {
			t.Fatal(err)
		}
		offTok := issue("console", off.ID, []string{"console-admin"})
		disabled := off
		disabled.Status = identity.StatusDisabled
		if _, err := st.UpdateConsoleUser(ctx, off, disabled, tenant.LogEntry{Actor: "test", Action: "fixture"}); err != nil {
			t.Fatal(err)
		}
		add("disabled console admin", access.Principal{Kind: access.Console, UserID: off.ID, ConsoleRoles: []identity.ConsoleRole{identity.ConsoleAdmin}}, offTok)
		f.principals[len(f.principals)-1].inactive = true
		f.principals[len(f.principals)-2].inactive = true
	}
	return f
}

func names(rs []identity.ConsoleRole) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r)
	}
	return out
}

// expectation of one cell.
type expectation int

const (
	allowed  expectation = iota // the guard admits: 2xx, or 400 for the probe body
	denied                      // 401 or 403 (or API Gateway's 403 on IAM routes)
	notFound                    // exactly the answer for a deployment that does not exist
)

// TestAuthorizationMatrix calls every route of template.yaml as every kind of principal —
// anonymous, the operator, each portal role, console admin, viewer and signer, the Signum
// Administrator, and the same principals of another deployment — and checks each cell
// against the rule the route declares, and a few rules against what the product requires.
func TestAuthorizationMatrix(t *testing.T) {
	srv := startLocal(t)
	ctx := context.Background()
	env := envFor(srv)
	parts := function.NewParts(env)
	st := parts.Store
	var err error
	if fixtureCreds, err = loginCreds(); err != nil {
		t.Fatal(err)
	}

	// Deployment B, with its own domain.
	b := client{t: t, srv: srv}
	var created struct{ ID string }
	signed(t, srv, "POST", "/operator/deployments", `{"name":"Other","domainName":"other.localhost"}`).must(t, 201, "provision B").json(t, &created)
	depB, err := st.GetDeployment(ctx, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	_ = b
	A := setupTenant(t, srv, st, parts, srv.Demo, false)
	B := setupTenant(t, srv, st, parts, depB, true)

	everyone := []principal{{name: "anonymous", of: access.Principal{Kind: access.Anonymous}}, {name: "operator", of: access.Principal{Kind: access.Operator}, operator: true}}
	everyone = append(everyone, A.principals...)
	everyone = append(everyone, B.principals...)

	// The rules every route declares, from each function's mux.
	tpl, err := apigw.ParseTemplate(signum.Template)
	if err != nil {
		t.Fatal(err)
	}
	rules := map[string]access.Rule{}
	for id := range tpl.Functions {
		if _, isEvent := local.EventBuilds[id]; isEvent {
			continue // no routes
		}
		h, err := local.Builds[id](ctx, env)
		if err != nil {
			t.Fatal(err)
		}
		rr, ok := h.(interface{ Rules() map[string]access.Rule })
		if !ok {
			t.Fatalf("%s: handler %T declares no rules", id, h)
		}
		for p, r := range rr.Rules() {
			if id != "FallbackFunction" {
				rules[p] = r
			}
		}
	}

	// What the product requires, written out independently of what the code declares: for
	// every route, which principals of the deployment may call it. A route missing here fails
	// the test, so the table grows with every route.
	const (
		pAdmin, pUser, pViewer = "A portal Admin", "A portal User", "A portal Viewer"
		sa, cAdmin, cViewer    = "A Signum Administrator", "A console console-admin", "A console console-viewer"
		cSigner, operator      = "A console signer", "operator"
		cCert                  = "A certificate signer"
		cCerts, cLog           = "A custom certificates manager", "A custom system-log reader"
	)
	consoleReaders := []string{sa, cAdmin, cViewer}
	product := map[string][]string{
		"GET /health":           {"*"},
		"POST /portal/register": {"*"},
		"POST /portal/login":    {"*"},
		"POST /console/login":   {"*"},
		// A CI job exchanges its OIDC token for a session: its token is all it has.
		"POST /console/workload-session": {"*"},
		// People of OIDC and SAML domains log in at their identity provider: anyone may
		// start, and the IdP's answer is all the callbacks take.
		"GET /console/login/domains":                    {"*"},
		"GET /console/domains/{domainId}/login":         {"*"},
		"GET /console/login/oidc/callback":              {"*"},
		"POST /console/login/saml/acs":                  {"*"},
		"GET /console/domains/{domainId}/saml/metadata": {"*"},

		"POST /operator/deployments":              {operator},
		"GET /operator/deployments":               {operator},
		"GET /operator/deployments/{id}":          {operator},
		"POST /operator/deployments/{id}/invites": {operator},
		"GET /operator/truststore":                {operator},
		"GET /operator/truststore/status":         {operator},

		"GET /operator/deployments/{id}/signum-administrators":             {operator},
		"POST /operator/deployments/{id}/signum-administrators":            {operator},
		"PUT /operator/deployments/{id}/signum-administrators":             {operator},
		"DELETE /operator/deployments/{id}/signum-administrators/{userId}": {operator},

		"GET /portal/deployments/{id}":              {pAdmin, pUser, pViewer},
		"GET /portal/deployments/{id}/subscription": {pAdmin, pUser, pViewer},
		"GET /portal/deployments/{id}/dashboard":    {pAdmin, pViewer},
		"GET /portal/deployments/{id}/health":       {pAdmin, pViewer},
		"GET /portal/deployments/{id}/notices":      {pAdmin, pViewer},
		// Software updates: every portal role sees them, only an Admin changes anything; the
		// operator publishes releases and rolls them out.
		"GET /portal/deployments/{id}/updates":                {pAdmin, pUser, pViewer},
		"POST /portal/deployments/{id}/updates":               {pAdmin},
		"DELETE /portal/deployments/{id}/updates/current":     {pAdmin},
		"POST /portal/deployments/{id}/updates/current/retry": {pAdmin},
		"GET /portal/deployments/{id}/maintenance-window":     {pAdmin, pUser, pViewer},
		"PUT /portal/deployments/{id}/maintenance-window":     {pAdmin},
		"POST /operator/releases":                             {operator},
		"GET /operator/releases":                              {operator},
		"GET /operator/releases/{version}":                    {operator},
		"POST /operator/rollouts":                             {operator},
		"GET /operator/rollouts/{rolloutId}":                  {operator},

		// Buyers arrive from the marketplaces with what the marketplace gave them (a token, a
		// ticket), and Azure's webhook carries Azure's token: no caller of ours.
		"POST /marketplace/aws/register":          {"*"},
		"POST /marketplace/azure/resolve":         {"*"},
		"POST /marketplace/registrations/preview": {"*"},
		"POST /marketplace/registrations":         {"*"},
		"POST /marketplace/azure/webhook":         {"*"},

		"GET /operator/deployments/{id}/events":                 {operator},
		"GET /operator/subscriptions":                           {operator},
		"GET /operator/subscriptions/{subscriptionId}":          {operator},
		"GET /operator/subscriptions/{subscriptionId}/metering": {operator},
		"PATCH /portal/deployments/{id}":                        {pAdmin},
		"POST /portal/deployments/{id}/console-token":           {pAdmin, pUser, pViewer},
		"GET /portal/deployments/{id}/users":                    {pAdmin, pViewer},
		"POST /portal/deployments/{id}/users":                   {pAdmin},
		"PATCH /portal/deployments/{id}/users/{userId}":         {pAdmin},
		"DELETE /portal/deployments/{id}/users/{userId}":        {pAdmin},

		"GET /console/session":           {sa, cAdmin, cViewer, cSigner, cCert, cCerts, cLog},
		"GET /console/users":             consoleReaders,
		"GET /console/users/{userId}":    consoleReaders,
		"POST /console/users":            {sa, cAdmin},
		"PATCH /console/users/{userId}":  {sa, cAdmin},
		"DELETE /console/users/{userId}": {sa, cAdmin},
		"GET /console/domains/local":     consoleReaders,
		"PATCH /console/domains/local":   {sa},
		// Domains decide who may log in: only the Signum Administrator changes them.
		"GET /console/domains":               consoleReaders,
		"GET /console/domains/{domainId}":    consoleReaders,
		"POST /console/domains":              {sa},
		"PATCH /console/domains/{domainId}":  {sa},
		"DELETE /console/domains/{domainId}": {sa},
		// The system log names who logged in from where: not for every viewer.
		"GET /console/system-log":        {sa, cAdmin, cLog},
		"GET /console/system-log/export": {sa, cAdmin, cLog},
		// The time-stamping authorities are a deployment setting: read by every console
		// reader, changed by those who manage the settings.
		"GET /console/timestamping": consoleReaders,
		"PUT /console/timestamping": {sa, cAdmin},

		"GET /console/users/{userId}/client-certificates":                             consoleReaders,
		"POST /console/users/{userId}/client-certificates":                            {sa, cAdmin},
		"GET /console/users/{userId}/client-certificates/{credentialId}":              consoleReaders,
		"DELETE /console/users/{userId}/client-certificates/{credentialId}":           {sa, cAdmin},
		"POST /console/users/{userId}/client-certificates/{credentialId}/revocations": {sa, cAdmin},

		"GET /console/certificates":                 append(consoleReaders, cCerts),
		"GET /console/certificates/{certId}":        append(consoleReaders, cCerts),
		"GET /console/certificates/{certId}/chain":  append(consoleReaders, cCerts),
		"POST /console/certificates":                {sa, cAdmin, cCerts},
		"PATCH /console/certificates/{certId}":      {sa, cAdmin, cCerts},
		"DELETE /console/certificates/{certId}":     {sa, cAdmin, cCerts},
		"PUT /console/certificates/{certId}/chain":  {sa, cAdmin, cCerts},
		"POST /console/certificates/{certId}/renew": {sa, cAdmin, cCerts},

		// Groups decide what a role's users see: only the Signum Administrator changes them;
		// console admins and viewers read them (certificates name their groups by id).
		"GET /console/certificate-groups":              append(consoleReaders, cCerts),
		"GET /console/certificate-groups/{groupId}":    append(consoleReaders, cCerts),
		"POST /console/certificate-groups":             {sa},
		"PATCH /console/certificate-groups/{groupId}":  {sa},
		"DELETE /console/certificate-groups/{groupId}": {sa},

		// Roles are the directory too: only the Signum Administrator changes them; console
		// admins and viewers read them (users name their custom role by id).
		"GET /console/roles":             consoleReaders,
		"GET /console/roles/{roleId}":    consoleReaders,
		"POST /console/roles":            {sa},
		"PATCH /console/roles/{roleId}":  {sa},
		"DELETE /console/roles/{roleId}": {sa},

		"GET /console/policies":               consoleReaders,
		"GET /console/policies/{policyId}":    consoleReaders,
		"POST /console/policies":              {sa, cAdmin},
		"PUT /console/policies/{policyId}":    {sa, cAdmin},
		"DELETE /console/policies/{policyId}": {sa, cAdmin},
		"POST /console/policies/evaluate":     consoleReaders,
		// One-off grants let a user sign without a policy: changed by whoever changes policies.
		"GET /console/grants":                   consoleReaders,
		"GET /console/grants/{grantId}":         consoleReaders,
		"POST /console/grants":                  {sa, cAdmin},
		"POST /console/grants/{grantId}/revoke": {sa, cAdmin},

		"GET /console/events":             consoleReaders,
		"GET /console/dashboard":          consoleReaders,
		"GET /console/events/verify":      consoleReaders,
		"POST /console/events/full-check": consoleReaders,
		"GET /console/events/full-check":  consoleReaders,

		// The guard admits every console caller to the signer; the policies decide.
		"GET /sign/certificates": {sa, cAdmin, cViewer, cSigner, cCert, cCerts, cLog},
		"POST /sign":             {sa, cAdmin, cViewer, cSigner, cCert, cCerts, cLog},
		"POST /sign/evaluate":    {sa, cAdmin, cViewer, cSigner, cCert, cCerts, cLog},
		// Requests held for approval: the requester fetches its own (404 for anyone else's:
		// the handler); every console user lists those it may approve or made, and answers
		// those it may approve (the handler refuses others, and the requester, itself).
		"GET /sign/requests/{requestId}":              {sa, cAdmin, cViewer, cSigner, cCert, cCerts, cLog},
		"GET /console/approvals":                      {sa, cAdmin, cViewer, cSigner, cCert, cCerts, cLog},
		"GET /console/approvals/{requestId}":          {sa, cAdmin, cViewer, cSigner, cCert, cCerts, cLog},
		"POST /console/approvals/{requestId}/approve": {sa, cAdmin, cViewer, cSigner, cCert, cCerts, cLog},
		"POST /console/approvals/{requestId}/reject":  {sa, cAdmin, cViewer, cSigner, cCert, cCerts, cLog},
	}

	var routes []apigw.Route
	for _, r := range tpl.Routes {
		if r.Path != apigw.DefaultRoute {
			routes = append(routes, r)
		}
	}
	sort.Slice(routes, func(i, j int) bool { return routes[i].Key() < routes[j].Key() })
	cells := 0
	counts := map[expectation]int{}
	for _, route := range routes {
		rule, ok := rules[route.Pattern()]
		if !ok {
			t.Errorf("%s: no declared rule", route.Key())
			continue
		}
		admitted, ok := product[route.Key()]
		if !ok {
			t.Errorf("%s: not in the product table of who may call what", route.Key())
			continue
		}
		for _, p := range everyone {
			want := expect(rule, route, p, admitted)
			// The declared rule must say what the product says.
			if !p.foreign && !p.inactive && !(route.IAM && !p.operator) && rule.Caller != access.Anonymous {
				if declared := p.of.Kind == rule.Caller && rule.Allows(p.of); declared != (want == allowed) {
					t.Errorf("%s declares %q, which %s %s; the product table says otherwise", route.Key(), rule.Name,
						map[bool]string{true: "admits", false: "refuses"}[declared], p.name)
				}
			}
			cells++
			counts[want]++
			t.Run(route.Key()+"/"+p.name, func(t *testing.T) {
				path := fill(t, route.Path, A, st)
				r := send(t, srv, route, path, p)
				check(t, r, want, route, path)
			})
		}
	}
	// The cross-deployment answer is the answer for a deployment that does not exist.
	ghost := tenant.NewID("dep_")
	var adminA principal
	for _, p := range A.principals {
		if p.name == "A portal Admin" {
			adminA = p
		}
	}
	check(t, client{t: t, srv: srv, token: adminA.token}.do("GET", "/portal/deployments/"+ghost, nil), notFound, apigw.Route{}, "/portal/deployments/"+ghost)
	noHost := client{t: t, srv: srv, host: "nowhere.localhost"}.do("GET", "/console/session", nil)
	var p struct{ Detail string }
	noHost.json(t, &p)
	if noHost.status != 404 || p.Detail != `No deployment has the id or domain name "nowhere.localhost".` {
		t.Fatalf("unknown host: %d %s", noHost.status, noHost.body)
	}

	fmt.Fprintf(os.Stdout, "authorization matrix: %d routes × %d principals = %d cells checked (%d allowed, %d denied, %d cross-deployment not-found)\n",
		len(routes), len(everyone), cells, counts[allowed], counts[denied], counts[notFound])
	t.Logf("authorization matrix: %d cells", cells)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// expect is a cell's outcome by the product table: anyone on public routes; the gateway
// refuses unsigned calls to IAM routes; another tenant's caller of the route's kind gets the
// not-found answer; a removed or disabled user's token gets nothing; otherwise the table.
func expect(rule access.Rule, route apigw.Route, p principal, admitted []string) expectation {
	if contains(admitted, "*") {
		return allowed
	}
	if route.IAM && !p.operator {
		return denied
	}
	// Another deployment's client certificate is simply not registered here.
	if p.foreign && p.cert != nil && rule.Caller == access.Console {
		return denied
	}
	if p.foreign && p.of.Kind == rule.Caller && rule.Tenancy != access.NoTenant {
		return notFound
	}
	if p.inactive || !contains(admitted, p.name) {
		return denied
	}
	return allowed
}

// fill puts A's objects into a route's path. A DELETE gets a fresh victim so that every
// allowed cell deletes something that exists.
func fill(t *testing.T, path string, A tenantFixture, st *store.Store) string {
	t.Helper()
	path = strings.ReplaceAll(path, "{id}", A.dep.ID)
	path = strings.ReplaceAll(path, "{certId}", A.cert)
	path = strings.ReplaceAll(path, "{policyId}", provisioning.DefaultPolicyID)
	path = strings.ReplaceAll(path, "{credentialId}", A.credential)
	path = strings.ReplaceAll(path, "{groupId}", A.group)
	path = strings.ReplaceAll(path, "{roleId}", string(identity.ConsoleViewer)) // built-in: read, never changed
	path = strings.ReplaceAll(path, "{domainId}", A.domain)
	// No held request: an id of the wrong form, refused (400) once the guard admits.
	path = strings.ReplaceAll(path, "{requestId}", "matrixProbe")
	if strings.Contains(path, "{subscriptionId}") {
		path = strings.ReplaceAll(path, "{subscriptionId}", matrixSubscription(t, st))
	}
	if strings.Contains(path, "{version}") {
		path = strings.ReplaceAll(path, "{version}", matrixRelease(t, st))
	}
	if strings.Contains(path, "{grantId}") {
		// A fresh grant each time, so that every allowed revoke has one to revoke.
		path = strings.ReplaceAll(path, "{grantId}", matrixGrant(t, st, A))
	}
	if strings.Contains(path, "{rolloutId}") {
		path = strings.ReplaceAll(path, "{rolloutId}", matrixRollout(t, st, A.dep.ID))
	}
	if strings.HasSuffix(path, "/updates/current/retry") {
		// Something to retry: a paused update of A (the Admin's retry leaves it running, the
		// updater finds its migration unknown to this code and pauses it again).
		matrixRun(t, st, A.dep.ID, updates.StatePaused)
	}
	if !strings.Contains(path, "{userId}") {
		return path
	}
	id := A.consoleUsr
	if strings.HasPrefix(path, "/portal/") {
		id = A.portalUser
	}
	return strings.ReplaceAll(path, "{userId}", id)
}

// probeBody is what mutating routes get: an unknown field, so that a request the guard
// admits is refused by the decoder (400) and changes nothing.
const probeBody = `{"matrixProbe":true}`

func send(t *testing.T, srv *local.Server, route apigw.Route, path string, p principal) resp {
	t.Helper()
	body := ""
	if route.Method == "POST" || route.Method == "PATCH" || route.Method == "PUT" {
		body = probeBody
	}
	if route.Method == "DELETE" {
		path = freshVictim(t, srv, path)
	}
	c := client{t: t, srv: srv, host: local.DemoDomain, token: p.token}
	if p.cert != nil {
		c = c.withCert(*p.cert)
	}
	if p.operator {
		return signedAt(t, srv, route.Method, path, body, local.DemoDomain)
	}
	if body == "" {
		return c.do(route.Method, path, nil)
	}
	return c.do(route.Method, path, body)
}

func check(t *testing.T, r resp, want expectation, route apigw.Route, path string) {
	t.Helper()
	switch want {
	case allowed:
		if r.status >= 200 && r.status < 300 {
			return
		}
		if r.status == 400 && (strings.Contains(r.body, "matrixProbe") || strings.Contains(r.body, "invalid-request")) {
			return
		}
		t.Fatalf("allowed cell answered %d: %s", r.status, r.body)
	case denied:
		if r.status == 401 || r.status == 403 {
			return
		}
		t.Fatalf("denied cell answered %d: %s", r.status, r.body)
	case notFound:
		if r.status != 404 || r.problemType() != "not-found" {
			t.Fatalf("cross-deployment cell answered %d: %s", r.status, r.body)
		}
		// Indistinguishable: the same detail as for a deployment that does not exist.
		ref := local.DemoDomain
		if strings.HasPrefix(path, "/portal/") || strings.HasPrefix(path, "/operator/") {
			ref = strings.Split(path, "/")[3]
		}
		want := fmt.Sprintf("No deployment has the id or domain name %q.", ref)
		var p struct{ Detail string }
		r.json(t, &p)
		if p.Detail != want {
			t.Fatalf("cross-deployment detail differs from not-found (%s): %s", want, r.body)
		}
	}
}

var victims = map[string]int{}

// freshVictim replaces the user id of a DELETE path with a new user of the same deployment.
func freshVictim(t *testing.T, srv *local.Server, path string) string {
	t.Helper()
	parts := strings.Split(path, "/")
	ctx := context.Background()
	st := store.New(srv.Clients.DynamoDB, srv.Config.TableName, function.CursorKey(envFor(srv)))
	victims[path]++
	if strings.HasSuffix(path, "/updates/current") {
		// Something to cancel: a scheduled update of the deployment.
		matrixRun(t, st, parts[3], updates.StateScheduled)
		return path
	}
	if strings.HasPrefix(path, "/console/policies/") {
		p := provisioning.DefaultPolicy()
		p.ID = tenant.NewID("pol_")
		p.Priority = 1000 + victims[path]
		if _, err := st.CreatePolicy(ctx, srv.Demo.ID, *p, tenant.LogEntry{Actor: "test", Action: "fixture"}); err != nil {
			t.Fatal(err)
		}
		parts[len(parts)-1] = p.ID
		return strings.Join(parts, "/")
	}
	if strings.Contains(path, "/client-certificates/") {
		_, parts[len(parts)-1] = fixtureClientCertificate(t, st, srv.Demo.ID, parts[3])
		return strings.Join(parts, "/")
	}
	if strings.HasPrefix(path, "/console/certificates/") {
		parts[len(parts)-1] = fixtureCertificate(t, st, srv.Demo.ID)
		return strings.Join(parts, "/")
	}
	if strings.HasPrefix(path, "/console/certificate-groups/") {
		parts[len(parts)-1] = fixtureGroup(t, st, srv.Demo.ID)
		return strings.Join(parts, "/")
	}
	if strings.HasPrefix(path, "/console/domains/") {
		parts[len(parts)-1] = fixtureDomain(t, st, srv.Demo.ID)
		return strings.Join(parts, "/")
	}
	if strings.HasPrefix(path, "/console/roles/") {
		r, err := st.CreateRole(ctx, roles.Role{ID: roles.NewID(), DeploymentID: srv.Demo.ID, Name: tenant.NewID("role-"),
			Areas: map[roles.Area]roles.Level{roles.Events: roles.Read}}, tenant.LogEntry{Actor: "test", Action: "fixture"})
		if err != nil {
			t.Fatal(err)
		}
		parts[len(parts)-1] = r.ID
		return strings.Join(parts, "/")
	}
	// A revoke of the Signum Administrator role gets a fresh holder, beside the tenant's own,
	// who stays (the last holder cannot go).
	holder := strings.Contains(path, "/signum-administrators/")
	if strings.HasPrefix(path, "/portal/") || holder {
		dep := parts[3]
		role := identity.RoleUser
		if holder {
			role = identity.RoleAdmin
		}
		_, hash := identity.NewInviteToken()
		if err := st.CreateInvite(ctx, hash, identity.Invite{DeploymentID: dep, Role: role, SignumAdmin: holder, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		u, err := st.Register(ctx, hash, identity.PortalUser{ID: tenant.NewID("pu_"), DeploymentID: dep, Email: tenant.NewID("v") + "@example.com",
			Role: role, Status: identity.StatusActive, SignumAdmin: holder, Credentials: fixtureCreds})
		if err != nil {
			t.Fatal(err)
		}
		parts[len(parts)-1] = u.ID
		return strings.Join(parts, "/")
	}
	u, err := st.CreateConsoleUser(ctx, identity.ConsoleUser{ID: tenant.NewID("cu_"), DeploymentID: srv.Demo.ID, Username: tenant.NewID("v"),
		Roles: []identity.ConsoleRole{identity.Signer}, Status: identity.StatusActive, Credentials: fixtureCreds}, tenant.LogEntry{Actor: "test", Action: "fixture"})
	if err != nil {
		t.Fatal(err)
	}
	parts[len(parts)-1] = u.ID
	return strings.Join(parts, "/")
}

// signed sends a SigV4-signed request as the local operator.
func signed(t *testing.T, srv *local.Server, method, path, body string) resp {
	return signedAt(t, srv, method, path, body, "")
}

func signedAt(t *testing.T, srv *local.Server, method, path, body, host string) resp {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if host != "" {
		req.Host = host
	}
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: local.OperatorAccessKey, SecretAccessKey: srv.OperatorSecret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "execute-api", devstack.Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header, string(raw)}
}

func claims(sys, user, dep string, roles []string) token.Claims {
	return token.Claims{Subject: user, System: token.System(sys), Deployment: dep, Roles: roles}
}

func loginCreds() (identity.Credentials, error) {
	return identity.SetPassword(strongPassword, "fixture", password.DefaultPolicy(), time.Now())
}

// fixtureCertificate stores an active certificate record whose key does not exist: enough for
// routes that read, change or delete the record (deleting its missing key is a no-op).
// scopeGroups are the tenants' certificate groups, by deployment: fixture certificates go in
// them.
var scopeGroups = map[string]string{}

func fixtureCertificate(t *testing.T, st *store.Store, dep string) string {
	t.Helper()
	c, err := st.CreateCertificate(context.Background(), certificates.Certificate{Groups: []string{scopeGroups[dep]},
		ID: tenant.NewID("crt_"), DeploymentID: dep, Name: "fixture", Status: certificates.StatusActive, Backend: "awskms",
		Algorithm: keys.ECP256, KeyURI: "awskms:///00000000-0000-0000-0000-000000000000", Subject: certificates.Subject{CommonName: "fixture"},
		ChainPEM: "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n",
	}, tenant.LogEntry{Actor: "test", Action: "fixture"})
	if err != nil {
		t.Fatal(err)
	}
	return c.ID
}

// fixtureGroup stores an empty certificate group (so that a delete of it is allowed).
func fixtureGroup(t *testing.T, st *store.Store, dep string) string {
	t.Helper()
	g, err := st.CreateCertificateGroup(context.Background(), certificates.Group{ID: certificates.NewGroupID(), DeploymentID: dep,
		Name: tenant.NewID("group-")}, tenant.LogEntry{Actor: "test", Action: "fixture"})
	if err != nil {
		t.Fatal(err)
	}
	return g.ID
}

// fixtureClientCertificate pins a new self-signed client certificate for a console user and
// returns it with the credential id.
func fixtureClientCertificate(t *testing.T, st *store.Store, dep, userID string) (tls.Certificate, string) {
	t.Helper()
	tc, err := certstest.SelfSigned(pkix.Name{CommonName: "matrix-" + userID})
	if err != nil {
		t.Fatal(err)
	}
	cred, err := clientauth.New(clientauth.Credential{ID: tenant.NewID("cc_"), DeploymentID: dep, UserID: userID, Kind: clientauth.Pinned}, certstest.PEM(tc.Leaf), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.GetConsoleUser(context.Background(), dep, userID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateClientCredential(context.Background(), cred, u.Version, tenant.LogEntry{Actor: "test", Action: "fixture"}); err != nil {
		t.Fatal(err)
	}
	return tc, cred.ID
}

// fixtureDomain stores a CI domain in dep (no users, so that it can be deleted).
func fixtureDomain(t *testing.T, st *store.Store, dep string) string {
	t.Helper()
	id := domains.NewID()
	_, err := st.CreateDomain(context.Background(), domains.Domain{ID: id, DeploymentID: dep, Kind: domains.CI, Name: "CI " + id, Alias: strings.ReplaceAll(id[4:20], "_", ""),
		CI: &domains.CISettings{Issuer: "https://token.actions.githubusercontent.com", Audience: "signum",
			Rules: []domains.CIRule{{Name: "main", Claims: map[string]string{"ref": "refs/heads/main"}, User: "ci"}}}}, tenant.LogEntry{Actor: "test", Action: "fixture"})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// matrixSubscriptions are the subscriptions the operator's routes are probed with, one per
// store (test server).
var matrixSubscriptions sync.Map

// matrixSubscription is a marketplace subscription of the test's table (made once).
func matrixSubscription(t *testing.T, st *store.Store) string {
	t.Helper()
	if id, ok := matrixSubscriptions.Load(st); ok {
		return id.(string)
	}
	sub := marketplace.Subscription{ID: tenant.NewID("sub_"), Marketplace: marketplace.Azure, AzureSubscriptionID: tenant.NewID("az"),
		Plan: "standard", State: marketplace.StatePending, StateAt: time.Now()}
	if _, err := st.SaveSubscription(context.Background(), store.SubscriptionChange{Next: sub}); err != nil {
		t.Fatal(err)
	}
	matrixSubscriptions.Store(st, sub.ID)
	return sub.ID
}

// matrixRelease is a published release the operator's routes can read.
func matrixRelease(t *testing.T, st *store.Store) string {
	t.Helper()
	err := st.CreateRelease(context.Background(), updates.Release{Version: "0.0.9", MinFrom: "0.0.1", DataVersion: 1, Notes: "matrix",
		PublishedAt: time.Now(), PublishedBy: "test"})
	if err != nil && !errors.Is(err, store.ErrConflict) {
		t.Fatal(err)
	}
	return "0.0.9"
}

var matrixRolloutID string

// matrixRollout is a rollout the operator's routes can read.
func matrixRollout(t *testing.T, st *store.Store, dep string) string {
	t.Helper()
	if matrixRolloutID == "" {
		ro := updates.Rollout{ID: updates.NewRolloutID(), Version: "0.0.9", WaveSize: 1, CreatedBy: "test", CreatedAt: time.Now(),
			Entries: []updates.RolloutEntry{{DeploymentID: dep, Skipped: "matrix"}}}
		if err := st.CreateRollout(context.Background(), ro); err != nil {
			t.Fatal(err)
		}
		matrixRolloutID = ro.ID
	}
	return matrixRolloutID
}

// matrixRun leaves dep's update run in state (scheduled for tomorrow, or paused on a
// migration this code does not have), whatever it was.
func matrixRun(t *testing.T, st *store.Store, dep string, state updates.State) {
	t.Helper()
	ctx := context.Background()
	for range 20 {
		now := time.Now().UTC()
		run, err := st.GetRun(ctx, dep)
		fresh := errors.Is(err, store.ErrNotFound) || (err == nil && run.State.Finished())
		if err != nil && !fresh {
			t.Fatal(err)
		}
		if fresh {
			run = updates.Run{ID: updates.NewRunID(), DeploymentID: dep, Version: "9.9.9", FromVersion: "0.1.0", DataVersion: 1, FromData: 1,
				CreatedAt: now, RequestedBy: "test"}
		}
		run.State, run.At, run.UpdatedAt, run.Error = state, now.Add(24*time.Hour), now, "fixture"
		run.Steps = []updates.Step{{Name: "matrix-unknown", State: updates.StepFailed, Error: "fixture"}}
		if state == updates.StateScheduled {
			run.Steps[0].State, run.Steps[0].Error, run.Error = updates.StepPending, "", ""
		}
		if fresh {
			err = st.StartRun(ctx, run, tenant.LogEntry{Actor: "test", Action: "deployment.update.scheduled"})
		} else {
			_, err = st.SaveRun(ctx, run, tenant.LogEntry{})
		}
		if err == nil {
			return
		}
		if !errors.Is(err, store.ErrStale) && !errors.Is(err, store.ErrConflict) {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond) // the updater wrote meanwhile
	}
	t.Fatal("the update run kept changing")
}

// matrixGrant is a new one-off grant in A: its console user may sign with its certificate once.
func matrixGrant(t *testing.T, st *store.Store, A tenantFixture) string {
	t.Helper()
	g, err := st.CreateGrant(context.Background(), A.dep.ID, policy.UserGrant{ID: tenant.NewID("gnt_"), UserID: A.consoleUsr, CertificateID: A.cert,
		Grant: policy.Grant{MaxSignatures: 1}}, tenant.LogEntry{Actor: "test", Action: "fixture"})
	if err != nil {
		t.Fatal(err)
	}
	return g.ID
}
