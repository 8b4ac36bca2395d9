package workload_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/oidcidp"
	"github.com/opensignum/signum/lib/safehttp"
	"github.com/opensignum/signum/lib/workload"
)

// TestSSRFLoopbackIssuer: with the service's HTTP client, a domain whose issuer is plain
// http on loopback (which Validate admits, for the local server) is refused with a 401 that
// says why, and no Retry-After, since waiting will not help; the local server's client
// reaches it.
func TestSSRFLoopbackIssuer(t *testing.T) {
	p := startIdP(t, oidcidp.Options{})
	raw := jobToken(t, p, oidcidp.Job{Repository: "acme/app"}, audience)
	d := domain(p.Issuer())

	_, err := workload.NewVerifier(workload.Options{HTTPClient: safehttp.New(safehttp.Options{})}).Verify(t.Context(), d, raw)
	wantUnauthenticated(t, "fail/loopback-http", err, `cannot be used: the service refused to fetch from `+p.Issuer()+`, the scheme "http"`, raw)
	if _, ok := fault.RetryAfter(err); ok {
		t.Errorf("a refusal says to retry: %v", err)
	}
	if !errors.Is(err, safehttp.ErrRefused) {
		t.Errorf("the cause is lost: %v", err)
	}

	id, err := workload.NewVerifier(workload.Options{HTTPClient: safehttp.New(safehttp.Options{AllowPrivate: true})}).Verify(t.Context(), d, raw)
	if err != nil || id.Rule != "deploy-main" {
		t.Fatalf("the local server's client: %+v %v", id, err)
	}
}

// TestSSRFDiscoveredKeys: an issuer at a public https address whose discovery document
// names a jwks_uri at an internal address (the instance metadata, the Lambda Runtime API, a
// name that resolves to loopback) is refused before anything connects there.
func TestSSRFDiscoveredKeys(t *testing.T) {
	const issuer = "https://issuer.example.test"
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, nil)
	if err != nil {
		t.Fatal(err)
	}
	claims, _ := json.Marshal(map[string]any{"iss": issuer, "aud": audience, "sub": "repo:acme/app:ref:refs/heads/main",
		"repository": "acme/app", "ref": "refs/heads/main", "exp": time.Now().Add(5 * time.Minute).Unix(), "iat": time.Now().Unix()})
	jws, err := signer.Sign(claims)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	d := domain(issuer)

	for name, c := range map[string]struct{ jwks, says string }{
		"fail/instance-metadata": {"https://169.254.169.254/latest/meta-data/iam/security-credentials/", "https://169.254.169.254, a link-local address"},
		"fail/runtime-api":       {"https://127.0.0.1:9001/2018-06-01/runtime/invocation/next", "https://127.0.0.1:9001, a loopback address"},
		"fail/vpc":               {"https://10.0.12.34/jwks-path", "https://10.0.12.34, a private address"},
		"fail/name-to-loopback":  {"https://localhost:9/jwks-path", "https://localhost:9, a loopback address"},
		"fail/plain-http":        {"http://keys.example.test/jwks-path", `http://keys.example.test, the scheme "http"`},
	} {
		sc := safehttp.New(safehttp.Options{})
		hc := &http.Client{Transport: publicIssuer{issuer: issuer, jwks: c.jwks, base: sc.Transport}, CheckRedirect: sc.CheckRedirect, Timeout: sc.Timeout}
		_, err := workload.NewVerifier(workload.Options{HTTPClient: hc}).Verify(t.Context(), d, raw)
		wantUnauthenticated(t, name, err, "the service refused to fetch from "+c.says, raw)
		if !errors.Is(err, safehttp.ErrRefused) {
			t.Errorf("%s: the cause is lost: %v", name, err)
		}
		// The detail a caller sees names the refused URL's origin only (the cause, for the
		// log, has http.Client's quote of the whole URL).
		if detail, _ := fault.DetailOf(err); strings.Contains(detail, "/latest") || strings.Contains(detail, "/2018-06-01") || strings.Contains(detail, "/jwks-path") {
			t.Errorf("%s: the detail names the path: %s", name, detail)
		}
	}
}

// publicIssuer answers the discovery of issuer, as if it were at a public address, with a
// document naming jwks; every other request goes to base.
type publicIssuer struct {
	issuer, jwks string
	base         http.RoundTripper
}

func (p publicIssuer) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.String() != p.issuer+"/.well-known/openid-configuration" {
		return p.base.RoundTrip(r)
	}
	doc, _ := json.Marshal(map[string]any{"issuer": p.issuer, "jwks_uri": p.jwks, "id_token_signing_alg_values_supported": []string{"ES256"}})
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(string(doc))), Request: r}, nil
}
