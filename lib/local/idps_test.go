package local_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/opensignum/signum/lib/local"
	"github.com/opensignum/signum/lib/workload"
)

// TestIdentityProviderStandins: the server starts the GitHub Actions, OIDC and SAML
// stand-ins on their own ports, each a protocol server reachable over HTTP, with distinct
// issuers, the demo people and the demo deployment's OIDC callback.
func TestIdentityProviderStandins(t *testing.T) {
	srv := startLocal(t)
	if srv.Actions == nil || srv.IdP == nil || srv.SAML == nil {
		t.Fatal("a stand-in is missing")
	}
	if srv.Actions.Issuer() == srv.IdP.Issuer() {
		t.Fatalf("one issuer for jobs and people: %s", srv.Actions.Issuer())
	}
	for _, issuer := range []string{srv.Actions.Issuer(), srv.IdP.Issuer()} {
		res, err := http.Get(issuer + "/.well-known/openid-configuration")
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Issuer  string
			JWKSURI string `json:"jwks_uri"`
		}
		err = json.NewDecoder(res.Body).Decode(&d)
		res.Body.Close()
		if err != nil || d.Issuer != issuer || d.JWKSURI == "" {
			t.Fatalf("discovery of %s: %+v %v", issuer, d, err)
		}
	}
	res, err := http.Get(srv.SAML.MetadataURL())
	if err != nil {
		t.Fatal(err)
	}
	meta, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(meta), "EntityDescriptor") {
		t.Fatalf("SAML metadata: %d", res.StatusCode)
	}

	// The demo job gets a workload token for the audience the CLI asks for by default.
	env := srv.DemoJob.Env()
	tok, ok, err := workload.FromGitHubActionsEnv(context.Background(), nil, local.ActionsAudience, func(k string) string { return env[k] })
	if !ok || err != nil || strings.Count(tok, ".") != 2 {
		t.Fatalf("demo job token: ok %v, %v", ok, err)
	}

	// The people IdP's confidential client accepts the demo console's callback only: its
	// login form answers for that redirect URI and refuses another.
	redirects := local.DemoOIDCRedirectURIs(strings.TrimPrefix(srv.URL, "http://"), strings.TrimPrefix(srv.TLSURL, "https://"))
	if len(redirects) != 2 || !strings.HasPrefix(redirects[0], "http://demo.localhost:") {
		t.Fatalf("redirect URIs %v", redirects)
	}
	authorize := func(redirect string) int {
		u := srv.IdP.Issuer() + "/authorize?response_type=code&scope=openid&client_id=" + local.IdPClientID + "&state=s&nonce=n&redirect_uri=" + redirect +
			"&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"
		res, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if got := authorize(redirects[0]); got != 200 {
		t.Errorf("the demo callback: %d", got)
	}
	if got := authorize("http://elsewhere.localhost/cb"); got == 200 {
		t.Errorf("another redirect URI is accepted")
	}
}
