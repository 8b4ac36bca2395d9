package local_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/opensignum/signum/lib/samlidp"
)

type domainJSON struct {
	ID, Kind, Name, Alias string
	BuiltIn               bool
	UserCount             int
	Version               int64
	OIDC                  *struct {
		Issuer, ClientID, ClientSecret string
		HasClientSecret                bool
	}
	Registration *struct{ RedirectURL, EntityID, ACSURL string }
	CI           *struct {
		Issuer, Audience string
		Rules            []struct{ Name, User string }
	}
}

// consoleUserClient creates a console user with roles through sa and returns it logged in.
func consoleUserClient(t *testing.T, sa client, username string, roles ...string) client {
	t.Helper()
	sa.do("POST", "/console/users", map[string]any{"username": username, "password": strongPassword, "roles": roles}).must(t, 201, "user "+username)
	var lg struct{ Token string }
	sa.as("").do("POST", "/console/login", map[string]string{"username": username, "password": strongPassword}).must(t, 200, "login "+username).json(t, &lg)
	return sa.as(lg.Token)
}

// TestDomains: the Signum Administrator makes OIDC, SAML and CI domains; others read them or
// are refused; secrets are never answered; every refusal says what is wrong.
func TestDomains(t *testing.T) {
	srv := startLocal(t)
	sa := consoleAdmin(t, srv)
	admin := consoleUserClient(t, sa, "dora", "console-admin")
	viewer := consoleUserClient(t, sa, "vic", "console-viewer")
	signer := consoleUserClient(t, sa, "sid", "signer")

	ci := map[string]any{"kind": "ci", "name": "GitHub Actions", "alias": "gha", "ci": map[string]any{
		"issuer": "https://token.actions.githubusercontent.com", "audience": "signum",
		"rules": []map[string]any{{"name": "release", "claims": map[string]string{"repository": "acme/app", "ref": "refs/tags/v.*"}, "user": "ci-release"}}}}
	admin.do("POST", "/console/domains", ci).must(t, 403, "console admin creates a domain")
	var d domainJSON
	r := sa.do("POST", "/console/domains", ci).must(t, 201, "create CI domain")
	r.json(t, &d)
	if d.Kind != "ci" || d.Alias != "gha" || d.CI == nil || len(d.CI.Rules) != 1 || d.Version != 1 || r.header.Get("Location") != "/console/domains/"+d.ID {
		t.Fatalf("created %+v", d)
	}
	if body := sa.do("POST", "/console/domains", ci).must(t, 409, "alias taken").body; !strings.Contains(body, "user@gha") {
		t.Fatalf("taken alias: %s", body)
	}
	bad := sa.do("POST", "/console/domains", map[string]any{"kind": "ci", "name": "", "alias": "-x", "userLimit": -1,
		"ci": map[string]any{"issuer": "ftp://x", "audience": "", "rules": []map[string]any{{"name": "r", "claims": map[string]string{"ref": "("}, "user": ""}}}}).must(t, 400, "bad fields")
	for _, f := range []string{`"name"`, `"alias"`, `"userLimit"`, `"ci.issuer"`, `"ci.audience"`, `ci.rules[0]`} {
		if !strings.Contains(bad.body, f) {
			t.Errorf("no problem for %s: %s", f, bad.body)
		}
	}
	sa.do("POST", "/console/domains", map[string]any{"kind": "local", "name": "Another", "alias": "other"}).must(t, 400, "built-in kind")

	// OIDC: the client secret is kept and never answered.
	var o domainJSON
	sa.do("POST", "/console/domains", map[string]any{"kind": "oidc", "name": "Acme IdP", "alias": "acme", "jit": true, "defaultRole": "console-viewer",
		"groupRoles": []map[string]any{{"group": "signers", "role": "signer", "priority": 1}},
		"oidc":       map[string]any{"issuer": "https://idp.acme.example", "clientId": "signum", "clientSecret": "s3cret-value"}}).must(t, 201, "create OIDC").json(t, &o)
	if o.OIDC == nil || !o.OIDC.HasClientSecret || o.OIDC.ClientSecret != "" {
		t.Fatalf("OIDC answered %+v", o.OIDC)
	}
	// What to register at the IdP: the deployment's own callback.
	if o.Registration == nil || !strings.HasSuffix(o.Registration.RedirectURL, "://"+srv.Demo.DomainName+"/console/login/oidc/callback") && !strings.Contains(o.Registration.RedirectURL, "://"+srv.Demo.DomainName+":") {
		t.Fatalf("OIDC registration %+v", o.Registration)
	}
	for _, c := range []client{sa, admin, viewer} {
		if body := c.do("GET", "/console/domains/"+o.ID, nil).must(t, 200, "read OIDC").body; strings.Contains(body, "s3cret") {
			t.Fatalf("the client secret was answered: %s", body)
		}
	}
	// Moving the issuer needs the secret again: the stored one is not sent to another issuer.
	oidcPath := "/console/domains/" + o.ID
	moved := map[string]any{"kind": "oidc", "name": "Acme IdP", "alias": "acme", "jit": true, "defaultRole": "console-viewer",
		"oidc": map[string]any{"issuer": "https://other-idp.example", "clientId": "signum"}}
	if body := sa.do("PATCH", oidcPath, moved, "If-Match", `"1"`).must(t, 400, "issuer moved, no secret").body; !strings.Contains(body, "oidc.clientSecret") {
		t.Fatalf("moved issuer: %s", body)
	}
	moved["oidc"] = map[string]any{"issuer": "https://idp.acme.example", "clientId": "signum-2"}
	sa.do("PATCH", oidcPath, moved, "If-Match", `"1"`).must(t, 200, "same issuer keeps the secret").json(t, &o)
	if !o.OIDC.HasClientSecret {
		t.Fatalf("secret lost: %+v", o.OIDC)
	}
	sa.do("POST", "/console/domains", map[string]any{"kind": "oidc", "name": "Bad role", "alias": "badrole", "defaultRole": "signum-administrator",
		"oidc": map[string]any{"issuer": "https://idp.acme.example", "clientId": "signum"}}).must(t, 400, "the Signum Administrator role is not mappable")

	// SAML: the IdP's metadata must parse.
	idp, err := samlidp.Start(context.Background(), samlidp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer idp.Close()
	res, err := http.Get(idp.MetadataURL())
	if err != nil {
		t.Fatal(err)
	}
	meta, _ := io.ReadAll(res.Body)
	res.Body.Close()
	sa.do("POST", "/console/domains", map[string]any{"kind": "saml", "name": "Bad", "alias": "bad", "saml": map[string]any{"idpMetadataXml": "<x/>"}}).must(t, 400, "bad metadata")
	var sd domainJSON
	sa.do("POST", "/console/domains", map[string]any{"kind": "saml", "name": "Okta", "alias": "okta", "saml": map[string]any{"idpMetadataXml": string(meta)}}).must(t, 201, "create SAML").json(t, &sd)
	if r := sd.Registration; r == nil || !strings.HasSuffix(r.EntityID, "/console/domains/"+sd.ID+"/saml/metadata") || !strings.HasSuffix(r.ACSURL, "/console/login/saml/acs") || r.RedirectURL != "" {
		t.Fatalf("SAML registration %+v", sd.Registration)
	}

	// The list: built-in domains first, then the made ones; viewers read, signers do not.
	var list struct{ Items []domainJSON }
	viewer.do("GET", "/console/domains", nil).must(t, 200, "viewer lists").json(t, &list)
	if len(list.Items) != 5 || list.Items[0].ID != "local" || !list.Items[0].BuiltIn || list.Items[1].ID != "certificate" {
		t.Fatalf("listed %+v", list.Items)
	}
	signer.do("GET", "/console/domains", nil).must(t, 403, "signer lists")

	// Changes: If-Match, built-ins refused, then delete.
	path := "/console/domains/" + d.ID
	ci["name"] = "GitHub"
	sa.do("PATCH", path, ci).must(t, 412, "no If-Match")
	sa.do("PATCH", path, ci, "If-Match", `"9"`).must(t, 412, "stale If-Match")
	admin.do("PATCH", path, ci, "If-Match", `"1"`).must(t, 403, "console admin changes")
	sa.do("PATCH", path, ci, "If-Match", `"1"`).must(t, 200, "rename").json(t, &d)
	if d.Name != "GitHub" || d.Version != 2 {
		t.Fatalf("patched %+v", d)
	}
	sa.do("PATCH", "/console/domains/local", map[string]any{"name": "x"}, "If-Match", `"1"`).must(t, 400, "local domain's own route takes its policies")
	sa.do("DELETE", "/console/domains/certificate", nil).must(t, 409, "built-in")
	admin.do("DELETE", path, nil).must(t, 403, "console admin deletes")
	sa.do("DELETE", path, nil).must(t, 204, "delete")
	sa.do("GET", path, nil).must(t, 404, "gone")
	sa.do("POST", "/console/domains", ci).must(t, 201, "alias free again")
}
