package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/audit"
	"github.com/opensignum/signum/lib/certificates/certstest"
	"github.com/opensignum/signum/lib/client"
	"github.com/opensignum/signum/lib/client/clienttest"
	"github.com/opensignum/signum/lib/local/localtest"
)

// These tests load signum-pkcs11.so into tools nobody here wrote: OpenSC's pkcs11-tool,
// OpenSSL with libp11's pkcs11 engine, and osslsigncode. Each tool is its own process, so its
// name is what the policies' Where rules see.

var (
	world   *localtest.World
	modPath string
)

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	dir, err := os.MkdirTemp("", "signum-pkcs11-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	modPath = filepath.Join(dir, "signum-pkcs11.so")
	if out, err := exec.Command("go", "build", "-buildmode=c-shared", "-o", modPath, ".").CombinedOutput(); err != nil {
		return 0, fmt.Errorf("building the module: %v\n%s", err, out)
	}
	if world, err = localtest.Start(); err != nil {
		return 0, err
	}
	defer world.Close()
	return m.Run(), nil
}

// tool finds a program the test needs; make test installs them (SIGNUM_REQUIRE_TOOLS).
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("SIGNUM_REQUIRE_TOOLS") != "" {
			t.Fatalf("%s is not installed (make pkcs11-tools installs it)", name)
		}
		t.Skipf("%s is not installed", name)
	}
	return p
}

// engine is libp11's OpenSSL engine (Debian's libengine-pkcs11-openssl).
func engine(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so", "/usr/lib/aarch64-linux-gnu/engines-3/pkcs11.so", "/usr/lib64/engines-3/pkcs11.so"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("SIGNUM_REQUIRE_TOOLS") != "" {
		t.Fatal("OpenSSL's pkcs11 engine is not installed (make pkcs11-tools installs libengine-pkcs11-openssl)")
	}
	t.Skip("OpenSSL's pkcs11 engine is not installed")
	return ""
}

type fixture struct {
	rsa, ec, user, p12 string
	chain              map[string]string // certificate id → chain PEM file
}

var (
	fixOnce sync.Once
	fix     fixture
)

func setup(t *testing.T) fixture {
	t.Helper()
	fixOnce.Do(func() {
		fix.rsa = world.Certificate(t, "Release RSA", "RSA_2048")
		fix.ec = world.Certificate(t, "Release EC", "EC_P256")
		fix.user, fix.p12 = world.Agent(t, "build-agent", time.Now().AddDate(0, 1, 0))
		world.Policy(t, "Signing tools", []string{fix.user}, []string{fix.rsa, fix.ec}, []string{"osslsigncode", "openssl", "pkcs11-tool", "threads", "keytool", "jarsigner"})
		cfg := client.Config{URL: world.Srv.TLSURL, Host: world.Env("")["SIGNUM_HOST"], CAFile: world.ServerCA, P12: fix.p12, P12Password: localtest.P12Password}
		c, err := client.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		certs, err := c.Certificates(context.Background(), "openssl", "")
		if err != nil {
			t.Fatal(err)
		}
		fix.chain = map[string]string{}
		for _, cert := range certs {
			p := filepath.Join(world.Dir, cert.ID+".pem")
			_ = os.WriteFile(p, []byte(cert.ChainPEM), 0o644)
			fix.chain[cert.ID] = p
			// The chain without its leaf: what a CMS signature carries besides the signer.
			chain, _ := cert.Chain()
			_ = os.WriteFile(filepath.Join(world.Dir, cert.ID+"-issuers.pem"), []byte(certstest.PEM(chain[1:]...)), 0o644)
		}
	})
	if len(fix.chain) != 2 {
		t.Fatal("the fixture could not be set up")
	}
	return fix
}

// exec runs a tool with the module configured through the environment (env overrides).
func runTool(t *testing.T, env map[string]string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(tool(t, name), args...)
	cmd.Env = os.Environ()
	for k, v := range world.Env(fix.p12) {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestPkcs11ToolListsAndSigns: OpenSC's pkcs11-tool sees the token, lists each certificate
// the agent may use as a certificate, private and public key object, and signs.
func TestPkcs11ToolListsAndSigns(t *testing.T) {
	f := setup(t)
	out, err := runTool(t, nil, "pkcs11-tool", "--module", modPath, "-L", "-O")
	if err != nil {
		t.Fatalf("pkcs11-tool -L -O: %v\n%s", err, out)
	}
	for _, want := range []string{"token label        : signum demo.localhost", "Certificate Object; type = X.509 cert", "Private Key Object; RSA",
		"Private Key Object; EC", "label:      Release RSA", "label:      Release EC", "ID:         " + hex.EncodeToString([]byte(f.ec))} {
		if !strings.Contains(out, want) {
			t.Fatalf("pkcs11-tool -L -O does not show %q:\n%s", want, out)
		}
	}

	// With the .p12's password as the PIN instead of in the environment.
	dir := t.TempDir()
	msg := filepath.Join(dir, "digest")
	sum := sha256.Sum256([]byte("built by pkcs11-tool"))
	_ = os.WriteFile(msg, sum[:], 0o644)
	sigFile := filepath.Join(dir, "sig")
	out, err = runTool(t, map[string]string{"SIGNUM_P12_PASSWORD": ""}, "pkcs11-tool", "--module", modPath, "--login", "--pin", localtest.P12Password,
		"--sign", "--mechanism", "ECDSA", "--id", hex.EncodeToString([]byte(f.ec)), "-i", msg, "-o", sigFile)
	if err != nil {
		t.Fatalf("pkcs11-tool --sign: %v\n%s", err, out)
	}
	sig, _ := os.ReadFile(sigFile)
	pub := leafKey(t, f.chain[f.ec]).(*ecdsa.PublicKey)
	if len(sig) != 64 || !ecdsa.Verify(pub, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		t.Fatalf("pkcs11-tool's signature (%d bytes) does not verify", len(sig))
	}
	// A wrong PIN is refused as one.
	out, err = runTool(t, map[string]string{"SIGNUM_P12_PASSWORD": ""}, "pkcs11-tool", "--module", modPath, "--login", "--pin", "wrong", "-O")
	if err == nil || !strings.Contains(out, "CKR_PIN_INCORRECT") {
		t.Fatalf("wrong PIN: %v\n%s", err, out)
	}
	// Without configuration the module says what is missing, and the tool fails cleanly.
	out, err = runTool(t, map[string]string{"SIGNUM_URL": "", "SIGNUM_CONFIG": filepath.Join(dir, "missing.json")}, "pkcs11-tool", "--module", modPath, "-L")
	if err == nil || !strings.Contains(out, "signum-pkcs11: no server URL is configured") || !strings.Contains(out, "CKR_GENERAL_ERROR") {
		t.Fatalf("no configuration: %v\n%s", err, out)
	}
}

func leafKey(t *testing.T, chainFile string) any {
	t.Helper()
	raw, _ := os.ReadFile(chainFile)
	chain, err := client.Certificate{ChainPEM: string(raw)}.Chain()
	if err != nil {
		t.Fatal(err)
	}
	return chain[0].PublicKey
}

// opensslConf loads libp11's engine with the module.
func opensslConf(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "openssl.cnf")
	conf := fmt.Sprintf(`openssl_conf = openssl_init
[openssl_init]
engines = engine_section
[engine_section]
pkcs11 = pkcs11_section
[pkcs11_section]
engine_id = pkcs11
dynamic_path = %s
MODULE_PATH = %s
init = 0
`, engine(t), modPath)
	if err := os.WriteFile(p, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestOpenSSLEngine: openssl dgst and openssl cms sign through the module; openssl verifies
// what they wrote.
func TestOpenSSLEngine(t *testing.T) {
	f := setup(t)
	env := map[string]string{"OPENSSL_CONF": opensslConf(t)}
	dir := t.TempDir()
	file := filepath.Join(dir, "app.tar")
	_ = os.WriteFile(file, bytes.Repeat([]byte("release bits "), 1000), 0o644)
	for _, c := range []struct{ name, id string }{{"RSA", f.rsa}, {"EC", f.ec}} {
		uri := "pkcs11:object=Release%20" + c.name + ";type=private"
		sig := filepath.Join(dir, c.name+".sig")
		if out, err := runTool(t, env, "openssl", "dgst", "-sha256", "-engine", "pkcs11", "-keyform", "engine", "-sign", uri, "-out", sig, file); err != nil {
			t.Fatalf("openssl dgst -sign (%s): %v\n%s", c.name, err, out)
		}
		pub := filepath.Join(dir, c.name+".pub")
		if out, err := exec.Command("openssl", "x509", "-in", f.chain[c.id], "-pubkey", "-noout", "-out", pub).CombinedOutput(); err != nil {
			t.Fatalf("%v %s", err, out)
		}
		if out, err := exec.Command("openssl", "dgst", "-sha256", "-verify", pub, "-signature", sig, file).CombinedOutput(); err != nil || !strings.Contains(string(out), "Verified OK") {
			t.Fatalf("openssl dgst -verify (%s): %v\n%s", c.name, err, out)
		}

		p7s := filepath.Join(dir, c.name+".p7s")
		if out, err := runTool(t, env, "openssl", "cms", "-sign", "-engine", "pkcs11", "-keyform", "engine", "-inkey", uri, "-signer", f.chain[c.id],
			"-certfile", filepath.Join(world.Dir, c.id+"-issuers.pem"), "-binary", "-in", file, "-outform", "DER", "-out", p7s); err != nil {
			t.Fatalf("openssl cms -sign (%s): %v\n%s", c.name, err, out)
		}
		if out, err := exec.Command("openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", p7s, "-content", file, "-CAfile", world.CAFile,
			"-purpose", "any", "-out", os.DevNull).CombinedOutput(); err != nil {
			t.Fatalf("openssl cms -verify (%s): %v\n%s", c.name, err, out)
		}
	}
	// Each signature was a decision recorded with the tool as its process.
	for _, id := range []string{f.rsa, f.ec} {
		seen := false
		for _, e := range events(t, id) {
			seen = seen || e.Process == "openssl" && strings.Contains(e.CommandLine, "-engine pkcs11")
		}
		if !seen {
			t.Fatalf("no decision by openssl recorded for %s", id)
		}
	}
}

func events(t *testing.T, certID string) []audit.Event {
	t.Helper()
	var page struct{ Items []audit.Event }
	if err := json.Unmarshal(world.Console(t, "GET", "/console/events?decision=allow&certificateId="+certID, nil), &page); err != nil {
		t.Fatal(err)
	}
	return page.Items
}

// TestOsslsigncode: osslsigncode signs a Windows executable and an MSI with the module's RSA
// and EC keys, and verifies them.
func TestOsslsigncode(t *testing.T) {
	f := setup(t)
	engine(t)
	dir := t.TempDir()
	files := map[string][]byte{"hello.exe": localtest.WindowsExe(t), "setup.msi": clienttest.MSI(t)}
	for _, c := range []struct{ name, id, file string }{{"RSA", f.rsa, "hello.exe"}, {"EC", f.ec, "hello.exe"}, {"RSA", f.rsa, "setup.msi"}, {"EC", f.ec, "setup.msi"}} {
		in := filepath.Join(dir, c.file)
		_ = os.WriteFile(in, files[c.file], 0o644)
		out := filepath.Join(dir, c.name+"-signed-"+c.file)
		// The .p12's password as the PIN (-pass), not in the environment.
		got, err := runTool(t, map[string]string{"SIGNUM_P12_PASSWORD": ""}, "osslsigncode", "sign", "-pkcs11module", modPath,
			"-pkcs11cert", "pkcs11:object=Release%20"+c.name+";type=cert", "-key", "pkcs11:object=Release%20"+c.name+";type=private",
			"-pass", localtest.P12Password, "-certs", f.chain[c.id], "-h", "sha256", "-in", in, "-out", out)
		if err != nil {
			t.Fatalf("osslsigncode sign (%s, %s): %v\n%s", c.name, c.file, err, got)
		}
		v, err := exec.Command("osslsigncode", "verify", "-CAfile", world.CAFile, "-in", out).CombinedOutput()
		if err != nil || !strings.Contains(string(v), "Signature verification: ok") {
			t.Fatalf("osslsigncode verify (%s, %s): %v\n%s", c.name, c.file, err, v)
		}
	}
	// The PIN osslsigncode was given is not in the log.
	for _, e := range events(t, f.rsa) {
		if e.Process == "osslsigncode" && strings.Contains(e.CommandLine, localtest.P12Password) {
			t.Fatalf("the PIN is in the recorded command line %q", e.CommandLine)
		}
	}
}

// TestThreads: a C program signs from 8 threads at once, each with its own session, through
// the module as dlopen loads it; every signature verifies.
func TestThreads(t *testing.T) {
	f := setup(t)
	bin := filepath.Join(t.TempDir(), "threads")
	if out, err := exec.Command(tool(t, "gcc"), "-Wall", "-o", bin, "testdata/threads.c", "-ldl", "-lpthread").CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, modPath, "Release EC", "8", "4")
	cmd.Env = os.Environ()
	for k, v := range world.Env(f.p12) {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("threads: %v\n%s%s", err, out, stderr.String())
	}
	// The same program under a name the policy's Where rule does not list sees no key.
	unlisted := filepath.Join(filepath.Dir(bin), "unlisted")
	raw, _ := os.ReadFile(bin)
	_ = os.WriteFile(unlisted, raw, 0o755)
	other := exec.Command(unlisted, modPath, "Release EC", "1", "1")
	other.Env = cmd.Env
	if got, err := other.CombinedOutput(); err == nil || !strings.Contains(string(got), "FAIL C_FindObjects") {
		t.Fatalf("a process no policy names: %v\n%s", err, got)
	}
	pub := leafKey(t, f.chain[f.ec]).(*ecdsa.PublicKey)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 32 {
		t.Fatalf("%d signatures, want 32:\n%s", len(lines), out)
	}
	for _, line := range lines {
		parts := strings.Fields(line)
		digest, _ := hex.DecodeString(parts[0])
		sig, _ := hex.DecodeString(parts[1])
		if len(sig) != 64 || !ecdsa.Verify(pub, digest, new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
			t.Fatalf("a signature does not verify: %s", line)
		}
	}
}

// TestJarsigner: the JDK's own PKCS#11 provider (SunPKCS11) loads the module; keytool lists
// the keys by label and jarsigner signs a JAR that jarsigner -verify accepts.
func TestJarsigner(t *testing.T) {
	f := setup(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "pkcs11.cfg")
	_ = os.WriteFile(cfg, []byte("name = signum\nlibrary = "+modPath+"\nslot = 1\n"), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello\n"), 0o644)
	jarFile := filepath.Join(dir, "app.jar")
	if out, err := exec.Command(tool(t, "jar"), "cf", jarFile, "-C", dir, "hello.txt").CombinedOutput(); err != nil {
		t.Fatalf("jar: %v %s", err, out)
	}
	store := []string{"-keystore", "NONE", "-storetype", "PKCS11", "-providerClass", "sun.security.pkcs11.SunPKCS11", "-providerArg", cfg, "-storepass", "none"}
	out, err := runTool(t, nil, "keytool", append([]string{"-list"}, store...)...)
	if err != nil || !strings.Contains(out, "Release RSA, PrivateKeyEntry") {
		t.Fatalf("keytool -list: %v\n%s", err, out)
	}
	out, err = runTool(t, nil, "jarsigner", append(append([]string{}, store...), "-certchain", f.chain[f.rsa], "-digestalg", "SHA-256", jarFile, "Release RSA")...)
	if err != nil {
		t.Fatalf("jarsigner: %v\n%s", err, out)
	}
	// The code-signing root is the verifier's only trust anchor.
	trust := filepath.Join(dir, "trust.p12")
	if out, err := exec.Command("keytool", "-importcert", "-noprompt", "-alias", "root", "-file", world.CAFile, "-keystore", trust,
		"-storetype", "PKCS12", "-storepass", "changeit").CombinedOutput(); err != nil {
		t.Fatalf("keytool -importcert: %v %s", err, out)
	}
	v, err := exec.Command("jarsigner", "-verify", "-keystore", trust, "-storepass", "changeit", jarFile).CombinedOutput()
	if err != nil || !strings.Contains(string(v), "jar verified.") || strings.Contains(string(v), "error") {
		t.Fatalf("jarsigner -verify: %v\n%s", err, v)
	}
}

// TestPolicyRequiresToolTimestamp: the module returns signature bytes only, so a policy that
// wants timestamped files from osslsigncode says so in its Where: the command line must give
// osslsigncode a time-stamping authority (-ts). Without it the certificate is not even listed;
// with it, the file carries the authority's timestamp and osslsigncode verifies both.
func TestPolicyRequiresToolTimestamp(t *testing.T) {
	f := setup(t)
	engine(t)
	stamped := world.Certificate(t, "Stamped", "EC_P256")
	world.PolicyWhere(t, "osslsigncode with a TSA", []string{f.user}, []string{stamped},
		[]map[string]string{{"process": "osslsigncode", "commandLine": `.* -ts https?://\S+ .*`}})
	dir := t.TempDir()
	in := filepath.Join(dir, "hello.exe")
	_ = os.WriteFile(in, localtest.WindowsExe(t), 0o644)
	tsaCA := filepath.Join(dir, "tsa-ca.pem")
	_ = os.WriteFile(tsaCA, world.Srv.TSA.CAPEM, 0o644)
	chain := filepath.Join(dir, "stamped.pem")
	_ = os.WriteFile(chain, world.Console(t, "GET", "/console/certificates/"+stamped+"/chain", nil), 0o644)
	args := func(out string, extra ...string) []string {
		a := []string{"sign", "-pkcs11module", modPath, "-pkcs11cert", "pkcs11:object=Stamped;type=cert", "-key", "pkcs11:object=Stamped;type=private",
			"-certs", chain, "-h", "sha256"}
		return append(append(a, extra...), "-in", in, "-out", out)
	}
	bare := filepath.Join(dir, "bare.exe")
	if out, err := runTool(t, nil, "osslsigncode", args(bare)...); err == nil {
		t.Fatalf("osslsigncode without -ts signed with a certificate whose policy requires it:\n%s", out)
	}
	if _, err := os.Stat(bare); err == nil {
		if v, verr := exec.Command("osslsigncode", "verify", "-CAfile", world.CAFile, "-in", bare).CombinedOutput(); verr == nil {
			t.Fatalf("a signed file without a timestamp was written:\n%s", v)
		}
	}
	signed := filepath.Join(dir, "stamped.exe")
	if out, err := runTool(t, nil, "osslsigncode", args(signed, "-ts", world.Srv.TSA.URL)...); err != nil {
		t.Fatalf("osslsigncode -ts: %v\n%s", err, out)
	}
	v, err := exec.Command("osslsigncode", "verify", "-CAfile", world.CAFile, "-TSA-CAfile", tsaCA, "-in", signed).CombinedOutput()
	if err != nil || !strings.Contains(string(v), "Signature verification: ok") || !strings.Contains(string(v), "Timestamp Server Signature verification: ok") {
		t.Fatalf("osslsigncode verify of the timestamped file: %v\n%s", err, v)
	}
}
