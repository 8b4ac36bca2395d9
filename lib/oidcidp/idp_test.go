package oidcidp_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/opensignum/signum/lib/oidcidp"
)

const redirect = "http://127.0.0.1:9/callback"

func start(t *testing.T, opts oidcidp.Options) *oidcidp.IdP {
	t.Helper()
	if opts.Users == nil {
		opts.Users = []oidcidp.User{
			{Subject: "u-alice", Username: "alice", Email: "alice@example.com", Name: "Alice", Groups: []string{"signers", "admins"}, Password: "alice-pw"},
			{Subject: "u-bob", Username: "bob", AutoApprove: true},
		}
	}
	if opts.Clients == nil {
		opts.Clients = []oidcidp.Client{
			{ID: "console", RedirectURIs: []string{redirect}},
			{ID: "confidential", Secret: "s3cret", RedirectURIs: []string{redirect}},
		}
	}
	p, err := oidcidp.Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// browser does not follow redirects, so that a test sees each one.
var browser = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func get(t *testing.T, u string) (*http.Response, string) {
	t.Helper()
	resp, err := browser.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func postForm(t *testing.T, u string, f url.Values, setup func(*http.Request)) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if setup != nil {
		setup(req)
	}
	resp, err := browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

type discovery struct {
	Issuer, AuthorizationEndpoint, TokenEndpoint, UserinfoEndpoint, JWKSURI string
}

func discover(t *testing.T, p *oidcidp.IdP) discovery {
	t.Helper()
	_, body := get(t, p.Issuer()+"/.well-known/openid-configuration")
	var d struct {
		Issuer                string   `json:"issuer"`
		AuthorizationEndpoint string   `json:"authorization_endpoint"`
		TokenEndpoint         string   `json:"token_endpoint"`
		UserinfoEndpoint      string   `json:"userinfo_endpoint"`
		JWKSURI               string   `json:"jwks_uri"`
		Methods               []string `json:"code_challenge_methods_supported"`
	}
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatalf("discovery: %v: %s", err, body)
	}
	if d.Issuer != p.Issuer() || len(d.Methods) != 1 || d.Methods[0] != "S256" {
		t.Fatalf("discovery = %+v, issuer %s", d, p.Issuer())
	}
	return discovery{d.Issuer, d.AuthorizationEndpoint, d.TokenEndpoint, d.UserinfoEndpoint, d.JWKSURI}
}

// verified checks raw's RS256 signature against the stand-in's JWKS and returns its claims.
func verified(t *testing.T, d discovery, raw string) map[string]any {
	t.Helper()
	_, body := get(t, d.JWKSURI)
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(body), &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("jwks: %v %s", err, body)
	}
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	if kid := jws.Signatures[0].Header.KeyID; kid != set.Keys[0].KeyID {
		t.Fatalf("kid %q, JWKS has %q", kid, set.Keys[0].KeyID)
	}
	payload, err := jws.Verify(set.Keys[0])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

type authz struct {
	client, redirect, state, nonce, verifier, hint string
	noChallenge                                    bool
}

func (a authz) url(d discovery) string {
	q := url.Values{
		"response_type": {"code"}, "client_id": {a.client}, "redirect_uri": {a.redirect},
		"scope": {"openid profile email"}, "state": {a.state}, "nonce": {a.nonce},
	}
	if !a.noChallenge {
		q.Set("code_challenge", oauth2.S256ChallengeFromVerifier(a.verifier))
		q.Set("code_challenge_method", "S256")
	}
	if a.hint != "" {
		q.Set("login_hint", a.hint)
	}
	return d.AuthorizationEndpoint + "?" + q.Encode()
}

var requestField = regexp.MustCompile(`name="request" value="([^"]+)"`)

// login walks the form as a browser would and returns the redirect's query.
func login(t *testing.T, d discovery, a authz, user, password string) url.Values {
	t.Helper()
	resp, page := get(t, a.url(d))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("authorize: %d %s", resp.StatusCode, page)
	}
	m := requestField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no login form: %s", page)
	}
	resp, page = postForm(t, d.AuthorizationEndpoint, url.Values{"request": {m[1]}, "username": {user}, "password": {password}}, nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d %s", resp.StatusCode, page)
	}
	return redirectQuery(t, resp, a.redirect)
}

func redirectQuery(t *testing.T, resp *http.Response, want string) url.Values {
	t.Helper()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != want {
		t.Fatalf("redirected to %s, want %s", got, want)
	}
	return loc.Query()
}

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	IDToken     string `json:"id_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	Error       string `json:"error"`
}

func exchange(t *testing.T, d discovery, f url.Values, setup func(*http.Request)) (int, tokenResponse) {
	t.Helper()
	resp, body := postForm(t, d.TokenEndpoint, f, setup)
	var tr tokenResponse
	if err := json.Unmarshal([]byte(body), &tr); err != nil {
		t.Fatalf("token: %v %s", err, body)
	}
	return resp.StatusCode, tr
}

func TestLoginFlow(t *testing.T) {
	p := start(t, oidcidp.Options{PathPrefix: "/oidc", Name: "Acme IdP"})
	if !strings.HasSuffix(p.Issuer(), "/oidc") || !strings.HasPrefix(p.Issuer(), "http://127.0.0.1:") {
		t.Fatalf("issuer %s", p.Issuer())
	}
	d := discover(t, p)
	a := authz{client: "console", redirect: redirect, state: "st-1", nonce: "n-1", verifier: oauth2.GenerateVerifier()}

	// The form: labelled inputs, no inline script or style, a CSP that forbids both.
	resp, page := get(t, a.url(d))
	for _, want := range []string{`<label for="username">Username</label>`, `<label for="password">Password</label>`, `id="username"`, `id="password"`, "Acme IdP", "console"} {
		if !strings.Contains(page, want) {
			t.Errorf("login page lacks %s", want)
		}
	}
	for _, bad := range []string{"<script", "<style", "style="} {
		if strings.Contains(page, bad) {
			t.Errorf("login page has %s", bad)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP %q", csp)
	}

	// A wrong password shows the form again with the error.
	id := requestField.FindStringSubmatch(page)[1]
	resp, page = postForm(t, d.AuthorizationEndpoint, url.Values{"request": {id}, "username": {"alice"}, "password": {"wrong"}}, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "The username or password is wrong.") || !strings.Contains(page, `role="alert"`) {
		t.Fatalf("wrong password: %d %s", resp.StatusCode, page)
	}
	// The same form, now with the right password.
	resp, page = postForm(t, d.AuthorizationEndpoint, url.Values{"request": {id}, "username": {"alice"}, "password": {"alice-pw"}}, nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d %s", resp.StatusCode, page)
	}
	q := redirectQuery(t, resp, redirect)
	if q.Get("state") != "st-1" || q.Get("code") == "" || q.Get("iss") != p.Issuer() {
		t.Fatalf("redirect query %v", q)
	}
	// The form is used up.
	if resp, _ := postForm(t, d.AuthorizationEndpoint, url.Values{"request": {id}, "username": {"alice"}, "password": {"alice-pw"}}, nil); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("second submission: %d", resp.StatusCode)
	}

	code, tr := exchange(t, d, url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {redirect}, "client_id": {"console"}, "code_verifier": {a.verifier}}, nil)
	if code != http.StatusOK || tr.IDToken == "" || tr.AccessToken == "" || tr.TokenType != "Bearer" || tr.ExpiresIn != 600 {
		t.Fatalf("token: %d %+v", code, tr)
	}
	c := verified(t, d, tr.IDToken)
	for k, want := range map[string]any{"iss": p.Issuer(), "sub": "u-alice", "aud": "console", "nonce": "n-1", "preferred_username": "alice", "email": "alice@example.com", "name": "Alice"} {
		if c[k] != want {
			t.Errorf("claim %s = %v, want %v", k, c[k], want)
		}
	}
	if g, _ := c["groups"].([]any); len(g) != 2 || g[0] != "signers" || g[1] != "admins" {
		t.Errorf("groups = %v", c["groups"])
	}
	if exp, iat := c["exp"].(float64), c["iat"].(float64); exp-iat != 600 {
		t.Errorf("exp-iat = %v", exp-iat)
	}

	// The code is good once.
	if code, tr := exchange(t, d, url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {redirect}, "client_id": {"console"}, "code_verifier": {a.verifier}}, nil); code != http.StatusBadRequest || tr.Error != "invalid_grant" {
		t.Errorf("reused code: %d %+v", code, tr)
	}

	// Userinfo answers for the access token, and only for it.
	req, _ := http.NewRequest(http.MethodGet, d.UserinfoEndpoint, nil)
	req.Header.Set("Authorization", "Bearer "+tr.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var info map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || info["sub"] != "u-alice" || info["email"] != "alice@example.com" {
		t.Errorf("userinfo: %d %v", resp.StatusCode, info)
	}
	req.Header.Set("Authorization", "Bearer nope")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("userinfo with a wrong token: %v %v", resp.StatusCode, err)
	}
}

func TestAuthorizeRefusals(t *testing.T) {
	p := start(t, oidcidp.Options{})
	d := discover(t, p)
	v := oauth2.GenerateVerifier()
	// Refused with a page, never redirected: the redirect URI is not trusted.
	for name, a := range map[string]authz{
		"fail/unknown-client":          {client: "nope", redirect: redirect, verifier: v},
		"fail/redirect-not-registered": {client: "console", redirect: "http://127.0.0.1:9/other", verifier: v},
		"fail/redirect-prefix-only":    {client: "console", redirect: redirect + "/x", verifier: v},
	} {
		resp, page := get(t, a.url(d))
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(page, "refused") {
			t.Errorf("%s: %d %q %s", name, resp.StatusCode, resp.Header.Get("Location"), page)
		}
	}
	// Refused back to the client.
	for name, c := range map[string]struct {
		a    authz
		mod  func(url.Values)
		want string
	}{
		"fail/public-without-pkce": {authz{client: "console", redirect: redirect, noChallenge: true}, nil, "invalid_request"},
		"fail/plain-pkce":          {authz{client: "console", redirect: redirect, verifier: v}, func(q url.Values) { q.Set("code_challenge_method", "plain") }, "invalid_request"},
		"fail/token-response-type": {authz{client: "console", redirect: redirect, verifier: v}, func(q url.Values) { q.Set("response_type", "token") }, "unsupported_response_type"},
		"fail/no-openid-scope":     {authz{client: "console", redirect: redirect, verifier: v}, func(q url.Values) { q.Set("scope", "email") }, "invalid_scope"},
	} {
		u, _ := url.Parse(c.a.url(d))
		q := u.Query()
		q.Set("state", "s")
		if c.mod != nil {
			c.mod(q)
		}
		u.RawQuery = q.Encode()
		resp, _ := get(t, u.String())
		if resp.StatusCode != http.StatusSeeOther {
			t.Errorf("%s: %d", name, resp.StatusCode)
			continue
		}
		if got := redirectQuery(t, resp, redirect); got.Get("error") != c.want || got.Get("state") != "s" || got.Get("code") != "" {
			t.Errorf("%s: %v", name, got)
		}
	}
}

func TestTokenRefusals(t *testing.T) {
	p := start(t, oidcidp.Options{})
	d := discover(t, p)
	newCode := func(client string, verifier string) string {
		a := authz{client: client, redirect: redirect, state: "s", verifier: verifier, noChallenge: verifier == ""}
		return login(t, d, a, "alice", "alice-pw").Get("code")
	}
	v := oauth2.GenerateVerifier()
	form := func(code, client, verifier string) url.Values {
		f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "client_id": {client}}
		if verifier != "" {
			f.Set("code_verifier", verifier)
		}
		return f
	}
	basic := func(id, secret string) func(*http.Request) {
		return func(r *http.Request) { r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret)) }
	}
	for name, c := range map[string]struct {
		f      url.Values
		setup  func(*http.Request)
		status int
		err    string
	}{
		"fail/wrong-verifier":      {form(newCode("console", v), "console", oauth2.GenerateVerifier()), nil, 400, "invalid_grant"},
		"fail/no-verifier":         {form(newCode("console", v), "console", ""), nil, 400, "invalid_grant"},
		"fail/short-verifier":      {form(newCode("console", v), "console", "abc"), nil, 400, "invalid_grant"},
		"fail/other-client":        {form(newCode("console", v), "confidential", v), basic("confidential", "s3cret"), 400, "invalid_grant"},
		"fail/wrong-secret":        {form(newCode("confidential", ""), "confidential", ""), basic("confidential", "nope"), 401, "invalid_client"},
		"fail/secret-missing":      {form(newCode("confidential", ""), "confidential", ""), nil, 401, "invalid_client"},
		"fail/unknown-code":        {form("nope", "console", v), nil, 400, "invalid_grant"},
		"fail/verifier-without-ch": {form(newCode("confidential", ""), "", v), basic("confidential", "s3cret"), 400, "invalid_grant"},
		"fail/grant-type":          {url.Values{"grant_type": {"password"}, "client_id": {"console"}}, nil, 400, "unsupported_grant_type"},
		"ok/confidential-basic":    {form(newCode("confidential", ""), "", ""), basic("confidential", "s3cret"), 200, ""},
		"ok/confidential-post": {func() url.Values {
			f := form(newCode("confidential", v), "confidential", v)
			f.Set("client_secret", "s3cret")
			return f
		}(), nil, 200, ""},
		"ok/public-basic-empty": {form(newCode("console", v), "", v), basic("console", ""), 200, ""},
	} {
		status, tr := exchange(t, d, c.f, c.setup)
		if status != c.status || tr.Error != c.err || (c.err == "" && tr.IDToken == "") {
			t.Errorf("%s: %d %+v", name, status, tr)
		}
	}
	// A different redirect_uri at the token endpoint.
	f := form(newCode("console", v), "console", v)
	f.Set("redirect_uri", "http://127.0.0.1:9/other")
	if status, tr := exchange(t, d, f, nil); status != 400 || tr.Error != "invalid_grant" {
		t.Errorf("redirect mismatch: %d %+v", status, tr)
	}
}

func TestCodeExpires(t *testing.T) {
	var skew atomic.Int64
	p := start(t, oidcidp.Options{CodeTTL: time.Minute, Now: func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }})
	d := discover(t, p)
	v := oauth2.GenerateVerifier()
	code := login(t, d, authz{client: "console", redirect: redirect, verifier: v}, "alice", "alice-pw").Get("code")
	skew.Store(int64(2 * time.Minute))
	if status, tr := exchange(t, d, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "client_id": {"console"}, "code_verifier": {v}}, nil); status != 400 || tr.Error != "invalid_grant" {
		t.Errorf("expired code: %d %+v", status, tr)
	}
}

func TestAutoApprove(t *testing.T) {
	p := start(t, oidcidp.Options{})
	d := discover(t, p)
	v := oauth2.GenerateVerifier()
	// Named in login_hint: no form at all.
	resp, _ := get(t, authz{client: "console", redirect: redirect, state: "s", nonce: "n", verifier: v, hint: "bob"}.url(d))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("auto-approve: %d", resp.StatusCode)
	}
	code := redirectQuery(t, resp, redirect).Get("code")
	status, tr := exchange(t, d, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "client_id": {"console"}, "code_verifier": {v}}, nil)
	if status != 200 || verified(t, d, tr.IDToken)["sub"] != "u-bob" {
		t.Fatalf("token: %d %+v", status, tr)
	}
	// Through the form, any password does.
	if q := login(t, d, authz{client: "console", redirect: redirect, verifier: v}, "bob", ""); q.Get("code") == "" {
		t.Fatalf("form: %v", q)
	}
	// A login_hint naming a user with a password still shows the form.
	if resp, page := get(t, authz{client: "console", redirect: redirect, verifier: v, hint: "alice"}.url(d)); resp.StatusCode != 200 || !strings.Contains(page, `value="alice"`) {
		t.Errorf("hint for alice: %d", resp.StatusCode)
	}
}

// TestRename: a user renamed at run time logs in under the new name with the same subject;
// the old name is free and logs nobody in; a taken name or an unknown subject is refused.
func TestRename(t *testing.T) {
	p := start(t, oidcidp.Options{})
	d := discover(t, p)
	if err := p.Rename("u-bob", "alice"); err == nil {
		t.Fatal("renamed bob to the taken name alice")
	}
	if err := p.Rename("u-nobody", "carol"); err == nil {
		t.Fatal("renamed an unknown subject")
	}
	if err := p.Rename("u-alice", "alice2"); err != nil {
		t.Fatal(err)
	}
	if err := p.Rename("u-bob", "alice"); err != nil {
		t.Fatal(err)
	}
	v := oauth2.GenerateVerifier()
	resp, _ := get(t, authz{client: "console", redirect: redirect, state: "s", nonce: "n", verifier: v, hint: "alice"}.url(d))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("bob, now alice, is auto-approved: %d", resp.StatusCode)
	}
	code := redirectQuery(t, resp, redirect).Get("code")
	status, tr := exchange(t, d, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "client_id": {"console"}, "code_verifier": {v}}, nil)
	if c := verified(t, d, tr.IDToken); status != 200 || c["sub"] != "u-bob" || c["preferred_username"] != "alice" {
		t.Fatalf("token: %d %v", status, c)
	}
	if q := login(t, d, authz{client: "console", redirect: redirect, verifier: v}, "alice2", "alice-pw"); q.Get("code") == "" {
		t.Fatalf("alice under her new name: %v", q)
	}
}

func TestStartRefusesBadOptions(t *testing.T) {
	for name, o := range map[string]oidcidp.Options{
		"fail/client-without-redirect": {Clients: []oidcidp.Client{{ID: "c"}}},
		"fail/relative-redirect":       {Clients: []oidcidp.Client{{ID: "c", RedirectURIs: []string{"/cb"}}}},
		"fail/duplicate-user":          {Users: []oidcidp.User{{Subject: "1", Username: "a"}, {Subject: "2", Username: "a"}}},
		"fail/duplicate-subject":       {Users: []oidcidp.User{{Subject: "1", Username: "a"}, {Subject: "1", Username: "b"}}},
		"fail/prefix-slash":            {PathPrefix: "/oidc/"},
		"fail/public-url-path":         {PublicURL: "http://example.com/x"},
	} {
		if p, err := oidcidp.Start(context.Background(), o); err == nil {
			p.Close()
			t.Errorf("%s: started", name)
		}
	}
}

func TestClosesWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p, err := oidcidp.Start(ctx, oidcidp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(p.Issuer() + "/jwks")
		if err != nil {
			break
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatal("still serving after its context ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
