package signer_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/opensignum/signum/lib/access"
	"github.com/opensignum/signum/lib/api/signer"
	"github.com/opensignum/signum/lib/audit"
	"github.com/opensignum/signum/lib/certificates"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/policy"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
	"github.com/opensignum/signum/lib/token"
	"github.com/opensignum/signum/lib/wire"
)

// approvalWorld is a deployment whose policy lets "ci" sign with its certificate once two of
// alice, bob (by name) and any console admin (by role) approve; carol is a console viewer
// named nowhere. The signer runs on a clock the test moves (skew).
type approvalWorld struct {
	*world
	d     tenant.Deployment
	cert  certificates.Certificate
	pol   policy.Policy
	skew  atomic.Int64 // the clock's offset from time.Now, ns
	h     edge.LambdaHandler
	users map[string]string // name → user id
	toks  map[string]string // name → console token
}

// newApprovalWorld builds it; with ch, the signer's table and keys fail as ch decides.
func newApprovalWorld(t *testing.T, ch *chaos) *approvalWorld {
	t.Helper()
	ctx := context.Background()
	aw := &approvalWorld{world: newWorld(t), users: map[string]string{}, toks: map[string]string{}}
	aw.d, aw.cert = aw.deployment(t, "approvals.localhost")
	log := tenant.LogEntry{Actor: "test", Action: "fixture"}
	for name, role := range map[string]identity.ConsoleRole{"ci": identity.Signer, "alice": identity.Signer, "bob": identity.ConsoleViewer,
		"admin": identity.ConsoleAdmin, "carol": identity.ConsoleViewer} {
		u, err := aw.clean.Store.CreateConsoleUser(ctx, identity.ConsoleUser{ID: tenant.NewID("cu_"), DeploymentID: aw.d.ID, Username: name,
			Roles: []identity.ConsoleRole{role}, Status: identity.StatusActive}, log)
		if err != nil {
			t.Fatal(err)
		}
		tok, _, err := aw.clean.Issuer.Issue(ctx, token.Claims{Subject: u.ID, System: token.Console, Deployment: aw.d.ID, Roles: []string{string(role)}})
		if err != nil {
			t.Fatal(err)
		}
		aw.users[name], aw.toks[name] = u.ID, tok
	}
	// ci is named an approver too: it still may not approve its own requests.
	p, err := policy.Draft{Name: "release", Enabled: true, Priority: 10, Action: policy.Allow, What: policy.What{Certificates: []string{aw.cert.ID}},
		Who: policy.Who{Users: []string{aw.users["ci"]}}, Approval: &policy.Approval{Required: 2, Users: []string{aw.users["alice"], aw.users["bob"], aw.users["ci"]},
			Roles: []string{string(identity.ConsoleAdmin)}, ExpiresAfter: "10m"}}.Policy(tenant.NewID("pol_"))
	if err != nil {
		t.Fatal(err)
	}
	if aw.pol, err = aw.clean.Store.CreatePolicy(ctx, aw.d.ID, p, log); err != nil {
		t.Fatal(err)
	}
	env := aw.env
	env.Now = func() time.Time { return time.Now().Add(time.Duration(aw.skew.Load())) }
	parts := function.NewParts(env)
	reg := keys.NewRegistry(aw.kms)
	if ch != nil {
		parts.Store = store.New(faultyDB{aw.tg.Clients.DynamoDB, ch}, aw.tg.Table, function.CursorKey(env))
		parts.Guard.Tenants = parts.Store
		reg = keys.NewRegistry(faultyKeys{aw.kms, ch})
	}
	aw.h = edge.Lambda(signer.NewHandler(parts, reg, access.NewMux(env.Log, parts.Guard)))
	return aw
}

type answer struct {
	status int
	body   string
}

// call sends method path (with body, when not "") as user name, with more headers as
// name, value pairs.
func (aw *approvalWorld) call(t *testing.T, name, method, path, body string, more ...string) answer {
	t.Helper()
	hdr := map[string]string{"authorization": "Bearer " + aw.toks[name], "host": aw.d.DomainName}
	if body != "" {
		hdr["content-type"] = "application/json"
	}
	for i := 0; i+1 < len(more); i += 2 {
		hdr[more[i]] = more[i+1]
	}
	resp, err := aw.h(context.Background(), events.APIGatewayV2HTTPRequest{Version: "2.0", RouteKey: method + " " + path, RawPath: path, Body: body, Headers: hdr,
		RequestContext: events.APIGatewayV2HTTPRequestContext{DomainName: aw.d.DomainName, RequestID: "r",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: path, SourceIP: "198.51.100.7"}}})
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Body}
}

// hold sends a signing request of the digests of files as ci and returns its held answer.
func (aw *approvalWorld) hold(t *testing.T, files ...string) (wire.HeldRequest, [][]byte) {
	t.Helper()
	var digests []map[string]string
	var raw [][]byte
	for _, f := range files {
		sum := sha256.Sum256([]byte(f))
		raw = append(raw, sum[:])
		digests = append(digests, map[string]string{"digest": base64.StdEncoding.EncodeToString(sum[:]), "digestAlgorithm": "SHA256", "fileName": f})
	}
	body, _ := json.Marshal(map[string]any{"certificateId": aw.cert.ID, "digests": digests,
		"context": map[string]any{"process": "signum", "commandLine": "signum sign --wait app.exe", "ci": map[string]string{"run": "42"}}})
	a := aw.call(t, "ci", "POST", "/sign", string(body))
	var h wire.HeldRequest
	if a.status != 202 || json.Unmarshal([]byte(a.body), &h) != nil || h.Status != "pending" || !strings.HasPrefix(h.RequestID, "evt_") || h.ExpiresAt == "" {
		t.Fatalf("held answer: %d %s", a.status, a.body)
	}
	return h, raw
}

func (aw *approvalWorld) events(t *testing.T) []audit.Event {
	t.Helper()
	all, err := store.All(context.Background(), func(ctx context.Context, pr store.PageRequest) (store.Page[audit.Event], error) {
		return aw.clean.Store.ListEvents(ctx, aw.d.ID, store.EventFilter{}, pr)
	})
	if err != nil {
		t.Fatal(err)
	}
	return all
}

func (aw *approvalWorld) verifyLog(t *testing.T) {
	t.Helper()
	if problems, _, err := audit.Verify(context.Background(), aw.clean.Store, aw.d.ID, audit.Lanes); err != nil || len(problems) != 0 {
		t.Fatalf("event log: %+v %v", problems, err)
	}
}

func eventsOf(all []audit.Event, of string) (approvals []audit.Event, completions []audit.Event) {
	for _, e := range all {
		switch {
		case e.Kind == audit.KindApproval && e.Of == of:
			approvals = append(approvals, e)
		case e.Kind == audit.KindCompletion && e.Of == of:
			completions = append(completions, e)
		}
	}
	return approvals, completions
}

// Two of the named approvers approve; the requester's fetch then gets signatures of exactly
// the held digests, and fetching again the same ones. Every step is in the log.
func TestApprovalTwoPersons(t *testing.T) {
	aw := newApprovalWorld(t, nil)
	h, raw := aw.hold(t, "app.exe", "lib.dll")
	id := h.RequestID
	path := "/console/approvals/" + id

	if a := aw.call(t, "ci", "GET", "/sign/requests/"+id, ""); a.status != 200 || !strings.Contains(a.body, `"status":"pending"`) {
		t.Fatalf("ok/fetch-pending: %d %s", a.status, a.body)
	}
	if a := aw.call(t, "alice", "GET", "/sign/requests/"+id, ""); a.status != 404 {
		t.Fatalf("fail/fetch-by-another: %d %s", a.status, a.body)
	}
	// Approvers see it, with what is asked; someone named nowhere does not.
	a := aw.call(t, "bob", "GET", "/console/approvals?status=pending", "")
	var list struct{ Items []signer.HeldRequest }
	if a.status != 200 || json.Unmarshal([]byte(a.body), &list) != nil || len(list.Items) != 1 {
		t.Fatalf("ok/list: %d %s", a.status, a.body)
	}
	got := list.Items[0]
	if got.ID != id || got.RequestedBy != aw.users["ci"] || got.CertificateID != aw.cert.ID || len(got.Digests) != 2 || got.Digests[0].FileName != "app.exe" ||
		got.Process != "signum" || got.CI["run"] != "42" || got.Required != 2 || !got.MayAnswer {
		t.Fatalf("ok/list-details: %+v", got)
	}
	if a := aw.call(t, "carol", "GET", "/console/approvals", ""); a.status != 200 || strings.Contains(a.body, id) {
		t.Fatalf("fail/list-by-bystander: %d %s", a.status, a.body)
	}
	if a := aw.call(t, "carol", "GET", path, ""); a.status != 404 {
		t.Fatalf("fail/get-by-bystander: %d %s", a.status, a.body)
	}
	if a := aw.call(t, "carol", "POST", path+"/approve", ""); a.status != 404 {
		t.Fatalf("fail/approve-by-bystander: %d %s", a.status, a.body)
	}
	// Nobody approves their own request.
	if a := aw.call(t, "ci", "POST", path+"/approve", ""); a.status != 403 {
		t.Fatalf("fail/self-approval: %d %s", a.status, a.body)
	}
	if a := aw.call(t, "alice", "POST", path+"/approve", `{"comment":"release 1.2, checked"}`); a.status != 200 || !strings.Contains(a.body, `"status":"pending"`) {
		t.Fatalf("ok/first-approval: %d %s", a.status, a.body)
	}
	if a := aw.call(t, "alice", "POST", path+"/approve", ""); a.status != 409 {
		t.Fatalf("fail/approve-twice: %d %s", a.status, a.body)
	}
	if a := aw.call(t, "ci", "GET", "/sign/requests/"+id, ""); !strings.Contains(a.body, `"approvals":1`) || strings.Contains(a.body, "signatures") {
		t.Fatalf("ok/fetch-one-of-two: %d %s", a.status, a.body)
	}
	// The second approver, by role.
	if a := aw.call(t, "admin", "POST", path+"/approve", "{}"); a.status != 200 || !strings.Contains(a.body, `"status":"approved"`) {
		t.Fatalf("ok/second-approval: %d %s", a.status, a.body)
	}
	if a := aw.call(t, "bob", "POST", path+"/reject", ""); a.status != 409 {
		t.Fatalf("fail/answer-decided: %d %s", a.status, a.body)
	}

	first := aw.call(t, "ci", "GET", "/sign/requests/"+id, "")
	var out wire.Response
	if first.status != 200 || json.Unmarshal([]byte(first.body), &out) != nil || len(out.Signatures) != 2 {
		t.Fatalf("ok/fetch-signed: %d %s", first.status, first.body)
	}
	pub := aw.leaf.PublicKey.(*ecdsa.PublicKey)
	for i, s := range out.Signatures {
		sig, _ := base64.StdEncoding.DecodeString(s.Signature)
		if !ecdsa.VerifyASN1(pub, raw[i], sig) || s.EventID != id || s.Digest != base64.StdEncoding.EncodeToString(raw[i]) {
			t.Fatalf("signature %d is not of the held digest: %+v", i, s)
		}
	}
	if again := aw.call(t, "ci", "GET", "/sign/requests/"+id, ""); again.status != 200 || again.body != first.body {
		t.Fatalf("ok/fetch-again-same: %d %s", again.status, again.body)
	}

	all := aw.events(t)
	var decision audit.Event
	for _, e := range all {
		if e.ID == id {
			decision = e
		}
	}
	approvals, completions := eventsOf(all, id)
	if decision.Decision != audit.Pending || len(decision.Digests) != 2 || len(approvals) != 2 || approvals[0].Outcome != audit.Approve ||
		len(completions) != 1 || completions[0].Outcome != audit.Signed || len(strings.Split(completions[0].SignatureSHA256, ",")) != 2 {
		t.Fatalf("log: decision %+v, approvals %+v, completions %+v", decision, approvals, completions)
	}
	comments := []string{approvals[0].Reason, approvals[1].Reason}
	if !slices.Contains(comments, "release 1.2, checked") {
		t.Fatalf("the comment is not recorded: %q", comments)
	}
	aw.verifyLog(t)
}

// A rejection ends the request unsigned; a request left past its expiry cannot be approved
// and its fetch says expired. Both end with a failed completion saying why.
func TestApprovalRejectedAndExpired(t *testing.T) {
	aw := newApprovalWorld(t, nil)
	rejected, _ := aw.hold(t, "app.exe")
	path := "/console/approvals/" + rejected.RequestID
	if a := aw.call(t, "bob", "POST", path+"/reject", `{"comment":"not from the release branch"}`); a.status != 200 || !strings.Contains(a.body, `"status":"rejected"`) {
		t.Fatalf("ok/reject: %d %s", a.status, a.body)
	}
	if a := aw.call(t, "alice", "POST", path+"/approve", ""); a.status != 409 {
		t.Fatalf("fail/approve-rejected: %d %s", a.status, a.body)
	}
	if a := aw.call(t, "ci", "GET", "/sign/requests/"+rejected.RequestID, ""); a.status != 200 || !strings.Contains(a.body, `"status":"rejected"`) || strings.Contains(a.body, "signatures") {
		t.Fatalf("ok/fetch-rejected: %d %s", a.status, a.body)
	}

	expired, _ := aw.hold(t, "app.exe")
	if a := aw.call(t, "alice", "POST", "/console/approvals/"+expired.RequestID+"/approve", ""); a.status != 200 {
		t.Fatalf("ok/approve-in-time: %d %s", a.status, a.body)
	}
	aw.skew.Store(int64(11 * time.Minute))
	if a := aw.call(t, "bob", "POST", "/console/approvals/"+expired.RequestID+"/approve", ""); a.status != 409 || !strings.Contains(a.body, "expired") {
		t.Fatalf("fail/approve-expired: %d %s", a.status, a.body)
	}
	if a := aw.call(t, "ci", "GET", "/sign/requests/"+expired.RequestID, ""); a.status != 200 || !strings.Contains(a.body, `"status":"expired"`) {
		t.Fatalf("ok/fetch-expired: %d %s", a.status, a.body)
	}
	if a := aw.call(t, "bob", "GET", "/console/approvals?status=expired", ""); !strings.Contains(a.body, expired.RequestID) || strings.Contains(a.body, rejected.RequestID) {
		t.Fatalf("ok/list-expired: %d %s", a.status, a.body)
	}

	all := aw.events(t)
	for _, c := range []struct {
		id, reason string
		votes      int
	}{{rejected.RequestID, "rejected by " + aw.users["bob"], 1}, {expired.RequestID, "expired", 1}} {
		approvals, completions := eventsOf(all, c.id)
		if len(approvals) != c.votes || len(completions) != 1 || completions[0].Outcome != audit.Failed || !strings.Contains(completions[0].Reason, c.reason) {
			t.Fatalf("log of %s: approvals %+v, completions %+v", c.id, approvals, completions)
		}
	}
	aw.verifyLog(t)
}

// An approved request whose certificate was disabled, or deleted, while it waited signs
// nothing: its fetch ends it failed, recorded.
func TestApprovalCertificateGoneMeanwhile(t *testing.T) {
	aw := newApprovalWorld(t, nil)
	ctx := context.Background()
	for _, status := range []certificates.Status{certificates.StatusDisabled, certificates.StatusDeleted} {
		cur, err := aw.clean.Store.GetCertificate(ctx, aw.d.ID, aw.cert.ID)
		if err != nil {
			t.Fatal(err)
		}
		if cur.Status != certificates.StatusActive {
			next := cur
			next.Status = certificates.StatusActive
			if cur, err = aw.clean.Store.UpdateCertificate(ctx, cur, next, tenant.LogEntry{Actor: "test", Action: "enable"}); err != nil {
				t.Fatal(err)
			}
		}
		h, _ := aw.hold(t, "app.exe")
		for _, who := range []string{"alice", "bob"} {
			if a := aw.call(t, who, "POST", "/console/approvals/"+h.RequestID+"/approve", ""); a.status != 200 {
				t.Fatalf("%s: approve: %d %s", status, a.status, a.body)
			}
		}
		next := cur
		next.Status = status
		if _, err := aw.clean.Store.UpdateCertificate(ctx, cur, next, tenant.LogEntry{Actor: "test", Action: string(status)}); err != nil {
			t.Fatal(err)
		}
		a := aw.call(t, "ci", "GET", "/sign/requests/"+h.RequestID, "")
		if a.status != 200 || !strings.Contains(a.body, `"status":"failed"`) || strings.Contains(a.body, "signatures") {
			t.Fatalf("%s: fetch: %d %s", status, a.status, a.body)
		}
		_, completions := eventsOf(aw.events(t), h.RequestID)
		if len(completions) != 1 || completions[0].Outcome != audit.Failed || completions[0].SignatureSHA256 != "" {
			t.Fatalf("%s: completions %+v", status, completions)
		}
	}
	aw.verifyLog(t)
}

// TestApprovalFaults injects table and KMS faults into holding, answering and fetching held
// requests, then checks what must hold whatever failed: a vote counted on a request has its
// approval event in the log; every signature returned has its signed completion, and no
// completion claims one that was not returned; and the chains verify.
func TestApprovalFaults(t *testing.T) {
	runs := 60
	if testing.Short() {
		runs = 20
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	ch := &chaos{rng: rand.New(rand.NewPCG(seed, 2)), p: 0.1}
	aw := newApprovalWorld(t, ch)

	returned := map[string]string{} // "<request id>#<i>" → signature returned
	statuses := map[string]int{}
	for i := 0; i < runs; i++ {
		ch.on = false
		h, _ := aw.hold(t, fmt.Sprintf("build-%d.exe", i))
		ch.on = true
		for _, who := range []string{"alice", "bob"} {
			for try := 0; try < 3; try++ {
				a := aw.call(t, who, "POST", "/console/approvals/"+h.RequestID+"/approve", "")
				statuses[fmt.Sprintf("approve %d", a.status)]++
				if a.status == 200 || a.status == 409 {
					break
				}
			}
		}
		for try := 0; try < 3; try++ {
			a := aw.call(t, "ci", "GET", "/sign/requests/"+h.RequestID, "")
			statuses[fmt.Sprintf("fetch %d", a.status)]++
			var out wire.Response
			if a.status == 200 && json.Unmarshal([]byte(a.body), &out) == nil && len(out.Signatures) > 0 {
				for j, s := range out.Signatures {
					k := fmt.Sprintf("%s#%d", h.RequestID, j)
					if prev, ok := returned[k]; ok && prev != s.Signature {
						t.Fatalf("request %s returned two different signatures", h.RequestID)
					}
					returned[k] = s.Signature
				}
				break
			}
		}
	}
	ch.on = false
	t.Logf("%d runs: %v", runs, statuses)
	if statuses["approve 503"] == 0 || statuses["approve 200"] == 0 {
		t.Fatalf("the run did not exercise both outcomes of approving: %v", statuses)
	}

	all := aw.events(t)
	held, err := store.All(context.Background(), func(ctx context.Context, pr store.PageRequest) (store.Page[store.ApprovalRequest], error) {
		return aw.clean.Store.ListApprovalRequests(ctx, aw.d.ID, "", pr)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range held {
		approvals, _ := eventsOf(all, r.ID)
		for _, v := range r.Votes {
			if !slices.ContainsFunc(approvals, func(e audit.Event) bool { return e.UserID == v.UserID && e.Outcome == v.Answer }) {
				t.Fatalf("request %s counts %s's %s without its event", r.ID, v.UserID, v.Answer)
			}
		}
	}
	claimed := map[string]string{}
	for _, e := range all {
		if e.Kind == audit.KindCompletion && e.Outcome == audit.Signed {
			for k, sum := range strings.Split(e.SignatureSHA256, ",") {
				claimed[fmt.Sprintf("%s#%d", e.Of, k)] = sum
			}
		}
	}
	for k, sig := range returned {
		raw, _ := base64.StdEncoding.DecodeString(sig)
		sum := sha256.Sum256(raw)
		if claimed[k] != fmt.Sprintf("%x", sum) {
			t.Fatalf("signature %s was returned without its completion", k)
		}
	}
	for k := range claimed {
		if _, ok := returned[k]; !ok {
			t.Fatalf("a completion claims signature %s, which was not returned", k)
		}
	}
	aw.verifyLog(t)
}

// An approved request is signed under its policy's grant too: of two requests approved while
// the grant allowed one signature, the second fetched ends failed, saying the grant is used
// up, and the grant's count stays at its maximum.
func TestApprovalTakesTheGrant(t *testing.T) {
	aw := newApprovalWorld(t, nil)
	ctx := context.Background()
	next := aw.pol
	next.Grant = &policy.Grant{MaxSignatures: 1}
	if err := next.Validate(); err != nil {
		t.Fatal(err)
	}
	updated, err := aw.clean.Store.UpdatePolicy(ctx, aw.d.ID, aw.pol, next, tenant.LogEntry{Actor: "test", Action: "grant"})
	if err != nil {
		t.Fatal(err)
	}
	aw.pol = updated
	first, _ := aw.hold(t, "one.exe")
	second, _ := aw.hold(t, "two.exe")
	for _, id := range []string{first.RequestID, second.RequestID} {
		for _, who := range []string{"alice", "admin"} {
			if a := aw.call(t, who, "POST", "/console/approvals/"+id+"/approve", ""); a.status != 200 {
				t.Fatalf("approve %s as %s: %d %s", id, who, a.status, a.body)
			}
		}
	}
	if a := aw.call(t, "ci", "GET", "/sign/requests/"+first.RequestID, ""); a.status != 200 || !strings.Contains(a.body, `"signatures"`) {
		t.Fatalf("the first approved request: %d %s", a.status, a.body)
	}
	a := aw.call(t, "ci", "GET", "/sign/requests/"+second.RequestID, "")
	if a.status != 403 || !strings.Contains(a.body, "used up") {
		t.Fatalf("the second approved request past the grant: %d %s", a.status, a.body)
	}
	if again := aw.call(t, "ci", "GET", "/sign/requests/"+second.RequestID, ""); !strings.Contains(again.body, `"status":"failed"`) || !strings.Contains(again.body, "used up") {
		t.Fatalf("the second request's state: %d %s", again.status, again.body)
	}
	_, completions := eventsOf(aw.events(t), second.RequestID)
	if len(completions) != 1 || completions[0].Outcome != audit.Failed || !strings.Contains(completions[0].Reason, "used up") {
		t.Fatalf("the second request's completion: %+v", completions)
	}
	used, err := aw.clean.Store.PolicyGrantUsed(ctx, aw.d.ID, aw.pol.ID, time.Time{})
	if err != nil || used != 1 {
		t.Fatalf("the grant counts %d (%v), want 1", used, err)
	}
	aw.verifyLog(t)
}

// A dry run (POST /sign/evaluate) says the request would be held for its approvals.
func TestEvaluateSaysApprovalIsRequired(t *testing.T) {
	aw := newApprovalWorld(t, nil)
	a := aw.call(t, "ci", "POST", "/sign/evaluate", `{"certificateId":"`+aw.cert.ID+`","process":"signum"}`)
	var v wire.Verdict
	if a.status != 200 || json.Unmarshal([]byte(a.body), &v) != nil || !v.Allowed || v.ApprovalsRequired != 2 || v.TimestampRequired {
		t.Fatalf("evaluate: %d %s", a.status, a.body)
	}
}

// A request retried with its Idempotency-Key after it was held is the same held request: the
// approvers see one.
func TestHeldRequestRetriedWithItsKey(t *testing.T) {
	aw := newApprovalWorld(t, nil)
	sum := sha256.Sum256([]byte("retried.exe"))
	body := `{"certificateId":"` + aw.cert.ID + `","digests":[{"digest":"` + base64.StdEncoding.EncodeToString(sum[:]) +
		`","digestAlgorithm":"SHA256"}],"context":{"process":"signum"}}`
	var ids []string
	for i := 0; i < 2; i++ {
		a := aw.call(t, "ci", "POST", "/sign", body, "idempotency-key", "release-42")
		var h wire.HeldRequest
		if a.status != 202 || json.Unmarshal([]byte(a.body), &h) != nil || h.RequestID == "" {
			t.Fatalf("try %d: %d %s", i+1, a.status, a.body)
		}
		ids = append(ids, h.RequestID)
	}
	if ids[0] != ids[1] {
		t.Fatalf("the retry was held as another request: %v", ids)
	}
	a := aw.call(t, "alice", "GET", "/console/approvals?status=pending", "")
	var list struct{ Items []signer.HeldRequest }
	if a.status != 200 || json.Unmarshal([]byte(a.body), &list) != nil || len(list.Items) != 1 {
		t.Fatalf("pending requests: %d %s", a.status, a.body)
	}
	// The same key with other digests is refused, as for any signing request.
	other := strings.Replace(body, base64.StdEncoding.EncodeToString(sum[:]), base64.StdEncoding.EncodeToString(make([]byte, 32)), 1)
	if a := aw.call(t, "ci", "POST", "/sign", other, "idempotency-key", "release-42"); a.status != 422 {
		t.Fatalf("the key with other digests: %d %s", a.status, a.body)
	}
}
