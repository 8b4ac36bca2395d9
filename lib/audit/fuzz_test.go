package audit_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/audit"
)

// FuzzEventHash: whatever a client reports (any bytes, HTML characters, invalid UTF-8,
// control characters), an event sealed by the service hashes the same when read back from its
// JSON-lines export, both ways a verifier may take (the JSON as written, the decoded event),
// and a change to a reported field is seen.
func FuzzEventHash(f *testing.F) {
	f.Add("signum", "make <release> && sign", "build-7", "k", "v\x00\xff")
	f.Add("", "", "", "", "")
	f.Add("\u2028\u2029", "\"\\/\b\f\n\r\t", "\x7f", "é", "😀")
	f.Fuzz(func(t *testing.T, process, commandLine, agent, ciKey, ciValue string) {
		e := audit.Event{ID: "evt_1", DeploymentID: "dep_1", Kind: audit.KindDecision, At: time.Unix(1764331200, 123).In(time.FixedZone("X", 3600)),
			Process: process, CommandLine: commandLine, AgentID: agent, CI: map[string]string{ciKey: ciValue}}
		e.Seal(nil)
		var b bytes.Buffer
		if err := audit.WriteJSONL(&b, []audit.Event{e}); err != nil {
			t.Fatal(err)
		}
		x, err := audit.ReadExport(&b)
		if err != nil {
			t.Fatal(err)
		}
		problems, n, err := audit.Verify(context.Background(), x, "dep_1", audit.Lanes)
		if err != nil || n != 1 || len(problems) != 0 {
			t.Fatalf("a sealed event does not verify from its export: %d %+v %v", n, problems, err)
		}
		changed := e
		changed.Process += "x"
		if changed.ComputeHash() == e.Hash {
			t.Fatal("a changed process keeps the hash")
		}
	})
}

// FuzzReadExport: any file given to the offline verifier is read or refused with an error,
// never a panic, and what is read verifies without one.
func FuzzReadExport(f *testing.F) {
	c := chain(3)
	var b bytes.Buffer
	_ = audit.WriteJSONL(&b, c)
	f.Add(b.Bytes())
	f.Add([]byte(strings.Replace(b.String(), `"seq":2`, `"seq":9`, 1)))
	f.Add([]byte(`{"lane":99}`))
	f.Add([]byte("{}\n[]\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		x, err := audit.ReadExport(bytes.NewReader(raw))
		if err != nil {
			return
		}
		_, _, _ = audit.Verify(context.Background(), x, x.DeploymentID, audit.Lanes, audit.WithReceipts([]audit.Seal{{}}))
	})
}
