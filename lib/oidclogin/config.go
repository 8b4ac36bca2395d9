// Package oidclogin logs people in through an OpenID Connect identity provider: the
// authorization code flow with PKCE (S256), a nonce and a state, with coreos/go-oidc and
// golang.org/x/oauth2. It maps the ID token's claims (and userinfo's, when the ID token lacks
// them) to a Person; what the person may do (roles from groups, provisioning) is the caller's.
//
// A login has two halves, usually two HTTP requests of the same browser:
//
//	url, pending, err := c.Start(ctx, cfg)          // redirect the browser to url; keep pending server-side, keyed by pending.State
//	person, err := c.Finish(ctx, cfg, pending, code, state)   // on the callback: ?code=...&state=...
//
// Pending holds the secrets of the login in progress (the PKCE verifier and the nonce): keep it
// on the server (or encrypted), never in the browser in the clear, and use it once.
package oidclogin

import (
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/opensignum/signum/lib/fault"
)

// Config is an OIDC domain's relying-party settings at the customer's IdP.
type Config struct {
	// Issuer is the IdP's issuer URL (its discovery document is at
	// Issuer/.well-known/openid-configuration).
	Issuer string
	// ClientID is the client registered at the IdP; ClientSecret its secret, empty for a
	// public client (PKCE protects the code either way).
	ClientID     string
	ClientSecret string
	// RedirectURL is the callback registered at the IdP, where the browser returns with the
	// code.
	RedirectURL string
	// Scopes requested (default openid, profile, email; openid is always added). Add "groups"
	// when the IdP releases groups only for that scope.
	Scopes []string
	// UsernameClaim, EmailClaim and GroupsClaim name the claims mapped to the person
	// (defaults preferred_username, email, groups).
	UsernameClaim string
	EmailClaim    string
	GroupsClaim   string
}

// Default claim names and scopes.
const (
	DefaultUsernameClaim = "preferred_username"
	DefaultEmailClaim    = "email"
	DefaultGroupsClaim   = "groups"
)

// DefaultScopes are requested when Config.Scopes is empty.
var DefaultScopes = []string{"openid", "profile", "email"}

var (
	claimName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.:/-]{0,127}$`)
	scopeName = regexp.MustCompile(`^[\x21\x23-\x5B\x5D-\x7E]{1,128}$`) // RFC 6749 §3.3
)

// Validate checks cfg as an administrator would have to fix it; the error is a fault.Fields.
// The issuer and the redirect URL are https (http only for a loopback host, so that the
// local stand-in works).
func (cfg Config) Validate() error {
	var bad fault.Fields
	if r := urlProblem(cfg.Issuer, false); r != "" {
		bad.Add("issuer", "%s", r)
	}
	if strings.TrimSpace(cfg.ClientID) == "" || len(cfg.ClientID) > 256 {
		bad.Add("clientId", "is 1 to 256 characters: the client id registered at the identity provider")
	}
	if len(cfg.ClientSecret) > 1024 {
		bad.Add("clientSecret", "is at most 1024 characters")
	}
	if r := urlProblem(cfg.RedirectURL, true); r != "" {
		bad.Add("redirectUrl", "%s", r)
	}
	if len(cfg.Scopes) > 20 {
		bad.Add("scopes", "at most 20 scopes")
	}
	for _, s := range cfg.Scopes {
		if !scopeName.MatchString(s) {
			bad.Add("scopes", "%q is not a scope (printable, no spaces, quotes or backslashes)", fault.Clip(s, 40))
		}
	}
	for field, c := range map[string]string{"usernameClaim": cfg.UsernameClaim, "emailClaim": cfg.EmailClaim, "groupsClaim": cfg.GroupsClaim} {
		if c != "" && !claimName.MatchString(c) {
			bad.Add(field, "%q is not a claim name", fault.Clip(c, 40))
		}
	}
	slices.SortStableFunc(bad, func(a, b fault.FieldError) int { return strings.Compare(a.Name, b.Name) })
	return bad.Err()
}

func urlProblem(s string, path bool) string {
	if s == "" {
		return "is required"
	}
	if len(s) > 512 {
		return "is longer than 512 characters"
	}
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		return "is not an absolute URL"
	case u.User != nil || u.Fragment != "" || (!path && (u.RawQuery != "" || u.ForceQuery)):
		if path {
			return "must not carry user info or a fragment"
		}
		return "must not carry user info, a query or a fragment"
	case u.Scheme == "https":
		return ""
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return ""
	case u.Scheme == "http":
		return "must be https (http only for a loopback host)"
	default:
		return "must be an https URL"
	}
}

// isLoopback reports whether host is this machine: localhost, a *.localhost name (RFC 6761
// reserves them for loopback; the local server gives each deployment one, such as
// demo.localhost) or a loopback address.
func isLoopback(host string) bool {
	if h := strings.ToLower(host); h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (cfg Config) scopes() []string {
	s := cfg.Scopes
	if len(s) == 0 {
		s = DefaultScopes
	}
	if !slices.Contains(s, "openid") {
		s = append([]string{"openid"}, s...)
	}
	return s
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// Pending is a login in progress, between Start and Finish. It is plain data, to be stored by
// the caller (keyed by State) until Expires, and used once.
type Pending struct {
	// State is the OAuth 2.0 state sent to the IdP; the callback must bring it back.
	State string `json:"state"`
	// Nonce must come back in the ID token.
	Nonce string `json:"nonce"`
	// Verifier is the PKCE code verifier; only its S256 hash went to the IdP. Secret.
	Verifier string `json:"verifier"`
	// Issuer and ClientID bind the login to the configuration it started with.
	Issuer   string `json:"issuer"`
	ClientID string `json:"clientId"`
	// Expires is when the login is abandoned.
	Expires time.Time `json:"expires"`
}

// Person is who the IdP says logged in.
type Person struct {
	// Issuer and Subject identify the person at the IdP, for good: link accounts by these,
	// not by Username or Email, which the IdP may let people change.
	Issuer  string
	Subject string
	// Username, Email and Groups come from the configured claims; Name from "name".
	Username      string
	Email         string
	EmailVerified bool
	Name          string
	Groups        []string
}
