package azuremarket_test

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/azuremarket"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/marketstandin"
)

// wantRefused checks that err is a 401 whose detail says detail and does not repeat token.
func wantRefused(t *testing.T, name string, err error, detail, token string) {
	t.Helper()
	if !errors.Is(err, fault.ErrUnauthenticated) {
		t.Errorf("%s: error %v, want unauthenticated", name, err)
		return
	}
	got, _ := fault.DetailOf(err)
	if !strings.Contains(got, detail) {
		t.Errorf("%s: detail %q, want it to say %q", name, got, detail)
	}
	if len(token) > 20 && (strings.Contains(err.Error(), token) || strings.Contains(got, token)) {
		t.Errorf("%s: the error repeats the token", name)
	}
}

func (s *stack) keysPath() string { return "/login/" + s.azure.TenantID() + "/discovery/v2.0/keys" }

func TestVerifier(t *testing.T) {
	s := newStack(t)
	ctx := t.Context()
	now := s.clock.now()
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tok := func(o marketstandin.AzureWebhookTokenOptions) string { return s.azure.WebhookToken(o) }

	for name, bearer := range map[string]string{
		"ok/v2":                tok(marketstandin.AzureWebhookTokenOptions{}),
		"ok/v1-appid":          tok(marketstandin.AzureWebhookTokenOptions{V1: true}),
		"ok/header-value":      "Bearer " + tok(marketstandin.AzureWebhookTokenOptions{}),
		"ok/lower-bearer":      "bearer  " + tok(marketstandin.AzureWebhookTokenOptions{}),
		"ok/expired-in-leeway": tok(marketstandin.AzureWebhookTokenOptions{Expires: now.Add(-30 * time.Second)}),
		"ok/nbf-in-leeway":     tok(marketstandin.AzureWebhookTokenOptions{NotBefore: now.Add(30 * time.Second)}),
		"ok/ids-upper-case":    tok(marketstandin.AzureWebhookTokenOptions{Audience: strings.ToUpper(s.azure.ClientID()), TenantID: strings.ToUpper(s.azure.TenantID())}),
	} {
		if err := s.verifier.Verify(ctx, bearer); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}

	good := tok(marketstandin.AzureWebhookTokenOptions{})
	parts := strings.Split(good, ".")
	otherClaims := strings.Split(tok(marketstandin.AzureWebhookTokenOptions{TenantID: "11111111-2222-4333-8444-555555555555"}), ".")[1]
	// Another base64url character in the signature (a flipped bit could leave the alphabet,
	// and the token would not even parse).
	sig := []byte(parts[2])
	if sig[10] == 'A' {
		sig[10] = 'B'
	} else {
		sig[10] = 'A'
	}
	for name, c := range map[string]struct {
		bearer, detail string
	}{
		"fail/bad-signature":       {parts[0] + "." + parts[1] + "." + string(sig), "bad signature"},
		"fail/swapped-claims":      {parts[0] + "." + otherClaims + "." + parts[2], "bad signature"},
		"fail/expired":             {tok(marketstandin.AzureWebhookTokenOptions{Expires: now.Add(-2 * time.Minute)}), "expired"},
		"fail/not-yet-valid":       {tok(marketstandin.AzureWebhookTokenOptions{NotBefore: now.Add(5 * time.Minute)}), "not yet valid"},
		"fail/wrong-aud":           {tok(marketstandin.AzureWebhookTokenOptions{Audience: "api://someone-else"}), "wrong audience"},
		"fail/no-aud":              {tok(marketstandin.AzureWebhookTokenOptions{Audience: "-"}), "wrong audience"},
		"fail/wrong-tid":           {tok(marketstandin.AzureWebhookTokenOptions{TenantID: "11111111-2222-4333-8444-555555555555"}), "wrong tenant"},
		"fail/no-tid":              {tok(marketstandin.AzureWebhookTokenOptions{TenantID: "-"}), "wrong tenant"},
		"fail/wrong-azp":           {tok(marketstandin.AzureWebhookTokenOptions{AZP: "99999999-0000-4000-8000-000000000000"}), "wrong client"},
		"fail/wrong-appid":         {tok(marketstandin.AzureWebhookTokenOptions{V1: true, AppID: "99999999-0000-4000-8000-000000000000"}), "wrong client"},
		"fail/azp-ok-appid-wrong":  {tok(marketstandin.AzureWebhookTokenOptions{AppID: "99999999-0000-4000-8000-000000000000"}), "wrong client"},
		"fail/no-azp-no-appid":     {tok(marketstandin.AzureWebhookTokenOptions{AZP: "-"}), "names no client application"},
		"fail/unknown-kid":         {tok(marketstandin.AzureWebhookTokenOptions{Key: other}), "unknown key"},
		"fail/other-key-known-kid": {tok(marketstandin.AzureWebhookTokenOptions{Key: other, KeyID: s.azure.KeyID()}), "bad signature"},
		"fail/alg-none":            {tok(marketstandin.AzureWebhookTokenOptions{Alg: "none"}), "not a JWT signed with RS256"},
		"fail/alg-hs256":           {tok(marketstandin.AzureWebhookTokenOptions{Alg: "HS256"}), "not a JWT signed with RS256"},
		"fail/no-kid":              {tok(marketstandin.AzureWebhookTokenOptions{KeyID: "-"}), ""},
		"fail/empty":               {"", "no bearer token"},
		"fail/bearer-only":         {"Bearer ", "no bearer token"},
		"fail/garbage":             {"not.a.jwt", "not a JWT"},
		"fail/too-long":            {strings.Repeat("a", 17<<10), "longer than"},
	} {
		wantRefused(t, name, s.verifier.Verify(ctx, c.bearer), c.detail, c.bearer)
	}
	// One fetch of the keys served all of these (made-up key ids are rate limited).
	if n := s.count(http.MethodGet, s.keysPath()); n != 1 {
		t.Errorf("%d key fetches, want 1", n)
	}
}

func TestVerifierKeyRotation(t *testing.T) {
	s := newStack(t)
	ctx := t.Context()
	verify := func(name string) {
		t.Helper()
		if err := s.verifier.Verify(ctx, s.azure.WebhookToken(marketstandin.AzureWebhookTokenOptions{})); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	fetches := func(want int, when string) {
		t.Helper()
		if n := s.count(http.MethodGet, s.keysPath()); n != want {
			t.Errorf("%d key fetches %s, want %d", n, when, want)
		}
	}
	verify("first")
	// Within the hour, the cached keys serve.
	s.clock.add(30 * time.Minute)
	verify("cached")
	fetches(1, "within the hour")
	// A token of a new key makes the keys be fetched again...
	s.azure.RotateKey()
	verify("rolled")
	fetches(2, "after a roll")
	// ...but not within a minute of the last fetch.
	s.azure.RotateKey()
	rolled := s.azure.WebhookToken(marketstandin.AzureWebhookTokenOptions{})
	wantRefused(t, "fail/rolled-too-soon", s.verifier.Verify(ctx, rolled), "unknown key", rolled)
	fetches(2, "after a second roll within a minute")
	s.clock.add(61 * time.Second)
	verify("rolled after a minute")
	fetches(3, "a minute after the second roll")
	// The keys are fetched again an hour after the last fetch.
	s.clock.add(time.Hour)
	verify("after an hour")
	fetches(4, "after an hour")
	// When that fetch fails, the keys fetched before still verify.
	s.clock.add(time.Hour)
	s.azure.FailNext(s.keysPath(), 1)
	verify("stale keys during an outage")
	fetches(5, "during an outage")
}

func TestVerifierKeysUnavailable(t *testing.T) {
	s := newStack(t)
	ctx := t.Context()
	tok := s.azure.WebhookToken(marketstandin.AzureWebhookTokenOptions{})
	s.azure.FailNext(s.keysPath(), 100)
	err := s.verifier.Verify(ctx, tok)
	if !errors.Is(err, fault.ErrUnavailable) || errors.Is(err, fault.ErrUnauthenticated) {
		t.Fatalf("keys down: %v", err)
	}
	// A failed fetch is not repeated for 15 seconds.
	for range 5 {
		_ = s.verifier.Verify(ctx, tok)
	}
	if n := s.count(http.MethodGet, s.keysPath()); n != 1 {
		t.Errorf("%d key fetches while down, want 1", n)
	}
	s.azure.FailNext(s.keysPath(), 0)
	s.clock.add(16 * time.Second)
	if err := s.verifier.Verify(ctx, tok); err != nil {
		t.Errorf("keys back: %v", err)
	}
}

func TestNewVerifierConfig(t *testing.T) {
	for name, cfg := range map[string]azuremarket.Config{
		"fail/tenant": {TenantID: "contoso.onmicrosoft.com", ClientID: "a"},
		"fail/client": {TenantID: marketstandin.AzureTenantID},
	} {
		if _, err := azuremarket.NewVerifier(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
