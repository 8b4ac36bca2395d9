package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/opensignum/signum/lib/certs/certstest"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/local"
)

const password = "Correct-Horse-9-Battery"

// world is a running local service with a deployment ready to sign: an admin, an RSA
// certificate issued by a throw-away CA, a certificate user with a .p12, and a policy.
type world struct {
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

func api(t *testing.T, srv *local.Server, method, path, token, host string, body any) []byte {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, srv.URL+path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if host != "" {
		req.Host = host
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, raw)
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

// certificateUser creates a console signer without a password, pins a new client certificate
// for it and returns the user id and a .p12 (password "p12-pass").
func certificateUser(t *testing.T, w *world, name string, notAfter time.Time) (string, string) {
	t.Helper()
	host := local.DemoDomain
	uid := field(t, api(t, w.srv, "POST", "/console/users", w.admin, host, map[string]any{"username": name, "roles": []string{"signer"}}), "id")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tpl := &x509.Certificate{SerialNumber: bigSerial(), Subject: pkix.Name{CommonName: name}, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: notAfter,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	if notAfter.After(time.Now()) {
		api(t, w.srv, "POST", "/console/users/"+uid+"/client-certificates", w.admin, host, map[string]any{"kind": "certificate", "certificate": certstest.PEM(leaf)})
	}
	p12, err := pkcs12.Modern.Encode(key, leaf, nil, "p12-pass")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(w.dir, name+".p12")
	if err := os.WriteFile(path, p12, 0o600); err != nil {
		t.Fatal(err)
	}
	return uid, path
}

func newWorld(t *testing.T) *world {
	t.Helper()
	once.Do(func() {
		dir, _ := os.MkdirTemp("", "signum-cli-")
		srv, err := local.Start(context.Background(), local.Options{Addr: "127.0.0.1:0", TLSAddr: "127.0.0.1:0", DataDir: filepath.Join(dir, "data"),
			Log: function.NewLogger(io.Discard, "error")})
		if err != nil {
			setup = err
			return
		}
		shared = &world{srv: srv, dir: dir}
	})
	if setup != nil {
		t.Fatal(setup)
	}
	w := shared
	if w.admin != "" {
		return w
	}
	srv := w.srv
	api(t, srv, "POST", "/portal/register", "", "", map[string]string{"token": srv.DemoAdminInvite, "email": "admin@example.com", "name": "Admin", "password": password})
	tok := field(t, api(t, srv, "POST", "/portal/login", "", "", map[string]string{"email": "admin@example.com", "password": password}), "token")
	w.admin = field(t, api(t, srv, "POST", "/portal/deployments/"+srv.Demo.ID+"/console-token", tok, "", nil), "token")
	host := local.DemoDomain
	created := api(t, srv, "POST", "/console/certificates", w.admin, host, map[string]any{"algorithm": "RSA_2048", "name": "Release", "subject": map[string]string{"commonName": "Demo Release Signing", "organization": "Demo"}})
	w.certID = field(t, created, "id")
	var err error
	if w.ca, err = certstest.New(); err != nil {
		t.Fatal(err)
	}
	leaf, err := w.ca.Issue(field(t, created, "csrPem"), certstest.Leaf{})
	if err != nil {
		t.Fatal(err)
	}
	api(t, srv, "PUT", "/console/certificates/"+w.certID+"/chain", w.admin, host, map[string]string{"chain": certstest.PEM(leaf, w.ca.Intermediate)})
	w.caFile = filepath.Join(w.dir, "ca.pem")
	_ = os.WriteFile(w.caFile, []byte(certstest.PEM(w.ca.Root)), 0o644)
	w.userID, w.p12 = certificateUser(t, w, "ci-agent", time.Now().AddDate(0, 1, 0))
	api(t, srv, "POST", "/console/policies", w.admin, host, map[string]any{"name": "CI", "enabled": true, "priority": 10, "action": "allow",
		"what": map[string]any{"certificates": []string{w.certID}}, "who": map[string]any{"users": []string{w.userID}},
		"where": []map[string]string{{"process": "signum"}}})
	_, w.noPolicy = certificateUser(t, w, "intern", time.Now().AddDate(0, 1, 0))
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

// windowsExe builds a small Windows executable (cached per test binary).
var exeOnce sync.Once
var exeBytes []byte

func windowsExe(t *testing.T) []byte {
	t.Helper()
	exeOnce.Do(func() {
		dir := t.TempDir()
		src := filepath.Join(dir, "main.go")
		_ = os.WriteFile(src, []byte("package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello\") }\n"), 0o644)
		_ = os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module hello\n\ngo 1.21\n"), 0o644)
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(dir, "hello.exe"), ".")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0", "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Logf("go build: %v %s", err, out)
			return
		}
		exeBytes, _ = os.ReadFile(filepath.Join(dir, "hello.exe"))
	})
	if exeBytes == nil {
		t.Fatal("could not build a Windows executable")
	}
	return exeBytes
}

// TestSignFilesAndVerify: a certificate user signs a Windows executable and a text file in
// one request over mutual TLS; signum verify, osslsigncode and openssl accept them.
func TestSignFilesAndVerify(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()
	exe, txt := filepath.Join(dir, "hello.exe"), filepath.Join(dir, "hello.txt")
	_ = os.WriteFile(exe, windowsExe(t), 0o755)
	_ = os.WriteFile(txt, []byte("hello, signed world\n"), 0o644)

	code, out, errOut := cli(t, w.env(w.p12), "certs", "-o", "json")
	if code != 0 || !strings.Contains(out, w.certID) {
		t.Fatalf("certs: %d %s %s", code, out, errOut)
	}
	code, out, errOut = cli(t, w.env(w.p12), "sign", "--cert", w.certID, "-o", "json", exe, txt)
	if code != 0 {
		t.Fatalf("sign: %d %s %s", code, out, errOut)
	}
	var results []struct{ Path, Output, Kind, EventID string }
	if err := json.Unmarshal([]byte(out), &results); err != nil || len(results) != 2 || results[0].EventID == "" {
		t.Fatalf("sign output: %v %s", err, out)
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
