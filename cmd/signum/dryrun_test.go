package main

import (
	"bytes"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opensignum/signum/lib/client"
	"github.com/opensignum/signum/lib/local"
	"github.com/opensignum/signum/lib/local/localtest"
)

// eventCount is how many signing events the demo deployment's log holds, all pages.
func eventCount(t *testing.T, w *world) int {
	t.Helper()
	n, cursor := 0, ""
	for {
		path := "/console/events?limit=100"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		var page struct {
			Items []json.RawMessage
			Next  string
		}
		if err := json.Unmarshal(api(t, "GET", path, w.admin, local.DemoDomain, nil), &page); err != nil {
			t.Fatal(err)
		}
		n += len(page.Items)
		if page.Next == "" {
			return n
		}
		cursor = page.Next
	}
}

// TestSignDryRun: --dry-run shows each file's format and output, the certificate and the
// policy that would allow it, for files and for a digest, in text and JSON; a request that
// would be denied says why and exits 4. Nothing is signed, written or recorded.
func TestSignDryRun(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()
	exe, txt := filepath.Join(dir, "hello.exe"), filepath.Join(dir, "hello.txt")
	_ = os.WriteFile(exe, localtest.WindowsExe(t), 0o755)
	_ = os.WriteFile(txt, []byte("hello, dry world\n"), 0o644)
	before, _ := os.ReadFile(exe)
	events := eventCount(t, w)

	// ok: text.
	code, out, errOut := cli(t, w.env(w.p12), "sign", "--dry-run", "--cert", "Release", exe, txt)
	if code != 0 {
		t.Fatalf("dry run: %d %s %s", code, out, errOut)
	}
	for _, s := range []string{"nothing is signed", exe + "  pe      " + exe, txt + "  cms     " + txt + ".p7s", w.certID + " (Release)", `allowed by policy "CI"`} {
		if !strings.Contains(out, s) {
			t.Fatalf("dry run output does not say %q:\n%s", s, out)
		}
	}
	// ok: JSON, the only certificate chosen by itself.
	code, out, errOut = cli(t, w.env(w.p12), "sign", "--dry-run", "-o", "json", exe, txt)
	var plan struct {
		DryRun      bool
		Certificate struct{ ID, Name string }
		Decision    client.Verdict
		Files       []struct{ Path, Format, Output, Error string }
	}
	if code != 0 || json.Unmarshal([]byte(out), &plan) != nil {
		t.Fatalf("dry run -o json: %d %s %s", code, out, errOut)
	}
	if !plan.DryRun || plan.Certificate.ID != w.certID || !plan.Decision.Allowed || plan.Decision.PolicyName != "CI" || plan.Decision.PolicyID == "" ||
		len(plan.Files) != 2 || plan.Files[0].Format != client.FormatPE || plan.Files[0].Output != exe || plan.Files[1].Format != client.FormatCMS || plan.Files[1].Output != txt+".p7s" {
		t.Fatalf("dry run plan: %+v", plan)
	}
	// ok: a digest.
	code, out, errOut = cli(t, w.env(w.p12), "sign-digest", "--dry-run", "--cert", w.certID, "--digest", strings.Repeat("ab", 32))
	if code != 0 || !strings.Contains(out, strings.Repeat("ab", 32)+" (SHA256)") || !strings.Contains(out, `allowed by policy "CI"`) {
		t.Fatalf("sign-digest --dry-run: %d %s %s", code, out, errOut)
	}

	// ok: --format applies as it would when signing.
	code, out, errOut = cli(t, w.env(w.p12), "sign", "--dry-run", "--format", "cms", "--cert", w.certID, exe)
	if code != 0 || !strings.Contains(out, exe+"  cms     "+exe+".p7s") {
		t.Fatalf("dry run --format cms: %d %s %s", code, out, errOut)
	}
	// fail: the format asked for does not fit a file: refused as signing would refuse it.
	code, out, errOut = cli(t, w.env(w.p12), "sign", "--dry-run", "--format", "authenticode", "--cert", w.certID, exe, txt)
	if code != exitUsage || out != "" || !strings.Contains(errOut, "hello.txt is not a Windows PE file") {
		t.Fatalf("dry run, authenticode for a text file: %d %s %s", code, out, errOut)
	}

	// fail: denied. A certificate user without a policy is told why, with exit code 4.
	code, out, errOut = cli(t, w.env(w.noPolicy), "sign", "--dry-run", "--cert", w.certID, txt)
	if code != exitDenied || !strings.Contains(out, "denied: no policy allows this request") || !strings.Contains(errOut, "would be refused") {
		t.Fatalf("denied dry run: %d %s %s", code, out, errOut)
	}
	code, out, errOut = cli(t, w.env(w.noPolicy), "sign-digest", "--dry-run", "-o", "json", "--cert", w.certID, "--digest", strings.Repeat("cd", 32))
	var denied struct{ Decision client.Verdict }
	if code != exitDenied || json.Unmarshal([]byte(out), &denied) != nil || denied.Decision.Allowed || denied.Decision.PolicyID != "" || denied.Decision.Reason == "" {
		t.Fatalf("denied sign-digest --dry-run: %d %s %s", code, out, errOut)
	}
	// fail: an unknown certificate.
	code, _, errOut = cli(t, w.env(w.p12), "sign", "--dry-run", "--cert", "crt_aaaaaaaaaaaaaaaaaaaaaaaaaa", txt)
	if code == 0 || !strings.Contains(errOut, "no certificate") {
		t.Fatalf("dry run, unknown certificate: %d %s", code, errOut)
	}

	// Nothing was signed, written or recorded.
	noOutput(t, dir, "hello.exe", "hello.txt")
	if after, _ := os.ReadFile(exe); !bytes.Equal(before, after) {
		t.Fatal("a dry run changed the executable")
	}
	if n := eventCount(t, w); n != events {
		t.Fatalf("dry runs recorded %d signing events", n-events)
	}
	// (The count sees a signing: one decision and its completion.)
	if code, _, errOut := cli(t, w.env(w.p12), "sign", "--cert", w.certID, txt); code != 0 {
		t.Fatalf("sign: %d %s", code, errOut)
	}
	if n := eventCount(t, w); n != events+2 {
		t.Fatalf("a signing recorded %d events, want 2", n-events)
	}
}
