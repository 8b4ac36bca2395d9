package audit_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/audit"
)

func TestExport(t *testing.T) {
	at := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	events := []audit.Event{
		{ID: "evt_1", Kind: audit.KindDecision, At: at, Process: "=cmd|' /C calc'!A0", CommandLine: "make -j2", CI: map[string]string{"job": "7"}},
		{ID: "evt_2", Kind: audit.KindCompletion, At: at, Of: "evt_1", Outcome: audit.Signed, Lane: 3, Seq: 9},
	}
	t.Run("ok/csv", func(t *testing.T) {
		var b bytes.Buffer
		if err := audit.WriteCSV(&b, events); err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(&b).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 3 || strings.Join(rows[0], ",") != strings.Join(audit.CSVHeader, ",") {
			t.Fatalf("rows: %q", rows)
		}
		col := map[string]int{}
		for i, h := range rows[0] {
			col[h] = i
		}
		if got := rows[1][col["process"]]; got != "'=cmd|' /C calc'!A0" {
			t.Errorf("a formula is not defused: %q", got)
		}
		if got := rows[1][col["commandLine"]]; got != "make -j2" {
			t.Errorf("commandLine: %q", got)
		}
		if got := rows[1][col["ci"]]; got != `{"job":"7"}` {
			t.Errorf("ci: %q", got)
		}
		if rows[2][col["lane"]] != "3" || rows[2][col["seq"]] != "9" || rows[2][col["at"]] != "2026-11-28T12:00:00Z" {
			t.Errorf("completion row: %q", rows[2])
		}
	})
	t.Run("ok/jsonl", func(t *testing.T) {
		var b bytes.Buffer
		if err := audit.WriteJSONL(&b, events); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
		if len(lines) != 2 {
			t.Fatalf("%d lines: %q", len(lines), b.String())
		}
		var e audit.Event
		if err := json.Unmarshal([]byte(lines[0]), &e); err != nil || e.Process != events[0].Process || e.ComputeHash() != events[0].ComputeHash() {
			t.Errorf("line 1 does not round-trip: %v %+v", err, e)
		}
	})
}
