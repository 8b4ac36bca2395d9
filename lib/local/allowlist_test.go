package local_test

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/opensignum/signum/lib/api/console"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/local"
	"github.com/opensignum/signum/lib/tenant"
	"github.com/opensignum/signum/lib/token"
)

// TestAllowlistUsesTheGatewaySourceIP drives the console-auth Lambda handler with events whose
// requestContext.http.sourceIp varies, as API Gateway sets it: inside the allowlist the login
// is answered (401: no such user), outside it is refused with 403 whatever headers claim.
func TestAllowlistUsesTheGatewaySourceIP(t *testing.T) {
	srv := startLocal(t)
	ctx := context.Background()
	st := function.NewParts(envFor(srv)).Store
	cur, err := st.GetDeployment(ctx, srv.Demo.ID)
	if err != nil {
		t.Fatal(err)
	}
	next := cur
	next.IPAllowlist, _ = tenant.ParseAllowlist([]string{"198.51.100.0/24", "2001:db8:1::/48"})
	if _, err := st.UpdateDeployment(ctx, cur, next, nil); err != nil {
		t.Fatal(err)
	}
	h, err := console.BuildAuth(ctx, envFor(srv))
	if err != nil {
		t.Fatal(err)
	}
	lambda := edge.Lambda(h)
	raw, err := os.ReadFile("../../events/console-auth/login-unknown-host.json")
	if err != nil {
		t.Fatal(err)
	}
	for ip, want := range map[string]int{
		"198.51.100.7":        401,
		"2001:db8:1::42":      401,
		"198.51.101.7":        403,
		"2001:db8:2::1":       403,
		"::ffff:198.51.100.9": 401,
		"10.0.0.1":            403,
	} {
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatal(err)
		}
		ev.RequestContext.DomainName = local.DemoDomain
		ev.RequestContext.HTTP.SourceIP = ip
		// A client-supplied header must not matter.
		ev.Headers["x-forwarded-for"] = "198.51.100.1"
		resp, err := lambda(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != want {
			t.Errorf("%s: %d, want %d: %s", ip, resp.StatusCode, want, resp.Body)
		}
	}
}

// TestAllowlistAuthenticated: a valid console token works from inside the allowlist (200) and
// is refused from outside (403), the source address taken from the gateway's event.
func TestAllowlistAuthenticated(t *testing.T) {
	srv := startLocal(t)
	ctx := context.Background()
	parts := function.NewParts(envFor(srv))
	st := parts.Store
	creds, err := loginCreds()
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.CreateConsoleUser(ctx, identity.ConsoleUser{ID: tenant.NewID("cu_"), DeploymentID: srv.Demo.ID, Username: "alice",
		Roles: []identity.ConsoleRole{identity.ConsoleViewer}, Status: identity.StatusActive, Credentials: creds}, tenant.LogEntry{Actor: "test", Action: "fixture"})
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := parts.Issuer.Issue(ctx, token.Claims{Subject: u.ID, System: token.Console, Deployment: srv.Demo.ID, Roles: []string{"console-viewer"}})
	if err != nil {
		t.Fatal(err)
	}
	cur, _ := st.GetDeployment(ctx, srv.Demo.ID)
	next := cur
	next.IPAllowlist, _ = tenant.ParseAllowlist([]string{"203.0.113.0/24"})
	if _, err := st.UpdateDeployment(ctx, cur, next, nil); err != nil {
		t.Fatal(err)
	}
	h, err := console.BuildAuth(ctx, envFor(srv))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile("../../events/console-users/list-unknown-host.json")
	for ip, want := range map[string]int{"203.0.113.5": 200, "198.51.100.5": 403} {
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatal(err)
		}
		ev.RawPath, ev.RouteKey = "/console/session", "GET /console/session"
		ev.RequestContext.HTTP.Path, ev.RequestContext.RouteKey = "/console/session", "GET /console/session"
		ev.RequestContext.DomainName = local.DemoDomain
		ev.RequestContext.HTTP.SourceIP = ip
		ev.Headers["authorization"] = "Bearer " + tok
		resp, err := edge.Lambda(h)(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != want {
			t.Errorf("%s: %d, want %d: %s", ip, resp.StatusCode, want, resp.Body)
		}
	}
}
