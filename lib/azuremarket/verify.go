package azuremarket

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/marketplace"
)

// Leeway is the clock skew allowed between Entra ID and this service, on exp and nbf.
const Leeway = time.Minute

// The key cache's timing.
const (
	// keysTTL is how long the tenant's keys are used before they are fetched again, so that
	// a key Entra ID withdrew stops verifying.
	keysTTL = time.Hour
	// unknownKeyRefresh is how often a token signed by a key not in the cache may make the
	// keys be fetched again (Entra ID rolls its keys): at most once a minute, so that made-up
	// key ids cannot make the service hammer Entra ID.
	unknownKeyRefresh = time.Minute
	// failedKeysRetry is how long a failed fetch is not repeated.
	failedKeysRetry = 15 * time.Second
)

// maxBearer caps the token Verify parses: Entra ID's access tokens are 1 to 3 KiB; the cap
// bounds the work an unauthenticated caller can cause.
const maxBearer = 16 << 10

// Verifier checks the bearer token of the marketplace's webhook calls
// (marketplace.WebhookVerifier): an Entra ID access token that the marketplace's app
// requested from the publisher's tenant for the publisher's app. It is safe for concurrent
// use and meant to live as long as the process: it caches the tenant's signing keys.
type Verifier struct {
	cfg     Config
	keysURL string

	mu      sync.Mutex // held while the keys are fetched, so that callers share one fetch
	keys    []jose.JSONWebKey
	fetched time.Time // when keys were fetched; zero before the first success
	tried   time.Time // when a fetch was last attempted
	lastErr error
}

var _ marketplace.WebhookVerifier = (*Verifier)(nil)

// NewVerifier returns a Verifier for cfg's TenantID (whose keys sign the tokens, and the
// tokens' tid) and ClientID (the tokens' audience). The keys are fetched from
// <LoginBase>/<tenant>/discovery/v2.0/keys (Entra ID signs v1 and v2 tokens with the same
// keys), on first use.
func NewVerifier(cfg Config) (*Verifier, error) {
	cfg = cfg.withDefaults()
	tenant, ok := NormalizeGUID(cfg.TenantID)
	if !ok {
		return nil, errors.New("azuremarket: the tenant id is not a GUID")
	}
	if cfg.ClientID == "" {
		return nil, errors.New("azuremarket: the client id is required")
	}
	cfg.TenantID = tenant
	return &Verifier{cfg: cfg, keysURL: cfg.LoginBase + "/" + url.PathEscape(tenant) + "/discovery/v2.0/keys"}, nil
}

// Verify checks bearer (the token, or the whole "Bearer <token>" header value): an RS256 JWT
// signed by a key of the publisher's tenant; not expired and valid already (exp, nbf, with
// Leeway); aud the publisher's app (ClientID); tid the publisher's tenant; and azp (v2
// tokens) or appid (v1 tokens) the marketplace's app, MarketplaceAppID. The issuer is not
// compared: v1 and v2 tokens name it differently, and tid and the tenant's keys already say
// who issued it.
//
// A refusal is a fault.ErrUnauthenticated whose detail says which check failed, never the
// token. When the tenant's keys cannot be fetched at all the error is a fault.ErrUnavailable
// instead: the token may be fine, and a 4xx would make the marketplace reject a plan change
// rather than deliver it again.
func (v *Verifier) Verify(ctx context.Context, bearer string) error {
	raw := strings.TrimSpace(bearer)
	if scheme, rest, _ := strings.Cut(raw, " "); strings.EqualFold(scheme, "bearer") {
		raw = strings.TrimSpace(rest)
	}
	switch {
	case raw == "":
		return unauthenticated("the webhook call has no bearer token")
	case len(raw) > maxBearer:
		return unauthenticated("the webhook's bearer token is longer than %d bytes", maxBearer)
	}
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return fault.Wrap(fault.ErrUnauthenticated, err, "the webhook's bearer token is not a JWT signed with RS256")
	}
	if len(jws.Signatures) != 1 {
		return unauthenticated("the webhook's bearer token must carry exactly one signature")
	}
	kid := jws.Signatures[0].Header.KeyID
	if kid == "" {
		return unauthenticated("the webhook's bearer token names no signing key (kid)")
	}
	keys, err := v.keysFor(ctx, kid)
	if err != nil {
		return err
	}
	var payload []byte
	verified := false
	for _, k := range keys {
		if payload, err = jws.Verify(k); err == nil {
			verified = true
			break
		}
	}
	if !verified {
		return fault.Wrap(fault.ErrUnauthenticated, err, "bad signature: the webhook's bearer token does not verify with the tenant's key")
	}
	return v.checkClaims(payload)
}

func (v *Verifier) checkClaims(payload []byte) error {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil || claims == nil {
		return unauthenticated("the webhook's bearer token's claims are not a JSON object")
	}
	now := v.cfg.Now()
	exp, ok := numericDate(claims["exp"])
	switch {
	case !ok:
		return unauthenticated("the webhook's bearer token has no valid exp claim")
	case now.After(exp.Add(Leeway)):
		return unauthenticated("expired: the webhook's bearer token expired at %s", exp.UTC().Format(time.RFC3339))
	}
	if _, present := claims["nbf"]; present {
		nbf, ok := numericDate(claims["nbf"])
		switch {
		case !ok:
			return unauthenticated("the webhook's bearer token's nbf claim is not a time")
		case now.Add(Leeway).Before(nbf):
			return unauthenticated("not yet valid: the webhook's bearer token is valid from %s", nbf.UTC().Format(time.RFC3339))
		}
	}
	if !audienceHas(claims["aud"], v.cfg.ClientID) {
		return unauthenticated("wrong audience: the webhook's bearer token is not for app %s", v.cfg.ClientID)
	}
	if tid, _ := claims["tid"].(string); !strings.EqualFold(strings.TrimSpace(tid), v.cfg.TenantID) {
		return unauthenticated("wrong tenant: the webhook's bearer token is not from tenant %s", v.cfg.TenantID)
	}
	// v2 tokens name the client in azp, v1 tokens in appid; each one present must be the
	// marketplace's app, and one must be.
	named := false
	for _, c := range []string{"azp", "appid"} {
		val, present := claims[c]
		if !present {
			continue
		}
		s, _ := val.(string)
		if !strings.EqualFold(strings.TrimSpace(s), MarketplaceAppID) {
			return unauthenticated("wrong client: the webhook's bearer token was not requested by the marketplace's app (%s)", c)
		}
		named = true
	}
	if !named {
		return unauthenticated("the webhook's bearer token names no client application (azp or appid)")
	}
	return nil
}

// keysFor returns the tenant's keys with key id kid, fetching the key set when the cache is
// empty or older than keysTTL, or (at most once per unknownKeyRefresh) when it has no such
// key. A failed fetch keeps the keys fetched before.
func (v *Verifier) keysFor(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.cfg.Now()
	refreshed := false
	if stale := v.fetched.IsZero() || now.Sub(v.fetched) >= keysTTL || now.Before(v.fetched); stale && v.mayTry(now, failedKeysRetry) {
		v.refresh(ctx, now)
		refreshed = true
	}
	if ks := v.lookup(kid); len(ks) > 0 {
		return ks, nil
	}
	if !refreshed && v.mayTry(now, unknownKeyRefresh) {
		v.refresh(ctx, now)
		if ks := v.lookup(kid); len(ks) > 0 {
			return ks, nil
		}
	}
	if v.fetched.IsZero() {
		return nil, fault.RetryLater(fault.Wrap(fault.ErrUnavailable, v.lastErr, "the publisher tenant's signing keys could not be fetched; try again later"), failedKeysRetry)
	}
	return nil, unauthenticated("unknown key: the webhook's bearer token is signed by a key the tenant does not publish")
}

func (v *Verifier) mayTry(now time.Time, gap time.Duration) bool {
	return v.tried.IsZero() || now.Sub(v.tried) >= gap || now.Before(v.tried)
}

func (v *Verifier) lookup(kid string) []jose.JSONWebKey {
	var out []jose.JSONWebKey
	for _, k := range v.keys {
		if k.KeyID == kid {
			out = append(out, k)
		}
	}
	return out
}

// refresh fetches the key set; the lock is held.
func (v *Verifier) refresh(ctx context.Context, now time.Time) {
	v.tried = now
	keys, err := v.fetchKeys(ctx)
	if err != nil {
		v.lastErr = err
		return
	}
	v.keys, v.fetched, v.lastErr = keys, now, nil
}

// fetchKeys reads the JWKS, keeping the RSA signing keys and skipping any it cannot read, so
// that one key of a new type does not make the others unusable.
func (v *Verifier) fetchKeys(ctx context.Context) ([]jose.JSONWebKey, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.keysURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", v.keysURL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", v.keysURL, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch %s: answered %d", v.keysURL, resp.StatusCode)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("fetch %s: not a JSON web key set: %w", v.keysURL, err)
	}
	var keys []jose.JSONWebKey
	for _, raw := range set.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil || k.KeyID == "" || (k.Use != "" && k.Use != "sig") {
			continue
		}
		if _, ok := k.Key.(*rsa.PublicKey); !ok {
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("fetch %s: the key set has no RSA signing key", v.keysURL)
	}
	return keys, nil
}

func unauthenticated(format string, args ...any) error {
	return fault.Newf(fault.ErrUnauthenticated, format, args...)
}

// audienceHas reports whether aud (a string or an array of strings) names want.
func audienceHas(aud any, want string) bool {
	switch a := aud.(type) {
	case string:
		return strings.EqualFold(strings.TrimSpace(a), want)
	case []any:
		for _, e := range a {
			if s, ok := e.(string); ok && strings.EqualFold(strings.TrimSpace(s), want) {
				return true
			}
		}
	}
	return false
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
