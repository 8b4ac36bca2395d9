package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/opensignum/signum/lib/audit"
	"github.com/opensignum/signum/lib/certificates/certstest"
	"github.com/opensignum/signum/lib/client"
	"github.com/opensignum/signum/lib/local"
	"github.com/opensignum/signum/lib/local/localtest"
)

// world is a running local service with a deployment ready to sign: an admin, an RSA
// certificate issued by a throw-away CA, a certificate user with a .p12, and a policy.
type world struct {
	lt       *localtest.World
	srv      *local.Server
	ca       *certstest.CA
	caFile   string
	dir      string
	admin    string // console token
	certID   string
	p12      string
	userID   string
	noPolicy string // .p12 of a certificate user without a policy
}

var (
	once   sync.Once
	shared *world
	setup  error
)

// api calls the shared world's service (host names the deployment) and fails the test on an
// error answer.
func api(t *testing.T, method, path, token, host string, body any) []byte {
	t.Helper()
	raw, err := shared.lt.Call(method, path, token, host, body)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func field(t *testing.T, raw []byte, name string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	s, _ := m[name].(string)
	return s
}

func newWorld(t *testing.T) *world {
	t.Helper()
	once.Do(func() {
		lt, err := localtest.Start()
		if err != nil {
			setup = err
			return
		}
		shared = &world{lt: lt, srv: lt.Srv, dir: lt.Dir, ca: lt.CA, caFile: lt.CAFile, admin: lt.Admin}
	})
	if setup != nil {
		t.Fatal(setup)
	}
	w := shared
	if w.certID != "" {
		return w
	}
	w.certID = w.lt.Certificate(t, "Release", "RSA_2048")
	w.userID, w.p12 = w.lt.Agent(t, "ci-agent", time.Now().AddDate(1, 0, 0)) // a year: no expiry warning from signum doctor
	w.lt.Policy(t, "CI", []string{w.userID}, []string{w.certID}, []string{"signum"})
	_, w.noPolicy = w.lt.Agent(t, "intern", time.Now().AddDate(0, 1, 0))
	return w
}

func bigSerial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 100))
	return n
}

// cli runs the command with env set and returns its exit code, stdout and stderr.
func cli(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func (w *world) env(p12 string) map[string]string {
	return map[string]string{"SIGNUM_CONFIG": filepath.Join(w.dir, "none.json"), "SIGNUM_URL": w.srv.TLSURL, "SIGNUM_HOST": local.DemoDomain,
		"SIGNUM_CA": filepath.Join(w.dir, "data", local.TLSCAFile), "SIGNUM_P12": p12, "SIGNUM_P12_PASSWORD": "p12-pass", "SIGNUM_TOKEN": ""}
}

// TestSignFilesAndVerify: a certificate user signs a Windows executable and a text file in
// one request over mutual TLS; signum verify, osslsigncode and openssl accept them.
func TestSignFilesAndVerify(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()
	exe, txt := filepath.Join(dir, "hello.exe"), filepath.Join(dir, "hello.txt")
	_ = os.WriteFile(exe, localtest.WindowsExe(t), 0o755)
	_ = os.WriteFile(txt, []byte("hello, signed world\n"), 0o644)

	code, out, errOut := cli(t, w.env(w.p12), "certs", "-o", "json")
	if code != 0 || !strings.Contains(out, w.certID) {
		t.Fatalf("certs: %d %s %s", code, out, errOut)
	}
	receipts := filepath.Join(dir, "receipts.jsonl")
	code, out, errOut = cli(t, w.env(w.p12), "sign", "--cert", w.certID, "-o", "json", "--receipts", receipts, exe, txt)
	if code != 0 {
		t.Fatalf("sign: %d %s %s", code, out, errOut)
	}
	var results []struct{ Path, Output, Kind, EventID string }
	if err := json.Unmarshal([]byte(out), &results); err != nil || len(results) != 2 || results[0].EventID == "" {
		t.Fatalf("sign output: %v %s", err, out)
	}
	// The request's receipt is kept once, and names both files' decisions.
	kept, err := os.ReadFile(receipts)
	var seal audit.Seal
	if err != nil || strings.Count(string(kept), "\n") != 1 || json.Unmarshal(kept, &seal) != nil || seal.Statement.Type != audit.TypeReceipt {
		t.Fatalf("receipts kept: %v %q", err, kept)
	}
	named := map[string]bool{}
	for _, p := range seal.Statement.Events {
		named[p.ID] = true
	}
	if !named[results[0].EventID] || !named[results[1].EventID] {
		t.Fatalf("the receipt names %v, not the files' events %s and %s", seal.Statement.Events, results[0].EventID, results[1].EventID)
	}
	code, out, errOut = cli(t, w.env(w.p12), "verify", "--ca", w.caFile, exe, txt)
	if code != 0 || strings.Count(out, "chain verified") != 2 {
		t.Fatalf("verify: %d %s %s", code, out, errOut)
	}
	if path, err := exec.LookPath("osslsigncode"); err == nil {
		out, err := exec.Command(path, "verify", "-CAfile", w.caFile, exe).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Signature verification: ok") {
			t.Fatalf("osslsigncode verify: %v\n%s", err, out)
		}
	} else if os.Getenv("SIGNUM_REQUIRE_TOOLS") != "" {
		t.Fatal("osslsigncode is not installed")
	}
	if path, err := exec.LookPath("openssl"); err == nil {
		if out, err := exec.Command(path, "cms", "-verify", "-binary", "-inform", "DER", "-in", txt+".p7s", "-content", txt, "-CAfile", w.caFile, "-purpose", "any", "-out", os.DevNull).CombinedOutput(); err != nil {
			t.Fatalf("openssl cms -verify: %v\n%s", err, out)
		}
	} else if os.Getenv("SIGNUM_REQUIRE_TOOLS") != "" {
		t.Fatal("openssl is not installed")
	}
	// A changed file no longer verifies.
	_ = os.WriteFile(txt, []byte("hello, tampered world\n"), 0o644)
	if code, _, errOut := cli(t, w.env(w.p12), "verify", "--ca", w.caFile, txt); code != exitFailed || !strings.Contains(errOut, "does not match") {
		t.Fatalf("tampered file: %d %s", code, errOut)
	}
}

// noOutput fails when a signing attempt left a signed file or a temporary file behind.
func noOutput(t *testing.T, dir string, want ...string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Fatalf("files after a failed signing: %v, want %v", names, want)
	}
}

// oneLine checks an error message: one line, starting "signum: ", saying what it must.
func oneLine(t *testing.T, errOut, want string) {
	t.Helper()
	if strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, "signum: ") || !strings.Contains(errOut, want) {
		t.Fatalf("error output %q, want one line saying %q", errOut, want)
	}
}

// TestCLIErrors: each failure is a one-line error that says what to do, a non-zero exit
// code, and no partial output file.
func TestCLIErrors(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()
	txt := filepath.Join(dir, "notes.txt")
	_ = os.WriteFile(txt, []byte("not a program\n"), 0o644)
	original, _ := os.ReadFile(txt)

	// Unreachable server.
	env := w.env(w.p12)
	env["SIGNUM_URL"] = "https://127.0.0.1:1"
	code, _, errOut := cli(t, env, "sign", "--cert", w.certID, txt)
	if code != exitUnreachable {
		t.Fatalf("unreachable: exit %d, %s", code, errOut)
	}
	oneLine(t, errOut, "cannot reach")
	noOutput(t, dir, "notes.txt")

	// Wrong .p12 password.
	env = w.env(w.p12)
	env["SIGNUM_P12_PASSWORD"] = "wrong"
	code, _, errOut = cli(t, env, "sign", "--cert", w.certID, txt)
	if code != exitUsage {
		t.Fatalf("wrong password: exit %d, %s", code, errOut)
	}
	oneLine(t, errOut, "SIGNUM_P12_PASSWORD")
	noOutput(t, dir, "notes.txt")

	// Expired client certificate: refused before anything is sent.
	_, expired := w.lt.Agent(t, "old-agent", time.Now().Add(-time.Hour))
	code, _, errOut = cli(t, w.env(expired), "sign", "--cert", w.certID, txt)
	if code != exitAuth {
		t.Fatalf("expired certificate: exit %d, %s", code, errOut)
	}
	oneLine(t, errOut, "expired on")
	noOutput(t, dir, "notes.txt")

	// A file that is not a PE given to PE signing.
	code, _, errOut = cli(t, w.env(w.p12), "sign", "--cert", w.certID, "--format", "authenticode", txt)
	if code != exitUsage {
		t.Fatalf("not a PE: exit %d, %s", code, errOut)
	}
	oneLine(t, errOut, "not a Windows PE file")
	noOutput(t, dir, "notes.txt")

	// Denied: a certificate user without a policy (its listing is empty; naming the
	// certificate anyway is refused by the service, and recorded).
	code, _, errOut = cli(t, w.env(w.noPolicy), "sign", "--cert", w.certID, txt)
	if code != exitDenied {
		t.Fatalf("denied: exit %d, %s", code, errOut)
	}
	oneLine(t, errOut, "signing policy")
	noOutput(t, dir, "notes.txt")
	code, _, errOut = cli(t, w.env(w.noPolicy), "sign-digest", "--cert", w.certID, "--digest", strings.Repeat("ab", 32))
	if code != exitDenied {
		t.Fatalf("denied digest: exit %d, %s", code, errOut)
	}
	oneLine(t, errOut, "not allowed")

	// A certificate the server does not know: the TLS port refuses nothing, the service
	// refuses the certificate.
	stranger := filepath.Join(w.dir, "stranger.p12")
	{
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tpl := &x509.Certificate{SerialNumber: bigSerial(), Subject: pkix.Name{CommonName: "stranger"}, NotBefore: time.Now().Add(-time.Hour),
			NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
		der, _ := x509.CreateCertificate(rand.Reader, tpl, tpl, key.Public(), key)
		leaf, _ := x509.ParseCertificate(der)
		raw, _ := pkcs12.Modern.Encode(key, leaf, nil, "p12-pass")
		_ = os.WriteFile(stranger, raw, 0o600)
	}
	code, _, errOut = cli(t, w.env(stranger), "certs")
	if code != exitAuth {
		t.Fatalf("unknown certificate: exit %d, %s", code, errOut)
	}
	oneLine(t, errOut, "is not registered")

	// Usage mistakes.
	code, _, errOut = cli(t, w.env(w.p12), "sign")
	if code != exitUsage {
		t.Fatalf("no files: exit %d, %s", code, errOut)
	}
	oneLine(t, errOut, "signum --help")
	code, _, errOut = cli(t, w.env(w.p12), "sign", "--cert", w.certID, filepath.Join(dir, "missing.bin"))
	if code != exitUsage {
		t.Fatalf("missing file: exit %d, %s", code, errOut)
	}
	oneLine(t, errOut, "missing.bin")

	if now, _ := os.ReadFile(txt); !bytes.Equal(now, original) {
		t.Fatal("a failed signing changed the input file")
	}
}

// TestConfigure: the configuration is saved (without the .p12 password, mode 0600) and used.
func TestConfigure(t *testing.T) {
	w := newWorld(t)
	cfgPath := filepath.Join(t.TempDir(), "signum", "config.json")
	env := map[string]string{"SIGNUM_CONFIG": cfgPath, "SIGNUM_URL": "", "SIGNUM_HOST": "", "SIGNUM_CA": "", "SIGNUM_P12": "", "SIGNUM_TOKEN": "", "SIGNUM_P12_PASSWORD": "p12-pass"}
	for k := range env {
		os.Unsetenv(k)
	}
	code, _, errOut := cli(t, env, "configure", "--url", w.srv.TLSURL, "--host", local.DemoDomain, "--ca", filepath.Join(w.dir, "data", local.TLSCAFile), "--p12", w.p12)
	if code != 0 {
		t.Fatalf("configure: %d %s", code, errOut)
	}
	info, err := os.Stat(cfgPath)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("config file: %v %v", info, err)
	}
	raw, _ := os.ReadFile(cfgPath)
	if strings.Contains(string(raw), "p12-pass") {
		t.Fatalf("the .p12 password was stored: %s", raw)
	}
	code, out, errOut := cli(t, map[string]string{"SIGNUM_URL": "", "SIGNUM_HOST": "", "SIGNUM_CA": "", "SIGNUM_P12": ""}, "certs")
	if code != 0 || !strings.Contains(out, w.certID) {
		t.Fatalf("certs with the saved configuration: %d %s %s", code, out, errOut)
	}
	// A configuration that cannot work is refused when it is saved.
	code, _, errOut = cli(t, env, "configure", "--url", w.srv.TLSURL, "--p12", filepath.Join(w.dir, "nope.p12"))
	if code != exitUsage {
		t.Fatalf("configure with a missing .p12: %d %s", code, errOut)
	}
	oneLine(t, errOut, "nope.p12")
}

// tsa is an RFC 3161 time-stamping authority for tests: openssl ts -reply behind HTTP, with a
// throw-away TSA certificate.
func tsa(t *testing.T) (url, certFile string) {
	t.Helper()
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl is not installed")
	}
	dir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tpl := &x509.Certificate{SerialNumber: bigSerial(), Subject: pkix.Name{CommonName: "Test TSA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().AddDate(1, 0, 0), KeyUsage: x509.KeyUsageDigitalSignature, BasicConstraintsValid: true}
	// RFC 3161: a TSA certificate's only extended key usage is timeStamping, marked critical.
	eku, _ := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})
	tpl.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: eku}}
	der, _ := x509.CreateCertificate(rand.Reader, tpl, tpl, key.Public(), key)
	leaf, _ := x509.ParseCertificate(der)
	certFile = filepath.Join(dir, "tsa.pem")
	_ = os.WriteFile(certFile, []byte(certstest.PEM(leaf)), 0o644)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(key)
	_ = os.WriteFile(filepath.Join(dir, "tsa.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600)
	_ = os.WriteFile(filepath.Join(dir, "serial"), []byte("01\n"), 0o644)
	cfg := filepath.Join(dir, "ts.cnf")
	_ = os.WriteFile(cfg, []byte(`[ tsa ]
default_tsa = tsa1
[ tsa1 ]
serial = `+dir+`/serial
crypto_device = builtin
signer_cert = `+certFile+`
signer_key = `+dir+`/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
`), 0o644)
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		q, _ := io.ReadAll(r.Body)
		_ = os.WriteFile(filepath.Join(dir, "q.tsq"), q, 0o644)
		out, err := exec.Command(openssl, "ts", "-reply", "-config", cfg, "-queryfile", filepath.Join(dir, "q.tsq"), "-out", filepath.Join(dir, "r.tsr")).CombinedOutput()
		if err != nil {
			t.Logf("openssl ts -reply: %v %s", err, out)
			http.Error(w, "tsa failed", 500)
			return
		}
		resp, _ := os.ReadFile(filepath.Join(dir, "r.tsr"))
		w.Header().Set("Content-Type", "application/timestamp-reply")
		_, _ = w.Write(resp)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, certFile
}

// TestSignWithTimestamp: --timestamp adds an RFC 3161 counter-signature that osslsigncode
// verifies against the TSA's certificate.
func TestSignWithTimestamp(t *testing.T) {
	w := newWorld(t)
	url, tsaCert := tsa(t)
	exe := filepath.Join(t.TempDir(), "stamped.exe")
	_ = os.WriteFile(exe, localtest.WindowsExe(t), 0o755)
	if code, out, errOut := cli(t, w.env(w.p12), "sign", "--cert", w.certID, "--timestamp", url, exe); code != 0 {
		t.Fatalf("sign with a timestamp: %d %s %s", code, out, errOut)
	}
	path, err := exec.LookPath("osslsigncode")
	if err != nil {
		t.Skip("osslsigncode is not installed")
	}
	out, err := exec.Command(path, "verify", "-CAfile", w.caFile, "-TSA-CAfile", tsaCert, exe).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Timestamp Server Signature verification: ok") {
		t.Fatalf("osslsigncode verify: %v\n%s", err, out)
	}
	// A detached signature carries the token as an unsigned attribute; openssl still verifies it.
	txt := filepath.Join(t.TempDir(), "notes.txt")
	_ = os.WriteFile(txt, []byte("stamped notes\n"), 0o644)
	if code, out, errOut := cli(t, w.env(w.p12), "sign", "--cert", w.certID, "--timestamp", url, txt); code != 0 {
		t.Fatalf("sign a text file with a timestamp: %d %s %s", code, out, errOut)
	}
	if out, err := exec.Command("openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", txt+".p7s", "-content", txt, "-CAfile", w.caFile, "-purpose", "any", "-out", os.DevNull).CombinedOutput(); err != nil {
		t.Fatalf("openssl cms -verify: %v %s", err, out)
	}
	if out, _ := exec.Command("openssl", "cms", "-cmsout", "-print", "-inform", "DER", "-in", txt+".p7s").CombinedOutput(); !strings.Contains(string(out), "id-smime-aa-timeStampToken") {
		t.Fatalf("no time-stamp token in the detached signature:\n%s", out)
	}
	// An unreachable time-stamping authority fails the file, and leaves it unsigned.
	before, _ := os.ReadFile(exe)
	if code, _, errOut := cli(t, w.env(w.p12), "sign", "--cert", w.certID, "--timestamp", "http://127.0.0.1:1/", exe); code == 0 {
		t.Fatalf("an unreachable TSA did not fail: %s", errOut)
	}
	if after, _ := os.ReadFile(exe); !bytes.Equal(before, after) {
		t.Fatal("a failed signing changed the file")
	}
}

// TestSignManyFiles: more files than one request carries go in several batches, each one
// decision event that every file of the batch names; files with the same name in different
// directories are each signed; a file that starts with "MZ" but is no PE image gets a
// detached signature.
func TestSignManyFiles(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()
	var files []string
	for i := 0; i < client.MaxBatch+3; i++ {
		sub := filepath.Join(dir, fmt.Sprintf("d%02d", i%2))
		_ = os.MkdirAll(sub, 0o755)
		f := filepath.Join(sub, fmt.Sprintf("f%03d.txt", i/2))
		_ = os.WriteFile(f, []byte(fmt.Sprintf("file %d\n", i)), 0o644)
		files = append(files, f)
	}
	mz := filepath.Join(dir, "mz.txt")
	_ = os.WriteFile(mz, []byte("MZ is how this note starts, but it is not a program\n"), 0o644)
	files = append(files, mz)
	code, out, errOut := cli(t, w.env(w.p12), append([]string{"sign", "--cert", w.certID, "-o", "json"}, files...)...)
	if code != 0 {
		t.Fatalf("sign %d files: %d %s", len(files), code, errOut)
	}
	var results []struct{ Path, Output, Kind, EventID string }
	if err := json.Unmarshal([]byte(out), &results); err != nil || len(results) != len(files) {
		t.Fatalf("results: %v %s", err, out)
	}
	events := map[string]int{}
	for _, r := range results {
		if r.EventID == "" || r.Kind != client.Detached || r.Output != r.Path+".p7s" {
			t.Fatalf("result %+v", r)
		}
		events[r.EventID]++
	}
	if batches := (len(files) + client.MaxBatch - 1) / client.MaxBatch; len(events) != batches {
		t.Fatalf("%d files named %d decision events, want one per batch (%d): %v", len(files), len(events), batches, events)
	}
	code, _, errOut = cli(t, w.env(w.p12), append([]string{"verify", "--ca", w.caFile}, files...)...)
	if code != 0 {
		t.Fatalf("verify %d files: %d %s", len(files), code, errOut)
	}
}

// TestDeniedAfterHashing: the service refuses a batch after the files were hashed and their
// signatures prepared; nothing is written, no temporary file is left.
func TestDeniedAfterHashing(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()
	exe, txt := filepath.Join(dir, "app.exe"), filepath.Join(dir, "notes.txt")
	_ = os.WriteFile(exe, localtest.WindowsExe(t), 0o755)
	_ = os.WriteFile(txt, []byte("notes\n"), 0o644)
	before, _ := os.ReadFile(exe)
	// The certificate as the admin sees it (the intern's own listing is empty).
	var cert client.Certificate
	raw := api(t, "GET", "/console/certificates/"+w.certID+"/chain", w.admin, local.DemoDomain, nil)
	cert.ID, cert.ChainPEM = w.certID, string(raw)
	if !strings.Contains(cert.ChainPEM, "BEGIN CERTIFICATE") {
		var j struct{ ChainPem string }
		_ = json.Unmarshal(raw, &j)
		cert.ChainPEM = j.ChainPem
	}
	cfg := client.Config{URL: w.srv.TLSURL, Host: local.DemoDomain, CAFile: filepath.Join(w.dir, "data", local.TLSCAFile), P12: w.noPolicy, P12Password: "p12-pass"}
	c, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.SignFiles(context.Background(), cert, []client.FileJob{{Path: exe}, {Path: txt}}, client.Context{Process: "signum"}, "", nil)
	if !errors.Is(err, client.ErrDenied) {
		t.Fatalf("want a denial, got %v", err)
	}
	noOutput(t, dir, "app.exe", "notes.txt")
	if after, _ := os.ReadFile(exe); !bytes.Equal(before, after) {
		t.Fatal("a denied signing changed the executable")
	}
}

// TestPlainHTTPRefused: credentials and signatures only travel over TLS (loopback excepted).
func TestPlainHTTPRefused(t *testing.T) {
	_, err := client.New(client.Config{URL: "http://sign.example.com", Token: "t"})
	if !errors.Is(err, client.ErrConfig) || !strings.Contains(err.Error(), "not https") {
		t.Fatalf("plain http: %v", err)
	}
	if _, err := client.New(client.Config{URL: "http://127.0.0.1:8080", Token: "t"}); err != nil {
		t.Fatalf("loopback http: %v", err)
	}
}
