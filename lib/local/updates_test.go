package local_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/certificates"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/local"
	"github.com/opensignum/signum/lib/policy"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// updatesJSON is the answer of GET /portal/deployments/{id}/updates.
type updatesJSON struct {
	Version     string
	DataVersion int
	Available   []struct {
		Version, Reason string
		CanTake         bool
		Path            []string
	}
	Current *struct {
		ID, Version, State, Error string
		Steps                     []struct {
			Name, State, Error string
			Processed          int64
		}
	}
	MaintenanceWindow struct {
		Days            []string
		Start           string
		DurationMinutes int
		NextOpening     time.Time
	}
}

// portalAdmin registers the demo deployment's first Admin (ada) and returns a portal client.
func portalAdmin(t *testing.T, srv *local.Server) client {
	t.Helper()
	c := client{t: t, srv: srv}
	tok, _ := register(t, c, srv.DemoAdminInvite, "ada@example.com")
	return c.as(tok)
}

// portalRole invites a portal user of role and returns its client.
func portalRole(t *testing.T, admin client, role, email string) client {
	t.Helper()
	var inv struct{ Token string }
	admin.do("POST", "/portal/deployments/"+admin.srv.Demo.ID+"/users", map[string]string{"role": role}).must(t, 201, "invite "+role).json(t, &inv)
	tok, _ := register(t, client{t: t, srv: admin.srv}, inv.Token, email)
	return admin.as(tok)
}

// waitRun polls the deployment's updates until its current run is in state (or fails).
func waitRun(t *testing.T, admin client, state string, within time.Duration) updatesJSON {
	t.Helper()
	var u updatesJSON
	for end := time.Now().Add(within); ; {
		admin.do("GET", "/portal/deployments/"+admin.srv.Demo.ID+"/updates", nil).must(t, 200, "updates").json(t, &u)
		if u.Current != nil && u.Current.State == state {
			return u
		}
		if time.Now().After(end) {
			t.Fatalf("the update did not reach %s in %s: %+v", state, within, u.Current)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestUpdateWhileSigning publishes release 0.2.0 with the certificate-groups migration, and
// applies it to a deployment whose certificate and policy still use a free-text label while
// a signer signs with that certificate through that policy, before, during and after: not
// one signature fails, the run is shown done with the migration's progress, and the
// deployment is on 0.2.0 with data version 2.
func TestUpdateWhileSigning(t *testing.T) {
	srv := startLocal(t)
	ctx := context.Background()
	dep := srv.Demo.ID
	st := store.New(srv.Clients.DynamoDB, srv.Config.TableName, function.CursorKey(envFor(srv)))
	admin := portalAdmin(t, srv)
	var ct struct{ Token string }
	admin.do("POST", "/portal/deployments/"+dep+"/console-token", nil).must(t, 200, "console token").json(t, &ct)
	con := admin.at(local.DemoDomain).as(ct.Token)

	// A certificate that signs, and a console signer whom no policy admits yet.
	var cert struct{ ID string }
	con.do("POST", "/console/certificates", map[string]any{"groups": inGroup(t, con), "algorithm": "EC_P256", "subject": map[string]string{"commonName": "Update test"}}).must(t, 201, "cert").json(t, &cert)
	activate(t, con, cert.ID)
	var bot struct{ ID string }
	con.do("POST", "/console/users", map[string]any{"username": "ci-bot", "name": "CI", "password": strongPassword, "roles": []string{"signer"}}).must(t, 201, "signer").json(t, &bot)
	var lg struct{ Token string }
	con.do("POST", "/console/login", map[string]string{"username": "ci-bot", "password": strongPassword}).must(t, 200, "bot login").json(t, &lg)
	signer := con.as(lg.Token)

	// The data as it was before groups existed (version 1): the certificate carries the
	// free-text label "legacy", the only policy admitting the signer names that label, and
	// the deployment has no migration marker.
	c, err := st.GetCertificate(ctx, dep, cert.ID)
	if err != nil {
		t.Fatal(err)
	}
	labelled := c
	labelled.Groups = []string{"legacy"}
	if _, err := st.UpdateCertificate(ctx, c, labelled, tenant.LogEntry{Actor: "test", Action: "fixture"}); err != nil {
		t.Fatal(err)
	}
	pol := policy.Policy{ID: tenant.NewID("pol_"), Name: "labelled", Enabled: true, Priority: 10, Action: policy.Allow,
		What: policy.What{Groups: []string{"legacy"}}, Who: policy.Who{Users: []string{bot.ID}}}
	if _, err := st.CreatePolicy(ctx, dep, pol, tenant.LogEntry{Actor: "test", Action: "fixture"}); err != nil {
		t.Fatal(err)
	}
	// Many more labelled certificates and policies, so that the migration takes several
	// batches while the signer signs.
	for i := range 120 {
		if _, err := st.CreateCertificate(ctx, certificates.Certificate{ID: tenant.NewID("crt_"), DeploymentID: dep, Name: fmt.Sprintf("legacy %d", i),
			Status: certificates.StatusPending, Backend: "awskms", Algorithm: c.Algorithm, KeyURI: "awskms:///k", Subject: certificates.Subject{CommonName: "x"},
			Groups: []string{fmt.Sprintf("label-%d", i%7), "legacy"}}, tenant.LogEntry{Actor: "test", Action: "fixture"}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 60 {
		p := policy.Policy{ID: tenant.NewID("pol_"), Name: fmt.Sprintf("labelled %d", i), Enabled: true, Priority: 20 + i, Action: policy.Allow,
			What: policy.What{Groups: []string{fmt.Sprintf("label-%d", i%7)}}, Who: policy.Who{Roles: []string{"nobody"}}}
		if _, err := st.CreatePolicy(ctx, dep, p, tenant.LogEntry{Actor: "test", Action: "fixture"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := srv.Clients.DynamoDB.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(srv.Config.TableName),
		Key: map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "DEP#" + dep},
			"SK": &types.AttributeValueMemberS{Value: "MIGRATED#certificate-groups"}}}); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("build.exe"))
	sign := func() resp {
		return signer.do("POST", "/sign", map[string]any{"certificateId": cert.ID, "signatureScheme": "ECDSA",
			"digests": []map[string]string{{"digest": b64(sum[:]), "digestAlgorithm": "SHA256"}}})
	}
	sign().must(t, 200, "signing through the label before the update")

	signed(t, srv, "POST", "/operator/releases", `{"version":"0.2.0","notes":"Certificate groups replace free-text labels.","minFrom":"0.1.0","dataVersion":2,"migrations":["certificate-groups"]}`).must(t, 201, "publish 0.2.0")

	// Signers sign all along.
	var ok, failed atomic.Int64
	var failures sync.Map
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if r := sign(); r.status == 200 {
					ok.Add(1)
				} else {
					failed.Add(1)
					failures.Store(r.status, r.body)
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	before := ok.Load()
	// The deployment's health says an update is there to take, and where.
	var h healthJSON
	admin.do("GET", "/portal/deployments/"+dep+"/health", nil).must(t, 200, "health before").json(t, &h)
	if c := h.component(t, "updates"); c.State != "available" || c.Status != "ok" || !strings.Contains(c.Reason, "0.2.0") || !strings.HasSuffix(c.Link, "/updates") {
		t.Fatalf("health before the update: %+v", c)
	}
	admin.do("POST", "/portal/deployments/"+dep+"/updates", map[string]string{"version": "0.2.0"}).must(t, 202, "apply now")
	u := waitRun(t, admin, "done", 90*time.Second)
	admin.do("GET", "/portal/deployments/"+dep+"/health", nil).must(t, 200, "health after").json(t, &h)
	if c := h.component(t, "updates"); c.State != "idle" || !strings.Contains(c.Reason, "0.2.0") {
		t.Fatalf("health after the update: %+v", c)
	}
	during := ok.Load() - before
	time.Sleep(300 * time.Millisecond) // and after
	close(stop)
	wg.Wait()
	failures.Range(func(k, v any) bool { t.Errorf("a signature failed: %v %v", k, v); return true })
	if failed.Load() != 0 || during == 0 {
		t.Fatalf("%d signatures failed, %d succeeded while the update ran", failed.Load(), during)
	}
	if u.Version != "0.2.0" || u.DataVersion != 2 || len(u.Current.Steps) != 1 || u.Current.Steps[0].State != "done" || u.Current.Steps[0].Processed < 2*61+121 {
		t.Fatalf("after the update: %+v %+v", u, u.Current)
	}
	// The data is migrated: the certificate names the group "legacy" by id, and the policy too.
	g, err := st.CertificateGroupByName(ctx, dep, "legacy")
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := st.GetCertificate(ctx, dep, cert.ID); len(c.Groups) != 1 || c.Groups[0] != g.ID {
		t.Fatalf("certificate groups %v", c.Groups)
	}
	if p, _ := st.GetPolicy(ctx, dep, pol.ID); len(p.What.Groups) != 1 || p.What.Groups[0] != g.ID {
		t.Fatalf("policy groups %v", p.What.Groups)
	}
	sign().must(t, 200, "signing through the group after the update")
	t.Logf("%d signatures while the update ran, %d in all, none failed", during, ok.Load())
}

// TestUpdatesBadInput: each refusal the issue lists, through the API, with what it says.
func TestUpdatesBadInput(t *testing.T) {
	srv := startLocal(t)
	dep := srv.Demo.ID
	admin := portalAdmin(t, srv)
	user := portalRole(t, admin, "User", "user@example.com")
	viewer := portalRole(t, admin, "Viewer", "viewer@example.com")
	base := "/portal/deployments/" + dep

	signed(t, srv, "POST", "/operator/releases", `{"version":"0.2.0","notes":"groups","minFrom":"0.1.0","dataVersion":2,"migrations":["certificate-groups"]}`).must(t, 201, "publish 0.2.0")
	signed(t, srv, "POST", "/operator/releases", `{"version":"0.3.0","notes":"next","minFrom":"0.2.0","dataVersion":2,"migrations":[]}`).must(t, 201, "publish 0.3.0")
	signed(t, srv, "POST", "/operator/releases", `{"version":"0.2.0","minFrom":"0.1.0","dataVersion":2}`).must(t, 409, "duplicate release")
	r := signed(t, srv, "POST", "/operator/releases", `{"version":"0.4.0","minFrom":"0.1.0","dataVersion":2,"migrations":["drop-everything"]}`).must(t, 400, "unknown migration")
	if !strings.Contains(r.body, `"name":"migrations"`) || !strings.Contains(r.body, "drop-everything") {
		t.Fatalf("unknown migration: %s", r.body)
	}
	// A data version below an older release's would take a deployment's data back.
	r = signed(t, srv, "POST", "/operator/releases", `{"version":"0.4.0","minFrom":"0.1.0","dataVersion":1}`).must(t, 400, "a lower data version")
	if !strings.Contains(r.body, `"name":"dataVersion"`) {
		t.Fatalf("lower data version: %s", r.body)
	}
	signed(t, srv, "POST", "/operator/releases", `{"version":"0.9.0","minFrom":"0.3.0","dataVersion":3}`).must(t, 201, "publish a release of data version 3")
	signed(t, srv, "GET", "/operator/releases/0.3.0", "").must(t, 200, "get release")
	signed(t, srv, "GET", "/operator/releases/7.7.7", "").must(t, 404, "unknown release")

	var u updatesJSON
	viewer.do("GET", base+"/updates", nil).must(t, 200, "viewer reads").json(t, &u)
	if u.Version != "0.1.0" || len(u.Available) != 3 || !u.Available[0].CanTake || u.Available[1].CanTake || u.MaintenanceWindow.Start != "01:00" {
		t.Fatalf("overview %+v", u)
	}
	if u.Available[1].Version != "0.3.0" || strings.Join(u.Available[1].Path, ",") != "0.2.0,0.3.0" {
		t.Fatalf("path to 0.3.0: %+v", u.Available[1])
	}

	viewer.do("POST", base+"/updates", map[string]string{"version": "0.2.0"}).must(t, 403, "a Viewer applies")
	user.do("POST", base+"/updates", map[string]string{"version": "0.2.0"}).must(t, 403, "a User applies")
	admin.do("POST", base+"/updates", map[string]string{"version": "5.5.5"}).must(t, 404, "unknown version")
	r = admin.do("POST", base+"/updates", map[string]string{"version": "0.3.0"}).must(t, 409, "not from 0.1.0")
	if !strings.Contains(r.body, "update to 0.2.0 first") {
		t.Fatalf("the refusal names no path: %s", r.body)
	}
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	r = admin.do("POST", base+"/updates", map[string]string{"version": "0.2.0", "at": past}).must(t, 400, "in the past")
	if !strings.Contains(r.body, `"name":"at"`) || !strings.Contains(r.body, "in the past") {
		t.Fatalf("past: %s", r.body)
	}
	noon := time.Now().UTC().Truncate(24 * time.Hour).Add(36 * time.Hour) // tomorrow 12:00, outside 01:00-05:00
	r = admin.do("POST", base+"/updates", map[string]string{"version": "0.2.0", "at": noon.Format(time.RFC3339)}).must(t, 400, "outside the window")
	if !strings.Contains(r.body, `"name":"at"`) || !strings.Contains(r.body, "outside the maintenance window") {
		t.Fatalf("outside: %s", r.body)
	}
	far := noon.Add(-10*time.Hour).AddDate(0, 0, 91) // 02:00, in the window, 91 days ahead
	r = admin.do("POST", base+"/updates", map[string]string{"version": "0.2.0", "at": far.Format(time.RFC3339)}).must(t, 400, "too far ahead")
	if !strings.Contains(r.body, `"name":"at"`) || !strings.Contains(r.body, "90 days") {
		t.Fatalf("far: %s", r.body)
	}
	admin.do("PUT", base+"/maintenance-window", map[string]any{"days": []string{"funday"}, "start": "25:00", "durationMinutes": 5}).must(t, 400, "bad window")
	viewer.do("PUT", base+"/maintenance-window", map[string]any{"days": []string{"sun"}, "start": "12:00", "durationMinutes": 60}).must(t, 403, "a Viewer sets the window")
	// Every day at noon for two hours: the time is in the window now.
	admin.do("PUT", base+"/maintenance-window", map[string]any{"days": []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}, "start": "11:30", "durationMinutes": 120}).must(t, 200, "window")
	var run struct{ ID, State string }
	admin.do("POST", base+"/updates", map[string]string{"version": "0.2.0", "at": noon.Format(time.RFC3339)}).must(t, 201, "schedule").json(t, &run)
	if run.State != "scheduled" {
		t.Fatalf("scheduled: %+v", run)
	}
	r = admin.do("POST", base+"/updates", map[string]string{"version": "0.2.0"}).must(t, 409, "another update is scheduled")
	if !strings.Contains(r.body, "Another update is unfinished") {
		t.Fatalf("busy: %s", r.body)
	}
	admin.do("POST", base+"/updates/current/retry", nil).must(t, 409, "retry of a scheduled update")
	viewer.do("DELETE", base+"/updates/current", nil).must(t, 403, "a Viewer cancels")
	admin.do("DELETE", base+"/updates/current", nil).must(t, 200, "cancel")
	admin.do("DELETE", base+"/updates/current", nil).must(t, 409, "cancel again")

	// A release whose data version this code does not serve: deploy the code first.
	admin.do("POST", base+"/updates", map[string]string{"version": "0.2.0"}).must(t, 202, "apply now")
	u = waitRun(t, admin, "done", 60*time.Second)
	admin.do("POST", base+"/updates", map[string]string{"version": "0.3.0"}).must(t, 202, "0.3.0 now")
	waitRun(t, admin, "done", 60*time.Second)
	r = admin.do("POST", base+"/updates", map[string]string{"version": "0.9.0"}).must(t, 409, "data version 3")
	if !strings.Contains(r.body, "deploy the code first") {
		t.Fatalf("unserved data version: %s", r.body)
	}

	// The operator's rollout: the deployment is on 0.3.0 already, so it is skipped with the reason.
	var ro struct {
		ID          string
		Deployments []struct{ DeploymentID, State, Skipped string }
	}
	signed(t, srv, "POST", "/operator/rollouts", fmt.Sprintf(`{"version":"0.3.0","deployments":[%q],"waveSize":1,"waveIntervalMinutes":60}`, dep)).must(t, 201, "rollout").json(t, &ro)
	if len(ro.Deployments) != 1 || ro.Deployments[0].State != "skipped" || !strings.Contains(ro.Deployments[0].Skipped, "0.3.0") {
		t.Fatalf("rollout %+v", ro)
	}
	signed(t, srv, "GET", "/operator/rollouts/"+ro.ID, "").must(t, 200, "rollout status")
	// One request schedules at most 100 deployments.
	var many []string
	for i := range 101 {
		many = append(many, fmt.Sprintf("%q", fmt.Sprintf("dep_%d", i)))
	}
	r = signed(t, srv, "POST", "/operator/rollouts", `{"version":"0.3.0","deployments":[`+strings.Join(many, ",")+`],"waveSize":1,"waveIntervalMinutes":60}`).must(t, 400, "101 deployments")
	if !strings.Contains(r.body, `"name":"deployments"`) {
		t.Fatalf("101 deployments: %s", r.body)
	}
}

// TestRolloutInWaves: every deployment on an older version is scheduled, wave by wave, each
// in its own next maintenance window at or after its wave's time.
func TestRolloutInWaves(t *testing.T) {
	srv := startLocal(t)
	var ids []string
	for i := range 3 {
		var d struct{ ID string }
		signed(t, srv, "POST", "/operator/deployments", fmt.Sprintf(`{"name":"Wave %d"}`, i)).must(t, 201, "provision").json(t, &d)
		ids = append(ids, d.ID)
	}
	signed(t, srv, "POST", "/operator/releases", `{"version":"0.2.0","minFrom":"0.1.0","dataVersion":2,"migrations":["certificate-groups"]}`).must(t, 201, "publish")
	var ro struct {
		ID          string
		Deployments []struct {
			DeploymentID, State string
			Wave                int
			At                  time.Time
		}
	}
	signed(t, srv, "POST", "/operator/rollouts", fmt.Sprintf(`{"version":"0.2.0","deployments":[%q,%q,%q],"waveSize":2,"waveIntervalMinutes":1440}`, ids[0], ids[1], ids[2])).
		must(t, 201, "rollout").json(t, &ro)
	if len(ro.Deployments) != 3 {
		t.Fatalf("rollout %+v", ro)
	}
	for i, d := range ro.Deployments {
		wantWave := i / 2
		waveAt := time.Now().Add(time.Duration(wantWave) * 24 * time.Hour)
		h := d.At.UTC().Hour()
		if d.State != "scheduled" || d.Wave != wantWave || d.At.Before(waveAt.Add(-time.Minute)) || h < 1 || h >= 5 {
			t.Errorf("deployment %d: %+v (wave time %s)", i, d, waveAt.UTC())
		}
	}
	// All on older versions, when none are named: the demo deployment too, but not the three
	// already scheduled (a request takes only deployments with no unfinished update, so that
	// the next request of a rollout too large for one reaches the remaining ones).
	var all struct {
		Deployments []struct{ DeploymentID, State, Skipped string }
		Remaining   int
	}
	signed(t, srv, "POST", "/operator/rollouts", `{"version":"0.2.0","waveSize":10,"waveIntervalMinutes":0}`).must(t, 201, "rollout to all").json(t, &all)
	states := map[string]int{}
	for _, d := range all.Deployments {
		states[d.State]++
	}
	if states["scheduled"] != 1 || len(all.Deployments) != 1 || all.Deployments[0].DeploymentID != srv.Demo.ID || all.Remaining != 0 {
		t.Fatalf("rollout to all: %+v", all)
	}
}
