package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/audit"
)

// writeExport writes events as a JSON-lines export and returns its path.
func writeExport(t *testing.T, events []audit.Event) string {
	t.Helper()
	var b bytes.Buffer
	if err := audit.WriteJSONL(&b, events); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(p, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestEventsVerifyOffline: the offline verifier passes an intact export (in any order) and
// reports, with exit code 1, one with an event removed or altered.
func TestEventsVerifyOffline(t *testing.T) {
	var events []audit.Event
	var prev *audit.Event
	for i := 0; i < 4; i++ {
		e := audit.Event{ID: "evt_" + string(rune('a'+i)), DeploymentID: "dep_x", Lane: 5, Kind: audit.KindDecision, Decision: audit.Deny,
			At: time.Date(2026, 11, 28, 12, 0, i, 0, time.UTC), Process: "<make & sign>"}
		e.Seal(prev)
		events = append(events, e)
		prev = &events[i]
	}
	env := map[string]string{"SIGNUM_CONFIG": filepath.Join(t.TempDir(), "none.json")}
	shuffled := []audit.Event{events[2], events[0], events[3], events[1]}
	if code, out, errOut := cli(t, env, "events", "verify", writeExport(t, shuffled)); code != exitOK || !strings.Contains(out, "intact: 4 events of dep_x") {
		t.Fatalf("intact export: %d %q %q", code, out, errOut)
	}
	gone := writeExport(t, []audit.Event{events[0], events[1], events[3]})
	if code, out, _ := cli(t, env, "events", "verify", gone); code != exitFailed || !strings.Contains(out, "deleted: lane 5, event 3") {
		t.Fatalf("an event removed: %d %q", code, out)
	}
	altered := append([]audit.Event(nil), events...)
	altered[1].Process = "<make & sign> --really"
	if code, out, _ := cli(t, env, "-o", "json", "events", "verify", writeExport(t, altered)); code != exitFailed || !strings.Contains(out, `"kind": "altered"`) || !strings.Contains(out, `"intact": false`) {
		t.Fatalf("an event altered: %d %q", code, out)
	}
	if code, _, errOut := cli(t, env, "events", "verify", "--anchors", t.TempDir(), gone); code != exitUsage || !strings.Contains(errOut, "--anchors needs --key") {
		t.Fatalf("anchors without a key: %d %q", code, errOut)
	}
}
