package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/client"
)

// TestProgressBar: the bar shows files done of total, the rate and the time left, redrawn in
// place, with failures counted, and ends its line when the batch is done.
func TestProgressBar(t *testing.T) {
	var out bytes.Buffer
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return at }
	b := newBar(&out, 10, clock)
	var frames []string
	for i := 1; i <= 10; i++ {
		at = at.Add(time.Second) // a file a second
		r := client.FileResult{Path: fmt.Sprintf("f%d", i)}
		if i == 3 {
			r.Error = "failed"
		}
		b.done(r)
		frames = append(frames, out.String())
	}
	b.finish()
	frame := func(i int) string { // the bar as drawn after file i
		s := frames[i-1]
		return s[strings.LastIndex(s, "\r")+1:]
	}
	if got := frame(5); !strings.HasPrefix(got, "signing [############------------] 5/10 files, 1 failed  1.0 files/s  ETA 5s") {
		t.Fatalf("after 5 of 10 files: %q", got)
	}
	if got := frame(10); !strings.Contains(got, "10/10 files, 1 failed  1.0 files/s\x1b[K") || strings.Contains(got, "ETA") {
		t.Fatalf("after 10 of 10 files: %q", got)
	}
	if s := out.String(); !strings.HasSuffix(s, "\n") || strings.Count(s, "\n") != 1 {
		t.Fatalf("the bar is not one line ended once: %q", s)
	}
	// Files finishing faster than barRedraw are drawn once, then at the end.
	out.Reset()
	b = newBar(&out, 100, clock)
	for range 100 {
		b.done(client.FileResult{})
	}
	if n := strings.Count(out.String(), "\r"); n != 2 {
		t.Fatalf("100 files in no time drew the bar %d times, want 2 (start and end)", n)
	}
}

// TestSignProgress: signum sign shows a bar for a large batch when its error output is a
// terminal, and a line per file otherwise (CI logs), or for a small batch.
func TestSignProgress(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()
	var files []string
	for i := range progressMin + 1 {
		f := filepath.Join(dir, fmt.Sprintf("file%d.txt", i))
		_ = os.WriteFile(f, []byte(fmt.Sprintf("file %d\n", i)), 0o644)
		files = append(files, f)
	}
	n := len(files)
	sign := func(terminal bool, files []string) string {
		t.Helper()
		was := isTerminal
		isTerminal = func(io.Writer) bool { return terminal }
		defer func() { isTerminal = was }()
		code, _, errOut := cli(t, w.env(w.p12), append([]string{"sign", "--cert", w.certID}, files...)...)
		if code != 0 {
			t.Fatalf("sign: %d %s", code, errOut)
		}
		return errOut
	}
	if errOut := sign(true, files); !strings.Contains(errOut, fmt.Sprintf("\rsigning [%s] %d/%d files", strings.Repeat("#", 24), n, n)) ||
		strings.Contains(errOut, "] signed ") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("a terminal shows no bar: %q", errOut)
	}
	if errOut := sign(false, files); strings.Contains(errOut, "\r") || strings.Count(errOut, "] signed ") != n {
		t.Fatalf("a log does not get a line per file: %q", errOut)
	}
	if errOut := sign(true, files[:progressMin-1]); strings.Contains(errOut, "\r") || strings.Count(errOut, "] signed ") != progressMin-1 {
		t.Fatalf("a small batch does not get a line per file: %q", errOut)
	}
}
