package oidclogin

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/oidcidp"
)

const callback = "http://127.0.0.1:9/console/login/callback"

var users = []oidcidp.User{
	{Subject: "u-alice", Username: "alice", Email: "alice@example.com", Name: "Alice Doe", Groups: []string{"signers", "admins"}, Password: "alice-pw"},
	{Subject: "u-bob", Username: "bob", AutoApprove: true},
}

var clients = []oidcidp.Client{
	{ID: "console", RedirectURIs: []string{callback}},
	{ID: "confidential", Secret: "s3cret", RedirectURIs: []string{callback}},
	{ID: "other", RedirectURIs: []string{callback}},
}

func startIdP(t *testing.T, opts oidcidp.Options) *oidcidp.IdP {
	t.Helper()
	opts.Users, opts.Clients = users, clients
	p, err := oidcidp.Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// clock is a client clock a test can move.
type clock struct{ skew atomic.Int64 }

func (c *clock) now() time.Time      { return time.Now().Add(time.Duration(c.skew.Load())) }
func (c *clock) set(d time.Duration) { c.skew.Store(int64(d)) }

var requestField = regexp.MustCompile(`name="request" value="([^"]+)"`)

// browse is the person's browser: it opens authURL, fills in the stand-in's form and returns
// the callback's query. hc may rewrite hosts; it never follows redirects.
func browse(t *testing.T, hc *http.Client, authURL, user, password string) url.Values {
	t.Helper()
	b := *hc
	b.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := b.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		m := requestField.FindSubmatch(page)
		if m == nil {
			t.Fatalf("no login form: %s", page)
		}
		u, _ := url.Parse(authURL)
		u.RawQuery = ""
		resp, err = b.PostForm(u.String(), url.Values{"request": {string(m[1])}, "username": {user}, "password": {password}})
		if err != nil {
			t.Fatal(err)
		}
		page, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d %s", resp.StatusCode, page)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != callback {
		t.Fatalf("redirected to %s", got)
	}
	return loc.Query()
}

func wantUnauthenticated(t *testing.T, name string, err error, detail string, secrets ...string) {
	t.Helper()
	if !errors.Is(err, fault.ErrUnauthenticated) {
		t.Errorf("%s: %v is not unauthenticated", name, err)
		return
	}
	got, _ := fault.DetailOf(err)
	if !strings.Contains(got, detail) {
		t.Errorf("%s: detail %q, want %q", name, got, detail)
	}
	for _, s := range secrets {
		if s != "" && (strings.Contains(got, s) || strings.Contains(err.Error(), s)) {
			t.Errorf("%s: the error contains a secret", name)
		}
	}
}

func TestLogin(t *testing.T) {
	idp := startIdP(t, oidcidp.Options{PathPrefix: "/realms/acme"})
	c := NewClient(Options{})
	ctx := t.Context()
	cfg := Config{Issuer: idp.Issuer(), ClientID: "console", RedirectURL: callback, Scopes: []string{"openid", "profile", "email", "groups"}}

	authURL, pending, err := c.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(authURL)
	q := u.Query()
	if !strings.HasPrefix(authURL, idp.Issuer()+"/authorize?") || q.Get("code_challenge_method") != "S256" ||
		q.Get("code_challenge") != oauth2.S256ChallengeFromVerifier(pending.Verifier) || q.Get("nonce") != pending.Nonce ||
		q.Get("state") != pending.State || q.Get("redirect_uri") != callback || q.Get("scope") != "openid profile email groups" {
		t.Fatalf("auth URL %s", authURL)
	}
	if strings.Contains(authURL, pending.Verifier) {
		t.Fatal("the verifier left in the auth URL")
	}
	if d := time.Until(pending.Expires); d < 9*time.Minute || d > 11*time.Minute || pending.Issuer != cfg.Issuer || pending.ClientID != "console" {
		t.Fatalf("pending %+v", pending)
	}
	cb := browse(t, http.DefaultClient, authURL, "alice", "alice-pw")
	person, err := c.Finish(ctx, cfg, pending, cb.Get("code"), cb.Get("state"))
	if err != nil {
		t.Fatal(err)
	}
	want := Person{Issuer: idp.Issuer(), Subject: "u-alice", Username: "alice", Email: "alice@example.com", EmailVerified: true, Name: "Alice Doe", Groups: []string{"signers", "admins"}}
	if !equal(person, want) {
		t.Errorf("person %+v, want %+v", person, want)
	}

	// A confidential client, claims mapped differently, and the login hint of an
	// auto-approved user (no form).
	conf := Config{Issuer: idp.Issuer(), ClientID: "confidential", ClientSecret: "s3cret", RedirectURL: callback, UsernameClaim: "email", GroupsClaim: "roles"}
	authURL, pending, err = c.Start(ctx, conf)
	if err != nil {
		t.Fatal(err)
	}
	cb = browse(t, http.DefaultClient, authURL, "alice", "alice-pw")
	if person, err := c.Finish(ctx, conf, pending, cb.Get("code"), cb.Get("state")); err != nil || person.Username != "alice@example.com" || person.Groups != nil {
		t.Errorf("mapped: %+v %v", person, err)
	}
	authURL, pending, _ = c.Start(ctx, cfg, WithLoginHint("bob"))
	cb = browse(t, http.DefaultClient, authURL, "", "")
	if person, err := c.Finish(ctx, cfg, pending, cb.Get("code"), cb.Get("state")); err != nil || person.Subject != "u-bob" || person.Username != "bob" || person.Email != "" {
		t.Errorf("bob: %+v %v", person, err)
	}
}

func equal(a, b Person) bool {
	return a.Issuer == b.Issuer && a.Subject == b.Subject && a.Username == b.Username && a.Email == b.Email &&
		a.EmailVerified == b.EmailVerified && a.Name == b.Name && strings.Join(a.Groups, "\n") == strings.Join(b.Groups, "\n")
}

// An IdP that keeps the person's claims out of the ID token: they come from userinfo.
func TestLoginUserinfo(t *testing.T) {
	idp := startIdP(t, oidcidp.Options{ThinIDTokens: true})
	c := NewClient(Options{})
	cfg := Config{Issuer: idp.Issuer(), ClientID: "console", RedirectURL: callback}
	authURL, pending, err := c.Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	cb := browse(t, http.DefaultClient, authURL, "alice", "alice-pw")
	person, err := c.Finish(t.Context(), cfg, pending, cb.Get("code"), cb.Get("state"))
	if err != nil || person.Username != "alice" || person.Email != "alice@example.com" || len(person.Groups) != 2 || person.Name != "Alice Doe" {
		t.Errorf("person %+v %v", person, err)
	}
}

func TestLoginRefusals(t *testing.T) {
	idp := startIdP(t, oidcidp.Options{IDTokenTTL: 30 * time.Second})
	var clk clock
	c := NewClient(Options{Now: clk.now})
	ctx := t.Context()
	cfg := Config{Issuer: idp.Issuer(), ClientID: "console", RedirectURL: callback}
	// login starts a login and logs alice in; the test then finishes it its own way.
	login := func(cfg Config) (Pending, url.Values) {
		t.Helper()
		clk.set(0)
		authURL, pending, err := c.Start(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return pending, browse(t, http.DefaultClient, authURL, "alice", "alice-pw")
	}

	for name, tc := range map[string]struct {
		cfg    Config
		finish func(Pending, url.Values) (Pending, string, string, time.Duration)
		detail string
	}{
		"fail/state-mismatch": {cfg, func(p Pending, q url.Values) (Pending, string, string, time.Duration) {
			return p, q.Get("code"), "forged-state", 0
		}, "state mismatch"},
		"fail/state-missing": {cfg, func(p Pending, q url.Values) (Pending, string, string, time.Duration) {
			p.State = ""
			return p, q.Get("code"), "", 0
		}, "state mismatch"},
		"fail/pending-expired": {cfg, func(p Pending, q url.Values) (Pending, string, string, time.Duration) {
			return p, q.Get("code"), q.Get("state"), 11 * time.Minute
		}, "the login took too long"},
		"fail/other-config": {cfg, func(p Pending, q url.Values) (Pending, string, string, time.Duration) {
			p.ClientID = "other"
			return p, q.Get("code"), q.Get("state"), 0
		}, "another identity provider configuration"},
		"fail/pkce-verifier-wrong": {cfg, func(p Pending, q url.Values) (Pending, string, string, time.Duration) {
			p.Verifier = oauth2.GenerateVerifier()
			return p, q.Get("code"), q.Get("state"), 0
		}, "the identity provider refused the authorization code (invalid_grant)"},
		"fail/unknown-code": {cfg, func(p Pending, q url.Values) (Pending, string, string, time.Duration) {
			return p, "forged-code", q.Get("state"), 0
		}, "the identity provider refused the authorization code (invalid_grant)"},
		"fail/no-code": {cfg, func(p Pending, q url.Values) (Pending, string, string, time.Duration) {
			return p, "", q.Get("state"), 0
		}, "no authorization code"},
		"fail/nonce-mismatch": {cfg, func(p Pending, q url.Values) (Pending, string, string, time.Duration) {
			p.Nonce = "nonce-of-another-login"
			return p, q.Get("code"), q.Get("state"), 0
		}, "nonce mismatch"},
		"fail/id-token-expired": {cfg, func(p Pending, q url.Values) (Pending, string, string, time.Duration) {
			return p, q.Get("code"), q.Get("state"), 2 * time.Minute
		}, "expired: the ID token expired at"},
		"fail/id-token-not-yet-valid": {cfg, func(p Pending, q url.Values) (Pending, string, string, time.Duration) {
			return p, q.Get("code"), q.Get("state"), -10 * time.Minute
		}, "not yet valid: the ID token is valid from"},
		"fail/wrong-client-secret": {Config{Issuer: idp.Issuer(), ClientID: "confidential", ClientSecret: "wrong", RedirectURL: callback}, func(p Pending, q url.Values) (Pending, string, string, time.Duration) {
			return p, q.Get("code"), q.Get("state"), 0
		}, "the identity provider refused the authorization code (invalid_client)"},
		"fail/no-username-claim": {Config{Issuer: idp.Issuer(), ClientID: "console", RedirectURL: callback, UsernameClaim: "upn"}, func(p Pending, q url.Values) (Pending, string, string, time.Duration) {
			return p, q.Get("code"), q.Get("state"), 0
		}, "no upn claim"},
		"fail/groups-not-strings": {Config{Issuer: idp.Issuer(), ClientID: "console", RedirectURL: callback, GroupsClaim: "email_verified"}, func(p Pending, q url.Values) (Pending, string, string, time.Duration) {
			return p, q.Get("code"), q.Get("state"), 0
		}, "the email_verified claim is not a list of strings"},
	} {
		pending, cb := login(tc.cfg)
		p, code, state, skew := tc.finish(pending, cb)
		clk.set(skew)
		_, err := c.Finish(ctx, tc.cfg, p, code, state)
		wantUnauthenticated(t, name, err, tc.detail, cb.Get("code"), pending.Verifier, "s3cret", "wrong")
	}

	// A code is good once.
	pending, cb := login(cfg)
	if _, err := c.Finish(ctx, cfg, pending, cb.Get("code"), cb.Get("state")); err != nil {
		t.Fatal(err)
	}
	_, err := c.Finish(ctx, cfg, pending, cb.Get("code"), cb.Get("state"))
	wantUnauthenticated(t, "fail/code-reused", err, "(invalid_grant)")
}

// The IdP refuses a redirect URL the client did not register: the browser sees its error
// page and never comes back.
func TestRedirectNotRegistered(t *testing.T) {
	idp := startIdP(t, oidcidp.Options{})
	cfg := Config{Issuer: idp.Issuer(), ClientID: "console", RedirectURL: "http://127.0.0.1:9/elsewhere"}
	authURL, _, err := NewClient(Options{}).Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
		t.Errorf("unregistered redirect: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// hostRewriter sends requests for one host to another: a browser and a server that resolve
// the issuer's name to a forger.
type hostRewriter struct{ from, to string }

func (h hostRewriter) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host == h.from {
		r = r.Clone(r.Context())
		r.URL.Host = h.to
	}
	return http.DefaultTransport.RoundTrip(r)
}

// idToken runs a login against whatever hc reaches and returns the raw ID token.
func idToken(t *testing.T, hc *http.Client, cfg Config) string {
	t.Helper()
	c := NewClient(Options{HTTPClient: hc})
	authURL, pending, err := c.Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	cb := browse(t, hc, authURL, "alice", "alice-pw")
	p, err := c.provider(t.Context(), cfg.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.oauth2Config(cfg, p).Exchange(context.WithValue(t.Context(), oauth2.HTTPClient, hc), cb.Get("code"), oauth2.VerifierOption(pending.Verifier))
	if err != nil {
		t.Fatal(err)
	}
	return tok.Extra("id_token").(string)
}

// The checks Finish makes on an ID token that a correct IdP never sends to this client: one
// for another client, from another issuer, or signed by a forger claiming the issuer.
func TestVerifyIDTokenRefusals(t *testing.T) {
	idp := startIdP(t, oidcidp.Options{})
	other := startIdP(t, oidcidp.Options{})
	forger := startIdP(t, oidcidp.Options{PublicURL: "http://" + idp.Addr()})
	cfg := Config{Issuer: idp.Issuer(), ClientID: "console", RedirectURL: callback}
	c := NewClient(Options{})
	p, err := c.provider(t.Context(), cfg.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	toForger := &http.Client{Transport: hostRewriter{from: idp.Addr(), to: forger.Addr()}}
	for name, tc := range map[string]struct {
		raw    string
		detail string
	}{
		"ok":                  {idToken(t, http.DefaultClient, cfg), ""},
		"fail/wrong-audience": {idToken(t, http.DefaultClient, Config{Issuer: idp.Issuer(), ClientID: "other", RedirectURL: callback}), `wrong audience: the ID token is not for client "console"`},
		"fail/wrong-issuer":   {idToken(t, http.DefaultClient, Config{Issuer: other.Issuer(), ClientID: "console", RedirectURL: callback}), `wrong issuer: the ID token is from "` + other.Issuer() + `"`},
		"fail/bad-signature":  {idToken(t, toForger, cfg), "bad signature: the ID token's signature does not verify"},
		"fail/garbage":        {"a.b.c", "not a JWT"},
	} {
		_, _, err := c.verifyIDToken(t.Context(), cfg, p.p, tc.raw)
		if tc.detail == "" {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		wantUnauthenticated(t, name, err, tc.detail, tc.raw)
	}
}

// failingTransport answers 503 for one path, as an IdP whose key endpoint is down.
type failingTransport struct {
	path string
	n    atomic.Int32
}

func (f *failingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path == f.path {
		f.n.Add(1)
		return &http.Response{StatusCode: http.StatusServiceUnavailable, Body: io.NopCloser(strings.NewReader("down")), Request: r, Header: http.Header{}}, nil
	}
	return http.DefaultTransport.RoundTrip(r)
}

func TestIdPUnavailable(t *testing.T) {
	idp := startIdP(t, oidcidp.Options{})
	cfg := Config{Issuer: idp.Issuer(), ClientID: "console", RedirectURL: callback}

	// The keys cannot be fetched: the token may be fine, so 503, not 401.
	ft := &failingTransport{path: "/jwks"}
	c := NewClient(Options{HTTPClient: &http.Client{Transport: ft}})
	authURL, pending, err := c.Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	cb := browse(t, http.DefaultClient, authURL, "alice", "alice-pw")
	_, err = c.Finish(t.Context(), cfg, pending, cb.Get("code"), cb.Get("state"))
	if !errors.Is(err, fault.ErrUnavailable) || ft.n.Load() == 0 {
		t.Errorf("keys down: %v (%d fetches)", err, ft.n.Load())
	}

	// The IdP is down.
	idp.Close()
	_, _, err = NewClient(Options{}).Start(t.Context(), cfg)
	if !errors.Is(err, fault.ErrUnavailable) {
		t.Errorf("IdP down: %v", err)
	}
	if _, ok := fault.RetryAfter(err); !ok {
		t.Errorf("no Retry-After")
	}
}

func TestProviderError(t *testing.T) {
	err := ProviderError("access_denied", "The user said <b>no</b>")
	wantUnauthenticated(t, "access_denied", err, "the identity provider refused the login (access_denied)")
	if d, _ := fault.DetailOf(err); strings.Contains(d, "<b>") {
		t.Error("the IdP's description is shown")
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{Issuer: "https://login.example.com/realms/acme", ClientID: "signum", RedirectURL: "https://signum.example.com/console/login/callback?domain=acme"}
	with := func(f func(*Config)) Config { c := ok; f(&c); return c }
	for name, tc := range map[string]struct {
		cfg   Config
		field string
	}{
		"ok":                       {ok, ""},
		"ok/loopback":              {with(func(c *Config) { c.Issuer, c.RedirectURL = "http://127.0.0.1:1/x", "http://localhost:2/cb" }), ""},
		"ok/localhost-name":        {with(func(c *Config) { c.RedirectURL = "http://demo.localhost:8080/console/login/oidc/callback" }), ""},
		"fail/localhost-lookalike": {with(func(c *Config) { c.RedirectURL = "http://demo.localhost.example/cb" }), "redirectUrl"},
		"ok/claims":                {with(func(c *Config) { c.UsernameClaim, c.GroupsClaim = "upn", "https://example.com/claims/groups" }), ""},
		"fail/no-issuer":           {with(func(c *Config) { c.Issuer = "" }), "issuer"},
		"fail/http-issuer":         {with(func(c *Config) { c.Issuer = "http://login.example.com" }), "issuer"},
		"fail/issuer-query":        {with(func(c *Config) { c.Issuer = "https://login.example.com?x=1" }), "issuer"},
		"fail/no-client":           {with(func(c *Config) { c.ClientID = "" }), "clientId"},
		"fail/relative-redirect":   {with(func(c *Config) { c.RedirectURL = "/callback" }), "redirectUrl"},
		"fail/http-redirect":       {with(func(c *Config) { c.RedirectURL = "http://signum.example.com/cb" }), "redirectUrl"},
		"fail/redirect-fragment":   {with(func(c *Config) { c.RedirectURL = "https://signum.example.com/cb#x" }), "redirectUrl"},
		"fail/scope-with-space":    {with(func(c *Config) { c.Scopes = []string{"openid email"} }), "scopes"},
		"fail/username-claim-junk": {with(func(c *Config) { c.UsernameClaim = "a b" }), "usernameClaim"},
	} {
		err := tc.cfg.Validate()
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case tc.field != "" && !fault.HasField(err, tc.field):
			t.Errorf("%s: %v, want a problem with %s", name, err, tc.field)
		}
	}
}
