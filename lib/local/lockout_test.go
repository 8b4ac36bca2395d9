package local_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/local"
	"github.com/opensignum/signum/lib/password"
	"github.com/opensignum/signum/lib/store"
)

// TestLockoutHoldsOverHTTP sends 49 wrong passwords and the right one at once, over HTTP, to
// the portal and the console login, and checks that the lockout policy (five failures, the
// default of both) bounds the password checks they got. The checks are counted on the user's
// item: every check is preceded by one write that counts the attempt (and moves the user's
// version), and an attempt refused by that write is never checked. So the version moves by
// the checks, plus one for a login that clears the count: at most five checks without a
// login, and at most five before and five after it with one. Before attempts were counted up
// front, every guess of the burst was checked and counted after the fact (some 50 writes or
// more), and the right password got in.
func TestLockoutHoldsOverHTTP(t *testing.T) {
	srv := startLocal(t)
	c := client{t: t, srv: srv}
	ctx := context.Background()
	st := store.New(srv.Clients.DynamoDB, srv.Config.TableName, function.CursorKey(envFor(srv)))
	adminTok, _ := register(t, c, srv.DemoAdminInvite, "ada@example.com")
	admin := c.as(adminTok)
	var inv struct{ Token string }
	admin.do("POST", "/portal/deployments/"+srv.Demo.ID+"/users", map[string]string{"email": "vic@example.com", "role": "User"}).must(t, 201, "invite").json(t, &inv)
	_, vicID := register(t, c, inv.Token, "vic@example.com")
	var ct struct{ Token string }
	admin.do("POST", "/portal/deployments/"+srv.Demo.ID+"/console-token", nil).must(t, 200, "console token").json(t, &ct)
	con := c.at(local.DemoDomain)
	var sam struct{ ID string }
	con.as(ct.Token).do("POST", "/console/users", map[string]any{"username": "sam", "name": "Sam", "password": strongPassword, "roles": []string{"signer"}}).
		must(t, 201, "console user").json(t, &sam)

	lock := password.DefaultLockout()
	for _, sys := range []struct {
		name string
		at   client
		path string
		body func(pw string) map[string]string
	}{{
		name: "portal", at: c, path: "/portal/login",
		body: func(pw string) map[string]string {
			return map[string]string{"email": "vic@example.com", "password": pw}
		},
	}, {
		name: "console", at: con, path: "/console/login",
		body: func(pw string) map[string]string { return map[string]string{"username": "sam", "password": pw} },
	}} {
		t.Run(sys.name, func(t *testing.T) {
			read := func() (identity.Credentials, int64) {
				if sys.name == "portal" {
					u, err := st.GetPortalUser(ctx, srv.Demo.ID, vicID)
					if err != nil {
						t.Fatal(err)
					}
					return u.Credentials, u.Version
				}
				u, err := st.GetConsoleUser(ctx, srv.Demo.ID, sam.ID)
				if err != nil {
					t.Fatal(err)
				}
				return u.Credentials, u.Version
			}
			_, before := read()
			statuses := make([]int, 50)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range statuses {
				pw := fmt.Sprintf("Wrong-Guess-%02d-Battery", i)
				if i == 25 {
					pw = strongPassword
				}
				wg.Go(func() {
					<-start
					statuses[i] = sys.at.do("POST", sys.path, sys.body(pw)).status
				})
			}
			close(start)
			wg.Wait()
			accepted := 0
			for _, s := range statuses {
				switch s {
				case 200:
					accepted++
				case 401:
				default:
					t.Fatalf("login answered %d", s)
				}
			}
			creds, after := read()
			writes := int(after - before)
			t.Logf("%s: %d writes to the user, %d accepted", sys.name, writes, accepted)
			switch {
			case accepted > 1:
				t.Fatalf("the right password accepted %d times", accepted)
			case accepted == 0 && writes != lock.MaxFailures:
				t.Fatalf("%d checks without a login; the policy allows %d", writes, lock.MaxFailures)
			case accepted == 1 && writes > 2*lock.MaxFailures+1:
				t.Fatalf("%d writes with a login; the policy allows %d checks before it and %d after", writes, lock.MaxFailures, lock.MaxFailures)
			}
			if accepted == 0 {
				if !lock.Locked(creds.LockState(), time.Now()) {
					t.Fatalf("not locked after the burst: %+v", creds)
				}
				sys.at.do("POST", sys.path, sys.body(strongPassword)).must(t, 401, "the right password while locked")
			}
		})
	}
}
