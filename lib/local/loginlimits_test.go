package local_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/local"
	"github.com/opensignum/signum/lib/ratelimit"
)

// TestLoginRateLimitsOverHTTP: past the per-account limit of password logins, the portal and
// the console login answer 429 with Retry-After and the too-many-requests problem, for the
// right password too, and for an account that does not exist alike; other accounts can still
// log in until the per-address limit.
func TestLoginRateLimitsOverHTTP(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := local.Start(ctx, local.Options{Addr: "127.0.0.1:0", TLSAddr: "127.0.0.1:0", Log: function.NewLogger(os.Stderr, "error"),
		Limits: function.Limits{LoginPerAccount: ratelimit.Limit{N: 3, Per: time.Hour}, LoginPerAddress: ratelimit.Limit{N: 12, Per: time.Hour}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	c := client{t: t, srv: srv}
	adminTok, _ := register(t, c, srv.DemoAdminInvite, "ada@example.com") // one portal login
	var ct struct{ Token string }
	c.as(adminTok).do("POST", "/portal/deployments/"+srv.Demo.ID+"/console-token", nil).must(t, 200, "console token").json(t, &ct)
	con := c.at(local.DemoDomain)
	con.as(ct.Token).do("POST", "/console/users", map[string]any{"username": "sam", "name": "Sam", "password": strongPassword, "roles": []string{"signer"}}).must(t, 201, "console user")

	limited := func(r resp, what string) {
		t.Helper()
		r.must(t, 429, what)
		if r.problemType() != "too-many-requests" {
			t.Errorf("%s: problem type %q: %s", what, r.problemType(), r.body)
		}
		if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 || s > 3600 {
			t.Errorf("%s: Retry-After %q", what, r.header.Get("Retry-After"))
		}
	}
	portal := func(email, pw string) resp {
		return c.do("POST", "/portal/login", map[string]string{"email": email, "password": pw})
	}
	console := func(username, pw string) resp {
		return con.do("POST", "/console/login", map[string]string{"username": username, "password": pw})
	}
	portal("ada@example.com", "Wrong-Guess-1").must(t, 401, "portal, wrong")
	portal("ada@example.com", strongPassword).must(t, 200, "portal, third login")
	limited(portal("Ada@Example.com", strongPassword), "portal, fourth login")
	console("sam", "Wrong-Guess-1").must(t, 401, "console, wrong")
	console("sam", strongPassword).must(t, 200, "console, right")
	console("sam", "Wrong-Guess-2").must(t, 401, "console, wrong")
	limited(console("SAM", strongPassword), "console, fourth login")
	for range 3 {
		portal("nobody@example.com", strongPassword).must(t, 401, "no such account")
	}
	limited(portal("nobody@example.com", strongPassword), "no such account, fourth login")
	// Twelve logins from this address so far (the registration's included): the next one is
	// refused whatever the account.
	limited(console("someone-else", strongPassword), "past the address's limit")
}
