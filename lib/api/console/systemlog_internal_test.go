package console

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// The export's size is counted as the Lambda answer's JSON string carries the body: that is
// what API Gateway's 6 MB limit applies to.
func TestJSONSizeCountsEscapes(t *testing.T) {
	for in, want := range map[string]int{"abc": 3, `a"b`: 4, "a\nb": 4, "<&>": 18, "\x01": 6, "é": 2} {
		var buf bytes.Buffer
		j := &jsonSize{w: &buf}
		_, _ = j.Write([]byte(in))
		raw, _ := json.Marshal(in)
		if j.n != want || j.n != len(raw)-2 {
			t.Errorf("%q: counted %d, want %d (encoding/json writes %d)", in, j.n, want, len(raw)-2)
		}
		if buf.String() != in {
			t.Errorf("%q passed on as %q", in, buf.String())
		}
	}
}

func TestLogEncoders(t *testing.T) {
	e := LogEntry{ID: "log_1", At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Actor: "unknown:=1+1", Action: "login.console.failed",
		Section: "login", Object: "=1+1", SourceIP: "192.0.2.1", Detail: "a, \"quoted\"\nline"}
	var buf bytes.Buffer
	enc := newLogEncoder(formatCSV, &buf)
	if err := enc.flush(); err != nil || buf.String() != strings.Join(logCSVHeader, ",")+"\n" {
		t.Fatalf("empty CSV export: %q %v", buf.String(), err)
	}
	if err := enc.write(e); err != nil {
		t.Fatal(err)
	}
	want := "log_1,2026-01-02T03:04:05Z,login,login.console.failed,unknown:=1+1,'=1+1,192.0.2.1,\"a, \"\"quoted\"\"\nline\"\n"
	if got := strings.TrimPrefix(buf.String(), strings.Join(logCSVHeader, ",")+"\n"); got != want {
		t.Fatalf("CSV row %q, want %q", got, want)
	}
	buf.Reset()
	enc = newLogEncoder(formatJSONL, &buf)
	if err := enc.write(e); err != nil || enc.flush() != nil {
		t.Fatal(err)
	}
	var back LogEntry
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil || back != e || !strings.HasSuffix(buf.String(), "}\n") {
		t.Fatalf("JSON line %q: %+v %v", buf.String(), back, err)
	}
	for in, want := range map[string]string{"=x": "'=x", "+x": "'+x", "-x": "'-x", "@x": "'@x", "\tx": "'\tx", "x=": "x=", "": ""} {
		if got := cell(in); got != want {
			t.Errorf("cell(%q) = %q, want %q", in, got, want)
		}
	}
}
