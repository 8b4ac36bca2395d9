package local_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/policy"
	"github.com/opensignum/signum/lib/tenant"
)

// TestPolicyLimitsThroughTheAPI: what bounds the cost of an evaluation is enforced where
// policies are written. Too many applications, or patterns too complex in all, are 400 naming
// `where`; a deployment at policy.MaxPolicies, or whose patterns would go over
// policy.MaxDeploymentProgram instructions, gets 409 saying so; nothing refused is written.
func TestPolicyLimitsThroughTheAPI(t *testing.T) {
	srv := startLocal(t)
	con := consoleAdmin(t, srv)
	body := func(name string, where ...map[string]string) map[string]any {
		if where == nil {
			where = []map[string]string{}
		}
		return map[string]any{"name": name, "enabled": true, "priority": 3, "action": "allow",
			"what": map[string]any{"groups": []string{"*"}}, "who": map[string]any{"roles": []string{"signer"}}, "where": where}
	}
	apps := func(n int, process, commandLine string) []map[string]string {
		out := make([]map[string]string, n)
		for i := range out {
			out[i] = map[string]string{"process": process, "commandLine": commandLine}
		}
		return out
	}
	field := func(r resp, name string) {
		t.Helper()
		var p struct {
			Params []struct{ Name, Reason string } `json:"invalid-params"`
		}
		r.json(t, &p)
		if len(p.Params) == 0 || p.Params[0].Name != name {
			t.Fatalf("want a field error on %q: %s", name, r.body)
		}
	}
	conflict := func(r resp, limit int) {
		t.Helper()
		if r.problemType() != "conflict" || !strings.Contains(r.body, fmt.Sprint(limit)) {
			t.Fatalf("want a conflict naming %d: %s", limit, r.body)
		}
	}

	field(con.do("POST", "/console/policies", body("many", apps(policy.MaxApplications+1, "make", "")...)).must(t, 400, "too many applications"), "where")
	field(con.do("POST", "/console/policies", body("complex", apps(3, "x", `.{0,700}`)...)).must(t, 400, "too complex in all"), "where")

	// Two heavy policies nearly fill the deployment's budget; a third is refused.
	heavy := apps(1, "x", `.{0,970}`)
	con.do("POST", "/console/policies", body("heavy 1", heavy...)).must(t, 201, "heavy 1")
	con.do("POST", "/console/policies", body("heavy 2", heavy...)).must(t, 201, "heavy 2")
	conflict(con.do("POST", "/console/policies", body("heavy 3", heavy...)).must(t, 409, "over the budget"), policy.MaxDeploymentProgram)

	// Fill the deployment up to the cap (pol_default and the two heavy ones are there), then
	// one more is refused.
	st := function.NewParts(envFor(srv)).Store
	ctx := context.Background()
	have, err := st.AllPolicies(ctx, srv.Demo.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(have); i < policy.MaxPolicies; i++ {
		p, err := policy.Draft{Name: fmt.Sprintf("filler %d", i), Action: policy.Allow, What: policy.What{Groups: []string{"*"}},
			Who: policy.Who{Roles: []string{"signer"}}}.Policy(tenant.NewID("pol_"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.CreatePolicy(ctx, srv.Demo.ID, p, tenant.LogEntry{Actor: "test", Action: "fixture"}); err != nil {
			t.Fatal(err)
		}
	}
	conflict(con.do("POST", "/console/policies", body("one too many")).must(t, 409, "over the count"), policy.MaxPolicies)
	if all, err := st.AllPolicies(ctx, srv.Demo.ID); err != nil || len(all) != policy.MaxPolicies {
		t.Fatalf("%d policies, %v; want %d", len(all), err, policy.MaxPolicies)
	}
}
