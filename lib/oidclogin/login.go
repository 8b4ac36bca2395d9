package oidclogin

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/safehttp"
)

// Options configure a Client. Zero values mean the defaults in the comments.
type Options struct {
	// HTTPClient talks to the IdPs: discovery, keys, token and userinfo endpoints (default a
	// client with a 10-second timeout). Every fetch goes through it. The service gives it a
	// safehttp client, so that an IdP's configuration cannot make it fetch from loopback,
	// private or link-local addresses; Start and Finish report that client's refusals as
	// such.
	HTTPClient *http.Client
	// Now is the clock for pending logins and ID tokens (default time.Now).
	Now func() time.Time
	// PendingTTL is how long a person has between Start and Finish (default 10 minutes).
	PendingTTL time.Duration
	// ProviderTTL is how long an IdP's discovery document and keys are cached (default 1
	// hour); MaxProviders bounds how many IdPs are (default 64).
	ProviderTTL  time.Duration
	MaxProviders int
}

// Client runs logins against any number of IdPs. It is safe for concurrent use and meant to
// live as long as the process, since it caches each IdP's discovery document and keys.
type Client struct {
	opts Options

	mu        sync.Mutex
	providers map[string]*provider
}

type provider struct {
	p           *oidc.Provider
	authMethods []string
	fetched     time.Time
}

// NewClient returns a Client with opts.
func NewClient(opts Options) *Client {
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.PendingTTL <= 0 {
		opts.PendingTTL = 10 * time.Minute
	}
	if opts.ProviderTTL <= 0 {
		opts.ProviderTTL = time.Hour
	}
	if opts.MaxProviders <= 0 {
		opts.MaxProviders = 64
	}
	return &Client{opts: opts, providers: map[string]*provider{}}
}

// StartOption adds a parameter to the authorization request.
type StartOption func(*[]oauth2.AuthCodeOption)

// WithLoginHint sends login_hint (OIDC Core §3.1.2.1): the name the person typed, so that
// the IdP can pre-fill it or pick the account.
func WithLoginHint(hint string) StartOption {
	return func(o *[]oauth2.AuthCodeOption) {
		if hint != "" {
			*o = append(*o, oauth2.SetAuthURLParam("login_hint", hint))
		}
	}
}

// Start begins a login for cfg: it returns the IdP's authorization URL to redirect the browser
// to, and the Pending login to keep until the callback. It fetches the IdP's discovery
// document (cached); an unreachable IdP is a fault.ErrUnavailable, one the HTTP client refuses
// to fetch from (safehttp) a fault.ErrUnauthenticated saying why.
func (c *Client) Start(ctx context.Context, cfg Config, opts ...StartOption) (authURL string, pending Pending, err error) {
	if err := cfg.Validate(); err != nil {
		return "", Pending{}, fmt.Errorf("oidclogin: the configuration for %q is not valid: %v", cfg.Issuer, err)
	}
	p, err := c.provider(ctx, cfg.Issuer)
	if err != nil {
		return "", Pending{}, err
	}
	pending = Pending{
		State:    random(),
		Nonce:    random(),
		Verifier: oauth2.GenerateVerifier(),
		Issuer:   cfg.Issuer,
		ClientID: cfg.ClientID,
		Expires:  c.opts.Now().Add(c.opts.PendingTTL),
	}
	params := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(pending.Verifier), oidc.Nonce(pending.Nonce)}
	for _, o := range opts {
		o(&params)
	}
	return c.oauth2Config(cfg, p).AuthCodeURL(pending.State, params...), pending, nil
}

// ProviderError turns the error an IdP sent to the callback (?error=...&error_description=...)
// into the 401 to show; call it instead of Finish when the callback has an error parameter.
// Only the error code is shown: the description is the IdP's free text.
func ProviderError(code, description string) error {
	return fault.Wrap(fault.ErrUnauthenticated, fmt.Errorf("idp error %q: %q", code, fault.Clip(description, 300)),
		fmt.Sprintf("the identity provider refused the login (%s)", fault.Clip(code, 64)))
}

// Finish completes the login pending for the callback's code and state: it checks the state
// and that the login has not expired, exchanges the code with the PKCE verifier, verifies the
// ID token (signature by the IdP's published keys, issuer, audience = client id, expiry,
// nonce) and maps its claims, fetching userinfo when the ID token lacks a mapped claim.
//
// Every refusal is a fault.ErrUnauthenticated whose detail says which check failed, with no
// code, token or secret in it, and so is an endpoint the HTTP client refuses to fetch from
// (safehttp); an IdP that cannot be reached is a fault.ErrUnavailable.
func (c *Client) Finish(ctx context.Context, cfg Config, pending Pending, code, state string) (Person, error) {
	now := c.opts.Now()
	switch {
	case pending.State == "" || subtle.ConstantTimeCompare([]byte(pending.State), []byte(state)) != 1:
		return Person{}, unauthenticated("state mismatch: the login response does not belong to this login; start the login again")
	case !now.Before(pending.Expires):
		return Person{}, unauthenticated("the login took too long; start the login again")
	case pending.Issuer != cfg.Issuer || pending.ClientID != cfg.ClientID:
		return Person{}, unauthenticated("the login was started with another identity provider configuration; start the login again")
	case code == "":
		return Person{}, unauthenticated("the identity provider returned no authorization code")
	}
	p, err := c.provider(ctx, cfg.Issuer)
	if err != nil {
		return Person{}, err
	}
	octx := context.WithValue(ctx, oauth2.HTTPClient, c.opts.HTTPClient)
	tok, err := c.oauth2Config(cfg, p).Exchange(octx, code, oauth2.VerifierOption(pending.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 {
			return Person{}, fault.Wrap(fault.ErrUnauthenticated, fmt.Errorf("token endpoint: HTTP %d %q", re.Response.StatusCode, re.ErrorCode),
				fmt.Sprintf("the identity provider refused the authorization code (%s)", fault.Clip(orDefault(re.ErrorCode, "no error code"), 64)))
		}
		if rerr := refused("token endpoint", err); rerr != nil {
			return Person{}, rerr
		}
		return Person{}, fault.RetryLater(fault.Wrap(fault.ErrUnavailable, err, "the identity provider's token endpoint did not answer; try again later"), 10*time.Second)
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		return Person{}, unauthenticated("the identity provider sent no ID token; is the openid scope allowed for this client?")
	}
	idt, claims, err := c.verifyIDToken(ctx, cfg, p.p, rawID)
	if err != nil {
		return Person{}, err
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(pending.Nonce)) != 1 {
		return Person{}, unauthenticated("nonce mismatch: the ID token was not issued for this login; start the login again")
	}
	uc, gc, ec := orDefault(cfg.UsernameClaim, DefaultUsernameClaim), orDefault(cfg.GroupsClaim, DefaultGroupsClaim), orDefault(cfg.EmailClaim, DefaultEmailClaim)
	if (claims[uc] == nil || claims[gc] == nil || claims[ec] == nil) && p.p.UserInfoEndpoint() != "" {
		if err := c.mergeUserinfo(octx, p.p, tok, idt.Subject, claims); err != nil {
			return Person{}, err
		}
	}
	return mapClaims(cfg, idt, claims)
}

func (c *Client) oauth2Config(cfg Config, p *provider) *oauth2.Config {
	ep := p.p.Endpoint()
	switch {
	case cfg.ClientSecret == "":
		ep.AuthStyle = oauth2.AuthStyleInParams // a public client: client_id in the body
	case len(p.authMethods) == 0 || slices.Contains(p.authMethods, "client_secret_basic"):
		ep.AuthStyle = oauth2.AuthStyleInHeader // the spec's default
	default:
		ep.AuthStyle = oauth2.AuthStyleInParams
	}
	return &oauth2.Config{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, RedirectURL: cfg.RedirectURL, Endpoint: ep, Scopes: cfg.scopes()}
}

// verifyIDToken verifies raw with go-oidc, which decides; when it refuses, the claims are read
// unverified only to say which check failed.
func (c *Client) verifyIDToken(ctx context.Context, cfg Config, p *oidc.Provider, raw string) (*oidc.IDToken, map[string]any, error) {
	// Provider.Verifier shares the provider's key set (fetched with the client's HTTP client),
	// so that the keys are fetched once per ProviderTTL, not once per login.
	v := p.Verifier(&oidc.Config{ClientID: cfg.ClientID, Now: c.opts.Now})
	idt, err := v.Verify(ctx, raw)
	if err != nil {
		return nil, nil, c.diagnose(cfg, raw, err)
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return nil, nil, fault.Wrap(fault.ErrUnauthenticated, err, "the ID token's claims are not a JSON object")
	}
	return idt, claims, nil
}

func (c *Client) diagnose(cfg Config, raw string, err error) error {
	var expired *oidc.TokenExpiredError
	if errors.As(err, &expired) {
		return fault.Wrap(fault.ErrUnauthenticated, err, fmt.Sprintf("expired: the ID token expired at %s; check the clocks, or start the login again", expired.Expiry.UTC().Format(time.RFC3339)))
	}
	if strings.Contains(err.Error(), "fetching keys") { // go-oidc formats, not wraps, this one
		if strings.Contains(err.Error(), safehttp.ErrRefused.Error()) { // and so the refusal too
			return fault.Wrap(fault.ErrUnauthenticated, err, "the identity provider's keys cannot be fetched: the service refused to fetch from the jwks_uri its discovery document names; "+
				"the endpoints an identity provider names must be https URLs at public addresses (not loopback, private or link-local ones)")
		}
		return fault.RetryLater(fault.Wrap(fault.ErrUnavailable, err, "the identity provider's keys could not be fetched; try again later"), 10*time.Second)
	}
	var claims struct {
		Iss string          `json:"iss"`
		Aud json.RawMessage `json:"aud"`
		Nbf *float64        `json:"nbf"`
	}
	if jws, perr := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512, jose.ES256, jose.ES384, jose.ES512, jose.EdDSA}); perr == nil {
		_ = json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &claims)
	} else {
		return fault.Wrap(fault.ErrUnauthenticated, err, "the ID token is not a JWT signed with an algorithm the identity provider announces")
	}
	var aud []string
	if json.Unmarshal(claims.Aud, &aud) != nil {
		var one string
		if json.Unmarshal(claims.Aud, &one) == nil {
			aud = []string{one}
		}
	}
	switch {
	case claims.Iss != cfg.Issuer:
		return fault.Wrap(fault.ErrUnauthenticated, err, fmt.Sprintf("wrong issuer: the ID token is from %q; this domain trusts %q", fault.Clip(claims.Iss, 200), cfg.Issuer))
	case !slices.Contains(aud, cfg.ClientID):
		return fault.Wrap(fault.ErrUnauthenticated, err, fmt.Sprintf("wrong audience: the ID token is not for client %q", cfg.ClientID))
	case claims.Nbf != nil && c.opts.Now().Add(5*time.Minute).Before(time.Unix(int64(*claims.Nbf), 0)):
		return fault.Wrap(fault.ErrUnauthenticated, err, fmt.Sprintf("not yet valid: the ID token is valid from %s; check the clocks", time.Unix(int64(*claims.Nbf), 0).UTC().Format(time.RFC3339)))
	}
	return fault.Wrap(fault.ErrUnauthenticated, err, "bad signature: the ID token's signature does not verify with the identity provider's published keys")
}

// mergeUserinfo adds the claims the ID token lacks from the userinfo endpoint. The userinfo
// answer must be about the same subject (OIDC Core §5.3.2); the ID token's claims win.
func (c *Client) mergeUserinfo(ctx context.Context, p *oidc.Provider, tok *oauth2.Token, subject string, claims map[string]any) error {
	info, err := p.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		if rerr := refused("userinfo endpoint", err); rerr != nil {
			return rerr
		}
		return fault.RetryLater(fault.Wrap(fault.ErrUnavailable, err, "the identity provider's userinfo endpoint did not answer; try again later"), 10*time.Second)
	}
	if info.Subject != subject {
		return unauthenticated("the identity provider's userinfo is about another subject than the ID token")
	}
	var extra map[string]any
	if err := info.Claims(&extra); err != nil {
		return fault.Wrap(fault.ErrUnauthenticated, err, "the identity provider's userinfo is not a JSON object")
	}
	for k, v := range extra {
		if _, ok := claims[k]; !ok {
			claims[k] = v
		}
	}
	return nil
}

func mapClaims(cfg Config, idt *oidc.IDToken, claims map[string]any) (Person, error) {
	uc, ec, gc := orDefault(cfg.UsernameClaim, DefaultUsernameClaim), orDefault(cfg.EmailClaim, DefaultEmailClaim), orDefault(cfg.GroupsClaim, DefaultGroupsClaim)
	per := Person{Issuer: idt.Issuer, Subject: idt.Subject}
	per.Username, _ = claims[uc].(string)
	if strings.TrimSpace(per.Username) == "" {
		return Person{}, unauthenticated("the identity provider sent no %s claim (a string) to use as the user name; set the domain's username claim to one it sends", uc)
	}
	if v, ok := claims[ec]; ok {
		if per.Email, ok = v.(string); !ok {
			return Person{}, unauthenticated("the %s claim is not a string; set the domain's e-mail claim to one that is", ec)
		}
		per.EmailVerified, _ = claims["email_verified"].(bool)
	}
	per.Name, _ = claims["name"].(string)
	switch g := claims[gc].(type) {
	case nil:
	case string: // some IdPs send a single group as a string
		per.Groups = []string{g}
	case []any:
		for _, e := range g {
			s, ok := e.(string)
			if !ok {
				return Person{}, unauthenticated("the %s claim is not a list of strings; set the domain's groups claim to one that is", gc)
			}
			per.Groups = append(per.Groups, s)
		}
	default:
		return Person{}, unauthenticated("the %s claim is not a list of strings; set the domain's groups claim to one that is", gc)
	}
	return per, nil
}

// provider returns the issuer's discovery (cached for ProviderTTL).
func (c *Client) provider(ctx context.Context, issuer string) (*provider, error) {
	now := c.opts.Now()
	c.mu.Lock()
	p := c.providers[issuer]
	c.mu.Unlock()
	if p != nil && now.Sub(p.fetched) < c.opts.ProviderTTL && !now.Before(p.fetched) {
		return p, nil
	}
	op, err := oidc.NewProvider(oidc.ClientContext(ctx, c.opts.HTTPClient), issuer)
	if err != nil {
		if rerr := refused("discovery document", err); rerr != nil {
			return nil, rerr
		}
		return nil, fault.RetryLater(fault.Wrap(fault.ErrUnavailable, err, "the identity provider's discovery document could not be fetched or does not match the issuer; try again later"), 10*time.Second)
	}
	var meta struct {
		AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
	}
	_ = op.Claims(&meta)
	// The service fetches from the other endpoints through its HTTP client, which checks
	// them; the authorization endpoint is where it sends the person's browser, so it is held
	// to the rule of the redirect URL.
	if r := urlProblem(op.Endpoint().AuthURL, true); r != "" {
		return nil, fault.Newf(fault.ErrUnauthenticated, "the authorization_endpoint of the identity provider's discovery document %s", r)
	}
	p = &provider{p: op, authMethods: meta.AuthMethods, fetched: now}
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.providers) >= c.opts.MaxProviders {
		var oldest string
		for iss, e := range c.providers {
			if oldest == "" || e.fetched.Before(c.providers[oldest].fetched) {
				oldest = iss
			}
		}
		delete(c.providers, oldest)
	}
	c.providers[issuer] = p
	return p, nil
}

// refused is the refusal to show when err is the HTTP client's refusal to fetch the IdP's
// what (lib/safehttp), else nil. It names the refused URL's scheme and host and why, never
// the address a name resolved to; waiting will not help, so it is no fault.ErrUnavailable.
func refused(what string, err error) error {
	var re *safehttp.RefusedError
	if !errors.As(err, &re) {
		return nil
	}
	return fault.Wrap(fault.ErrUnauthenticated, err, fmt.Sprintf("the identity provider's %s cannot be fetched: the service refused to fetch from %s, %s; "+
		"the domain's issuer, and the endpoints its discovery document names, must be https URLs at public addresses", what, re.URL, re.Reason))
}

func unauthenticated(format string, args ...any) error {
	return fault.Newf(fault.ErrUnauthenticated, format, args...)
}

func random() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}
