// Package oidcidp is an embedded OpenID Connect provider: the local stand-in for a customer's
// identity provider (people log in with the authorization code flow and PKCE) and for a CI
// system's token issuer (GitHub Actions' workload tokens). `make run` and the tests start it;
// the product talks to it exactly as to a real IdP, over HTTP, through discovery and the JWKS,
// so nothing here is a shortcut the product could come to depend on.
//
// It speaks the parts of OpenID Connect Core 1.0 and OAuth 2.0 a relying party uses:
//
//	GET  {issuer}/.well-known/openid-configuration   discovery
//	GET  {issuer}/jwks                                the signing key (RS256)
//	GET  {issuer}/authorize                           the login form (or an auto-approved redirect)
//	POST {issuer}/authorize                           the form's submission, then a redirect with the code
//	POST {issuer}/token                               authorization_code grant, PKCE S256, client_secret_basic/post or a public client
//	GET  {issuer}/userinfo                            the user's claims for the access token
//	GET  {issuer}/actions/idtoken?api-version=2.0&audience=A   GitHub Actions' ID token request
//
// Limits, because it is a stand-in: one signing key per run, no refresh tokens, no consent
// screen, no sessions (every authorization shows the form again), state kept in memory only.
package oidcidp

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// User is a person who can log in at the stand-in.
type User struct {
	// Subject is the stable "sub" claim. Required, unique.
	Subject string
	// Username is the "preferred_username" claim and what the login form asks for. Required,
	// unique.
	Username string
	// Email, Name and Groups are the "email", "name" and "groups" claims.
	Email  string
	Name   string
	Groups []string
	// Password is what the login form wants. Ignored when AutoApprove is set.
	Password string
	// AutoApprove logs the user in without a password check, and without showing the form at
	// all when the authorization request names the user in login_hint.
	AutoApprove bool
}

// Client is a registered relying party.
type Client struct {
	// ID is the client_id. Required, unique.
	ID string
	// Secret is the client_secret of a confidential client (sent with client_secret_basic or
	// client_secret_post). Empty makes a public client, which must use PKCE S256.
	Secret string
	// RedirectURIs are the only redirect_uri values accepted, compared exactly. At least one.
	RedirectURIs []string
}

// Options configure Start. Zero values mean the defaults in the comments.
type Options struct {
	// Addr is the listen address (default "127.0.0.1:0", any free port).
	Addr string
	// PublicURL is the scheme, host and port the issuer is reached at (default
	// "http://" + the listener's address). Set it when a proxy fronts the stand-in, or to make
	// a second stand-in claim another's issuer (its tokens then fail signature checks there).
	PublicURL string
	// PathPrefix is the issuer's path, e.g. "/oidc" (default none: the issuer is PublicURL).
	PathPrefix string
	// Name is shown on the login page (default "Local identity provider").
	Name string
	// Users may log in; Clients may ask them to.
	Users   []User
	Clients []Client
	// ThinIDTokens leaves the person's claims (preferred_username, email, name, groups) out of
	// ID tokens, so that a relying party must fetch them from userinfo, as with Okta's org
	// authorization server or Azure AD's groups overage.
	ThinIDTokens bool
	// IDTokenTTL is the lifetime of ID and access tokens (default 10 minutes).
	IDTokenTTL time.Duration
	// CodeTTL is how long an authorization code or an unsubmitted login form stays valid
	// (default 2 minutes).
	CodeTTL time.Duration
	// WorkloadTokenTTL is the default lifetime of a workload token (default 5 minutes, as
	// GitHub's).
	WorkloadTokenTTL time.Duration
	// Key signs every token (default a new 2048-bit RSA key).
	Key *rsa.PrivateKey
	// Now is the stand-in's clock (default time.Now).
	Now func() time.Time
	// Logger receives one line per refused request, never a secret (default: discarded).
	Logger *slog.Logger
}

// maxPending bounds each in-memory table (login forms, codes, access tokens, jobs), so that a
// long `make run` or a misbehaving client cannot grow the stand-in without limit. The oldest
// entries go first.
const maxPending = 10000

// IdP is a running stand-in. Its methods are safe for concurrent use.
type IdP struct {
	opts    Options
	issuer  string
	key     *signingKey
	srv     *http.Server
	ln      net.Listener
	clients map[string]*Client // by ID

	mu       sync.Mutex
	users    map[string]*User // by Username; changed by Rename, so read under mu (user)
	logins   *table[*loginRequest]
	codes    *table[*grant]
	sessions *table[*session]
	jobs     *table[*jobEntry]
	runID    int64

	closeOnce sync.Once
	closeErr  error
	stop      func() bool
}

// Start validates opts, listens on opts.Addr and serves until Close or until ctx is done.
func Start(ctx context.Context, opts Options) (*IdP, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.Name == "" {
		opts.Name = "Local identity provider"
	}
	if opts.IDTokenTTL <= 0 {
		opts.IDTokenTTL = 10 * time.Minute
	}
	if opts.CodeTTL <= 0 {
		opts.CodeTTL = 2 * time.Minute
	}
	if opts.WorkloadTokenTTL <= 0 {
		opts.WorkloadTokenTTL = 5 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.PathPrefix != "" && (!strings.HasPrefix(opts.PathPrefix, "/") || strings.HasSuffix(opts.PathPrefix, "/")) {
		return nil, fmt.Errorf("oidcidp: path prefix %q must start and not end with /", opts.PathPrefix)
	}
	p := &IdP{
		opts:     opts,
		users:    map[string]*User{},
		clients:  map[string]*Client{},
		logins:   newTable[*loginRequest](maxPending),
		codes:    newTable[*grant](maxPending),
		sessions: newTable[*session](maxPending),
		jobs:     newTable[*jobEntry](maxPending),
	}
	for i := range opts.Users {
		if err := p.addUser(opts.Users[i]); err != nil {
			return nil, err
		}
	}
	for i := range opts.Clients {
		if err := p.addClient(opts.Clients[i]); err != nil {
			return nil, err
		}
	}
	var err error
	if p.key, err = newSigningKey(opts.Key); err != nil {
		return nil, err
	}
	if p.ln, err = net.Listen("tcp", opts.Addr); err != nil {
		return nil, fmt.Errorf("oidcidp: listen: %w", err)
	}
	base := opts.PublicURL
	if base == "" {
		base = "http://" + p.ln.Addr().String()
	}
	if u, err := url.Parse(base); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || (u.Path != "" && u.Path != "/") {
		p.ln.Close()
		return nil, fmt.Errorf("oidcidp: public URL %q must be scheme://host[:port]", base)
	}
	p.issuer = strings.TrimSuffix(base, "/") + opts.PathPrefix
	p.srv = &http.Server{Handler: p.routes(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := p.srv.Serve(p.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			opts.Logger.Error("oidcidp: serve", "err", err)
		}
	}()
	p.stop = context.AfterFunc(ctx, func() { p.Close() })
	return p, nil
}

func (p *IdP) addUser(u User) error {
	switch {
	case u.Subject == "" || u.Username == "":
		return fmt.Errorf("oidcidp: user %q needs a subject and a username", u.Username)
	case p.users[u.Username] != nil:
		return fmt.Errorf("oidcidp: two users are named %q", u.Username)
	}
	for _, o := range p.users {
		if o.Subject == u.Subject {
			return fmt.Errorf("oidcidp: two users have the subject %q", u.Subject)
		}
	}
	u.Groups = append([]string(nil), u.Groups...)
	p.users[u.Username] = &u
	return nil
}

func (p *IdP) addClient(c Client) error {
	switch {
	case c.ID == "":
		return errors.New("oidcidp: a client needs an id")
	case p.clients[c.ID] != nil:
		return fmt.Errorf("oidcidp: two clients have the id %q", c.ID)
	case len(c.RedirectURIs) == 0:
		return fmt.Errorf("oidcidp: client %q needs at least one redirect URI", c.ID)
	}
	for _, r := range c.RedirectURIs {
		if u, err := url.Parse(r); err != nil || !u.IsAbs() || u.Fragment != "" {
			return fmt.Errorf("oidcidp: client %q: redirect URI %q must be absolute, without a fragment", c.ID, r)
		}
	}
	c.RedirectURIs = append([]string(nil), c.RedirectURIs...)
	p.clients[c.ID] = &c
	return nil
}

// user is the user named username, or nil.
func (p *IdP) user(username string) *User {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.users[username]
}

// Rename gives the user whose subject is subject the user name username (the
// "preferred_username" claim and the login form's name), as IdPs that let people edit their
// user name do; the subject stays. The name must be free. Tokens and codes issued before keep
// the old name. It lets tests show that a relying party links accounts by the subject.
func (p *IdP) Rename(subject, username string) error {
	if username == "" {
		return errors.New("oidcidp: a user needs a username")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.users[username] != nil {
		return fmt.Errorf("oidcidp: a user is named %q already", username)
	}
	for name, u := range p.users {
		if u.Subject == subject {
			// A copy: grants and sessions issued before hold the old *User, read without mu.
			renamed := *u
			renamed.Username = username
			delete(p.users, name)
			p.users[username] = &renamed
			return nil
		}
	}
	return fmt.Errorf("oidcidp: no user has the subject %q", subject)
}

// Issuer is the issuer URL: the "iss" of every token and the base of discovery.
func (p *IdP) Issuer() string { return p.issuer }

// Addr is the address the stand-in listens on.
func (p *IdP) Addr() string { return p.ln.Addr().String() }

// Close stops the server. It is safe to call more than once.
func (p *IdP) Close() error {
	p.closeOnce.Do(func() {
		if p.stop != nil {
			p.stop()
		}
		p.closeErr = p.srv.Close()
	})
	return p.closeErr
}

// Endpoint paths, relative to the issuer.
const (
	pathDiscovery = "/.well-known/openid-configuration"
	pathJWKS      = "/jwks"
	pathAuthorize = "/authorize"
	pathToken     = "/token"
	pathUserinfo  = "/userinfo"
	pathActions   = "/actions/idtoken"
)

func (p *IdP) routes() http.Handler {
	mux := http.NewServeMux()
	pre := p.opts.PathPrefix
	mux.HandleFunc("GET "+pre+pathDiscovery, p.discovery)
	mux.HandleFunc("GET "+pre+pathJWKS, p.jwks)
	mux.HandleFunc("GET "+pre+pathAuthorize, p.authorize)
	mux.HandleFunc("POST "+pre+pathAuthorize, p.login)
	mux.HandleFunc("POST "+pre+pathToken, p.token)
	mux.HandleFunc("GET "+pre+pathUserinfo, p.userinfo)
	mux.HandleFunc("POST "+pre+pathUserinfo, p.userinfo)
	mux.HandleFunc("GET "+pre+pathActions, p.actionsToken)
	return mux
}

// discovery serves the provider metadata (OpenID Connect Discovery 1.0): where the endpoints
// are and what they support. Any caller.
func (p *IdP) discovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                         p.issuer,
		"authorization_endpoint":                         p.issuer + pathAuthorize,
		"token_endpoint":                                 p.issuer + pathToken,
		"userinfo_endpoint":                              p.issuer + pathUserinfo,
		"jwks_uri":                                       p.issuer + pathJWKS,
		"response_types_supported":                       []string{"code"},
		"response_modes_supported":                       []string{"query"},
		"grant_types_supported":                          []string{"authorization_code"},
		"subject_types_supported":                        []string{"public"},
		"id_token_signing_alg_values_supported":          []string{"RS256"},
		"scopes_supported":                               []string{"openid", "profile", "email", "groups"},
		"token_endpoint_auth_methods_supported":          []string{"client_secret_basic", "client_secret_post", "none"},
		"code_challenge_methods_supported":               []string{"S256"},
		"authorization_response_iss_parameter_supported": true,
		"claims_supported": append([]string{
			"iss", "sub", "aud", "exp", "iat", "nbf", "auth_time", "nonce", "azp",
			"preferred_username", "email", "email_verified", "name", "groups",
		}, workloadClaims...),
	})
}

// jwks serves the public signing key. Any caller.
func (p *IdP) jwks(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, p.key.jwks())
}
