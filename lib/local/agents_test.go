package local_test

import (
	"context"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/local"
	"github.com/opensignum/signum/lib/oidcidp"
	"github.com/opensignum/signum/lib/store"
)

// TestAgentConcurrencyLimit: a CI domain whose per-user concurrency limit for agents is 1.
// While the job's user has a signing request in flight (its slot held, as another signer
// instance holds it during a request), the job's next POST /sign is a 429 problem with
// Retry-After that says how many are in flight and the domain's limit, and records no
// decision; once that request ends (the slot released), the next request signs. A user of no
// domain (the Local users domain) is never limited. (TestAgentLimitCalls in lib/api/signer
// counts the calls: none for users of no domain.)
func TestAgentConcurrencyLimit(t *testing.T) {
	srv := startLocal(t)
	sa := consoleAdmin(t, srv)
	anon := client{t: t, srv: srv, host: local.DemoDomain}
	ctx := context.Background()

	var ci struct{ ID string }
	sa.do("POST", "/console/users", map[string]any{"username": "ci-agents", "name": "CI agents", "roles": []string{"signer"}}).must(t, 201, "user").json(t, &ci)
	var cert struct{ ID string }
	sa.do("POST", "/console/certificates", map[string]any{"groups": inGroup(t, sa), "algorithm": "EC_P256", "subject": map[string]string{"commonName": "CI agents"}}).must(t, 201, "certificate").json(t, &cert)
	activate(t, sa, cert.ID)
	sa.do("POST", "/console/policies", map[string]any{"name": "Agent jobs", "enabled": true, "priority": 10, "action": "allow",
		"what": map[string]any{"certificates": []string{cert.ID}}, "who": map[string]any{"users": []string{ci.ID}}}).must(t, 201, "policy")
	var dom struct{ AgentConcurrency int }
	sa.do("POST", "/console/domains", map[string]any{"kind": "ci", "name": "Agents", "alias": "agents", "agentConcurrency": 1, "ci": map[string]any{
		"issuer": srv.Actions.Issuer(), "audience": "signum", "rules": []map[string]any{
			{"name": "agents", "claims": map[string]string{"repository": "acme/agents"}, "user": "ci-agents"},
		}}}).must(t, 201, "CI domain").json(t, &dom)
	if dom.AgentConcurrency != 1 {
		t.Fatalf("domain %+v", dom)
	}
	var s workloadSession
	anon.do("POST", "/console/workload-session", map[string]string{"token": jobToken(t, srv.Actions, oidcidp.Job{Repository: "acme/agents"}, "signum")}).must(t, 200, "exchange").json(t, &s)
	job := anon.as(s.Token)
	sum := sha256.Sum256([]byte("agent.bin"))
	sign := map[string]any{"certificateId": cert.ID, "digests": []map[string]string{{"digest": b64(sum[:]), "digestAlgorithm": "SHA256"}}}
	decisions := func() int {
		var events struct{ Items []struct{ Kind string } }
		sa.do("GET", "/console/events?userId="+ci.ID, nil).must(t, 200, "events").json(t, &events)
		n := 0
		for _, e := range events.Items {
			if e.Kind == "decision" {
				n++
			}
		}
		return n
	}

	job.do("POST", "/sign", sign).must(t, 200, "sign with no request in flight")
	before := decisions()

	// A request of the user in flight: its slot, held as the signer holds it meanwhile.
	st := store.New(srv.Clients.DynamoDB, srv.Config.TableName, function.CursorKey(envFor(srv)))
	inFlight, err := st.AcquireAgentSlot(ctx, srv.Demo.ID, ci.ID, 1, 30*time.Second, time.Now())
	if err != nil || !inFlight.Acquired {
		t.Fatalf("hold a slot: %+v %v", inFlight, err)
	}
	r := job.do("POST", "/sign", sign).must(t, 429, "a second request in flight")
	var problem struct {
		Status int
		Detail string
	}
	r.json(t, &problem)
	if r.header.Get("Retry-After") != "1" || !strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json") || r.problemType() != "too-many-requests" ||
		!strings.Contains(problem.Detail, "1 signing request in flight") || !strings.Contains(problem.Detail, "the agents domain") || !strings.Contains(problem.Detail, "at most 1 at once") {
		t.Fatalf("refusal: %v %s", r.header, r.body)
	}
	if n := decisions(); n != before {
		t.Fatalf("the refusal recorded %d decisions", n-before)
	}
	// A user of no domain is not limited, whatever the job's user holds.
	var local struct{ ID string }
	sa.do("POST", "/console/users", map[string]any{"username": "plain-signer", "password": "Correct-Horse-9-Battery", "roles": []string{"signer"}}).must(t, 201, "local user").json(t, &local)
	sa.do("POST", "/console/policies", map[string]any{"name": "Plain", "enabled": true, "priority": 11, "action": "allow",
		"what": map[string]any{"certificates": []string{cert.ID}}, "who": map[string]any{"users": []string{local.ID}}}).must(t, 201, "policy")
	var login struct{ Token string }
	anon.do("POST", "/console/login", map[string]string{"username": "plain-signer", "password": "Correct-Horse-9-Battery"}).must(t, 200, "login").json(t, &login)
	anon.as(login.Token).do("POST", "/sign", sign).must(t, 200, "a Local user signs")

	// The request in flight ends: the next one signs.
	if err := st.ReleaseAgentSlot(ctx, srv.Demo.ID, ci.ID, inFlight.Slot); err != nil {
		t.Fatal(err)
	}
	job.do("POST", "/sign", sign).must(t, 200, "sign after the first ended")
	// The signer gave that request's slot back too: another one signs.
	job.do("POST", "/sign", sign).must(t, 200, "sign again")
	if n := decisions(); n != before+2 {
		t.Fatalf("%d decisions after the refusal, want 2", n-before)
	}
}
