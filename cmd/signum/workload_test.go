package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opensignum/signum/lib/audit"
	"github.com/opensignum/signum/lib/local"
	"github.com/opensignum/signum/lib/oidcidp"
	"github.com/opensignum/signum/lib/workload"
)

// TestSignAsCIJob: a GitHub-Actions-shaped job signs files with no .p12 and no stored secret:
// signum requests the job's OIDC token with the runner's variables (or is given one with
// --oidc-token), exchanges it for a session as the console user the CI domain's rule names,
// and signs; the job's claims are on the events. A token is good for one exchange, and
// neither token is ever printed.
func TestSignAsCIJob(t *testing.T) {
	w := newWorld(t)
	host := local.DemoDomain
	uid := field(t, api(t, "POST", "/console/users", w.admin, host, map[string]any{"username": "gh-release", "roles": []string{"signer"}}), "id")
	if uid == "" {
		t.Fatal("no user")
	}
	if field(t, api(t, "POST", "/console/domains", w.admin, host, map[string]any{"kind": "ci", "name": "GitHub Actions", "alias": "gha", "ci": map[string]any{
		"issuer": w.srv.Actions.Issuer(), "audience": "signum", "rules": []map[string]any{
			{"name": "release", "claims": map[string]string{"repository": "acme/app", "ref": "refs/heads/main"}, "user": "gh-release"}}}}), "id") == "" {
		t.Fatal("no CI domain")
	}
	api(t, "POST", "/console/policies", w.admin, host, map[string]any{"name": "Release jobs", "enabled": true, "priority": 10, "action": "allow",
		"what": map[string]any{"certificates": []string{w.certID}}, "who": map[string]any{"users": []string{uid}}})
	job, err := w.srv.Actions.RegisterJob(oidcidp.Job{Repository: "acme/app", Workflow: "release"})
	if err != nil {
		t.Fatal(err)
	}
	// The job's environment: the console host over plain HTTP (the local server), no .p12,
	// no token, and the runner's token request variables.
	env := map[string]string{"SIGNUM_CONFIG": filepath.Join(w.dir, "none.json"), "SIGNUM_URL": w.srv.URL, "SIGNUM_HOST": host, "SIGNUM_CA": "",
		"SIGNUM_P12": "", "SIGNUM_P12_PASSWORD": "", "SIGNUM_TOKEN": "", "SIGNUM_OIDC_TOKEN": "", "SIGNUM_OIDC_AUDIENCE": "", "SIGNUM_DOMAIN": "",
		"ACTIONS_ID_TOKEN_REQUEST_URL": job.URL, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": job.Token, "GITHUB_REPOSITORY": "acme/app"}
	dir := t.TempDir()
	a, b := filepath.Join(dir, "app.txt"), filepath.Join(dir, "notes.txt")
	_ = os.WriteFile(a, []byte("release artifact\n"), 0o644)
	_ = os.WriteFile(b, []byte("release notes\n"), 0o644)
	noSecret := func(what, s string, secrets ...string) {
		t.Helper()
		for _, sec := range secrets {
			if sec != "" && strings.Contains(s, sec) {
				t.Fatalf("%s prints a token: %s", what, s)
			}
		}
	}

	// Asked of the runner: signum sign with nothing but the runner's variables.
	code, out, errOut := cli(t, env, "sign", a)
	if code != 0 || !strings.Contains(errOut, "signing as gh-release (CI domain gha, rule release)") {
		t.Fatalf("sign as the job: %d %s %s", code, out, errOut)
	}
	noSecret("sign", out+errOut, job.Token)
	if _, err := os.Stat(a + ".p7s"); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := cli(t, env, "verify", "--ca", w.caFile, a); code != 0 || !strings.Contains(out, "chain verified") {
		t.Fatalf("verify: %d %s %s", code, out, errOut)
	}

	// Given: --oidc-token and --domain, once; the same token again is refused.
	tok, err := workload.RequestGitHubActionsToken(context.Background(), nil, job.URL, job.Token, "signum")
	if err != nil {
		t.Fatal(err)
	}
	env["ACTIONS_ID_TOKEN_REQUEST_URL"] = "" // not in GitHub Actions any more
	code, out, errOut = cli(t, env, "sign", "--oidc-token", tok, "--domain", "gha", "-o", "json", b)
	if code != 0 {
		t.Fatalf("sign --oidc-token: %d %s %s", code, out, errOut)
	}
	noSecret("sign --oidc-token", out+errOut, tok, job.Token)
	code, out, errOut = cli(t, env, "certs", "--oidc-token", tok)
	if code != exitAuth || !strings.Contains(errOut, "Replayed") {
		t.Fatalf("a replayed token: %d %s %s", code, out, errOut)
	}
	noSecret("a refusal", out+errOut, tok)
	oneLine(t, errOut, "exchange the OIDC token")
	// Without a token and without the runner's variables there is no credential at all.
	if code, _, errOut := cli(t, env, "certs"); code == 0 {
		t.Fatalf("certs without credentials: %s", errOut)
	}

	// The events of the job's two requests carry its verified claims.
	var page struct{ Items []audit.Event }
	if err := json.Unmarshal(api(t, "GET", "/console/events?userId="+uid, w.admin, host, nil), &page); err != nil {
		t.Fatal(err)
	}
	// (A request the signer decides again, its cached reads having changed, has a decision
	// more: every decision has the claims.)
	signed := 0
	for _, e := range page.Items {
		if e.Kind != audit.KindDecision {
			if e.Outcome == audit.Signed {
				signed++
			}
			continue
		}
		if e.Workload["repository"] != "acme/app" || e.Workload["workflow"] != "release" || e.Workload["rule"] != "release" || e.Workload["run_id"] == "" {
			t.Errorf("event %s: workload %v", e.ID, e.Workload)
		}
	}
	if signed != 2 {
		t.Fatalf("%d signed requests of the job: %+v", signed, page.Items)
	}
}
