package local_test

import (
	"context"
	"crypto/sha256"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/audit"
	"github.com/opensignum/signum/lib/local"
	"github.com/opensignum/signum/lib/oidcidp"
	"github.com/opensignum/signum/lib/workload"
)

// workloadSession is the answer of POST /console/workload-session.
type workloadSession struct {
	Token, TokenType, DeploymentID, Rule, Domain string
	ExpiresAt                                    time.Time
	Roles                                        []string
	User                                         struct{ ID, Username string }
}

// jobToken is what a job's runner would get from the GitHub Actions stand-in for audience.
func jobToken(t *testing.T, idp *oidcidp.IdP, job oidcidp.Job, audience string) string {
	t.Helper()
	req, err := idp.RegisterJob(job)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := workload.RequestGitHubActionsToken(context.Background(), nil, req.URL, req.Token, audience)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestWorkloadIdentity: a GitHub-Actions-shaped job exchanges its OIDC token for a session as
// the console user a CI domain's rule names, signs with it under a policy, and its claims are
// on its signing events, whose chains verify; every refusal is a 401 that says which check
// failed, is in the system log as the job's, and records nothing as the user.
func TestWorkloadIdentity(t *testing.T) {
	srv := startLocal(t)
	sa := consoleAdmin(t, srv)
	anon := client{t: t, srv: srv, host: local.DemoDomain}

	// The user jobs act as (no password: it never logs in itself), a certificate, and a
	// policy that lets the user sign with it.
	var ci struct{ ID string }
	sa.do("POST", "/console/users", map[string]any{"username": "ci-release", "name": "CI release", "roles": []string{"signer"}}).must(t, 201, "user").json(t, &ci)
	var cert struct{ ID string }
	sa.do("POST", "/console/certificates", map[string]any{"groups": inGroup(t, sa), "algorithm": "EC_P256", "subject": map[string]string{"commonName": "CI release"}}).must(t, 201, "certificate").json(t, &cert)
	activate(t, sa, cert.ID)
	sa.do("POST", "/console/policies", map[string]any{"name": "Release jobs", "enabled": true, "priority": 10, "action": "allow",
		"what": map[string]any{"certificates": []string{cert.ID}}, "who": map[string]any{"users": []string{ci.ID}}}).must(t, 201, "policy")

	// The CI domain trusts the GitHub Actions stand-in's tokens for audience signum: main of
	// acme/app acts as ci-release; acme/ghost as a user nobody created.
	issuer := srv.Actions.Issuer()
	sa.do("POST", "/console/domains", map[string]any{"kind": "ci", "name": "GitHub Actions", "alias": "gha", "ci": map[string]any{
		"issuer": issuer, "audience": "signum", "rules": []map[string]any{
			{"name": "release", "claims": map[string]string{"repository": "acme/app", "ref": "refs/heads/main"}, "user": "ci-release"},
			{"name": "ghost", "claims": map[string]string{"repository": "acme/ghost"}, "user": "nobody"},
			{"name": "admin", "claims": map[string]string{"repository": "acme/admin"}, "user": "ci-admin"},
		}}}).must(t, 201, "CI domain")

	// A job never acts as a user with console rights.
	sa.do("POST", "/console/users", map[string]any{"username": "ci-admin", "roles": []string{"signer", "console-admin"}}).must(t, 201, "admin user")
	if body := anon.do("POST", "/console/workload-session", map[string]string{"token": jobToken(t, srv.Actions, oidcidp.Job{Repository: "acme/admin"}, "signum")}).must(t, 401, "a rule for an admin").body; !strings.Contains(body, "more than the signer role") {
		t.Fatalf("admin rule user: %s", body)
	}

	main := oidcidp.Job{Repository: "acme/app", Workflow: "release", Environment: "production"}
	tok := jobToken(t, srv.Actions, main, "signum")
	start := time.Now()
	var s workloadSession
	anon.do("POST", "/console/workload-session", map[string]string{"token": tok}).must(t, 200, "exchange").json(t, &s)
	if s.TokenType != "Bearer" || s.DeploymentID != srv.Demo.ID || s.Rule != "release" || s.Domain != "gha" || s.User.ID != ci.ID || s.User.Username != "ci-release" ||
		len(s.Roles) != 1 || s.Roles[0] != "signer" {
		t.Fatalf("session %+v", s)
	}
	// No longer than the job's token (5 minutes), nor than a password login.
	if s.ExpiresAt.After(start.Add(5*time.Minute+time.Second)) || s.ExpiresAt.Before(start.Add(4*time.Minute)) {
		t.Fatalf("session until %s, the job's token until about %s", s.ExpiresAt, start.Add(5*time.Minute))
	}
	job := anon.as(s.Token)
	// A job's session signs and lists what it may sign with; nothing else of the console
	// (review finding: it was a full console token).
	job.do("GET", "/console/session", nil).must(t, 403, "who am I")
	job.do("GET", "/console/users", nil).must(t, 403, "a signer's session administers nothing")
	job.do("GET", "/console/certificates", nil).must(t, 403, "console pages")
	var signable struct{ Items []struct{ ID string } }
	job.do("GET", "/sign/certificates", nil).must(t, 200, "certificates").json(t, &signable)
	if len(signable.Items) != 1 || signable.Items[0].ID != cert.ID {
		t.Fatalf("signable %+v", signable)
	}
	sum1, sum2 := sha256.Sum256([]byte("app.tar.gz")), sha256.Sum256([]byte("app.sbom.json"))
	job.do("POST", "/sign", map[string]any{"certificateId": cert.ID,
		"digests": []map[string]string{{"digest": b64(sum1[:]), "digestAlgorithm": "SHA256"}, {"digest": b64(sum2[:]), "digestAlgorithm": "SHA256"}},
		"context": map[string]any{"process": "signum", "ci": map[string]string{"GITHUB_REPOSITORY": "spoofed/by-client"}}}).must(t, 200, "sign")

	// The events carry the verified claims (beside what the client reported), and the log
	// verifies.
	var events struct{ Items []audit.Event }
	sa.do("GET", "/console/events?userId="+ci.ID, nil).must(t, 200, "events").json(t, &events)
	// (A request the signer decides again, its cached reads having changed meanwhile, has
	// more decisions: every one has the claims.)
	decisions, signed := 0, 0
	for _, e := range events.Items {
		if e.Kind == audit.KindCompletion {
			if e.Workload != nil {
				t.Errorf("completion with claims: %+v", e)
			}
			if e.Outcome == audit.Signed {
				signed++
			}
			continue
		}
		decisions++
		w := e.Workload
		for k, want := range map[string]string{"repository": "acme/app", "ref": "refs/heads/main", "workflow": "release", "environment": "production",
			"event_name": "push", "actor": "acme", "sub": "repo:acme/app:environment:production", "rule": "release", "domain": "gha", "issuer": issuer} {
			if w[k] != want {
				t.Errorf("event %s: workload %s = %q, want %q", e.ID, k, w[k], want)
			}
		}
		if w["run_id"] == "" || len(w["sha"]) != 40 {
			t.Errorf("event %s: workload %v", e.ID, w)
		}
	}
	if decisions < 1 || signed != 1 {
		t.Fatalf("events of the job: %+v", events.Items)
	}
	recorded := len(events.Items)
	var v struct{ Intact bool }
	sa.do("GET", "/console/events/verify", nil).must(t, 200, "verify").json(t, &v)
	if !v.Intact {
		t.Fatal("the event log does not verify")
	}
	jsonl := sa.do("GET", "/console/events?format=jsonl", nil).must(t, 200, "export")
	if !strings.Contains(jsonl.body, `"workload":{`) {
		t.Fatal("the export has no workload claims")
	}

	// Refusals: each a 401 that says which check failed.
	refuse := func(what string, body map[string]string, want ...string) {
		t.Helper()
		r := anon.do("POST", "/console/workload-session", body).must(t, 401, what)
		for _, w := range want {
			if !strings.Contains(r.body, w) {
				t.Errorf("%s: %s does not say %q", what, r.body, w)
			}
		}
		if body["token"] != "" && strings.Contains(r.body, body["token"]) {
			t.Errorf("%s: the token is echoed", what)
		}
	}
	refuse("replayed", map[string]string{"token": tok}, "Replayed")
	refuse("wrong audience", map[string]string{"token": jobToken(t, srv.Actions, main, "not-signum")}, "wrong audience", `\"signum\"`)
	other := jobToken(t, srv.IdP, main, "signum") // the people IdP's issuer
	refuse("issuer no domain trusts", map[string]string{"token": other}, "Wrong issuer", srv.IdP.Issuer())
	refuse("wrong issuer for the domain", map[string]string{"token": other, "domain": "gha"}, "wrong issuer", issuer)
	refuse("rule fails", map[string]string{"token": jobToken(t, srv.Actions, oidcidp.Job{Repository: "acme/app", Ref: "refs/heads/feature"}, "signum")},
		"no rule matched", `rule \"release\"`, "ref", "refs/heads/feature")
	refuse("unknown alias", map[string]string{"token": jobToken(t, srv.Actions, main, "signum"), "domain": "nope"}, "Unknown domain", "nope")
	refuse("rule's user missing", map[string]string{"token": jobToken(t, srv.Actions, oidcidp.Job{Repository: "acme/ghost"}, "signum")},
		`rule \"ghost\"`, "missing", "nobody")
	short := jobToken(t, srv.Actions, oidcidp.Job{Repository: "acme/app", TokenTTL: time.Second}, "signum")
	time.Sleep(1500 * time.Millisecond)
	refuse("expired", map[string]string{"token": short}, "xpired")
	refuse("not a JWT", map[string]string{"token": "not-a-token"}, "not a JWT")
	anon.do("POST", "/console/workload-session", map[string]string{"domain": "gha"}).must(t, 400, "no token")

	// Every exchange is in the system log as the job's; nothing was recorded as the user
	// but its one session's signing, and no entry holds a token.
	all := systemLog(t, sa, url.Values{"section": {"login"}, "limit": {"100"}})
	granted, ok := find(all, "workload.session", "workload:repo:acme/app:environment:production")
	if !ok || granted.Object != "ci-release" || !strings.Contains(granted.Detail, "rule \"release\"") || !strings.Contains(granted.Detail, "repository=acme/app") {
		t.Fatalf("granted exchange: %+v", granted)
	}
	refused := 0
	for _, e := range all {
		if e.Action == "workload.refused" {
			refused++
			if !strings.HasPrefix(e.Actor, "workload:") || e.Detail == "" {
				t.Errorf("refusal entry %+v", e)
			}
		}
	}
	if refused != 11 { // the ten refusals below and the rule for an admin
		t.Errorf("%d refusals logged, want 11", refused)
	}
	for _, e := range systemLog(t, sa, url.Values{"limit": {"100"}}) {
		if e.Actor == "console:"+ci.ID {
			t.Errorf("recorded as the user: %+v", e)
		}
		if strings.Contains(e.Detail, tok[:40]) || strings.Contains(e.Detail, short[:40]) {
			t.Errorf("a token in the log: %+v", e)
		}
	}
	sa.do("GET", "/console/events?userId="+ci.ID, nil).must(t, 200, "events").json(t, &events)
	if len(events.Items) != recorded {
		t.Fatalf("events of the user after the refusals: %d, before %d", len(events.Items), recorded)
	}
}
