package signer_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/policy"
	"github.com/opensignum/signum/lib/ratelimit"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
	"github.com/opensignum/signum/lib/wire"
)

// evaluateEvent is POST /sign/evaluate with body, as API Gateway delivers it.
func evaluateEvent(host, tok, body string) events.APIGatewayV2HTTPRequest {
	e := signEvent(host, tok, body)
	e.RouteKey, e.RawPath, e.RequestContext.HTTP.Path = "POST /sign/evaluate", "/sign/evaluate", "/sign/evaluate"
	return e
}

// TestEvaluate: the caller's dry run answers what POST /sign would decide for it — the
// allowing policy named, a denial not — records nothing and uses none of the deployment's
// signatures, but counts against the caller's own request limit; bad input is a 4xx problem.
func TestEvaluate(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	// The caller may send 4 requests an hour; the deployment signs 1 signature an hour.
	w.env.Config.Limits = function.Limits{
		SigningPerCaller: ratelimit.Limit{N: 4, Per: time.Hour},
		SigningPerPlan:   map[string]ratelimit.Limit{"standard": {N: 1, Per: time.Hour}},
	}
	h := w.signerOn(w.tg.Clients.DynamoDB, keys.NewRegistry(w.kms))
	d, cert := w.deployment(t, "evaluate.localhost")
	_, allow, tok := w.signerUser(t, d, cert)
	deny, err := w.clean.Store.CreatePolicy(ctx, d.ID, policy.Policy{ID: tenant.NewID("pol_"), Name: "no evil tools", Enabled: true, Priority: 20, Action: policy.Deny,
		What: policy.What{Certificates: []string{cert.ID}}, Who: policy.Who{Roles: []string{"signer"}}, Where: []policy.Application{{Process: "evil"}}},
		tenant.LogEntry{Actor: "test", Action: "fixture"})
	if err != nil {
		t.Fatal(err)
	}
	evaluate := func(body string) (int, wire.Verdict, edge.Problem) {
		t.Helper()
		resp, err := h(ctx, evaluateEvent(d.DomainName, tok, body))
		if err != nil {
			t.Fatal(err)
		}
		var v wire.Verdict
		var p edge.Problem
		if resp.StatusCode == 200 {
			if err := json.Unmarshal([]byte(resp.Body), &v); err != nil {
				t.Fatalf("answer %s: %v", resp.Body, err)
			}
		} else if err := json.Unmarshal([]byte(resp.Body), &p); err != nil || resp.Headers["Content-Type"] != "application/problem+json" {
			t.Fatalf("%d answer is no problem: %v %v %s", resp.StatusCode, resp.Headers, err, resp.Body)
		}
		return resp.StatusCode, v, p
	}

	// Bad input is refused before anything is read or counted.
	for name, tc := range map[string]struct{ body, field string }{
		"fail/no-certificate": {`{"process":"make"}`, "certificateId"},
		"fail/long-process":   {`{"certificateId":"` + cert.ID + `","process":"` + strings.Repeat("p", 4097) + `"}`, "process"},
		"fail/long-command":   {`{"certificateId":"` + cert.ID + `","commandLine":"` + strings.Repeat("c", 4097) + `"}`, "commandLine"},
		"fail/unknown-field":  {`{"certificateId":"` + cert.ID + `","digests":[]}`, ""},
	} {
		code, _, p := evaluate(tc.body)
		if code != 400 || p.Type != edge.ProblemTypeBase+"invalid-request" {
			t.Fatalf("%s: %d %+v", name, code, p)
		}
		if tc.field != "" && (len(p.InvalidParams) != 1 || p.InvalidParams[0].Name != tc.field) {
			t.Fatalf("%s: invalid-params %+v, want %s", name, p.InvalidParams, tc.field)
		}
	}

	// ok: allowed by the policy, which is named (request 1 of the caller's 4).
	code, v, p := evaluate(`{"certificateId":"` + cert.ID + `","process":"signum","commandLine":"signum sign app.exe"}`)
	if code != 200 || !v.Allowed || v.PolicyID != allow.ID || v.PolicyName != allow.Name || v.Owner || v.Reason == "" {
		t.Fatalf("ok/allowed: %d %+v %+v", code, v, p)
	}
	// ok: denied by the Deny policy, which is not named (request 2).
	code, v, p = evaluate(`{"certificateId":"` + cert.ID + `","process":"evil"}`)
	if code != 200 || v.Allowed || v.PolicyID != "" || v.PolicyName != "" || strings.Contains(v.Reason, deny.Name) || !strings.Contains(v.Reason, "a policy denies") {
		t.Fatalf("ok/denied: %d %+v %+v", code, v, p)
	}
	// fail: an unknown certificate is 404 (request 3).
	if code, _, p := evaluate(`{"certificateId":"crt_aaaaaaaaaaaaaaaaaaaaaaaaaa"}`); code != 404 || p.Type != edge.ProblemTypeBase+"not-found" {
		t.Fatalf("fail/unknown-certificate: %d %+v", code, p)
	}

	// Nothing was recorded, and none of the deployment's one signature was used: the caller
	// signs now (request 4).
	page, err := w.clean.Store.ListEvents(ctx, d.ID, store.EventFilter{}, store.PageRequest{Limit: 10})
	if err != nil || len(page.Items) != 0 {
		t.Fatalf("dry runs recorded %d events (%v)", len(page.Items), err)
	}
	resp, err := h(ctx, signEvent(d.DomainName, tok, signBody(cert, 1)))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("sign after dry runs: %v %d %s", err, resp.StatusCode, resp.Body)
	}
	// The caller's 4 requests are used: a dry run is refused like a signing request.
	if code, _, p := evaluate(`{"certificateId":"` + cert.ID + `"}`); code != 429 || p.Type != edge.ProblemTypeBase+"too-many-requests" {
		t.Fatalf("fail/caller-limit: %d %+v", code, p)
	}
}
