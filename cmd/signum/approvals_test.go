package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/local"
	"github.com/opensignum/signum/lib/local/localtest"
)

// approverToken makes a console user with role and returns its user id and a token from its
// login.
func approverToken(t *testing.T, w *world, name, role string) (string, string) {
	t.Helper()
	const pw = "Correct-Horse-9-Battery"
	var u struct{ ID string }
	if err := json.Unmarshal(w.lt.Console(t, "POST", "/console/users", map[string]any{"username": name, "password": pw, "roles": []string{role}}), &u); err != nil {
		t.Fatal(err)
	}
	tok := field(t, api(t, "POST", "/console/login", "", local.DemoDomain, map[string]string{"username": name, "password": pw}), "token")
	if tok == "" {
		t.Fatal("no token for " + name)
	}
	return u.ID, tok
}

var heldID = regexp.MustCompile(`evt_[a-z2-7]{26}`)

// TestTwoPersonApproval (issue 20's done-when): a policy requires two approvals. signum sign
// without --wait is held (exit 6, with the request id and how to fetch it); two console
// users approve; signum sign --request writes the signed PE, which osslsigncode verifies. A
// second request signed with --wait gets its signatures once approved meanwhile; a rejected
// request exits 4 and writes nothing. (Self-approval, expiry and faults: lib/api/signer.)
func TestTwoPersonApproval(t *testing.T) {
	w := newWorld(t)
	certID := w.lt.Certificate(t, "Gated release", "RSA_2048")
	botID, botP12 := w.lt.Agent(t, "release-bot", time.Now().AddDate(1, 0, 0))
	aliceID, alice := approverToken(t, w, "alice-approver", "console-viewer")
	_, bob := approverToken(t, w, "bob-approver", "console-admin")
	w.lt.Console(t, "POST", "/console/policies", map[string]any{"name": "Gated", "enabled": true, "priority": 10, "action": "allow",
		"what": map[string]any{"certificates": []string{certID}}, "who": map[string]any{"users": []string{botID}}, "where": []any{},
		"approval": map[string]any{"required": 2, "approvers": map[string]any{"users": []string{aliceID, botID}, "roles": []string{"console-admin"}}, "expiresAfter": "1h"}})

	dir := t.TempDir()
	exe := filepath.Join(dir, "app.exe")
	_ = os.WriteFile(exe, localtest.WindowsExe(t), 0o755)
	unsigned, _ := os.ReadFile(exe)

	code, out, errOut := cli(t, w.env(botP12), "sign", "--cert", certID, exe)
	id := heldID.FindString(errOut)
	if code != exitHeld || id == "" || !strings.Contains(errOut, "signum sign --request "+id) {
		t.Fatalf("held: %d %s %s", code, out, errOut)
	}
	if now, _ := os.ReadFile(exe); string(now) != string(unsigned) {
		t.Fatal("a held request changed the file")
	}
	// Fetching before the approvals is still held.
	if code, _, errOut := cli(t, w.env(botP12), "sign", "--cert", certID, "--request", id, exe); code != exitHeld {
		t.Fatalf("fetch before approval: %d %s", code, errOut)
	}
	if _, err := w.lt.Call("POST", "/console/approvals/"+id+"/approve", alice, local.DemoDomain, map[string]string{"comment": "release 2.0"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.lt.Call("POST", "/console/approvals/"+id+"/approve", alice, local.DemoDomain, nil); err == nil || !strings.Contains(err.Error(), ": 409 ") {
		t.Fatalf("approving twice: %v", err)
	}
	if _, err := w.lt.Call("POST", "/console/approvals/"+id+"/approve", bob, local.DemoDomain, nil); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = cli(t, w.env(botP12), "sign", "--cert", certID, "--request", id, "-o", "json", exe)
	if code != 0 || !strings.Contains(out, id) {
		t.Fatalf("fetch approved: %d %s %s", code, out, errOut)
	}
	osslsigncodeVerify(t, w, exe)

	// --wait: the approvals come while signum polls.
	exe2 := filepath.Join(dir, "tool.exe")
	_ = os.WriteFile(exe2, localtest.WindowsExe(t), 0o755)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			raw, err := w.lt.Call("GET", "/console/approvals?status=pending", bob, local.DemoDomain, nil)
			if err != nil {
				continue
			}
			if pending := heldID.FindString(string(raw)); pending != "" {
				_, _ = w.lt.Call("POST", "/console/approvals/"+pending+"/approve", bob, local.DemoDomain, nil)
				_, _ = w.lt.Call("POST", "/console/approvals/"+pending+"/approve", alice, local.DemoDomain, nil)
				return
			}
		}
	}()
	code, out, errOut = cli(t, w.env(botP12), "sign", "--cert", certID, "--wait", "--wait-timeout", "1m", exe2)
	<-done
	if code != 0 || !strings.Contains(errOut, "needs 2 approval(s)") {
		t.Fatalf("sign --wait: %d %s %s", code, out, errOut)
	}
	osslsigncodeVerify(t, w, exe2)

	// A rejection: the fetch exits as a denial, and nothing is written.
	exe3 := filepath.Join(dir, "bad.exe")
	_ = os.WriteFile(exe3, localtest.WindowsExe(t), 0o755)
	_, _, errOut = cli(t, w.env(botP12), "sign", "--cert", certID, exe3)
	rejected := heldID.FindString(errOut)
	if _, err := w.lt.Call("POST", "/console/approvals/"+rejected+"/reject", bob, local.DemoDomain, map[string]string{"comment": "not a release build"}); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := cli(t, w.env(botP12), "sign", "--cert", certID, "--request", rejected, exe3); code != exitDenied || !strings.Contains(errOut, "rejected") {
		t.Fatalf("fetch rejected: %d %s", code, errOut)
	}
	noOutput(t, dir, "app.exe", "bad.exe", "tool.exe")

	// Every step is in the log, and the log verifies.
	raw := w.lt.Console(t, "GET", "/console/events/verify", nil)
	if !strings.Contains(string(raw), `"intact":true`) {
		t.Fatalf("verify: %s", raw)
	}
}
