package oidcidp

import (
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// loginRequest is a validated authorization request waiting for the login form.
type loginRequest struct {
	client        *Client
	redirectURI   string
	state         string
	nonce         string
	scope         string
	codeChallenge string
	expires       time.Time
}

// grant is an issued authorization code.
type grant struct {
	loginRequest
	user     *User
	authTime time.Time
}

// session is an issued access token, for the userinfo endpoint.
type session struct {
	user    *User
	expires time.Time
}

//go:embed login.html
var loginHTML string

var loginPage = template.Must(template.New("login").Parse(loginHTML))

type loginView struct {
	Title, Client, Request, Username, Error string
}

// authorize validates an authorization request (GET {issuer}/authorize, called by the
// relying party's redirect of a person's browser) and shows the login form, or redirects at
// once for an auto-approved user named in login_hint.
//
// As RFC 6749 §4.1.2.1 requires, a request with an unknown client or a redirect URI the
// client did not register is refused here, with a page, and never redirected; every other
// problem goes back to the redirect URI as error=... .
func (p *IdP) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	client := p.clients[q.Get("client_id")]
	if client == nil {
		p.refusePage(w, "unknown client_id")
		return
	}
	redirectURI := q.Get("redirect_uri")
	if !slices.Contains(client.RedirectURIs, redirectURI) {
		p.refusePage(w, "redirect_uri is not registered for this client")
		return
	}
	state := q.Get("state")
	fail := func(code, desc string) { p.redirectError(w, r, redirectURI, state, code, desc) }
	scope := q.Get("scope")
	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	switch {
	case q.Get("response_type") != "code":
		fail("unsupported_response_type", "only response_type=code is supported")
		return
	case !slices.Contains(strings.Fields(scope), "openid"):
		fail("invalid_scope", "scope must include openid")
		return
	case challenge == "" && client.Secret == "":
		fail("invalid_request", "a public client must send a PKCE code_challenge (S256)")
		return
	case challenge != "" && method != "S256":
		fail("invalid_request", "code_challenge_method must be S256")
		return
	case challenge != "" && !pkceChallenge.MatchString(challenge):
		fail("invalid_request", "code_challenge is not a base64url SHA-256")
		return
	}
	lr := &loginRequest{
		client: client, redirectURI: redirectURI, state: state, nonce: q.Get("nonce"),
		scope: scope, codeChallenge: challenge, expires: p.opts.Now().Add(p.opts.CodeTTL),
	}
	if u := p.user(q.Get("login_hint")); u != nil && u.AutoApprove {
		p.issueCode(w, r, lr, u)
		return
	}
	id := randomToken(24)
	p.mu.Lock()
	p.logins.put(id, lr)
	p.mu.Unlock()
	p.renderLogin(w, http.StatusOK, lr, loginView{Request: id, Username: q.Get("login_hint")})
}

// login takes the login form's submission (POST {issuer}/authorize, by the person's
// browser): on the right password it redirects to the relying party with a code; on a wrong
// one it shows the form again.
func (p *IdP) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		p.refusePage(w, "the form could not be read")
		return
	}
	id := r.PostForm.Get("request")
	p.mu.Lock()
	lr, ok := p.logins.get(id)
	p.mu.Unlock()
	if !ok || p.opts.Now().After(lr.expires) {
		p.refusePage(w, "this login form has expired; start the login again")
		return
	}
	username := r.PostForm.Get("username")
	u := p.user(username)
	if u == nil || !(u.AutoApprove || subtle.ConstantTimeCompare([]byte(u.Password), []byte(r.PostForm.Get("password"))) == 1) {
		p.opts.Logger.Info("oidcidp: login refused", "client", lr.client.ID)
		p.renderLogin(w, http.StatusOK, lr, loginView{Request: id, Username: username, Error: "The username or password is wrong."})
		return
	}
	p.mu.Lock()
	_, ok = p.logins.take(id)
	p.mu.Unlock()
	if !ok { // the same form submitted twice at once
		p.refusePage(w, "this login form was already used; start the login again")
		return
	}
	p.issueCode(w, r, lr, u)
}

func (p *IdP) issueCode(w http.ResponseWriter, r *http.Request, lr *loginRequest, u *User) {
	now := p.opts.Now()
	code := randomToken(32)
	g := &grant{loginRequest: *lr, user: u, authTime: now}
	g.expires = now.Add(p.opts.CodeTTL)
	p.mu.Lock()
	p.codes.put(code, g)
	p.mu.Unlock()
	p.redirect(w, r, lr.redirectURI, url.Values{"code": {code}, "state": {lr.state}, "iss": {p.issuer}})
}

func (p *IdP) redirectError(w http.ResponseWriter, r *http.Request, redirectURI, state, code, desc string) {
	p.opts.Logger.Info("oidcidp: authorization refused", "error", code, "reason", desc)
	p.redirect(w, r, redirectURI, url.Values{"error": {code}, "error_description": {desc}, "state": {state}, "iss": {p.issuer}})
}

func (p *IdP) redirect(w http.ResponseWriter, r *http.Request, redirectURI string, params url.Values) {
	u, _ := url.Parse(redirectURI) // parsed when the client was registered
	q := u.Query()
	for k, v := range params {
		if k == "state" && v[0] == "" {
			continue
		}
		q[k] = v
	}
	u.RawQuery = q.Encode()
	// 303: the browser follows a redirect after the form's POST with a GET.
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

func (p *IdP) renderLogin(w http.ResponseWriter, status int, lr *loginRequest, v loginView) {
	v.Title = p.opts.Name
	v.Client = lr.client.ID
	// The page needs no script, style or image. Chromium applies form-action to the redirect
	// that follows the form's submission, so the relying party's origin is allowed too.
	target, _ := url.Parse(lr.redirectURI)
	setPageHeaders(w, "default-src 'none'; form-action 'self' "+target.Scheme+"://"+target.Host+"; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(status)
	_ = loginPage.Execute(w, v)
}

func (p *IdP) refusePage(w http.ResponseWriter, reason string) {
	p.opts.Logger.Info("oidcidp: authorization refused", "reason", reason)
	setPageHeaders(w, "default-src 'none'; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(http.StatusBadRequest)
	_ = loginPage.Execute(w, loginView{Title: p.opts.Name, Error: "The login request was refused: " + reason + "."})
}

func setPageHeaders(w http.ResponseWriter, csp string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", csp)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

// pkceChallenge is the shape of an S256 challenge; pkceVerifier that of a verifier (RFC 7636
// §4.1: 43 to 128 unreserved characters).
var (
	pkceChallenge = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
	pkceVerifier  = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)
)

// token exchanges an authorization code for tokens (POST {issuer}/token, called by the
// relying party's server with its client credentials, or by a public client with PKCE).
func (p *IdP) token(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		p.tokenError(w, http.StatusBadRequest, "invalid_request", "the body is not a form")
		return
	}
	f := r.PostForm
	id, secret, basic := r.BasicAuth()
	if basic {
		// RFC 6749 §2.3.1: the credentials are form-encoded before they go into Basic.
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = f.Get("client_id"), f.Get("client_secret")
	}
	client := p.clients[id]
	if client == nil || subtle.ConstantTimeCompare([]byte(client.Secret), []byte(secret)) != 1 {
		if basic {
			w.Header().Set("WWW-Authenticate", `Basic realm="token"`)
		}
		p.tokenError(w, http.StatusUnauthorized, "invalid_client", "unknown client or wrong client secret")
		return
	}
	if gt := f.Get("grant_type"); gt != "authorization_code" {
		p.tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "only authorization_code is supported")
		return
	}
	// A code is good once: it is gone whether this exchange succeeds or not.
	p.mu.Lock()
	g, ok := p.codes.take(f.Get("code"))
	p.mu.Unlock()
	now := p.opts.Now()
	verifier := f.Get("code_verifier")
	switch {
	case !ok:
		p.tokenError(w, http.StatusBadRequest, "invalid_grant", "unknown or used authorization code")
		return
	case now.After(g.expires):
		p.tokenError(w, http.StatusBadRequest, "invalid_grant", "the authorization code has expired")
		return
	case g.client != client:
		p.tokenError(w, http.StatusBadRequest, "invalid_grant", "the authorization code was issued to another client")
		return
	case f.Get("redirect_uri") != g.redirectURI:
		p.tokenError(w, http.StatusBadRequest, "invalid_grant", "redirect_uri differs from the authorization request's")
		return
	case g.codeChallenge == "" && verifier != "":
		p.tokenError(w, http.StatusBadRequest, "invalid_grant", "code_verifier sent for an authorization request without a code_challenge")
		return
	case g.codeChallenge != "" && (!pkceVerifier.MatchString(verifier) || subtle.ConstantTimeCompare([]byte(s256(verifier)), []byte(g.codeChallenge)) != 1):
		p.tokenError(w, http.StatusBadRequest, "invalid_grant", "PKCE verification failed: code_verifier does not match the code_challenge")
		return
	}
	exp := now.Add(p.opts.IDTokenTTL)
	claims := map[string]any{
		"iss": p.issuer, "sub": g.user.Subject, "aud": client.ID, "azp": client.ID,
		"exp": exp.Unix(), "iat": now.Unix(), "nbf": now.Unix(), "auth_time": g.authTime.Unix(),
	}
	if g.nonce != "" {
		claims["nonce"] = g.nonce
	}
	if !p.opts.ThinIDTokens {
		for k, v := range userClaims(g.user) {
			claims[k] = v
		}
	}
	idToken, err := p.key.sign(claims)
	if err != nil {
		p.opts.Logger.Error("oidcidp: sign ID token", "err", err)
		p.tokenError(w, http.StatusInternalServerError, "server_error", "the token could not be signed")
		return
	}
	access := randomToken(32)
	p.mu.Lock()
	p.sessions.put(access, &session{user: g.user, expires: exp})
	p.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": access,
		"token_type":   "Bearer",
		"expires_in":   int(p.opts.IDTokenTTL / time.Second),
		"id_token":     idToken,
		"scope":        g.scope,
	})
}

// userinfo returns the claims of the access token's user (GET or POST {issuer}/userinfo,
// with "Authorization: Bearer <access token>").
func (p *IdP) userinfo(w http.ResponseWriter, r *http.Request) {
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	p.mu.Lock()
	s, ok := p.sessions.get(tok)
	p.mu.Unlock()
	if !strings.EqualFold(scheme, "bearer") || !ok || p.opts.Now().After(s.expires) {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token"})
		return
	}
	c := userClaims(s.user)
	c["sub"] = s.user.Subject
	writeJSON(w, http.StatusOK, c)
}

// userClaims are the person's claims in both the ID token and userinfo. Groups go out
// whatever the scope, as many IdPs are configured to do; an empty list is left out, as they
// leave it out.
func userClaims(u *User) map[string]any {
	c := map[string]any{"preferred_username": u.Username}
	if u.Email != "" {
		c["email"] = u.Email
		c["email_verified"] = true
	}
	if u.Name != "" {
		c["name"] = u.Name
	}
	if len(u.Groups) > 0 {
		c["groups"] = u.Groups
	}
	return c
}

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (p *IdP) tokenError(w http.ResponseWriter, status int, code, desc string) {
	p.opts.Logger.Info("oidcidp: token refused", "error", code, "reason", desc)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
