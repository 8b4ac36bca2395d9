package console

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"unicode"

	"github.com/opensignum/signum/lib/domains"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/workload"
)

// FuzzUnverifiedClaims: what the exchange reads of a token before verifying it (its issuer,
// to pick domains, and its subject, for the log's actor) never panics, refuses anything but
// a JWT with a 401, and gives the log a subject without control characters, at most
// maxLoggedSubject characters (and an ellipsis) long.
func FuzzUnverifiedClaims(f *testing.F) {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, payload := range []string{`{"iss":"https://token.actions.githubusercontent.com","sub":"repo:acme/app:ref:refs/heads/main"}`,
		`{"sub":"a\u0000b\nc"}`, `{"iss":7}`, `[]`, `null`, `{"sub":"` + strings.Repeat("é", 300) + `"}`} {
		f.Add(enc(`{"alg":"RS256"}`) + "." + enc(payload) + ".c2ln")
	}
	f.Add("not-a-token")
	f.Add("..")
	f.Fuzz(func(t *testing.T, raw string) {
		if iss, err := unverifiedIssuer(raw); err != nil && !errors.Is(err, fault.ErrUnauthenticated) {
			t.Fatalf("issuer of %q: %v", raw, err)
		} else if err == nil && iss == "" {
			t.Fatal("an empty issuer is accepted")
		}
		sub := unverifiedSubject(raw)
		if sub == "" || strings.IndexFunc(sub, unicode.IsControl) >= 0 || len([]rune(sub)) > maxLoggedSubject+1 {
			t.Fatalf("subject %q of %q", sub, raw)
		}
	})
}

// A session carries the listed claims and those its rule tests, each cut, within the bound,
// with the rule, the domain and the issuer; claims no one asked for stay out.
func TestSessionClaims(t *testing.T) {
	d := domains.Domain{Alias: "gha", CI: &domains.CISettings{Rules: []domains.CIRule{
		{Name: "release", Claims: map[string]string{"repository": "acme/app", "repository_owner_id": "42"}},
		{Name: "other", Claims: map[string]string{"runner_environment": "self-hosted"}},
	}}}
	id := workload.Identity{Rule: "release", Issuer: "https://token.actions.githubusercontent.com", Claims: map[string]string{
		"repository": "acme/app", "ref": strings.Repeat("r", 1000), "repository_owner_id": "42", "runner_environment": "github-hosted", "run_attempt": "1"}}
	got := sessionClaims(d, id)
	if got["rule"] != "release" || got["domain"] != "gha" || got["issuer"] != id.Issuer || got["repository"] != "acme/app" || got["repository_owner_id"] != "42" {
		t.Fatalf("claims %v", got)
	}
	if len(got["ref"]) > maxWorkloadClaim+len("…") || got["runner_environment"] != "" || got["run_attempt"] != "" {
		t.Fatalf("claims %v", got)
	}
	// Many long claims: the bound holds.
	for _, k := range workloadClaims {
		id.Claims[k] = strings.Repeat("x", 1000)
	}
	size := 0
	for k, v := range sessionClaims(d, id) {
		size += len(k) + len(v)
	}
	if size > maxWorkloadClaims+200 {
		t.Fatalf("%d bytes of claims", size)
	}
}
