package workload

import (
	"bytes"
	"context"
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

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/safehttp"
)

// Identity is who a verified workload token says the job is, and the rule that let it in.
type Identity struct {
	// Rule is the name of the rule that matched; User the console user it names.
	Rule string
	User string
	// Issuer and Subject are the token's iss and sub.
	Issuer  string
	Subject string
	// TokenID is the token's jti, "" when it has none: a caller that wants to refuse a
	// replayed token within its lifetime records it until Expiry.
	TokenID string
	Expiry  time.Time
	// Claims are the job's claims worth recording on events: those of KnownClaims the token
	// has, and every claim a rule of the domain tests, as strings (numbers and booleans in
	// their JSON spelling), each at most 1 KiB.
	Claims map[string]string
}

// Options configure a Verifier. Zero values mean the defaults in the comments.
type Options struct {
	// HTTPClient fetches discovery documents and key sets (default: a client with a
	// 10-second timeout). The service gives it a safehttp client, so that an issuer (or the
	// jwks_uri its discovery document names) cannot make it fetch from loopback, private or
	// link-local addresses; Verify reports that client's refusals as such.
	HTTPClient *http.Client
	// Now is the clock tokens are checked against (default time.Now).
	Now func() time.Time
	// MaxIssuers bounds the issuers whose keys are cached (default 64); the least recently
	// fetched goes first.
	MaxIssuers int
	// KeysTTL is how long an issuer's discovery document and keys are trusted before they are
	// fetched again (default 1 hour), so that a key the issuer withdrew stops verifying. A
	// token signed by a key not yet seen makes the key set refresh at once.
	KeysTTL time.Duration
}

// Leeway is the clock skew allowed between the issuer and the verifier, on exp, nbf and iat.
const Leeway = time.Minute

// maxTokenLen caps the token Verify parses: CI tokens are 1 to 2 KiB; the cap bounds the work
// an unauthenticated caller can cause.
const maxTokenLen = 16 << 10

// failedDiscoveryTTL is how long a failed discovery is remembered, so that requests naming an
// unreachable issuer do not each wait for it.
const failedDiscoveryTTL = 15 * time.Second

// algorithms are the signature algorithms accepted: the asymmetric ones OIDC issuers use.
// "none" and HMAC are refused, so that no one can forge a token with the public key.
var algorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
}

// Verifier checks workload tokens against Domains. It is safe for concurrent use and meant to
// live as long as the process: it caches each issuer's keys (go-oidc's RemoteKeySet).
type Verifier struct {
	client     *http.Client
	now        func() time.Time
	maxIssuers int
	keysTTL    time.Duration

	mu      sync.Mutex
	issuers map[string]*issuerKeys
}

type issuerKeys struct {
	ready   chan struct{} // closed when keys or err is set
	keys    *oidc.RemoteKeySet
	err     error
	fetched time.Time
}

// NewVerifier returns a Verifier with opts.
func NewVerifier(opts Options) *Verifier {
	v := &Verifier{client: opts.HTTPClient, now: opts.Now, maxIssuers: opts.MaxIssuers, keysTTL: opts.KeysTTL, issuers: map[string]*issuerKeys{}}
	if v.client == nil {
		v.client = &http.Client{Timeout: 10 * time.Second}
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.maxIssuers <= 0 {
		v.maxIssuers = 64
	}
	if v.keysTTL <= 0 {
		v.keysTTL = time.Hour
	}
	return v
}

// Verify checks rawToken for domain d, in this order: it is a signed JWT; its iss is
// d.Issuer; its signature verifies with the issuer's published keys; its aud includes
// d.Audience; it has not expired, and is valid already (nbf, iat), with Leeway; and a rule
// of d matches its claims. It returns the identity of the first matching rule.
//
// Every refusal is a fault.ErrUnauthenticated whose detail says which check failed, for the
// caller to show; for a claim rule it names the rule closest to matching and its first claim
// that failed. The detail never contains the token, only claim values. When the issuer's keys
// cannot be fetched the error is a fault.ErrUnavailable instead: the token may be fine; but
// when the HTTP client refused the fetch (safehttp: a private address, or not https), it is a
// fault.ErrUnauthenticated saying so, as waiting will not help: the domain must change. A d
// that does not Validate is a server error (plain error).
func (v *Verifier) Verify(ctx context.Context, d Domain, rawToken string) (Identity, error) {
	if err := d.Validate(); err != nil {
		return Identity{}, fmt.Errorf("workload: the domain for issuer %q is not valid: %v", d.Issuer, err)
	}
	switch {
	case rawToken == "":
		return Identity{}, unauthenticated("the OIDC token is missing")
	case len(rawToken) > maxTokenLen:
		return Identity{}, unauthenticated("the OIDC token is longer than %d bytes", maxTokenLen)
	}
	jws, err := jose.ParseSigned(rawToken, algorithms)
	if err != nil {
		return Identity{}, fault.Wrap(fault.ErrUnauthenticated, err, "the OIDC token is not a JWT signed with an asymmetric algorithm")
	}
	if len(jws.Signatures) != 1 {
		return Identity{}, unauthenticated("the OIDC token must carry exactly one signature")
	}
	// The issuer is read before the signature is checked, to know whose keys to use: keys
	// are only ever fetched for the domain's issuer, never for one a token names.
	unverified, err := decodeClaims(jws.UnsafePayloadWithoutVerification())
	if err != nil {
		return Identity{}, err
	}
	if iss, _ := unverified["iss"].(string); iss != d.Issuer {
		return Identity{}, unauthenticated("wrong issuer: the OIDC token is from %q; this domain trusts %q", fault.Clip(iss, 200), d.Issuer)
	}
	keys, err := v.keySet(ctx, d.Issuer)
	if err != nil {
		return Identity{}, err
	}
	payload, err := keys.VerifySignature(ctx, rawToken)
	if err != nil {
		// go-oidc wraps (%w) only a failure to fetch the keys; a signature that matches no
		// key is a plain error.
		if errors.Unwrap(err) != nil {
			v.forget(d.Issuer)
			if rerr := refused(d.Issuer, err); rerr != nil {
				return Identity{}, rerr
			}
			return Identity{}, fault.RetryLater(fault.Wrap(fault.ErrUnavailable, err, "the OIDC issuer's keys could not be fetched; try again later"), 10*time.Second)
		}
		return Identity{}, fault.Wrap(fault.ErrUnauthenticated, err, "bad signature: the OIDC token's signature does not verify with the issuer's published keys")
	}
	claims, err := decodeClaims(payload)
	if err != nil {
		return Identity{}, err
	}
	if iss, _ := claims["iss"].(string); iss != d.Issuer { // the same payload; checked again to not depend on it
		return Identity{}, unauthenticated("wrong issuer: the OIDC token is from %q; this domain trusts %q", fault.Clip(iss, 200), d.Issuer)
	}
	aud, ok := audiences(claims["aud"])
	if !ok || !slices.Contains(aud, d.Audience) {
		return Identity{}, unauthenticated("wrong audience: the OIDC token is for %s; this domain wants %q", quoteList(aud), d.Audience)
	}
	now := v.now()
	exp, ok := numericDate(claims["exp"])
	switch {
	case !ok:
		return Identity{}, unauthenticated("the OIDC token has no valid exp claim")
	case now.After(exp.Add(Leeway)):
		return Identity{}, unauthenticated("expired: the OIDC token expired at %s; request a new one", exp.UTC().Format(time.RFC3339))
	}
	for _, c := range []string{"nbf", "iat"} {
		if _, present := claims[c]; !present {
			continue
		}
		t, ok := numericDate(claims[c])
		switch {
		case !ok:
			return Identity{}, unauthenticated("the OIDC token's %s claim is not a time", c)
		case now.Add(Leeway).Before(t):
			return Identity{}, unauthenticated("not yet valid: the OIDC token is valid from %s; check the clocks", t.UTC().Format(time.RFC3339))
		}
	}
	rule, err := match(d.Rules, claims)
	if err != nil {
		return Identity{}, err
	}
	id := Identity{Rule: rule.Name, User: rule.User, Issuer: d.Issuer, Expiry: exp, Claims: map[string]string{}}
	id.Subject, _ = claims["sub"].(string)
	id.TokenID, _ = claims["jti"].(string)
	record := slices.Clone(KnownClaims)
	for _, r := range d.Rules {
		for name := range r.Claims {
			record = append(record, name)
		}
	}
	for _, name := range record {
		if s, ok := claimString(claims[name]); ok {
			id.Claims[name] = fault.Clip(s, 1024)
		}
	}
	return id, nil
}

// match returns the first rule all of whose claims match, or an error naming the rule that
// came closest (the most matching claims; the earliest on a tie) and its first failing claim.
func match(rules []Rule, claims map[string]any) (Rule, error) {
	bestMatched, bestDetail := -1, ""
	for _, r := range rules {
		matched, detail := 0, ""
		for _, name := range sortedKeys(r.Claims) {
			pattern := r.Claims[name]
			re, err := compile(pattern)
			if err != nil { // Validate compiled it
				return Rule{}, fmt.Errorf("workload: rule %q: %w", r.Name, err)
			}
			val, present := claims[name]
			s, ok := claimString(val)
			switch {
			case ok && re.MatchString(s):
				matched++
				continue
			case detail != "":
			case !present:
				detail = fmt.Sprintf("rule %q wants %s to match %q, the token has no %s claim", r.Name, name, pattern, name)
			case !ok:
				detail = fmt.Sprintf("rule %q wants %s to match %q, the token's %s is not a string", r.Name, name, pattern, name)
			default:
				detail = fmt.Sprintf("rule %q wants %s to match %q, token has %q", r.Name, name, pattern, fault.Clip(s, 200))
			}
		}
		if detail == "" {
			return r, nil
		}
		if matched > bestMatched {
			bestMatched, bestDetail = matched, detail
		}
	}
	return Rule{}, unauthenticated("no rule matched: %s", bestDetail)
}

func unauthenticated(format string, args ...any) error {
	return fault.Newf(fault.ErrUnauthenticated, format, args...)
}

func decodeClaims(payload []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil || claims == nil {
		return nil, fault.Wrap(fault.ErrUnauthenticated, err, "the OIDC token's claims are not a JSON object")
	}
	return claims, nil
}

// claimString is a claim's value as a rule sees it: strings as they are, numbers and booleans
// in their JSON spelling (GitLab's ids are strings, other issuers' may be numbers). Arrays and
// objects have no single value to match.
func claimString(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case bool:
		if v {
			return "true", true
		}
		return "false", true
	}
	return "", false
}

func audiences(v any) ([]string, bool) {
	switch v := v.(type) {
	case string:
		return []string{v}, true
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	}
	return nil, false
}

func quoteList(l []string) string {
	if len(l) == 0 {
		return "no audience"
	}
	q := make([]string, 0, min(len(l), 5))
	for _, s := range l[:min(len(l), 5)] {
		q = append(q, fmt.Sprintf("%q", fault.Clip(s, 100)))
	}
	return strings.Join(q, ", ")
}

func numericDate(v any) (time.Time, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, false
	}
	f, err := n.Float64()
	if err != nil || f < 0 || f > 1e11 {
		return time.Time{}, false
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)), true
}

// keySet returns the issuer's key set, discovering its jwks_uri on first use and again after
// KeysTTL. Concurrent first uses share one discovery.
func (v *Verifier) keySet(ctx context.Context, issuer string) (*oidc.RemoteKeySet, error) {
	now := v.now()
	v.mu.Lock()
	e := v.issuers[issuer]
	if e != nil {
		select {
		case <-e.ready:
			ttl := v.keysTTL
			if e.err != nil {
				ttl = failedDiscoveryTTL
			}
			if now.Sub(e.fetched) >= ttl || now.Before(e.fetched) {
				e = nil
			}
		default: // being fetched: wait for it below
		}
	}
	if e == nil {
		e = &issuerKeys{ready: make(chan struct{})}
		v.evictLocked()
		v.issuers[issuer] = e
		go v.discover(issuer, e)
	}
	v.mu.Unlock()
	select {
	case <-ctx.Done():
		return nil, fault.Wrap(fault.ErrUnavailable, ctx.Err(), "the OIDC issuer's keys could not be fetched in time; try again later")
	case <-e.ready:
	}
	if e.err != nil {
		if rerr := refused(issuer, e.err); rerr != nil {
			return nil, rerr
		}
		return nil, fault.RetryLater(fault.Wrap(fault.ErrUnavailable, e.err, "the OIDC issuer's discovery document could not be fetched or does not match the issuer; try again later"), failedDiscoveryTTL)
	}
	return e.keys, nil
}

// discover fetches the issuer's discovery document, on a context of its own: it serves every
// caller waiting for it, so no single caller's cancellation may end it.
func (v *Verifier) discover(issuer string, e *issuerKeys) {
	ctx, cancel := context.WithTimeout(oidc.ClientContext(context.Background(), v.client), 30*time.Second)
	defer cancel()
	defer close(e.ready)
	e.fetched = v.now()
	p, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		e.err = err
		return
	}
	var meta struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := p.Claims(&meta); err != nil || meta.JWKSURI == "" {
		e.err = fmt.Errorf("discovery document of %s has no jwks_uri", issuer)
		return
	}
	e.keys = oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), v.client), meta.JWKSURI)
}

// refused is the refusal to show when err is the HTTP client's refusal to fetch from an
// address or with a scheme (lib/safehttp), else nil. It names the refused URL's scheme and
// host and why, never the address a name resolved to.
func refused(issuer string, err error) error {
	var re *safehttp.RefusedError
	if !errors.As(err, &re) {
		return nil
	}
	return fault.Wrap(fault.ErrUnauthenticated, err, fmt.Sprintf("the OIDC issuer %q cannot be used: the service refused to fetch from %s, %s; "+
		"the issuer, and the jwks_uri of its discovery document, must be https URLs at public addresses", issuer, orIssuer(re.URL, issuer), re.Reason))
}

func orIssuer(u, issuer string) string {
	if u == "" {
		return issuer
	}
	return u
}

// forget drops the issuer's cached keys after a failed fetch, so that the next request
// discovers again.
func (v *Verifier) forget(issuer string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if e := v.issuers[issuer]; e != nil {
		select {
		case <-e.ready:
			delete(v.issuers, issuer)
		default:
		}
	}
}

// evictLocked makes room for one more issuer by dropping the least recently fetched.
func (v *Verifier) evictLocked() {
	for len(v.issuers) >= v.maxIssuers {
		var oldest string
		var at time.Time
		for iss, e := range v.issuers {
			select {
			case <-e.ready:
			default:
				continue // being fetched; others wait for it
			}
			if oldest == "" || e.fetched.Before(at) {
				oldest, at = iss, e.fetched
			}
		}
		if oldest == "" {
			return
		}
		delete(v.issuers, oldest)
	}
}
