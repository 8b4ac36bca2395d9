package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opensignum/signum/lib/client"
	"github.com/opensignum/signum/lib/client/clienttest"
	"github.com/opensignum/signum/lib/local"
	"github.com/opensignum/signum/lib/local/localtest"
)

// outsideTool is the path of a verifier nobody here wrote, or skips the test when it is missing
// (fails instead under make test, which installs it).
func outsideTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("SIGNUM_REQUIRE_TOOLS") != "" {
			t.Fatalf("%s is not installed", name)
		}
		t.Skipf("%s is not installed", name)
	}
	return path
}

// osslsigncodeVerify checks a signed file with osslsigncode against the test CA's root.
func osslsigncodeVerify(t *testing.T, w *world, file string) {
	t.Helper()
	out, err := exec.Command(outsideTool(t, "osslsigncode"), "verify", "-CAfile", w.caFile, "-in", file).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Signature verification: ok") {
		t.Fatalf("osslsigncode verify %s: %v\n%s", filepath.Base(file), err, out)
	}
}

// jarsignerVerify checks a signed JAR with the JDK's jarsigner, trusting the test CA's root
// through a keystore of its own. jarsigner -strict also fails a signer that is not itself an
// entry of the keystore, so the check reads its report instead: verified, and not one of the
// problems it reports about the signature or the chain.
func jarsignerVerify(t *testing.T, w *world, jar string) {
	t.Helper()
	jarsigner := outsideTool(t, "jarsigner")
	keytool := outsideTool(t, "keytool")
	ks := filepath.Join(t.TempDir(), "trust.p12")
	if out, err := exec.Command(keytool, "-importcert", "-noprompt", "-alias", "root", "-file", w.caFile, "-keystore", ks,
		"-storetype", "PKCS12", "-storepass", "changeit").CombinedOutput(); err != nil {
		t.Fatalf("keytool -importcert: %v %s", err, out)
	}
	out, err := exec.Command(jarsigner, "-verify", "-keystore", ks, "-storetype", "PKCS12", "-storepass", "changeit", jar).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "jar verified") {
		t.Fatalf("jarsigner -verify: %v\n%s", err, out)
	}
	for _, problem := range []string{"certificate chain is invalid", "not yet valid", "has expired", "unsigned entries", "KeyUsage", "digest error"} {
		if strings.Contains(string(out), problem) {
			t.Fatalf("jarsigner -verify reports %q:\n%s", problem, out)
		}
	}
}

// TestSignEachFormat: each format signum signs in, signed through the local service over
// mutual TLS with --format auto, is accepted by its outside verifier (osslsigncode for the
// Windows formats, jarsigner for the JAR) and by signum verify; the files go in one request.
func TestSignEachFormat(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()
	formats := []string{"msi", "cab", "cat", "appx", "jar", "ps1"}
	var files []string
	for _, f := range formats {
		sub := filepath.Join(dir, f)
		_ = os.Mkdir(sub, 0o755)
		files = append(files, clienttest.Write(t, sub, f))
	}
	exe := filepath.Join(dir, "hello.exe")
	_ = os.WriteFile(exe, localtest.WindowsExe(t), 0o755)
	files = append(files, exe)
	formats = append(formats, client.FormatPE)
	before := map[string][]byte{}
	for _, f := range files {
		before[f], _ = os.ReadFile(f)
	}

	code, out, errOut := cli(t, w.env(w.p12), append([]string{"sign", "--cert", w.certID, "-o", "json"}, files...)...)
	if code != 0 {
		t.Fatalf("sign: %d %s %s", code, out, errOut)
	}
	var results []client.FileResult
	if err := json.Unmarshal([]byte(out), &results); err != nil || len(results) != len(files) {
		t.Fatalf("sign output: %v %s", err, out)
	}
	events := map[string]bool{}
	for i, r := range results {
		want := formats[i]
		if want == client.FormatPE {
			want = client.Authenticode
		}
		if r.Kind != want || r.Output != files[i] || r.EventID == "" {
			t.Fatalf("result %d: %+v, want kind %s written over the file", i, r, want)
		}
		events[r.EventID] = true
		if after, _ := os.ReadFile(files[i]); bytes.Equal(after, before[files[i]]) {
			t.Fatalf("%s was not changed by signing", files[i])
		}
	}
	if len(events) != 1 {
		t.Fatalf("the files named %d decision events, want one request: %v", len(events), events)
	}
	for i, f := range files {
		t.Run(formats[i], func(t *testing.T) {
			code, out, errOut := cli(t, w.env(w.p12), "verify", "--ca", w.caFile, f)
			if code != 0 || !strings.Contains(out, "chain verified") {
				t.Fatalf("signum verify: %d %s %s", code, out, errOut)
			}
			if formats[i] == client.FormatJAR {
				jarsignerVerify(t, w, f)
			} else {
				osslsigncodeVerify(t, w, f)
			}
		})
	}

	// A signed script changed afterwards fails both verifiers.
	ps1 := files[5]
	raw, _ := os.ReadFile(ps1)
	_ = os.WriteFile(ps1, bytes.Replace(raw, []byte("hello, $Name"), []byte("HELLO, $Name"), 1), 0o644)
	if code, _, errOut := cli(t, w.env(w.p12), "verify", "--ca", w.caFile, ps1); code != exitFailed || !strings.Contains(errOut, "does not verify") {
		t.Fatalf("signum verify of a changed script: %d %s", code, errOut)
	}
	if out, err := exec.Command(outsideTool(t, "osslsigncode"), "verify", "-CAfile", w.caFile, "-in", ps1).CombinedOutput(); err == nil {
		t.Fatalf("osslsigncode accepted a changed script:\n%s", out)
	}
}

// TestSignAPPXWithProgram: an APPX package with an .exe in it takes two signatures, its
// code-integrity catalog (in the batch) and then the package (a request of its own); both
// decisions are reported and their receipts kept, and osslsigncode accepts the package.
func TestSignAPPXWithProgram(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()
	appx := filepath.Join(dir, "hello.msix")
	_ = os.WriteFile(appx, clienttest.APPX(t, map[string][]byte{"hello.exe": localtest.WindowsExe(t)}), 0o644)
	receipts := filepath.Join(dir, "receipts.jsonl")
	code, out, errOut := cli(t, w.env(w.p12), "sign", "--cert", w.certID, "-o", "json", "--receipts", receipts, appx)
	if code != 0 {
		t.Fatalf("sign: %d %s %s", code, out, errOut)
	}
	var results []client.FileResult
	if err := json.Unmarshal([]byte(out), &results); err != nil || len(results) != 1 {
		t.Fatalf("sign output: %v %s", err, out)
	}
	r := results[0]
	if r.Kind != client.FormatAPPX || r.EventID == "" || len(r.MoreDecisions) != 1 || r.MoreDecisions[0].EventID == "" || r.MoreDecisions[0].EventID == r.EventID {
		t.Fatalf("result %+v, want two decisions", r)
	}
	if kept, _ := os.ReadFile(receipts); strings.Count(string(kept), "\n") != 2 {
		t.Fatalf("receipts kept: %q, want both requests'", kept)
	}
	if code, out, errOut := cli(t, w.env(w.p12), "verify", "--ca", w.caFile, appx); code != 0 {
		t.Fatalf("signum verify: %d %s %s", code, out, errOut)
	}
	osslsigncodeVerify(t, w, appx)
}

// TestFormatErrors: an unknown --format, or a file that is not in the format asked for, is a
// one-line usage error naming the formats and what the file looks like, before anything is
// sent; --format auto signs an unrecognised file as a detached signature, as before.
func TestFormatErrors(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()
	txt := filepath.Join(dir, "notes.txt")
	_ = os.WriteFile(txt, []byte("not an installer\n"), 0o644)
	appx := clienttest.Write(t, dir, "appx")

	code, _, errOut := cli(t, w.env(w.p12), "sign", "--cert", w.certID, "--format", "rpm", txt)
	if code != exitUsage {
		t.Fatalf("unknown format: exit %d, %s", code, errOut)
	}
	oneLine(t, errOut, `--format is auto, pe (authenticode), msi, cab, cat, appx (msix), jar, ps1 or cms, not "rpm"`)

	for _, c := range []struct{ format, file, says string }{
		{"msi", txt, "notes.txt is not an MSI (compound file): it looks like a text file"},
		{"ps1", appx, "unsigned.appx is not a text file (PowerShell script): it looks like an APPX/MSIX package"},
		{"jar", appx, "is not a ZIP archive (JAR): it looks like an APPX/MSIX package"},
		{"appx", txt, "is not an APPX/MSIX package: it looks like a text file"},
	} {
		code, _, errOut := cli(t, w.env(w.p12), "sign", "--cert", w.certID, "--format", c.format, c.file)
		if code != exitUsage {
			t.Fatalf("--format %s on %s: exit %d, %s", c.format, c.file, code, errOut)
		}
		oneLine(t, errOut, c.says)
		if !strings.Contains(errOut, "formats: auto, pe") {
			t.Fatalf("--format %s: the error does not name the formats: %s", c.format, errOut)
		}
	}
	noOutput(t, dir, "notes.txt", "unsigned.appx")

	// Auto on a file of no known format: a detached signature, as signum always made.
	blob := filepath.Join(dir, "data.bin")
	_ = os.WriteFile(blob, []byte{0, 1, 2, 3, 0xff, 0}, 0o644)
	code, out, errOut := cli(t, w.env(w.p12), "sign", "--cert", w.certID, "-o", "json", blob)
	var results []client.FileResult
	if code != 0 || json.Unmarshal([]byte(out), &results) != nil || len(results) != 1 || results[0].Kind != client.Detached || results[0].Output != blob+".p7s" {
		t.Fatalf("auto on an unknown file: %d %s %s", code, out, errOut)
	}
	// --format cms fits any file, an APPX included.
	if code, out, errOut := cli(t, w.env(w.p12), "sign", "--cert", w.certID, "--format", "cms", appx); code != 0 || !fileExists(appx+".p7s") {
		t.Fatalf("--format cms on an APPX: %d %s %s", code, out, errOut)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// TestSignFormatsWithTimestamp: --timestamp counter-signs every embedded format; osslsigncode
// checks the time-stamp of the Windows formats against the TSA's certificate, and jarsigner
// no longer warns that the JAR's signature has none.
func TestSignFormatsWithTimestamp(t *testing.T) {
	w := newWorld(t)
	url, tsaCert := tsa(t)
	formats := []string{"msi", "cab", "cat", "appx", "ps1", "jar"}
	var files []string
	for _, f := range formats {
		sub := filepath.Join(t.TempDir(), f)
		_ = os.Mkdir(sub, 0o755)
		files = append(files, clienttest.Write(t, sub, f))
	}
	if code, out, errOut := cli(t, w.env(w.p12), append([]string{"sign", "--cert", w.certID, "--timestamp", url}, files...)...); code != 0 {
		t.Fatalf("sign with a timestamp: %d %s %s", code, out, errOut)
	}
	for i, f := range files {
		t.Run(formats[i], func(t *testing.T) {
			if formats[i] == "jar" {
				out, err := exec.Command(outsideTool(t, "jarsigner"), "-verify", f).CombinedOutput()
				if err != nil || !strings.Contains(string(out), "jar verified") || strings.Contains(string(out), "do not include a timestamp") {
					t.Fatalf("jarsigner -verify: %v\n%s", err, out)
				}
				return
			}
			out, err := exec.Command(outsideTool(t, "osslsigncode"), "verify", "-CAfile", w.caFile, "-TSA-CAfile", tsaCert, "-in", f).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "Timestamp Server Signature verification: ok") {
				t.Fatalf("osslsigncode verify: %v\n%s", err, out)
			}
		})
	}
}

// TestDeniedFormatsUnchanged: a batch of MSI, APPX, JAR and catalog files that the service
// refuses after they were hashed leaves each file as it was and no temporary file behind.
func TestDeniedFormatsUnchanged(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()
	var jobs []client.FileJob
	before := map[string][]byte{}
	for _, f := range []string{"msi", "appx", "jar", "cat"} {
		p := clienttest.Write(t, dir, f)
		before[p], _ = os.ReadFile(p)
		jobs = append(jobs, client.FileJob{Path: p})
	}
	var cert client.Certificate
	raw := api(t, "GET", "/console/certificates/"+w.certID+"/chain", w.admin, local.DemoDomain, nil)
	cert.ID, cert.ChainPEM = w.certID, string(raw)
	if !strings.Contains(cert.ChainPEM, "BEGIN CERTIFICATE") {
		var j struct{ ChainPem string }
		_ = json.Unmarshal(raw, &j)
		cert.ChainPEM = j.ChainPem
	}
	c, err := client.New(client.Config{URL: w.srv.TLSURL, Host: local.DemoDomain, CAFile: filepath.Join(w.dir, "data", local.TLSCAFile), P12: w.noPolicy, P12Password: "p12-pass"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SignFiles(context.Background(), cert, jobs, client.Context{Process: "signum"}, "", nil); !errors.Is(err, client.ErrDenied) {
		t.Fatalf("want a denial, got %v", err)
	}
	noOutput(t, dir, "unsigned.appx", "unsigned.cat", "unsigned.jar", "unsigned.msi")
	for p, b := range before {
		if after, _ := os.ReadFile(p); !bytes.Equal(after, b) {
			t.Fatalf("a denied signing changed %s", p)
		}
	}
}
