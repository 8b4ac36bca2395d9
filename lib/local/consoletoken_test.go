package local_test

import (
	"context"
	"strings"
	"testing"

	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/store"
)

// TestConsoleTokenOnlyForTheConsoleDomain: the web portal sends a console token to the
// deployment's domain name, which a portal Admin sets. A name outside the console domain
// (*.localhost here, *.<ConsoleDomain> in AWS) is refused when it is set, and a console token
// is refused for one stored before (a changed suffix, an old record): another user's token
// must never go to a host an Admin picked.
func TestConsoleTokenOnlyForTheConsoleDomain(t *testing.T) {
	srv := startLocal(t)
	c := client{t: t, srv: srv}
	tok, _ := register(t, c, srv.DemoAdminInvite, "ada@example.com")
	admin := c.as(tok)
	dep := srv.Demo.ID

	var d struct{ DomainName string }
	admin.do("POST", "/portal/deployments/"+dep+"/console-token", nil).must(t, 200, "console token on demo.localhost").json(t, &d)
	got := admin.do("GET", "/portal/deployments/"+dep, nil).must(t, 200, "deployment")
	for _, evil := range []string{"attacker.example.com", "localhost.evil.com", "a.b.localhost"} {
		admin.do("PATCH", "/portal/deployments/"+dep, map[string]any{"domainName": evil}, "If-Match", got.header.Get("ETag")).must(t, 400, "domain "+evil)
	}

	ctx := context.Background()
	st := store.New(srv.Clients.DynamoDB, srv.Config.TableName, function.CursorKey(function.Env{Config: srv.Config, Clients: srv.Clients}))
	cur, err := st.GetDeployment(ctx, dep)
	if err != nil {
		t.Fatal(err)
	}
	next := cur
	next.DomainName = "attacker.example.com"
	if _, err := st.UpdateDeployment(ctx, cur, next, nil); err != nil {
		t.Fatal(err)
	}
	r := admin.do("POST", "/portal/deployments/"+dep+"/console-token", nil).must(t, 409, "console token for a name outside the console domain")
	if strings.Contains(r.body, "token\"") || !strings.Contains(r.body, "attacker.example.com") {
		t.Fatalf("answer %s", r.body)
	}
}
