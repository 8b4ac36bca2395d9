// Package access decides who may call what. Every route declares a Rule when it is
// registered (a route cannot be registered without one), and one Guard enforces it before the
// handler runs: it resolves the deployment (from the path or from the host the request was
// sent to), applies the deployment's IP allowlist to console and signer requests, identifies
// the caller (bearer token, or the IAM principal API Gateway verified), checks the rule, and
// refuses what the deployment's subscription state closes (subscription.go).
//
// Cross-deployment requests are answered exactly as requests for objects that do not exist,
// so a caller cannot learn what another tenant has.
package access

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opensignum/signum/lib/clientauth"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/policy"
	"github.com/opensignum/signum/lib/readcache"
	"github.com/opensignum/signum/lib/roles"
	"github.com/opensignum/signum/lib/tenant"
	"github.com/opensignum/signum/lib/token"
)

// Kind is the kind of caller.
type Kind string

// Kinds of caller.
const (
	Anonymous Kind = "anonymous"
	Operator  Kind = "operator"
	Portal    Kind = "portal"
	Console   Kind = "console"
)

// Principal is the identified caller.
type Principal struct {
	Kind         Kind
	UserID       string
	Name         string
	DeploymentID string
	// PortalRole is set for portal callers.
	PortalRole identity.PortalRole
	// ConsoleRoles are set for console callers (a Signum Administrator has
	// identity.SignumAdministrator among them).
	ConsoleRoles []identity.ConsoleRole
	// IAMAccount and IAMArn are set for operator callers.
	IAMAccount, IAMArn string
	// ClientCertificate is the serial of the client certificate a console caller
	// authenticated with over mutual TLS ("" for bearer tokens).
	ClientCertificate string
	// CustomRole is the id of the custom role a console user holds ("" for none).
	CustomRole string
	// DomainID is the login domain of a console user (identity.ConsoleUser.DomainID, as the
	// guard read the user): "" for the built-in Local users and Certificate users domains and
	// for portal users; the signer reads the domain's per-user concurrency limit with it.
	DomainID string
	// Workload is what a CI job's verified OIDC token said of it, for a console caller whose
	// bearer token a workload token was exchanged for (token.Claims.Workload); nil otherwise.
	// The signer records it on the job's events.
	Workload map[string]string
	// Scope is what a console caller may do, joined from its roles. The guard fills it for
	// rules that look at it (area rules, the session); elsewhere, such as on the signer's
	// path where policies decide, a custom role is not read and Scope holds the built-in
	// roles' rights only.
	Scope roles.Scope

	// token says the caller presented a bearer token, of generation generation (the user's
	// token generation when it was issued): the guard refuses it unless that is the user's
	// generation now.
	token      bool
	generation int64
}

// Actor names the principal in system logs.
func (p Principal) Actor() string {
	switch p.Kind {
	case Operator:
		// The operator's IAM ARN is the vendor's internal detail: tenants' system logs,
		// which console viewers read, say only "operator".
		return "operator"
	case Portal, Console:
		return string(p.Kind) + ":" + p.UserID
	}
	return string(p.Kind)
}

// HasConsoleRole reports whether a console caller has role r. Roles do not imply each other:
// the Signum Administrator administers the console because it is also a portal Admin (and so
// a console admin), not because of the Signum Administrator role.
func (p Principal) HasConsoleRole(r identity.ConsoleRole) bool {
	return p.Kind == Console && slices.Contains(p.ConsoleRoles, r)
}

// PolicyRoles are the roles signing policies match for the caller, as the guard read them
// from the stored user. The signer uses them instead of reading the user a second time.
func (p Principal) PolicyRoles() []string {
	return policy.RolesFor(identity.Roles{Portal: p.PortalRole, Console: p.ConsoleRoles})
}

// Tenancy says where a route finds its deployment.
type Tenancy int

// Tenancies.
const (
	// NoTenant: the route serves no one deployment (health, login to the portal, operator).
	NoTenant Tenancy = iota
	// PathTenant: the deployment id is the path parameter {id} (portal routes).
	PathTenant
	// HostTenant: the deployment is the one whose domain name the request was sent to
	// (console and signer routes); its IP allowlist applies.
	HostTenant
)

// Rule is a route's authorization rule.
type Rule struct {
	// Name describes the rule ("portal Admin", "console admin", ...), for logs and tests.
	Name    string
	Tenancy Tenancy
	// Caller is the kind of caller the rule admits (Anonymous: anyone).
	Caller Kind
	// allow decides for a caller of the right kind and deployment.
	allow func(Principal) bool
	// scoped rules need the caller's custom role read (Principal.Scope).
	scoped bool
	// signing rules admit a CI job's session (Principal.Workload): it may sign and list what
	// it may sign with, nothing else of the console.
	signing bool
	// part and reads say what the deployment's subscription state lets through
	// (subscription.go): the part of the service the route is, and that it changes nothing
	// whatever its method.
	part  part
	reads bool
}

// Allows reports whether the rule admits p (of the route's deployment).
func (r Rule) Allows(p Principal) bool {
	if r.Caller == Anonymous {
		return true
	}
	return p.Kind == r.Caller && r.allow(p)
}

// Public admits anyone, for routes that serve no deployment.
func Public() Rule { return Rule{Name: "anyone", Tenancy: NoTenant, Caller: Anonymous} }

// PublicOnTenant admits anyone whose address the deployment's allowlist lets in (console
// login).
func PublicOnTenant() Rule {
	return Rule{Name: "anyone (deployment host, allowlist)", Tenancy: HostTenant, Caller: Anonymous}
}

// OperatorOnly admits IAM principals of the operator account.
func OperatorOnly() Rule {
	return Rule{Name: "operator", Tenancy: NoTenant, Caller: Operator, allow: func(Principal) bool { return true }}
}

// OperatorOnDeployment admits the operator for a deployment named by the path.
func OperatorOnDeployment() Rule {
	return Rule{Name: "operator", Tenancy: PathTenant, Caller: Operator, allow: func(Principal) bool { return true }}
}

// PortalRoles admits portal users of the path's deployment with one of roles.
func PortalRoles(roles ...identity.PortalRole) Rule {
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = string(r)
	}
	return Rule{Name: "portal " + strings.Join(names, "|"), Tenancy: PathTenant, Caller: Portal,
		allow: func(p Principal) bool { return slices.Contains(roles, p.PortalRole) }}
}

// ConsoleRoles admits console callers of the host's deployment with one of roles.
func ConsoleRoles(roles ...identity.ConsoleRole) Rule {
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = string(r)
	}
	return Rule{Name: "console " + strings.Join(names, "|"), Tenancy: HostTenant, Caller: Console,
		allow: func(p Principal) bool {
			for _, r := range roles {
				if p.HasConsoleRole(r) {
					return true
				}
			}
			return false
		}}
}

// SystemLogReaders admits those whose roles read the system log: console admins, the Signum
// Administrator and custom roles given it; not console viewers or signers, since the log
// names who logged in from where.
func SystemLogReaders() Rule { return Area(roles.SystemLog, roles.Read) }

// Area admits console callers whose roles give at least level in area: the rule of the
// console's routes, so that a custom role reaches exactly the areas it was given. Which
// certificates of the area a caller sees is the handlers' part (Principal.Scope's groups).
//
// A route that asks only for read rights changes nothing, whatever its method (the policies'
// dry run is a POST): it works while the deployment's subscription is suspended.
func Area(area roles.Area, level roles.Level) Rule {
	return Rule{Name: fmt.Sprintf("console %s %s", area, level), Tenancy: HostTenant, Caller: Console, scoped: true, reads: level == roles.Read,
		allow: func(p Principal) bool { return p.Scope.Level(area).AtLeast(level) }}
}

// AnyConsoleCaller admits every console caller of the deployment (the signer, where the
// signing policies decide): a holder of any built-in role or of a custom role.
func AnyConsoleCaller() Rule {
	r := ConsoleRoles(identity.ConsoleAdmin, identity.ConsoleViewer, identity.Signer, identity.SignumAdministrator)
	builtIn := r.allow
	r.allow = func(p Principal) bool { return builtIn(p) || p.CustomRole != "" }
	return r
}

// Signer is AnyConsoleCaller for the signer's routes, which alone admit a CI job's session.
func Signer() Rule {
	r := AnyConsoleCaller()
	r.signing = true
	return r
}

// ConsoleSession is AnyConsoleCaller with the caller's scope read, for the caller's own
// session (which tells the console's pages what the caller may do).
func ConsoleSession() Rule {
	r := AnyConsoleCaller()
	r.scoped = true
	return r
}

// SignumAdministrator admits only the deployment's Signum Administrator.
func SignumAdministrator() Rule {
	return Rule{Name: "Signum Administrator", Tenancy: HostTenant, Caller: Console,
		allow: func(p Principal) bool { return slices.Contains(p.ConsoleRoles, identity.SignumAdministrator) }}
}

// RoleReader reads custom roles (store.Store).
type RoleReader interface {
	GetRole(ctx context.Context, dep, id string) (roles.Role, error)
}

// Verifier checks bearer tokens.
type Verifier interface {
	Verify(ctx context.Context, raw string, sys token.System) (token.Claims, error)
}

// Tenants finds deployments and their users. The guard reads the caller's user on every
// request: a token proves who the caller was when it was issued; the stored user says what
// they may do now (removed, disabled or demoted users lose their rights at once, not when
// the token expires).
type Tenants interface {
	GetDeployment(ctx context.Context, id string) (tenant.Deployment, error)
	DeploymentByDomain(ctx context.Context, domain string) (tenant.Deployment, error)
	identity.Directory
}

// CertificateUsers finds the client-certificate credentials that could match a presented
// certificate (store.Store).
type CertificateUsers interface {
	ClientCandidates(ctx context.Context, deploymentID, issuerKey, thumbprint, serial string) (clientauth.Candidates, error)
}

// Guard enforces rules.
type Guard struct {
	Tokens          Verifier
	Tenants         Tenants
	OperatorAccount string
	// Certificates authenticates console callers who present a client certificate over
	// mutual TLS instead of a bearer token (nil: no certificate users).
	Certificates CertificateUsers
	// Roles reads the custom roles of callers on scoped routes (nil: built-in roles only).
	Roles RoleReader
	// Now is the clock client certificates are checked against (time.Now when nil).
	Now func() time.Time
	// DomainSuffix and SignerDomainSuffix map the mutual-TLS host of a deployment to its
	// domain name: "<label>.<SignerDomainSuffix>" is "<label>.<DomainSuffix>". Empty when
	// both are served on the same host names (the local server).
	DomainSuffix, SignerDomainSuffix string
	// LocalSignerPort is the local server's mutual-TLS port, where every deployment's host
	// is its own mutual-TLS host; empty in AWS.
	LocalSignerPort string
}

// Request is what the guard established about a request.
type Request struct {
	Principal  Principal
	Deployment tenant.Deployment
}

// Errors of the guard.
var (
	// ErrNoDeployment answers both "no such deployment" and "another tenant's deployment".
	ErrNoDeployment = fmt.Errorf("access: %w", fault.ErrNotFound)
	// ErrOutsideAllowlist is a request from an address the deployment does not admit.
	ErrOutsideAllowlist = fmt.Errorf("access: ip allowlist: %w", fault.ErrForbidden)
	// errInactive is a token whose user no longer exists or is disabled.
	errInactive = fault.Newf(fault.ErrUnauthenticated, "The account this token was issued to is no longer active; log in again.")
	// errOldGeneration is a token issued before a change that ended the user's sessions.
	errOldGeneration = fault.Newf(fault.ErrUnauthenticated, "This token was issued before the account's password, status or roles changed; log in again.")
)

// notFound is the one answer for a deployment that does not exist or is another tenant's.
func notFound(ref string) error {
	return fault.Newf(ErrNoDeployment, "No deployment has the id or domain name %q.", fault.Clip(ref, 80))
}

// Check resolves the caller and the deployment of r and applies rule. The order matters:
// console routes resolve their deployment first, because its IP allowlist applies before
// anything else; portal routes identify the caller first, so that an unauthenticated caller
// learns nothing about which deployments exist. What the deployment's subscription state
// closes (subscription.go) is refused last, once the caller is known to be the deployment's
// and allowed by the rule; the console's public routes, before anything but the allowlist.
func (g *Guard) Check(r *http.Request, rule Rule) (*Request, error) {
	req := &Request{Principal: Principal{Kind: Anonymous}}
	var ref string
	if rule.Tenancy == HostTenant {
		var err error
		if ref, err = g.hostTenant(r, req); err != nil {
			return nil, err
		}
	}
	if rule.Caller != Anonymous {
		p, err := g.caller(r, rule, req.Deployment)
		if err != nil {
			return nil, err
		}
		req.Principal = p
	}
	if rule.Tenancy == PathTenant {
		ref = r.PathValue("id")
		d, err := g.Tenants.GetDeployment(r.Context(), ref)
		if errors.Is(err, fault.ErrNotFound) {
			return nil, notFound(ref)
		}
		if err != nil {
			return nil, err
		}
		req.Deployment = d
	}
	switch rule.Caller {
	case Operator:
		// The operator looks after deployments in every subscription state.
		return req, nil
	case Anonymous:
		if rule.Tenancy != NoTenant {
			if err := inState(rule, r.Method, req.Deployment); err != nil {
				return nil, err
			}
		}
		return req, nil
	}
	// Another tenant's caller gets exactly what a request for a missing deployment gets.
	if req.Principal.DeploymentID != req.Deployment.ID {
		return nil, notFound(ref)
	}
	if err := g.current(r.Context(), &req.Principal, rule.scoped); err != nil {
		return nil, err
	}
	if req.Principal.Workload != nil && !rule.signing {
		// A CI job's session came from a token any job of the matching repositories can get:
		// it signs, and administers nothing.
		return nil, fault.Newf(fault.ErrForbidden, "A CI job's session may only sign (POST /sign) and list the certificates it may sign with.")
	}
	if !rule.Allows(req.Principal) {
		return nil, fault.Newf(fault.ErrForbidden, "Your role does not allow this; it needs %s.", rule.Name)
	}
	// Last: a caller learns of the subscription's state only when it is what stops them.
	if err := inState(rule, r.Method, req.Deployment); err != nil {
		return nil, err
	}
	return req, nil
}

// hostTenant resolves the deployment the request was sent to and applies its allowlist.
func (g *Guard) hostTenant(r *http.Request, req *Request) (string, error) {
	gw, ok := edge.Gateway(r)
	if !ok {
		return "", fault.Newf(fault.ErrUnauthenticated, "The request did not arrive through the API gateway.")
	}
	ref := g.deploymentDomain(gw.DomainName)
	d, err := g.Tenants.DeploymentByDomain(r.Context(), ref)
	if errors.Is(err, fault.ErrNotFound) {
		return "", notFound(ref)
	}
	if err != nil {
		return "", err
	}
	ip, err := edge.SourceIP(r)
	if err != nil {
		return "", err
	}
	if !d.Allows(ip) {
		return "", fault.Newf(ErrOutsideAllowlist, "Requests from %s are not in this deployment's IP allowlist.", ip)
	}
	req.Deployment = d
	return ref, nil
}

// SignerEndpoint is where certificate users' agents reach the deployment with domain name
// domain over mutual TLS: the inverse of deploymentDomain ("https://<label>.<SignerDomain>"),
// or, on the local server, the domain on its mutual-TLS port; empty when there is none.
func (g *Guard) SignerEndpoint(domain string) string {
	switch {
	case domain == "":
		return ""
	case g.SignerDomainSuffix != "" && g.DomainSuffix != "":
		label, ok := strings.CutSuffix(strings.ToLower(domain), "."+strings.ToLower(g.DomainSuffix))
		if !ok || label == "" || strings.Contains(label, ".") {
			return ""
		}
		return "https://" + label + "." + g.SignerDomainSuffix
	case g.LocalSignerPort != "":
		return "https://" + net.JoinHostPort(domain, g.LocalSignerPort)
	}
	return ""
}

// deploymentDomain is the deployment domain name a request host stands for: the host
// itself, or for the mutual-TLS host "<label>.<SignerDomainSuffix>", "<label>.<DomainSuffix>".
func (g *Guard) deploymentDomain(host string) string {
	if g.SignerDomainSuffix == "" || g.DomainSuffix == "" {
		return host
	}
	label, ok := strings.CutSuffix(strings.ToLower(host), "."+strings.ToLower(g.SignerDomainSuffix))
	if !ok || label == "" || strings.Contains(label, ".") {
		return host
	}
	return label + "." + g.DomainSuffix
}

// caller identifies the caller with the credentials rule asks for. Console callers of a
// deployment host present a bearer token or, over mutual TLS, a client certificate.
func (g *Guard) caller(r *http.Request, rule Rule, dep tenant.Deployment) (Principal, error) {
	if rule.Caller == Operator {
		iam := edge.IAMCaller(r)
		if iam == nil {
			return Principal{}, fault.Newf(fault.ErrUnauthenticated, "This route needs an AWS SigV4-signed request.")
		}
		if g.OperatorAccount == "" || iam.AccountID != g.OperatorAccount {
			return Principal{}, fault.Newf(fault.ErrForbidden, "Only principals of the operator account may call this route.")
		}
		return Principal{Kind: Operator, IAMAccount: iam.AccountID, IAMArn: iam.UserARN}, nil
	}
	raw, ok := bearer(r)
	certPEM := edge.ClientCertificatePEM(r)
	if ok && certPEM != "" {
		// One caller, one credential: a token must not carry a request past a certificate
		// that is revoked or belongs to someone else.
		return Principal{}, fault.Newf(fault.ErrUnauthenticated, "Send either a bearer token or a client certificate, not both; over mutual TLS, leave out the Authorization header.")
	}
	if !ok {
		if certPEM != "" && rule.Caller == Console && rule.Tenancy == HostTenant {
			return g.certificateUser(r.Context(), certPEM, dep)
		}
		if rule.Caller == Console {
			return Principal{}, fault.Newf(fault.ErrUnauthenticated, "This route needs a bearer token (Authorization: Bearer <token>) or a client certificate over mutual TLS.")
		}
		return Principal{}, fault.Newf(fault.ErrUnauthenticated, "This route needs a bearer token (Authorization: Bearer <token>).")
	}
	sys := token.Portal
	if rule.Caller == Console {
		sys = token.Console
	}
	claims, err := g.Tokens.Verify(r.Context(), raw, sys)
	if err != nil {
		return Principal{}, err
	}
	return Principal{Kind: rule.Caller, UserID: claims.Subject, Name: claims.Name, DeploymentID: claims.Deployment,
		Workload: claims.Workload, token: true, generation: claims.Generation}, nil
}

// certificateUser identifies the console user a client certificate, which the TLS layer
// proved the client holds, is registered for in dep.
func (g *Guard) certificateUser(ctx context.Context, certPEM string, dep tenant.Deployment) (Principal, error) {
	if g.Certificates == nil {
		return Principal{}, fault.Newf(fault.ErrUnauthenticated, "This service does not accept client certificates; use a bearer token.")
	}
	cert, err := clientauth.ParsePEM(certPEM)
	if err != nil {
		return Principal{}, fault.Newf(fault.ErrUnauthenticated, "The client certificate %s.", err.Error())
	}
	serial := clientauth.SerialOf(cert)
	cands, err := g.Certificates.ClientCandidates(ctx, dep.ID, clientauth.NameKey(cert.RawIssuer), clientauth.ThumbprintOf(cert), serial)
	if err != nil {
		return Principal{}, err
	}
	now := time.Now
	if g.Now != nil {
		now = g.Now
	}
	cred, err := clientauth.Authenticate(cert, cands, now())
	if err != nil {
		return Principal{}, err
	}
	return Principal{Kind: Console, UserID: cred.UserID, DeploymentID: dep.ID, ClientCertificate: serial}, nil
}

// current fills p's roles from the user as stored now, refusing users that are gone or
// disabled, and tokens of a generation that is not the user's now (issued before a password
// reset, a disable or a change of role). Console callers are console users or portal users
// who opened the console with their portal identity; the kind of the user id says which.
func (g *Guard) current(ctx context.Context, p *Principal, scoped bool) error {
	var kind identity.Kind
	switch {
	case p.Kind == Portal || (p.Kind == Console && identity.KindOf(p.UserID) == identity.KindPortal):
		kind = identity.KindPortal
	case p.Kind == Console:
		kind = identity.KindConsole
	default:
		return nil
	}
	u, err := identity.Active(ctx, g.Tenants, p.DeploymentID, kind, p.UserID)
	if errors.Is(err, identity.ErrInactive) {
		return errInactive
	}
	if err != nil {
		return err
	}
	gen := u.Console.TokenGeneration
	if kind == identity.KindPortal {
		gen = u.Portal.TokenGeneration
	}
	if p.token && p.generation != gen {
		return errOldGeneration
	}
	switch kind {
	case identity.KindPortal:
		p.PortalRole = u.Portal.Role
		if p.Kind == Console {
			p.ConsoleRoles = u.Roles().Console
		}
	case identity.KindConsole:
		p.ConsoleRoles = u.Console.Roles
		p.CustomRole = u.Console.Role
		p.DomainID = u.Console.DomainID
		if p.Name == "" {
			p.Name = u.Console.Username
		}
	}
	var custom *roles.Role
	if scoped && p.CustomRole != "" && g.Roles != nil {
		r, err := g.Roles.GetRole(ctx, p.DeploymentID, p.CustomRole)
		switch {
		case errors.Is(err, fault.ErrNotFound):
			// A role cannot be deleted while held; should it be gone, the user keeps only its
			// built-in rights rather than an error on every page.
		case err != nil:
			return err
		default:
			custom = &r
		}
	}
	p.Scope = roles.ScopeOf(p.ConsoleRoles, custom)
	return nil
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

// Handler serves a route after the guard admitted the request.
type Handler func(w http.ResponseWriter, r *http.Request, req *Request) error

// Mux is a router whose every route carries a rule.
type Mux struct {
	*edge.Router
	guard *Guard
	rules map[string]Rule
}

// NewMux returns an empty mux enforcing rules with guard.
func NewMux(log *slog.Logger, guard *Guard) *Mux {
	return &Mux{Router: edge.NewRouter(log), guard: guard, rules: map[string]Rule{}}
}

// Handle registers h for pattern behind rule.
func (m *Mux) Handle(pattern string, rule Rule, h Handler) {
	m.register(pattern, rule, func(w http.ResponseWriter, r *http.Request) error { return m.serve(w, r, rule, h) })
}

func (m *Mux) register(pattern string, rule Rule, h edge.HandlerFunc) {
	if rule.Name == "" || (rule.Caller != Anonymous && rule.allow == nil) {
		panic("access: route " + pattern + " has no complete rule")
	}
	m.rules[pattern] = rule
	m.Router.Handle(pattern, h)
}

// HandleCached is Handle for a route whose reads — the guard's and the handler's — may be
// answered from the store's cache. Nothing that rests on an unconfirmed cached item reaches
// the caller:
//   - the handler may confirm them itself (confirm, the store's ConfirmReads) before it acts
//     on them, as the signer does before it uses a key;
//   - its answer is held until it returns, and confirmed then if anything is still pending;
//   - a request that fails while cached items are unconfirmed (the guard refused it on them,
//     say), or whose items turned out changed (readcache.ErrStale), is run again, guard
//     included, with every read going to the table, and the held answer is dropped.
func (m *Mux) HandleCached(pattern string, rule Rule, h Handler, confirm func(context.Context) error) {
	m.register(pattern, rule, func(w http.ResponseWriter, r *http.Request) error {
		// The body is kept for a second run (a larger one fails as too large either way).
		body, err := io.ReadAll(io.LimitReader(r.Body, edge.MaxBodyBytes+1))
		if err != nil {
			return fault.Wrap(fault.ErrInvalid, err, "The request body could not be read.")
		}
		run := func(ctx context.Context) (*heldResponse, error) {
			rr := r.WithContext(ctx)
			rr.Body = io.NopCloser(bytes.NewReader(body))
			held := &heldResponse{header: http.Header{}, status: http.StatusOK}
			err := m.serve(held, rr, rule, h)
			if err == nil && readcache.From(ctx).Pending() {
				err = confirm(ctx)
			}
			return held, err
		}
		// What the handler does once per request (Once: its rate limits) holds for both runs.
		base := context.WithValue(r.Context(), onceKey{}, &onces{done: map[string]*onceEntry{}})
		ctx := readcache.With(base)
		held, err := run(ctx)
		if err != nil && (errors.Is(err, readcache.ErrStale) || readcache.From(ctx).Pending()) {
			held, err = run(readcache.Fresh(base))
		}
		held.send(w, err == nil)
		return err
	})
}

type onceKey struct{}

// onces are the results of Once in one request.
type onces struct {
	mu   sync.Mutex
	done map[string]*onceEntry
}

type onceEntry struct {
	once sync.Once
	err  error
}

// Once runs f the first time key is asked for in the request of ctx and answers its result
// again after that. A route of HandleCached may run twice for one request (again on fresh
// reads); what must happen once per request — taking units of a rate limit — goes through
// Once, so that a second run is neither charged again nor answered differently. Outside
// HandleCached, f simply runs.
func Once(ctx context.Context, key string, f func() error) error {
	o, _ := ctx.Value(onceKey{}).(*onces)
	if o == nil {
		return f()
	}
	o.mu.Lock()
	e := o.done[key]
	if e == nil {
		e = &onceEntry{}
		o.done[key] = e
	}
	o.mu.Unlock()
	e.once.Do(func() { e.err = f() })
	return e.err
}

// heldResponse keeps a handler's answer until it may be sent.
type heldResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (h *heldResponse) Header() http.Header         { return h.header }
func (h *heldResponse) WriteHeader(status int)      { h.status = status }
func (h *heldResponse) Write(b []byte) (int, error) { return h.body.Write(b) }

// send writes the held headers to w, and the status and body too when whole is set (else the
// caller answers with a problem).
func (h *heldResponse) send(w http.ResponseWriter, whole bool) {
	for k, v := range h.header {
		w.Header()[k] = v
	}
	if whole {
		w.WriteHeader(h.status)
		_, _ = w.Write(h.body.Bytes())
	}
}

func (m *Mux) serve(w http.ResponseWriter, r *http.Request, rule Rule, h Handler) error {
	req, err := m.guard.Check(r, rule)
	if err != nil {
		if errors.Is(err, fault.ErrUnauthenticated) && rule.Caller == Operator {
			w.Header().Set("WWW-Authenticate", "AWS4-HMAC-SHA256")
		}
		return err
	}
	if req.Principal.Kind != Anonymous {
		edge.Logger(r.Context()).Debug("admitted", slog.String("principal", req.Principal.Actor()), slog.String("rule", rule.Name))
	}
	return h(w, r, req)
}

// Rules returns every route's rule by pattern.
func (m *Mux) Rules() map[string]Rule { return m.rules }
