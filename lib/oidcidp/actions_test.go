package oidcidp_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/oidcidp"
)

// requestToken does what actions/toolkit's core.getIDToken does with the runner's variables.
func requestToken(t *testing.T, r oidcidp.JobRequest, audience string) (int, string) {
	t.Helper()
	u := r.URL
	if audience != "" {
		u += "&audience=" + url.QueryEscape(audience)
	}
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Authorization", "bearer "+r.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var v struct {
		Value string `json:"value"`
	}
	_ = json.Unmarshal(b, &v)
	return resp.StatusCode, v.Value
}

func TestWorkloadToken(t *testing.T) {
	p := start(t, oidcidp.Options{WorkloadTokenTTL: 90 * time.Second})
	d := discover(t, p)
	job, err := p.RegisterJob(oidcidp.Job{Repository: "acme/app", Environment: "production", Extra: map[string]any{"repository_visibility": "private"}})
	if err != nil {
		t.Fatal(err)
	}
	if env := job.Env(); env["ACTIONS_ID_TOKEN_REQUEST_URL"] != job.URL || env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] != job.Token {
		t.Errorf("Env = %v", env)
	}
	status, raw := requestToken(t, job, "signum")
	if status != 200 || raw == "" {
		t.Fatalf("token: %d", status)
	}
	c := verified(t, d, raw)
	for k, want := range map[string]any{
		"iss": p.Issuer(), "aud": "signum", "sub": "repo:acme/app:environment:production",
		"repository": "acme/app", "repository_owner": "acme", "ref": "refs/heads/main", "ref_type": "branch",
		"workflow": "build", "workflow_ref": "acme/app/.github/workflows/build.yml@refs/heads/main",
		"job_workflow_ref": "acme/app/.github/workflows/build.yml@refs/heads/main",
		"environment":      "production", "event_name": "push", "actor": "acme", "repository_visibility": "private",
	} {
		if c[k] != want {
			t.Errorf("claim %s = %v, want %v", k, c[k], want)
		}
	}
	for _, k := range []string{"sha", "run_id", "jti"} {
		if s, _ := c[k].(string); s == "" {
			t.Errorf("claim %s missing", k)
		}
	}
	if exp, iat, nbf := c["exp"].(float64), c["iat"].(float64), c["nbf"].(float64); exp-iat != 90 || nbf != iat {
		t.Errorf("exp-iat = %v, nbf %v iat %v", exp-iat, nbf, iat)
	}

	// Without an audience: GitHub's default, the owner's URL. Each token is new.
	if status, raw2 := requestToken(t, job, ""); status != 200 || verified(t, d, raw2)["aud"] != "https://github.com/acme" || raw2 == raw {
		t.Errorf("default audience: %d", status)
	}

	// A tag, a pull request, an explicit subject and a per-job lifetime.
	tag, _ := p.RegisterJob(oidcidp.Job{Repository: "acme/app", Ref: "refs/tags/v1.2.0", TokenTTL: 10 * time.Second})
	_, raw = requestToken(t, tag, "a")
	if c := verified(t, d, raw); c["sub"] != "repo:acme/app:ref:refs/tags/v1.2.0" || c["ref_type"] != "tag" || c["exp"].(float64)-c["iat"].(float64) != 10 {
		t.Errorf("tag job: %v", c)
	}
	pr, _ := p.RegisterJob(oidcidp.Job{Repository: "acme/app", EventName: "pull_request", Ref: "refs/pull/7/merge"})
	if _, raw = requestToken(t, pr, "a"); verified(t, d, raw)["sub"] != "repo:acme/app:pull_request" {
		t.Errorf("pull request job sub")
	}

	// Refusals: a wrong request token, an ended job, bad registrations.
	if status, _ := requestToken(t, oidcidp.JobRequest{URL: job.URL, Token: "nope"}, "a"); status != http.StatusUnauthorized {
		t.Errorf("wrong request token: %d", status)
	}
	p.EndJob(job)
	if status, _ := requestToken(t, job, "a"); status != http.StatusUnauthorized {
		t.Errorf("ended job: %d", status)
	}
	if _, err := p.RegisterJob(oidcidp.Job{Repository: "app"}); err == nil {
		t.Error("repository without owner accepted")
	}
	if _, err := p.RegisterJob(oidcidp.Job{Repository: "acme/app", Extra: map[string]any{"aud": "x"}}); err == nil {
		t.Error("Extra replacing aud accepted")
	}
}
