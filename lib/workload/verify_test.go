package workload_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/oidcidp"
	"github.com/opensignum/signum/lib/workload"
)

const audience = "https://signum.example.com"

func startIdP(t *testing.T, opts oidcidp.Options) *oidcidp.IdP {
	t.Helper()
	p, err := oidcidp.Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// jobToken runs a simulated job and requests its token the way the CLI does.
func jobToken(t *testing.T, p *oidcidp.IdP, job oidcidp.Job, aud string) string {
	t.Helper()
	req, err := p.RegisterJob(job)
	if err != nil {
		t.Fatal(err)
	}
	tok, ok, err := workload.FromGitHubActionsEnv(t.Context(), nil, aud, func(k string) string { return req.Env()[k] })
	if !ok || err != nil {
		t.Fatalf("FromGitHubActionsEnv: %v %v", ok, err)
	}
	return tok
}

func domain(issuer string) workload.Domain {
	return workload.Domain{
		Issuer:   issuer,
		Audience: audience,
		Rules: []workload.Rule{
			{Name: "deploy-main", User: "deployer", Claims: map[string]string{"repository": "acme/app", "ref": "refs/heads/main"}},
			{Name: "release-tags", User: "releaser", Claims: map[string]string{"repository": "acme/app", "ref": `refs/tags/v\d+\.\d+\.\d+`, "environment": "release"}},
		},
	}
}

// clock is a verifier clock a test can move.
type clock struct{ skew atomic.Int64 }

func (c *clock) now() time.Time      { return time.Now().Add(time.Duration(c.skew.Load())) }
func (c *clock) set(d time.Duration) { c.skew.Store(int64(d)) }
func newVerifier(c *clock) *workload.Verifier {
	return workload.NewVerifier(workload.Options{Now: c.now})
}

func wantUnauthenticated(t *testing.T, name string, err error, detail string, raw string) {
	t.Helper()
	if !errors.Is(err, fault.ErrUnauthenticated) {
		t.Errorf("%s: error %v is not unauthenticated", name, err)
		return
	}
	got, _ := fault.DetailOf(err)
	if !strings.Contains(got, detail) {
		t.Errorf("%s: detail %q, want it to contain %q", name, got, detail)
	}
	if raw != "" && (strings.Contains(err.Error(), raw) || strings.Contains(got, raw)) {
		t.Errorf("%s: the error echoes the token", name)
	}
}

func TestVerify(t *testing.T) {
	p := startIdP(t, oidcidp.Options{PathPrefix: "/gh"})
	var c clock
	v := newVerifier(&c)
	d := domain(p.Issuer())
	ctx := t.Context()

	// ok: the first rule.
	raw := jobToken(t, p, oidcidp.Job{Repository: "acme/app", Workflow: "deploy", Extra: map[string]any{"repository_id": 4242, "ref_protected": true}}, audience)
	id, err := v.Verify(ctx, d, raw)
	if err != nil {
		t.Fatal(err)
	}
	if id.Rule != "deploy-main" || id.User != "deployer" || id.Issuer != p.Issuer() || id.Subject != "repo:acme/app:ref:refs/heads/main" || id.TokenID == "" {
		t.Errorf("identity %+v", id)
	}
	if d := time.Until(id.Expiry); d < 4*time.Minute || d > 6*time.Minute {
		t.Errorf("expiry in %v", d)
	}
	for k, want := range map[string]string{
		"repository": "acme/app", "ref": "refs/heads/main", "workflow": "deploy", "sub": id.Subject,
		"event_name": "push", "actor": "acme", "repository_id": "4242", "ref_protected": "true",
		"job_workflow_ref": "acme/app/.github/workflows/build.yml@refs/heads/main",
	} {
		if id.Claims[k] != want {
			t.Errorf("claim %s = %q, want %q", k, id.Claims[k], want)
		}
	}
	for _, k := range []string{"sha", "run_id"} {
		if id.Claims[k] == "" {
			t.Errorf("claim %s missing", k)
		}
	}
	if _, ok := id.Claims["iss"]; ok {
		t.Error("registered claims copied")
	}

	// ok: the second rule, by regexp, on a tag with an environment; numbers and booleans
	// match in their JSON spelling.
	raw = jobToken(t, p, oidcidp.Job{Repository: "acme/app", Ref: "refs/tags/v1.20.3", Environment: "release"}, audience)
	if id, err := v.Verify(ctx, d, raw); err != nil || id.Rule != "release-tags" || id.User != "releaser" || id.Claims["environment"] != "release" {
		t.Errorf("release: %+v %v", id, err)
	}
	num := d
	num.Rules = []workload.Rule{{Name: "by-id", User: "u", Claims: map[string]string{"repository_id": "4242", "ref_protected": "true"}}}
	raw = jobToken(t, p, oidcidp.Job{Repository: "acme/app", Extra: map[string]any{"repository_id": 4242, "ref_protected": true}}, audience)
	if id, err := v.Verify(ctx, num, raw); err != nil || id.Rule != "by-id" {
		t.Errorf("number and boolean claims: %+v %v", id, err)
	}

	// ok: the first matching rule wins when several match.
	both := d
	both.Rules = []workload.Rule{
		{Name: "any-branch", User: "builder", Claims: map[string]string{"repository": "acme/app", "ref": "refs/heads/.+"}},
		d.Rules[0],
	}
	raw = jobToken(t, p, oidcidp.Job{Repository: "acme/app"}, audience)
	if id, err := v.Verify(ctx, both, raw); err != nil || id.Rule != "any-branch" {
		t.Errorf("order: %+v %v", id, err)
	}
	// An audience list that includes ours.
	if _, err := v.Verify(ctx, d, raw); err != nil {
		t.Errorf("again: %v", err)
	}
}

func TestVerifyRefusals(t *testing.T) {
	p := startIdP(t, oidcidp.Options{})
	other := startIdP(t, oidcidp.Options{})
	// forger claims p's issuer but signs with its own key.
	forger := startIdP(t, oidcidp.Options{PublicURL: "http://" + p.Addr()})
	if forger.Issuer() != p.Issuer() {
		t.Fatalf("forger issuer %s", forger.Issuer())
	}
	var c clock
	v := newVerifier(&c)
	d := domain(p.Issuer())
	ctx := t.Context()
	good := jobToken(t, p, oidcidp.Job{Repository: "acme/app"}, audience)

	for name, tc := range map[string]struct {
		d      workload.Domain
		raw    string
		skew   time.Duration
		detail string
	}{
		"fail/wrong-audience": {d, jobToken(t, p, oidcidp.Job{Repository: "acme/app"}, "https://other.example.com"), 0,
			`wrong audience: the OIDC token is for "https://other.example.com"; this domain wants "https://signum.example.com"`},
		"fail/default-audience": {d, jobToken(t, p, oidcidp.Job{Repository: "acme/app"}, ""), 0, `wrong audience: the OIDC token is for "https://github.com/acme"`},
		"fail/wrong-issuer": {d, jobToken(t, other, oidcidp.Job{Repository: "acme/app"}, audience), 0,
			`wrong issuer: the OIDC token is from "` + other.Issuer() + `"; this domain trusts "` + p.Issuer() + `"`},
		"fail/bad-signature": {d, forgedToken(t, forger), 0, "bad signature: the OIDC token's signature does not verify"},
		"fail/expired":       {d, good, 10 * time.Minute, "expired: the OIDC token expired at"},
		"fail/not-yet-valid": {d, good, -10 * time.Minute, "not yet valid: the OIDC token is valid from"},
		"fail/rule-mismatch": {d, jobToken(t, p, oidcidp.Job{Repository: "acme/app", Ref: "refs/heads/dev"}, audience), 0,
			`no rule matched: rule "deploy-main" wants ref to match "refs/heads/main", token has "refs/heads/dev"`},
		// The closest rule is the one with more matching claims, not the first.
		"fail/closest-rule": {d, jobToken(t, p, oidcidp.Job{Repository: "acme/app", Ref: "refs/tags/v1.0.0", Environment: "staging"}, audience), 0,
			`no rule matched: rule "release-tags" wants environment to match "release", token has "staging"`},
		"fail/missing-claim": {d, jobToken(t, p, oidcidp.Job{Repository: "acme/app", Ref: "refs/tags/v1.0.0"}, audience), 0,
			`no rule matched: rule "release-tags" wants environment to match "release", the token has no environment claim`},
		"fail/not-a-string": {d, jobToken(t, p, oidcidp.Job{Repository: "acme/app", Extra: map[string]any{"repository": []string{"acme/app"}}}, audience), 0,
			`wants repository to match "acme/app", the token's repository is not a string`},
		// A full match: a prefix or a suffix is not enough.
		"fail/partial-match": {d, jobToken(t, p, oidcidp.Job{Repository: "acme/app-fork"}, audience), 0,
			`rule "deploy-main" wants repository to match "acme/app", token has "acme/app-fork"`},
		"fail/missing":   {d, "", 0, "the OIDC token is missing"},
		"fail/garbage":   {d, "not-a-jwt", 0, "not a JWT signed with an asymmetric algorithm"},
		"fail/alg-none":  {d, unsigned("none", good), 0, "not a JWT signed with an asymmetric algorithm"},
		"fail/alg-hs256": {d, unsigned("HS256", good), 0, "not a JWT signed with an asymmetric algorithm"},
		"fail/too-long":  {d, strings.Repeat("a", 17<<10), 0, "longer than"},
	} {
		c.set(tc.skew)
		_, err := v.Verify(ctx, tc.d, tc.raw)
		wantUnauthenticated(t, name, err, tc.detail, tc.raw)
	}
}

// forgedToken gets a token from forger, which claims another's issuer: its request URL names
// that issuer's host, so the request goes to forger's own address.
func forgedToken(t *testing.T, forger *oidcidp.IdP) string {
	t.Helper()
	req, err := forger.RegisterJob(oidcidp.Job{Repository: "acme/app"})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(req.URL)
	u.Host = forger.Addr()
	tok, err := workload.RequestGitHubActionsToken(t.Context(), nil, u.String(), req.Token, audience)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// unsigned re-heads raw's payload with alg and a bogus signature.
func unsigned(alg, raw string) string {
	parts := strings.Split(raw, ".")
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"` + alg + `","typ":"JWT"}`))
	return h + "." + parts[1] + ".c2ln"
}

func TestVerifyIssuerDown(t *testing.T) {
	p, err := oidcidp.Start(t.Context(), oidcidp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	raw := jobToken(t, p, oidcidp.Job{Repository: "acme/app"}, audience)
	p.Close()
	_, err = workload.NewVerifier(workload.Options{}).Verify(t.Context(), domain(p.Issuer()), raw)
	if !errors.Is(err, fault.ErrUnavailable) || errors.Is(err, fault.ErrUnauthenticated) {
		t.Fatalf("issuer down: %v", err)
	}
	if _, ok := fault.RetryAfter(err); !ok {
		t.Errorf("no Retry-After: %v", err)
	}
}

func TestVerifyInvalidDomain(t *testing.T) {
	_, err := workload.NewVerifier(workload.Options{}).Verify(t.Context(), workload.Domain{Issuer: "http://example.com"}, "x")
	if err == nil || errors.Is(err, fault.ErrInvalid) || errors.Is(err, fault.ErrUnauthenticated) {
		t.Fatalf("invalid domain: %v (want a server error)", err)
	}
}

// countingTransport counts requests per path.
type countingTransport struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.n[r.URL.Path]++
	c.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func TestVerifyCachesKeysAndIsConcurrent(t *testing.T) {
	p := startIdP(t, oidcidp.Options{})
	q := startIdP(t, oidcidp.Options{})
	ct := &countingTransport{n: map[string]int{}}
	v := workload.NewVerifier(workload.Options{HTTPClient: &http.Client{Transport: ct}, MaxIssuers: 1})
	dp, dq := domain(p.Issuer()), domain(q.Issuer())
	rp := jobToken(t, p, oidcidp.Job{Repository: "acme/app"}, audience)
	rq := jobToken(t, q, oidcidp.Job{Repository: "acme/app"}, audience)

	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for range 20 {
		wg.Go(func() {
			if _, err := v.Verify(t.Context(), dp, rp); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	ct.mu.Lock()
	disc, jwks := ct.n["/.well-known/openid-configuration"], ct.n["/jwks"]
	ct.mu.Unlock()
	if disc != 1 || jwks != 1 {
		t.Errorf("20 concurrent verifications fetched discovery %d and JWKS %d times, want 1 and 1", disc, jwks)
	}
	// One issuer at most: the other issuer evicts it, and both keep verifying.
	for range 3 {
		for _, c := range []struct {
			d   workload.Domain
			raw string
		}{{dp, rp}, {dq, rq}} {
			wg.Go(func() {
				if _, err := v.Verify(context.Background(), c.d, c.raw); err != nil {
					errs <- err
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestFromGitHubActionsEnv(t *testing.T) {
	p := startIdP(t, oidcidp.Options{})
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	if tok, ok, err := workload.FromGitHubActionsEnv(t.Context(), nil, audience, getenv); ok || err != nil || tok != "" {
		t.Errorf("outside GitHub Actions: %q %v %v", tok, ok, err)
	}
	req, _ := p.RegisterJob(oidcidp.Job{Repository: "acme/app"})
	env = req.Env()
	env[workload.EnvGitHubRequestToken] = "wrong-request-token"
	tok, ok, err := workload.FromGitHubActionsEnv(t.Context(), nil, audience, getenv)
	if !ok || err == nil || tok != "" || strings.Contains(err.Error(), "wrong-request-token") || !strings.Contains(err.Error(), "401") {
		t.Errorf("wrong request token: %q %v %v", tok, ok, err)
	}
}
