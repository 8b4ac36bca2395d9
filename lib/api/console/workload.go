package console

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/opensignum/signum/lib/access"
	"github.com/opensignum/signum/lib/directory"
	"github.com/opensignum/signum/lib/domains"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/login"
	"github.com/opensignum/signum/lib/ratelimit"
	"github.com/opensignum/signum/lib/safehttp"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
	"github.com/opensignum/signum/lib/token"
	"github.com/opensignum/signum/lib/wire"
	"github.com/opensignum/signum/lib/workload"
)

// CI workload identity: a CI job (GitHub Actions, GitLab CI, any runner that issues OIDC
// tokens) exchanges its short-lived OIDC token for a short-lived console token, with no
// secret stored anywhere. A CI domain of the deployment trusts the token's issuer and
// audience, and its claim rules name the console user the job acts as; signing policies then
// apply as for that user, and the signer records the job's claims on every signing event.
//
// Each token is exchanged once (a replayed token is refused), the session lives no longer
// than the token nor than a password login's, and every exchange, granted or refused, is in
// the deployment's system log (section login) with the job's subject as its actor. A refusal
// says which check failed and records nothing as the user.

// Actions of the exchange in the system log.
const (
	actionWorkloadSession = "workload.session"
	actionWorkloadRefused = "workload.refused"
)

// workloadClaims are the job's claims a session carries to its signing events, in this order,
// besides those the matching rule tests: who ran what, from where, and the rule, domain and
// issuer that admitted it.
var workloadClaims = []string{"repository", "ref", "workflow", "environment", "run_id", "sha", "actor", "event_name", "sub",
	// GitLab CI's names for the same.
	"project_path", "pipeline_id", "job_id"}

// Bounds of the claims a session carries (they travel in every request's bearer token).
const (
	maxWorkloadClaim  = 256
	maxWorkloadClaims = 3 << 10 // bytes of names and values together
)

type workloadAPI struct {
	api
	verifier *workload.Verifier
}

// registerWorkload adds the exchange to the console-auth function. Its verifier caches each
// issuer's keys for the life of the function instance. It fetches through safehttp, so that
// a CI domain's issuer (a tenant's choice) cannot make the function fetch from loopback
// (the Lambda Runtime API), private or link-local addresses; only the local server (its
// mutual-TLS port is set) allows them, for its stand-in issuer on http://127.0.0.1.
func (a api) registerWorkload(m *access.Mux) {
	w := workloadAPI{api: a, verifier: workload.NewVerifier(workload.Options{Now: a.Now,
		HTTPClient: safehttp.New(safehttp.Options{AllowPrivate: a.Guard.LocalSignerPort != ""})})}
	// POST /console/workload-session — anyone the deployment's allowlist admits: a CI job
	// with its OIDC token, which is how it gets a token. The session can only sign, so it is
	// refused, with the reason, while the deployment's subscription does not let it sign.
	m.Handle("POST /console/workload-session", access.PublicOnTenant().SigningLogin(), w.exchange)
}

// WorkloadSessionRequest is the body of POST /console/workload-session.
type WorkloadSessionRequest struct {
	// Token is the CI job's OIDC token (a JWT). It is never logged nor echoed.
	Token string `json:"token"`
	// Domain is the alias of the CI domain to use; empty: each CI domain of the deployment
	// that trusts the token's issuer, in order, until one accepts it.
	Domain string `json:"domain,omitempty"`
}

// WorkloadSession is the answer to an exchange: a console token (the bearer token of the
// signer's routes), the user it acts as and the rule that said so.
type WorkloadSession struct {
	wire.Token
	User   WorkloadUser `json:"user"`
	Rule   string       `json:"rule"`
	Domain string       `json:"domain"`
}

// WorkloadUser is the console user a job acts as.
type WorkloadUser struct {
	ID       string `json:"id"`
	Username string `json:"username"`
}

// exchange is one attempt, as the system log records it.
type exchange struct {
	subject string // the token's sub as sent (verified once a domain accepted the token)
	domain  string // the alias of the domain that decided
	id      workload.Identity
	user    identity.ConsoleUser
	expires time.Time
}

func (w workloadAPI) exchange(rw http.ResponseWriter, r *http.Request, req *access.Request) error {
	var body WorkloadSessionRequest
	if err := edge.DecodeJSON(r, &body, 0); err != nil {
		return err
	}
	ctx, dep, now := r.Context(), req.Deployment.ID, w.Now()
	from, err := edge.SourceIP(r)
	if err != nil {
		return err
	}
	// Exchanges are unauthenticated, and each refusal is written to the system log: the
	// address's login limit bounds both. (A refusal here writes nothing.)
	if err := ratelimit.Check(ctx, w.Store, now, ratelimit.Take{Key: ratelimit.Key("workload", dep, addressKey(from)), N: 1,
		Limit: w.Limits.LoginPerAddress, What: "OIDC token exchanges from your address"}); err != nil {
		return err
	}
	x := &exchange{subject: unverifiedSubject(body.Token)}
	tok, claims, err := w.session(ctx, dep, body, now, x)
	if rerr := w.record(ctx, dep, x, err, from, now); rerr != nil {
		return rerr
	}
	if err != nil {
		return err
	}
	edge.WriteJSON(rw, http.StatusOK, WorkloadSession{Token: login.Respond(tok, claims), User: WorkloadUser{ID: x.user.ID, Username: x.user.Username},
		Rule: x.id.Rule, Domain: x.domain})
	return nil
}

// session checks the token against the deployment's CI domains, finds the user of the rule
// that admits it, records the token as used, and issues the session's console token.
func (w workloadAPI) session(ctx context.Context, dep string, body WorkloadSessionRequest, now time.Time, x *exchange) (string, token.Claims, error) {
	if strings.TrimSpace(body.Token) == "" {
		return "", token.Claims{}, fault.Fields{{Name: "token", Reason: "is required: the CI job's OIDC token"}}
	}
	candidates, err := w.candidates(ctx, dep, body)
	if err != nil {
		return "", token.Claims{}, err
	}
	var refusals []string
	var dom domains.Domain
	for _, d := range candidates {
		id, err := w.verifier.Verify(ctx, directory.WorkloadDomain(*d.CI), body.Token)
		if err == nil {
			dom, x.id, x.domain, x.subject = d, id, d.Alias, id.Subject
			break
		}
		detail, ok := fault.DetailOf(err)
		if !ok || !errors.Is(err, fault.ErrUnauthenticated) {
			return "", token.Claims{}, err // the issuer unreachable (503), or a server fault
		}
		refusals = append(refusals, fmt.Sprintf("domain %s: %s", d.Alias, detail))
	}
	if dom.ID == "" {
		x.domain = candidates[0].Alias
		if len(candidates) > 1 {
			x.domain = ""
		}
		return "", token.Claims{}, fault.Newf(fault.ErrUnauthenticated, "The OIDC token is refused: %s.", strings.Join(refusals, "; "))
	}
	if x.user, err = w.ruleUser(ctx, dep, dom, x.id); err != nil {
		return "", token.Claims{}, err
	}
	// The session ends when the token would have, and no later than a password login's.
	x.expires = now.Add(function.TokenTTL)
	if x.id.Expiry.Before(x.expires) {
		x.expires = x.id.Expiry
	}
	life := x.expires.Sub(now)
	if life < time.Second {
		return "", token.Claims{}, fault.Newf(fault.ErrUnauthenticated, "Expired: the OIDC token expired at %s (domain %s); request a new one.",
			x.id.Expiry.UTC().Format(time.RFC3339), dom.Alias)
	}
	// Each token once: its jti, or, for an issuer that sets none, the token itself (hashed).
	tokenID := x.id.TokenID
	if tokenID == "" {
		sum := sha256.Sum256([]byte(body.Token))
		tokenID = "sha256:" + hex.EncodeToString(sum[:])
	}
	replayed, err := w.Store.WorkloadTokenUsed(ctx, dep, dom.ID, x.id.Issuer, tokenID, x.id.Expiry.Add(workload.Leeway))
	if err != nil {
		return "", token.Claims{}, err
	}
	if replayed {
		return "", token.Claims{}, fault.Newf(fault.ErrUnauthenticated, "Replayed: this OIDC token was exchanged already; request a new token for each exchange.")
	}
	roles := identity.ConsoleRoleNames(x.user.Roles)
	return w.Issuer.Issue(ctx, token.Claims{Subject: x.user.ID, System: token.Console, Deployment: dep, Roles: roles, Name: x.user.Username,
		Generation: x.user.TokenGeneration, Workload: sessionClaims(dom, x.id), Lifetime: life})
}

// candidates are the CI domains the token is tried against: the one named, else those that
// trust the issuer the token names (read before anything is verified: the verifier checks it
// again, with the issuer's keys).
func (w workloadAPI) candidates(ctx context.Context, dep string, body WorkloadSessionRequest) ([]domains.Domain, error) {
	if body.Domain != "" {
		alias, ok := domains.NormalizeAlias(body.Domain)
		if !ok {
			return nil, fault.Newf(fault.ErrUnauthenticated, "Unknown domain: %q is not a domain alias.", fault.Clip(body.Domain, 40))
		}
		d, err := w.Store.DomainByAlias(ctx, dep, alias)
		switch {
		case errors.Is(err, fault.ErrNotFound):
			return nil, fault.Newf(fault.ErrUnauthenticated, "Unknown domain: no domain of this deployment has the alias %q.", alias)
		case err != nil:
			return nil, err
		case d.Kind != domains.CI || d.CI == nil:
			return nil, fault.Newf(fault.ErrUnauthenticated, "The domain %s is a %s domain, not a CI workload identity domain.", alias, d.Kind)
		}
		return []domains.Domain{d}, nil
	}
	issuer, err := unverifiedIssuer(body.Token)
	if err != nil {
		return nil, err
	}
	all, err := store.All(ctx, func(ctx context.Context, pr store.PageRequest) (store.Page[domains.Domain], error) {
		return w.Store.ListDomains(ctx, dep, pr)
	})
	if err != nil {
		return nil, err
	}
	var out []domains.Domain
	for _, d := range all {
		if d.Kind == domains.CI && d.CI != nil && d.CI.Issuer == issuer {
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		return nil, fault.Newf(fault.ErrUnauthenticated, "Wrong issuer: no CI domain of this deployment trusts the issuer %q of the OIDC token.", fault.Clip(issuer, 200))
	}
	// In alias order, so that which domain admits a token that several would does not depend
	// on the listing.
	sort.Slice(out, func(i, j int) bool { return out[i].Alias < out[j].Alias })
	return out, nil
}

// ruleUser is the console user the rule that admitted the job names (by user name, or by
// id): it must exist and be active.
func (w workloadAPI) ruleUser(ctx context.Context, dep string, d domains.Domain, id workload.Identity) (identity.ConsoleUser, error) {
	var u identity.ConsoleUser
	var err error
	if identity.KindOf(id.User) == identity.KindConsole {
		u, err = w.Store.GetConsoleUser(ctx, dep, id.User)
	} else if name, nerr := identity.NormalizeUsername(id.User); nerr != nil {
		err = fault.Newf(fault.ErrNotFound, "not a user name")
	} else {
		u, err = w.Store.ConsoleUserByUsername(ctx, dep, name)
	}
	switch {
	case errors.Is(err, fault.ErrNotFound):
		return identity.ConsoleUser{}, fault.Newf(fault.ErrUnauthenticated, "The user of rule %q of domain %s is missing: no console user is %q; ask a console admin to create it.",
			id.Rule, d.Alias, fault.Clip(id.User, 80))
	case err != nil:
		return identity.ConsoleUser{}, err
	case u.Status != identity.StatusActive:
		return identity.ConsoleUser{}, fault.Newf(fault.ErrUnauthenticated, "The user %q of rule %q of domain %s is %s; ask a console admin to enable it.",
			u.Username, id.Rule, d.Alias, u.Status)
	case !slices.Equal(u.Roles, []identity.ConsoleRole{identity.Signer}) || u.Role != "":
		// A job acts as a signer only: a user with console rights is not one a token that any
		// job of the matching repositories can get should act as.
		return identity.ConsoleUser{}, fault.Newf(fault.ErrUnauthenticated, "The user %q of rule %q of domain %s holds more than the signer role; a CI job acts only as a user whose one role is signer.",
			u.Username, id.Rule, d.Alias)
	}
	return u, nil
}

// sessionClaims are the job's claims the session carries to its events: workloadClaims and
// those the rule tests, each cut to maxWorkloadClaim bytes, within maxWorkloadClaims in all;
// and the rule, the domain and the issuer.
func sessionClaims(d domains.Domain, id workload.Identity) map[string]string {
	out := map[string]string{"rule": id.Rule, "domain": d.Alias, "issuer": fault.Clip(id.Issuer, maxWorkloadClaim)}
	size := 0
	for _, v := range out {
		size += len(v) + 8
	}
	names := slices.Clone(workloadClaims)
	var tested []string
	for _, r := range d.CI.Rules {
		if r.Name == id.Rule {
			for name := range r.Claims {
				tested = append(tested, name)
			}
		}
	}
	sort.Strings(tested)
	for _, name := range append(names, tested...) {
		v, ok := id.Claims[name]
		if _, dup := out[name]; !ok || dup {
			continue
		}
		v = fault.Clip(v, maxWorkloadClaim)
		if size+len(name)+len(v) > maxWorkloadClaims {
			break
		}
		out[name], size = v, size+len(name)+len(v)
	}
	return out
}

// record writes the exchange to the system log: granted, or refused with why (err's detail).
// A rate limit's refusal and a body that did not decode are not exchanges and never get here.
func (w workloadAPI) record(ctx context.Context, dep string, x *exchange, err error, from netip.Addr, now time.Time) error {
	e := tenant.LogEntry{At: now, Actor: "workload:" + x.subject, Section: tenant.SectionLogin}
	if from.IsValid() {
		e.SourceIP = from.Unmap().String()
	}
	if err == nil {
		e.Action, e.Object = actionWorkloadSession, x.user.Username
		var parts []string
		for _, k := range []string{"repository", "ref", "workflow", "environment", "run_id", "project_path", "pipeline_id"} {
			if v := x.id.Claims[k]; v != "" {
				parts = append(parts, k+"="+fault.Clip(v, 100))
			}
		}
		e.Detail = fmt.Sprintf("CI domain %s, rule %q: a session as %s until %s (%s)", x.domain, x.id.Rule, x.user.Username,
			x.expires.UTC().Format(time.RFC3339), strings.Join(parts, ", "))
	} else {
		e.Action, e.Object = actionWorkloadRefused, x.domain
		detail, ok := fault.DetailOf(err)
		var fields fault.Fields
		switch {
		case errors.As(err, &fields):
			detail = fields.Error()
		case !ok:
			detail = "the exchange failed on the server's side"
		}
		e.Detail = fault.Clip(detail, 1000)
	}
	return w.Store.AppendLog(ctx, dep, e)
}

// maxLoggedSubject is the longest subject, in characters, the log keeps as an actor.
const maxLoggedSubject = 200

// unverifiedSubject is the token's sub as sent, fit for the log's actor (no control
// characters, at most maxLoggedSubject characters), "unknown" without one. It is read before
// the token is verified: for a refused token it is only what the caller claims.
func unverifiedSubject(raw string) string {
	claims, err := unverifiedClaims(raw)
	if err != nil {
		return "unknown"
	}
	sub, _ := claims["sub"].(string)
	sub = strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(sub, "\uFFFD")))
	if sub == "" {
		return "unknown"
	}
	if rs := []rune(sub); len(rs) > maxLoggedSubject {
		sub = string(rs[:maxLoggedSubject]) + "…"
	}
	return sub
}

// unverifiedIssuer is the iss the token names, to choose the domains to try.
func unverifiedIssuer(raw string) (string, error) {
	claims, err := unverifiedClaims(raw)
	if err != nil {
		return "", err
	}
	iss, _ := claims["iss"].(string)
	if iss == "" {
		return "", fault.Newf(fault.ErrUnauthenticated, "The OIDC token names no issuer (iss).")
	}
	return iss, nil
}

// maxWorkloadToken bounds the token parsed before verification (the verifier's own bound).
const maxWorkloadToken = 16 << 10

// unverifiedClaims decodes the payload of a compact JWS without checking anything.
func unverifiedClaims(raw string) (map[string]any, error) {
	parts := strings.Split(raw, ".")
	if len(raw) > maxWorkloadToken || len(parts) != 3 {
		return nil, fault.Newf(fault.ErrUnauthenticated, "The OIDC token is not a JWT.")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, fault.Newf(fault.ErrUnauthenticated, "The OIDC token is not a JWT.")
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil || claims == nil {
		return nil, fault.Newf(fault.ErrUnauthenticated, "The OIDC token's claims are not a JSON object.")
	}
	return claims, nil
}

// addressKey is the rate-limit key part of a source address: an IPv6 address's /64, as a
// host usually holds all of it (login's rule).
func addressKey(from netip.Addr) string {
	if from.Is6() && !from.Is4In6() {
		return netip.PrefixFrom(from, 64).Masked().String()
	}
	return from.String()
}
