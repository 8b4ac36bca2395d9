package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/opensignum/signum/lib/access"
	"github.com/opensignum/signum/lib/directory"
	"github.com/opensignum/signum/lib/domains"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/login"
	"github.com/opensignum/signum/lib/oidclogin"
	"github.com/opensignum/signum/lib/ratelimit"
	"github.com/opensignum/signum/lib/roles"
	"github.com/opensignum/signum/lib/safehttp"
	"github.com/opensignum/signum/lib/samlsso"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// Single sign-on: people of an OIDC or SAML domain log in at the domain's identity provider.
// The browser goes from the console's login page to the start route, which keeps the login
// server-side (store.SSOLogin, under the OAuth state or the SAML relay state, bound to the
// browser by a cookie) and sends it to the IdP; the IdP sends it back to the OIDC callback or
// posts to the SAML assertion consumer service, which take the login once, check the IdP's
// answer (oidclogin, samlsso), find or make the console user, and send the browser back to
// the web app's login page with a console token in the URL's fragment, which browsers never
// send to a server, or with the reason of the refusal there.
//
// Every URL the IdP knows is the deployment's own, built from the host the request was sent
// to (baseURL): the OIDC redirect URL <base>/console/login/oidc/callback, the SAML entity ID
// <base>/console/domains/{domainId}/saml/metadata (where the SP metadata is served, so that an
// IdP can fetch it) and the assertion consumer service <base>/console/login/saml/acs.
const (
	oidcCallbackPath = "/console/login/oidc/callback"
	samlACSPath      = "/console/login/saml/acs"
	// webLoginPath is the web app's console login page, which takes the fragment.
	webLoginPath = "/app/console/login"
	// ssoTTL is how long a person has at the IdP (the OIDC client's pending logins last as
	// long).
	ssoTTL = 10 * time.Minute
	// ssoCookie binds a login to the browser that started it, so that nobody can make a
	// victim's browser finish a login the attacker started (and so log the victim in as the
	// attacker). It is sent to the callbacks only. SameSite=None because the IdP posts SAML
	// responses cross-site; Secure, which browsers (and Go's cookie jar) honour on
	// http://*.localhost too, as the local server is.
	ssoCookie     = "signum_sso"
	ssoCookiePath = "/console/login"
	// maxSAMLForm bounds the ACS's form body (samlsso takes a SAMLResponse up to 1 MiB).
	maxSAMLForm = 1<<20 + 16<<10
)

// ssoKey is the shape of a binding cookie's value and of a relay state: 32 random bytes.
var ssoKey = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

type ssoAPI struct {
	api
	admin *directory.Admin
	oidc  *oidclogin.Client
}

// The single sign-on routes, on the console-auth function. All are public on the deployment's
// host (its IP allowlist applies): they are how a person without a token gets one. They are
// logins, so they work while the subscription is suspended; a first login that would make a
// console user is refused then (the console is read-only), and over the plan's users.
func (a api) registerSSO(m *access.Mux, admin *directory.Admin) {
	// The OIDC client fetches through safehttp, so that a domain's issuer (a tenant's choice)
	// cannot make the function fetch from loopback, private or link-local addresses; only the
	// local server (its mutual-TLS port is set, as baseURL tells) allows them, for its
	// stand-in IdP on http://127.0.0.1.
	s := ssoAPI{api: a, admin: admin, oidc: oidclogin.NewClient(oidclogin.Options{Now: a.Now, PendingTTL: ssoTTL,
		HTTPClient: safehttp.New(safehttp.Options{AllowPrivate: a.Guard.LocalSignerPort != ""})})}
	pub := access.PublicOnTenant().Login()
	// GET /console/login/domains — anyone: the OIDC and SAML domains to log in with (id,
	// name, kind), for the login page's buttons.
	m.Handle("GET /console/login/domains", pub, s.loginDomains)
	// GET /console/domains/{domainId}/login — anyone: start a login at the IdP of the OIDC
	// or SAML domain with this id or alias (?login_hint=<IdP user name>); 302 to the IdP.
	m.Handle("GET /console/domains/{domainId}/login", pub, s.start)
	// GET /console/login/oidc/callback — anyone: the IdP's redirect with ?code&state; 302 to
	// the web app's login page with the token (or the refusal) in the fragment.
	m.Handle("GET /console/login/oidc/callback", pub, s.oidcCallback)
	// POST /console/login/saml/acs — anyone: the IdP's form post of SAMLResponse and
	// RelayState; 302 as the OIDC callback.
	m.Handle("POST /console/login/saml/acs", pub, s.samlACS)
	// GET /console/domains/{domainId}/saml/metadata — anyone: the SAML domain's
	// service-provider metadata (nothing secret), its entity ID.
	m.Handle("GET /console/domains/{domainId}/saml/metadata", pub, s.samlMetadata)
}

// LoginDomain is a domain people log in with, as the login page lists it.
type LoginDomain struct {
	ID   string       `json:"id"`
	Name string       `json:"name"`
	Kind domains.Kind `json:"kind"`
}

// LoginDomains is the body of GET /console/login/domains.
type LoginDomains struct {
	Items []LoginDomain `json:"items"`
}

func people(k domains.Kind) bool { return k == domains.OIDC || k == domains.SAML }

func (s ssoAPI) loginDomains(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	all, err := store.All(r.Context(), func(ctx context.Context, pr store.PageRequest) (store.Page[domains.Domain], error) {
		return s.Store.ListDomains(ctx, req.Deployment.ID, pr)
	})
	if err != nil {
		return err
	}
	out := LoginDomains{Items: []LoginDomain{}}
	for _, d := range all {
		if people(d.Kind) {
			out.Items = append(out.Items, LoginDomain{ID: d.ID, Name: d.Name, Kind: d.Kind})
		}
	}
	slices.SortStableFunc(out.Items, func(a, b LoginDomain) int { return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)) })
	edge.WriteJSON(w, http.StatusOK, out)
	return nil
}

// domain reads the OIDC or SAML domain ref names (its id, or its alias), secrets opened.
func (s ssoAPI) domain(ctx context.Context, dep, ref string) (domains.Domain, error) {
	if ref == domains.LocalID || ref == domains.CertificateID {
		return domains.Domain{}, fault.Newf(fault.ErrInvalid, "The %s domain's users do not log in at an identity provider: Local users log in with their password, certificate users with their client certificate.", ref)
	}
	id := ref
	if !strings.HasPrefix(ref, domains.IDPrefix) {
		alias, ok := domains.NormalizeAlias(ref)
		if !ok {
			return domains.Domain{}, fault.Newf(store.ErrNotFound, "No domain has the id or alias %q.", fault.Clip(ref, 40))
		}
		d, err := s.Store.DomainByAlias(ctx, dep, alias)
		if err != nil {
			return domains.Domain{}, err
		}
		id = d.ID
	}
	d, err := s.admin.Get(ctx, dep, id)
	if err != nil {
		return domains.Domain{}, err
	}
	if !people(d.Kind) {
		return domains.Domain{}, fault.Newf(fault.ErrInvalid, "The domain %s is a %s domain: only OIDC and SAML domains log people in at an identity provider.", d.Name, d.Kind)
	}
	return d, nil
}

// baseURL is where the browser reached the deployment: https://<its domain name> in AWS; on
// the local server (the guard knows its mutual-TLS port), plain http on the port the browser
// used. The host is the one the gateway resolved the deployment from, not a header alone.
func (s ssoAPI) baseURL(r *http.Request) (string, error) {
	return deploymentBase(r, s.Guard.LocalSignerPort)
}

func deploymentBase(r *http.Request, localSignerPort string) (string, error) {
	gw, ok := edge.Gateway(r)
	if !ok || gw.DomainName == "" {
		return "", fault.Newf(fault.ErrUnauthenticated, "The request did not arrive through the API gateway.")
	}
	if localSignerPort == "" {
		return "https://" + gw.DomainName, nil
	}
	host := gw.DomainName
	if h, port, err := net.SplitHostPort(r.Header.Get("Host")); err == nil && strings.EqualFold(h, host) {
		host = net.JoinHostPort(host, port)
	}
	return "http://" + host, nil
}

// The OIDC and SAML settings of a domain, with the deployment's own URLs.
func oidcConfig(d domains.Domain, base string) oidclogin.Config {
	o := d.OIDC
	return oidclogin.Config{Issuer: o.Issuer, ClientID: o.ClientID, ClientSecret: o.ClientSecret, RedirectURL: base + oidcCallbackPath,
		Scopes: o.Scopes, UsernameClaim: o.UsernameClaim, EmailClaim: o.EmailClaim, GroupsClaim: o.GroupsClaim}
}

func samlConfig(d domains.Domain, base string) samlsso.Config {
	sm := d.SAML
	return samlsso.Config{EntityID: SAMLEntityID(base, d.ID), ACSURL: base + samlACSPath, IdPMetadataXML: []byte(sm.IdPMetadataXML),
		SPKeyPEM: sm.SPKeyPEM, SPCertPEM: sm.SPCertPEM, UsernameAttr: sm.UsernameAttr, EmailAttr: sm.EmailAttr, NameAttr: sm.NameAttr, GroupsAttr: sm.GroupsAttr}
}

// SAMLEntityID is the entity ID of SAML domain id of the deployment at base (https://<domain
// name>): the URL of its SP metadata.
func SAMLEntityID(base, id string) string { return base + "/console/domains/" + id + "/saml/metadata" }

// OIDCRedirectURL is the redirect URL to register at an OIDC domain's IdP, for the deployment
// at base: the same for every OIDC domain of the deployment.
func OIDCRedirectURL(base string) string { return base + oidcCallbackPath }

func randomKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashKey(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// navigation reports whether a browser navigated to r (so that an answer is a page it shows,
// not a problem a script reads).
func navigation(r *http.Request) bool {
	return r.Header.Get("Sec-Fetch-Mode") == "navigate" || strings.Contains(r.Header.Get("Accept"), "text/html")
}

// refuse answers a login step that failed with err: a browser that navigated here goes back
// to the web app's login page with the problem's detail and status in the fragment (what the
// page shows); any other caller gets the problem itself.
func refuse(w http.ResponseWriter, r *http.Request, err error) error {
	if !navigation(r) {
		return err
	}
	p := edge.ProblemFor(err)
	log := edge.Logger(r.Context())
	if p.Status >= 500 {
		log.Error("login failed", slog.Int("status", p.Status), slog.String("error", err.Error()))
	} else {
		log.Info("login refused", slog.Int("status", p.Status), slog.String("problem", p.Type), slog.String("error", err.Error()))
	}
	toWebLogin(w, r, url.Values{"error": {p.Detail}, "status": {strconv.Itoa(p.Status)}})
	return nil
}

// toWebLogin sends the browser to the web app's login page with fragment. The answer is not
// cached and sends no Referer on, as it (or the page before it) may carry a token or a code.
func toWebLogin(w http.ResponseWriter, r *http.Request, fragment url.Values) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, webLoginPath+"#"+fragment.Encode(), http.StatusFound)
}

func (s ssoAPI) start(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	ctx, dep := r.Context(), req.Deployment.ID
	from, err := edge.SourceIP(r)
	if err != nil {
		return refuse(w, r, err)
	}
	// Each start writes an item: the address's login budget bounds them.
	if err := ratelimit.Check(ctx, s.Store, s.Now(), ratelimit.Take{Key: ratelimit.Key("login", "sso", dep, from.String()), N: 1,
		Limit: s.Limits.LoginPerAddress, What: "logins from your address"}); err != nil {
		return refuse(w, r, err)
	}
	d, err := s.domain(ctx, dep, r.PathValue("domainId"))
	if err != nil {
		return refuse(w, r, err)
	}
	base, err := s.baseURL(r)
	if err != nil {
		return refuse(w, r, err)
	}
	binding := randomKey()
	if c, err := r.Cookie(ssoCookie); err == nil && ssoKey.MatchString(c.Value) {
		binding = c.Value // a login started in another tab of the same browser goes on too
	}
	// ?test=1 (the domains page's "Test login"): the login goes to the IdP and back, and its
	// outcome is shown instead of logging anyone in (tested).
	l := store.SSOLogin{DeploymentID: dep, DomainID: d.ID, Binding: hashKey(binding), Test: r.URL.Query().Get("test") == "1"}
	var to string
	switch d.Kind {
	case domains.OIDC:
		authURL, p, err := s.oidc.Start(ctx, oidcConfig(d, base), oidclogin.WithLoginHint(r.URL.Query().Get("login_hint")))
		if err != nil {
			return refuse(w, r, err)
		}
		raw, err := json.Marshal(p)
		if err != nil {
			return refuse(w, r, err)
		}
		l.Key, l.Pending, l.Expires, to = p.State, raw, p.Expires, authURL
	case domains.SAML:
		relay := randomKey()
		redirect, id, err := samlsso.Start(samlConfig(d, base), relay, s.Now())
		if err != nil {
			return refuse(w, r, err)
		}
		l.Key, l.RequestID, l.Expires, to = relay, id, s.Now().Add(ssoTTL), redirect
	}
	if err := s.Store.PutSSOLogin(ctx, l); err != nil {
		return refuse(w, r, err)
	}
	http.SetCookie(w, &http.Cookie{Name: ssoCookie, Value: binding, Path: ssoCookiePath, MaxAge: int(ssoTTL / time.Second),
		HttpOnly: true, Secure: true, SameSite: http.SameSiteNoneMode})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, to, http.StatusFound)
	return nil
}

// noLogin answers a callback whose state names no login in progress here.
const noLogin = "This login is unknown here, was finished already or took too long: start the login again from the console's login page."

// take takes the login in progress under key, started in this browser, and its domain, which
// must be of kind.
func (s ssoAPI) take(r *http.Request, dep, key string, kind domains.Kind) (store.SSOLogin, domains.Domain, error) {
	ctx := r.Context()
	l, err := s.Store.TakeSSOLogin(ctx, dep, key)
	if errors.Is(err, fault.ErrNotFound) {
		return l, domains.Domain{}, fault.Wrap(fault.ErrUnauthenticated, err, noLogin)
	}
	if err != nil {
		return l, domains.Domain{}, err
	}
	d, err := s.admin.Get(ctx, dep, l.DomainID)
	if errors.Is(err, fault.ErrNotFound) {
		return l, domains.Domain{}, fault.Wrap(fault.ErrUnauthenticated, err, "The domain this login was started with no longer exists.")
	}
	if err != nil {
		return l, domains.Domain{}, err
	}
	if d.Kind != kind {
		return l, domains.Domain{}, fault.Newf(fault.ErrUnauthenticated, "This login was started with the %s domain %s, not an %s one: start the login again.", d.Kind, d.Name, strings.ToUpper(string(kind)))
	}
	c, err := r.Cookie(ssoCookie)
	if err != nil || subtle.ConstantTimeCompare([]byte(hashKey(c.Value)), []byte(l.Binding)) != 1 {
		return l, d, fault.Newf(fault.ErrUnauthenticated, "This login was started in another browser, or this browser did not keep its login cookie: start the login again here (and allow the console's cookies).")
	}
	return l, d, nil
}

func (s ssoAPI) oidcCallback(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" {
		return refuse(w, r, fault.Newf(fault.ErrInvalid, "This callback carries no state, so it answers no login started here: start the login from the console's login page."))
	}
	l, d, err := s.take(r, req.Deployment.ID, state, domains.OIDC)
	if err != nil {
		return s.failed(w, r, req, d, "", nil, err)
	}
	if code := q.Get("error"); code != "" {
		return s.failed(w, r, req, d, "", nil, oidclogin.ProviderError(code, q.Get("error_description")))
	}
	var pending oidclogin.Pending
	if err := json.Unmarshal(l.Pending, &pending); err != nil {
		return s.failed(w, r, req, d, "", nil, fmt.Errorf("decode pending login: %w", err))
	}
	base, err := s.baseURL(r)
	if err != nil {
		return s.failed(w, r, req, d, "", nil, err)
	}
	p, err := s.oidc.Finish(r.Context(), oidcConfig(d, base), pending, q.Get("code"), state)
	if err != nil {
		return s.failed(w, r, req, d, "", nil, err)
	}
	who := person{Subject: identity.IdPSubject(p.Issuer, p.Subject), Username: p.Username, Email: p.Email, Name: p.Name, Groups: p.Groups}
	if l.Test {
		return s.tested(w, r, req, d, who)
	}
	return s.signIn(w, r, req, d, who)
}

func (s ssoAPI) samlACS(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxSAMLForm)
	if err := r.ParseForm(); err != nil {
		return refuse(w, r, fault.Wrap(fault.ErrInvalid, err, "The assertion consumer service takes the identity provider's form post (SAMLResponse and RelayState), of at most 1 MiB."))
	}
	response, relay := r.PostForm.Get("SAMLResponse"), r.PostForm.Get("RelayState")
	if response == "" || relay == "" {
		return refuse(w, r, fault.Newf(fault.ErrInvalid, "The assertion consumer service takes the identity provider's form post of SAMLResponse and RelayState, answering a login started from the console's login page (logins started at the identity provider are not accepted)."))
	}
	if !ssoKey.MatchString(relay) {
		return refuse(w, r, fault.Newf(fault.ErrUnauthenticated, noLogin))
	}
	l, d, err := s.take(r, req.Deployment.ID, relay, domains.SAML)
	if err != nil {
		return s.failed(w, r, req, d, "", nil, err)
	}
	base, err := s.baseURL(r)
	if err != nil {
		return s.failed(w, r, req, d, "", nil, err)
	}
	p, err := samlsso.Finish(r.Context(), samlConfig(d, base), s.Store.SAMLAssertions(req.Deployment.ID, d.ID), response, []string{l.RequestID}, s.Now())
	if err != nil {
		return s.failed(w, r, req, d, "", nil, err)
	}
	who := person{Subject: samlSubject(p), Username: p.Username, Email: p.Email, Name: p.Name, Groups: p.Groups}
	if l.Test {
		return s.tested(w, r, req, d, who)
	}
	return s.signIn(w, r, req, d, who)
}

// transientNameID is SAML 2.0's transient NameID format (saml-core §8.3.8): an identifier the
// IdP makes anew for each session.
const transientNameID = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"

// samlSubject is the identity a SAML login binds its console user to: the IdP's entity ID and
// the assertion's NameID. A transient NameID is another at every login, so it binds nothing:
// "" (and the login is refused, errNoSubject).
func samlSubject(p samlsso.Person) string {
	if strings.TrimSpace(p.NameIDFormat) == transientNameID {
		return ""
	}
	return identity.IdPSubject(p.Issuer, strings.TrimSpace(p.NameID))
}

func (s ssoAPI) samlMetadata(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	d, err := s.domain(r.Context(), req.Deployment.ID, r.PathValue("domainId"))
	if err != nil {
		return err
	}
	if d.Kind != domains.SAML {
		return fault.Newf(fault.ErrInvalid, "The domain %s is an %s domain: only SAML domains have service-provider metadata.", d.Name, strings.ToUpper(string(d.Kind)))
	}
	base, err := s.baseURL(r)
	if err != nil {
		return err
	}
	meta, err := samlsso.SPMetadata(samlConfig(d, base))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/samlmetadata+xml")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(meta)
	return nil
}

// person is who an IdP says logged in, from either protocol. Subject is the identity the
// console user is bound to (identity.IdPSubject), "" when the IdP sent none that lasts.
type person struct {
	Subject, Username, Email, Name string
	Groups                         []string
}

// Refusals of a person the IdP authenticated.
var (
	errNoRole    = fault.Newf(fault.ErrForbidden, "Your IdP groups map to no role and the domain has no default role: ask the Signum Administrator to map one of your groups to a role.")
	errDisabled  = fault.Newf(fault.ErrForbidden, "Your console account is disabled: ask a console admin to enable it.")
	errNoSubject = fault.Newf(fault.ErrForbidden, "The identity provider did not say who you are for good (no subject, or a transient SAML NameID, which changes at every login), so no console account can be bound to you: ask the Signum Administrator to have the identity provider send a persistent NameID.")
)

// errOtherIdentity refuses a login whose IdP user name names a console user of domain d bound
// to another identity at the IdP: someone who took the name of another there.
func errOtherIdentity(d domains.Domain) error {
	return fault.Newf(fault.ErrForbidden, "This %s account belongs to another identity at the identity provider; ask the Signum Administrator.", d.Alias)
}

// signIn finds or makes the console user of p in domain d, issues its console token as POST
// /console/login does, records the login and sends the browser to the web app with the token.
func (s ssoAPI) signIn(w http.ResponseWriter, r *http.Request, req *access.Request, d domains.Domain, p person) error {
	ctx, dep := r.Context(), req.Deployment.ID
	u, err := s.account(ctx, req.Deployment, d, p)
	if err != nil {
		return s.failed(w, r, req, d, p.Username, u, err)
	}
	users := login.Console(s.Store, dep, login.Limits{})
	who := users.User(*u)
	tok, claims, err := s.Issuer.Issue(ctx, who.Claims)
	if err != nil {
		return refuse(w, r, err)
	}
	from, _ := edge.SourceIP(r)
	// The token is issued but not yet given out: without its record, it never is.
	if err := users.Record(ctx, login.Attempt{Name: u.Username, User: &who, Outcome: login.Succeeded, From: from, At: s.Now(),
		Reason: fmt.Sprintf("at the identity provider of the %s domain %s", strings.ToUpper(string(d.Kind)), d.Name)}); err != nil {
		return refuse(w, r, err)
	}
	toWebLogin(w, r, url.Values{"token": {tok}, "expiresAt": {claims.ExpiresAt.UTC().Format(time.RFC3339)}})
	return nil
}

// failed records a failed login at domain d (when the login was identified as one of d's) in
// the system log, as the password login records its failures, and refuses it. name is the
// IdP's user name when the IdP said it, u the console user when one was found.
func (s ssoAPI) failed(w http.ResponseWriter, r *http.Request, req *access.Request, d domains.Domain, name string, u *identity.ConsoleUser, cause error) error {
	if d.ID == "" {
		return refuse(w, r, cause)
	}
	users := login.Console(s.Store, req.Deployment.ID, login.Limits{})
	if name == "" {
		name = "(unidentified)"
	}
	a := login.Attempt{Name: name + "@" + d.Alias, Outcome: login.Failed, At: s.Now(),
		Reason: fmt.Sprintf("at the identity provider of the %s domain %s: %s", strings.ToUpper(string(d.Kind)), d.Name, edge.ProblemFor(cause).Detail)}
	a.From, _ = edge.SourceIP(r)
	if u != nil {
		who := users.User(*u)
		a.User = &who
	}
	if err := users.Record(r.Context(), a); err != nil {
		return refuse(w, r, err)
	}
	return refuse(w, r, cause)
}

// account is the console user p logs in as at domain d: the domain's user of that name
// (<IdP user name>@<alias>), whose role from IdP groups is worked out again (a direct role
// stays), or, when the domain provisions users just in time, a new one. The name is the
// IdP's user name claim or attribute, which many IdPs let people change, so the user is bound
// to p's subject at the IdP: a new user is made with it, a user a console admin made is bound
// at its first login (in a versioned write, so two first logins cannot both bind it), and a
// user bound to another subject is refused. The subject is only ever compared with the user
// the name finds in d, never looked up on its own, so it cannot reach a user of another
// domain. A user found is returned with a refusal too, for the system log.
func (s ssoAPI) account(ctx context.Context, deployment tenant.Deployment, d domains.Domain, p person) (*identity.ConsoleUser, error) {
	dep := deployment.ID
	if p.Subject == "" {
		return nil, errNoSubject
	}
	username, err := identity.NormalizeUsername(p.Username + "@" + d.Alias)
	if err != nil {
		return nil, fault.Newf(fault.ErrUnauthenticated, "The identity provider's user name %q, with @%s, is not a console user name (3 to 64 letters, digits, '.', '_', '-' or '@'): set the domain's user name claim or attribute to one that is.",
			fault.Clip(p.Username, 64), d.Alias)
	}
	name, _ := identity.OptionalName(p.Name, "name", &fault.Fields{})
	email, err := identity.NormalizeEmail(p.Email)
	if err != nil {
		email = ""
	}
	// A concurrent first login, or a concurrent change of the user, is read again.
	for range 3 {
		u, err := s.Store.ConsoleUserByUsername(ctx, dep, username)
		switch {
		case errors.Is(err, fault.ErrNotFound):
			if !d.JIT {
				return nil, fault.Newf(fault.ErrForbidden, "No console user %s exists, and the domain %s does not create users at their first login: ask a console admin to create it.", username, d.Name)
			}
			role := d.RoleFor("", p.Groups)
			if role == "" {
				return nil, errNoRole
			}
			// Making a user is a change of the console, and one more of the plan's users.
			if err := access.ConsoleChange(deployment); err != nil {
				return nil, err
			}
			if err := identity.CheckUserLimit(ctx, s.Store, deployment); err != nil {
				return nil, err
			}
			nu := identity.ConsoleUser{ID: identity.NewConsoleUserID(), DeploymentID: dep, Username: username, Name: name, Email: email,
				DomainID: d.ID, RoleSource: identity.RoleFromGroups, IdPSubject: p.Subject, Status: identity.StatusActive}
			nu.Roles, nu.Role = rolesOf(role)
			created, err := s.Store.CreateConsoleUser(ctx, nu, tenant.LogEntry{Actor: "console:" + nu.ID, Action: "consoleUser.created",
				Detail: fmt.Sprintf("%s at its first login at the identity provider of the %s domain %s, with role %s from its IdP groups", username, strings.ToUpper(string(d.Kind)), d.Name, role)})
			if errors.Is(err, fault.ErrConflict) {
				if _, again := s.Store.ConsoleUserByUsername(ctx, dep, username); again == nil {
					continue // made by a login at the same moment
				}
			}
			if err != nil {
				return nil, err
			}
			return &created, nil
		case err != nil:
			return nil, err
		}
		if u.DomainID != d.ID {
			return nil, fault.Newf(fault.ErrForbidden, "The user name %s belongs to a console user of another domain: ask a console admin.", username)
		}
		if u.IdPSubject != "" && u.IdPSubject != p.Subject {
			return &u, errOtherIdentity(d)
		}
		if u.Status != identity.StatusActive {
			return &u, errDisabled
		}
		next := u
		var changes []string
		if u.IdPSubject == "" {
			next.IdPSubject = p.Subject
			changes = append(changes, fmt.Sprintf("bound to the identity %q at its first login", fault.Clip(p.Subject, 200)))
		}
		changedRoles := false
		if u.RoleSource == identity.RoleFromGroups { // a direct role beats the IdP's groups
			role := d.RoleFor("", p.Groups)
			if role == "" {
				return &u, errNoRole
			}
			next.Roles, next.Role = rolesOf(role)
			if name != "" {
				next.Name = name
			}
			if email != "" {
				next.Email = email
			}
			changedRoles = next.Role != u.Role || !slices.Equal(next.Roles, u.Roles)
			if changedRoles || next.Name != u.Name || next.Email != u.Email {
				changes = append(changes, fmt.Sprintf("role %s from its IdP groups", role))
			}
		}
		if len(changes) == 0 {
			return &u, nil
		}
		if changedRoles {
			next.TokenGeneration = u.TokenGeneration + 1 // as any change of role: earlier sessions end
		}
		updated, err := s.Store.UpdateConsoleUser(ctx, u, next, tenant.LogEntry{Actor: "console:" + u.ID, Action: "consoleUser.updated",
			Detail: fmt.Sprintf("%s: %s, at its login at the %s domain %s", username, strings.Join(changes, "; "), strings.ToUpper(string(d.Kind)), d.Name)})
		if errors.Is(err, fault.ErrPrecondition) {
			continue
		}
		if err != nil {
			return &u, err
		}
		return &updated, nil
	}
	return nil, fault.Newf(fault.ErrConflict, "Your console account was being changed at the same moment: log in again.")
}

// rolesOf is a role name as a user holds it: a built-in role among its roles, or its custom
// role.
func rolesOf(role string) ([]identity.ConsoleRole, string) {
	if _, ok := roles.BuiltIn[identity.ConsoleRole(role)]; ok {
		return []identity.ConsoleRole{identity.ConsoleRole(role)}, ""
	}
	return nil, role
}

// tested ends a test login: the IdP signed p in, and the browser goes back to the web app's
// login page with what a real login would do (#test=<what>), which writes nothing but the
// system log's record of the test (login.console.tested).
func (s ssoAPI) tested(w http.ResponseWriter, r *http.Request, req *access.Request, d domains.Domain, p person) error {
	ctx, dep := r.Context(), req.Deployment.ID
	what, u, err := s.preview(ctx, dep, d, p)
	if err != nil {
		return s.failed(w, r, req, d, p.Username, nil, err)
	}
	users := login.Console(s.Store, dep, login.Limits{})
	a := login.Attempt{Name: p.Username + "@" + d.Alias, Outcome: "tested", At: s.Now(), Reason: what}
	a.From, _ = edge.SourceIP(r)
	if u != nil {
		who := users.User(*u)
		a.User = &who
	}
	if err := users.Record(ctx, a); err != nil {
		return refuse(w, r, err)
	}
	toWebLogin(w, r, url.Values{"test": {what}})
	return nil
}

// preview says what a login of p at domain d would do, without doing it; u is the console user
// found, if any.
func (s ssoAPI) preview(ctx context.Context, dep string, d domains.Domain, p person) (what string, u *identity.ConsoleUser, err error) {
	groups := "none"
	if len(p.Groups) > 0 {
		groups = strings.Join(p.Groups, ", ")
	}
	email := p.Email
	if email == "" {
		email = "none"
	}
	what = fmt.Sprintf("Test login at the %s domain %s: the identity provider signed in %s (e-mail %s; groups: %s). ",
		strings.ToUpper(string(d.Kind)), d.Name, fault.Clip(p.Username, 64), fault.Clip(email, 100), fault.Clip(groups, 300))
	if p.Subject == "" {
		return what + "It sent no lasting subject (a transient SAML NameID changes at every login), so no console user can be bound to this person: it would be refused; have the identity provider send a persistent NameID.", nil, nil
	}
	username, err := identity.NormalizeUsername(p.Username + "@" + d.Alias)
	if err != nil {
		return what + fmt.Sprintf("%s@%s is not a console user name: this person would be refused; set the domain's user name claim or attribute to one that is.", fault.Clip(p.Username, 64), d.Alias), nil, nil
	}
	role := d.RoleFor("", p.Groups)
	found, err := s.Store.ConsoleUserByUsername(ctx, dep, username)
	switch {
	case errors.Is(err, fault.ErrNotFound) && !d.JIT:
		return what + fmt.Sprintf("No console user %s exists and the domain does not create users at their first login: this person would be refused.", username), nil, nil
	case errors.Is(err, fault.ErrNotFound) && role == "":
		return what + "The groups map to no role and the domain has no default role: this person would be refused.", nil, nil
	case errors.Is(err, fault.ErrNotFound):
		return what + fmt.Sprintf("Console user %s would be created at the first login, with the role %s.", username, role), nil, nil
	case err != nil:
		return "", nil, err
	}
	u = &found
	switch {
	case found.DomainID != d.ID:
		return what + fmt.Sprintf("The user name %s belongs to a console user of another domain: this person would be refused.", username), nil, nil
	case found.IdPSubject != "" && found.IdPSubject != p.Subject:
		return what + fmt.Sprintf("Console user %s belongs to another identity at the identity provider: this person would be refused.", username), u, nil
	case found.Status != identity.StatusActive:
		return what + fmt.Sprintf("Console user %s is disabled: this person would be refused.", username), u, nil
	case found.RoleSource != identity.RoleFromGroups:
		return what + fmt.Sprintf("Console user %s exists with roles a console admin gave it, which it keeps.", username), u, nil
	case role == "":
		return what + fmt.Sprintf("Console user %s exists, but its groups now map to no role and the domain has no default role: it would be refused.", username), u, nil
	}
	return what + fmt.Sprintf("Console user %s exists; its role from the groups would be %s.", username, role), u, nil
}

// domainUser is the domain and user name of a console user a console admin makes in domain id
// ("" or local: the Local users domain): an OIDC or SAML domain's user is named
// <IdP user name>@<alias>, which username gets when it lacks it, so that the user found at
// its first login at the IdP is this one (a domain without just-in-time provisioning admits
// only such users).
func (a api) domainUser(ctx context.Context, dep, id, username string) (string, string, error) {
	if id == "" || id == domains.LocalID {
		return "", username, nil
	}
	notPeople := fault.Fields{{Name: "domainId", Reason: "is not an OIDC or SAML domain of this deployment (or local, for the Local users domain)"}}
	if !strings.HasPrefix(id, domains.IDPrefix) {
		return "", "", notPeople
	}
	d, err := a.Store.GetDomain(ctx, dep, id)
	switch {
	case errors.Is(err, fault.ErrNotFound):
		return "", "", notPeople
	case err != nil:
		return "", "", err
	case !people(d.Kind):
		return "", "", notPeople
	}
	if suffix := "@" + d.Alias; !strings.HasSuffix(strings.ToLower(strings.TrimSpace(username)), suffix) {
		username = strings.TrimSpace(username) + suffix
	}
	return d.ID, username, nil
}
