package local_test

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/local"
)

// TestGrantsThroughTheAPI: issue 20's grants from the outside. A policy whose grant allows 2
// signatures: 16 requests at once sign exactly 2, the 14 others are 403 naming the grant, and
// the policy shows 2 used of 2. A one-off grant lets a user no policy names sign once; then it
// is used up, listed with its count, and revoked (once). Bad grants name their field.
func TestGrantsThroughTheAPI(t *testing.T) {
	srv := startLocal(t)
	con := consoleAdmin(t, srv)
	anon := client{t: t, srv: srv, host: local.DemoDomain}
	var cert struct{ ID string }
	con.do("POST", "/console/certificates", map[string]any{"groups": inGroup(t, con), "algorithm": "EC_P256", "subject": map[string]string{"commonName": "Grants"}}).must(t, 201, "cert").json(t, &cert)
	activate(t, con, cert.ID)
	user := func(name string) (string, client) {
		var u struct{ ID string }
		con.do("POST", "/console/users", map[string]any{"username": name, "password": strongPassword, "roles": []string{"signer"}}).must(t, 201, "user").json(t, &u)
		var login struct{ Token string }
		anon.do("POST", "/console/login", map[string]string{"username": name, "password": strongPassword}).must(t, 200, "login").json(t, &login)
		return u.ID, anon.as(login.Token)
	}
	relID, rel := user("release-bot")
	sign := func(c client, i int) resp {
		sum := sha256.Sum256([]byte(fmt.Sprintf("release-%d", i)))
		return c.do("POST", "/sign", map[string]any{"certificateId": cert.ID, "digests": []map[string]string{{"digest": b64(sum[:]), "digestAlgorithm": "SHA256"}}})
	}

	now := time.Now().UTC().Truncate(time.Second)
	window := map[string]string{"from": now.Add(-time.Hour).Format(time.RFC3339), "to": now.Add(time.Hour).Format(time.RFC3339)}
	pol := map[string]any{"name": "Release", "enabled": true, "priority": 10, "action": "allow",
		"what": map[string]any{"certificates": []string{cert.ID}}, "who": map[string]any{"users": []string{relID}},
		"grant": map[string]any{"maxSignatures": 2, "window": window}}
	var created struct {
		ID    string
		Grant struct{ MaxSignatures int }
	}
	con.do("POST", "/console/policies", pol).must(t, 201, "policy with a grant").json(t, &created)
	if created.Grant.MaxSignatures != 2 {
		t.Fatalf("created %+v", created)
	}
	for field, bad := range map[string]map[string]any{
		"grant":               {"action": "deny", "grant": map[string]any{"maxSignatures": 2}},
		"grant.maxSignatures": {"grant": map[string]any{"maxSignatures": 0}},
		"grant.to":            {"grant": map[string]any{"maxSignatures": 1, "window": map[string]string{"from": window["to"], "to": window["from"]}}},
	} {
		p := map[string]any{"name": "Bad " + field, "enabled": false, "priority": 20, "action": "allow",
			"what": map[string]any{"certificates": []string{cert.ID}}, "who": map[string]any{"users": []string{relID}}}
		for k, v := range bad {
			p[k] = v
		}
		if r := con.do("POST", "/console/policies", p).must(t, 400, "bad grant"); !strings.Contains(r.body, `"`+field+`"`) {
			t.Fatalf("bad %s: %s", field, r.body)
		}
	}

	statuses := map[int]int{}
	var refusals []resp
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := sign(rel, i)
			mu.Lock()
			defer mu.Unlock()
			statuses[r.status]++
			if r.status != 200 {
				refusals = append(refusals, r)
			}
		}()
	}
	wg.Wait()
	if statuses[200] != 2 || statuses[403] != 14 {
		t.Fatalf("16 requests against a grant of 2: %v", statuses)
	}
	for _, r := range refusals {
		if r.problemType() != "forbidden" || !strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json") ||
			!strings.Contains(r.body, "grant of policy "+created.ID+" is used up: 2 of 2 signatures") {
			t.Fatalf("refusal: %s %s", r.header.Get("Content-Type"), r.body)
		}
	}
	var got struct {
		Grant struct {
			MaxSignatures, Used int
			Window              struct{ From, To time.Time }
		}
	}
	con.do("GET", "/console/policies/"+created.ID, nil).must(t, 200, "policy").json(t, &got)
	if got.Grant.MaxSignatures != 2 || got.Grant.Used != 2 || !got.Grant.Window.From.Equal(now.Add(-time.Hour)) {
		t.Fatalf("policy's grant usage: %+v", got.Grant)
	}

	// A one-off grant to a user no policy names.
	onceID, once := user("one-off")
	sign(once, 100).must(t, 403, "no policy, no grant")
	for field, body := range map[string]map[string]any{
		"userId":        {"userId": "cu_nobody", "certificateId": cert.ID, "maxSignatures": 1},
		"certificateId": {"userId": onceID, "certificateId": "crt_none", "maxSignatures": 1},
		"maxSignatures": {"userId": onceID, "certificateId": cert.ID, "maxSignatures": 0},
		"to":            {"userId": onceID, "certificateId": cert.ID, "maxSignatures": 1, "to": now.Add(-time.Minute).Format(time.RFC3339)},
	} {
		if r := con.do("POST", "/console/grants", body).must(t, 400, "bad grant"); !strings.Contains(r.body, `"`+field+`"`) {
			t.Fatalf("bad %s: %s", field, r.body)
		}
	}
	var g struct {
		ID, State           string
		Used, MaxSignatures int
	}
	con.do("POST", "/console/grants", map[string]any{"userId": onceID, "certificateId": cert.ID, "maxSignatures": 1, "to": now.Add(time.Hour).Format(time.RFC3339)}).
		must(t, 201, "grant").json(t, &g)
	if g.State != "active" || g.MaxSignatures != 1 || !strings.HasPrefix(g.ID, "gnt_") {
		t.Fatalf("grant %+v", g)
	}
	sign(once, 101).must(t, 200, "signed under the grant")
	if r := sign(once, 102).must(t, 403, "used up"); !strings.Contains(r.body, "grant "+g.ID+" is used up: 1 of 1 signatures") {
		t.Fatalf("used up: %s", r.body)
	}
	var list struct {
		Items []struct {
			ID, State string
			Used      int
		}
	}
	con.do("GET", "/console/grants", nil).must(t, 200, "list").json(t, &list)
	if len(list.Items) != 1 || list.Items[0].ID != g.ID || list.Items[0].Used != 1 || list.Items[0].State != "used-up" {
		t.Fatalf("grants %+v", list.Items)
	}
	con.do("POST", "/console/grants/"+g.ID+"/revoke", nil).must(t, 200, "revoke").json(t, &g)
	if g.State != "revoked" {
		t.Fatalf("revoked %+v", g)
	}
	con.do("POST", "/console/grants/"+g.ID+"/revoke", nil).must(t, 409, "revoke twice")
	if r := sign(once, 103).must(t, 403, "revoked"); !strings.Contains(r.body, "was revoked") {
		t.Fatalf("revoked: %s", r.body)
	}
	con.do("GET", "/console/grants/gnt_aaaaaaaaaaaaaaaaaaaaaaaaaa", nil).must(t, 404, "unknown grant")
	// The signing events name the grant as what allowed.
	var events struct {
		Items []struct{ Kind, Decision, PolicyID string }
	}
	con.do("GET", "/console/events?userId="+onceID, nil).must(t, 200, "events").json(t, &events)
	allowedBy := ""
	for _, e := range events.Items {
		if e.Kind == "decision" && e.Decision == "allow" {
			allowedBy = e.PolicyID
		}
	}
	if allowedBy != g.ID {
		t.Fatalf("the grant's signature was allowed by %q, want %s", allowedBy, g.ID)
	}
}
