// Package localtest sets up, for tests of clients of the service, a running local service
// with a deployment ready to sign: an Admin's console token, certificates issued by a
// throw-away CA, certificate users with a .p12 each, and policies. Everything goes through
// the public API, as an administrator would do it.
package localtest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/opensignum/signum/lib/certificates/certstest"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/local"
)

// P12Password is the password of every .p12 the world writes.
const P12Password = "p12-pass"

const adminPassword = "Correct-Horse-9-Battery"

// World is a running local service and its demo deployment.
type World struct {
	Srv *local.Server
	CA  *certstest.CA
	// Dir holds the service's data, CAFile (the code-signing root, PEM) and the .p12 files.
	Dir    string
	CAFile string
	// ServerCA is the PEM file that verifies the service's TLS certificate.
	ServerCA string
	Admin    string // console token of the deployment's Admin
	group    string
}

// Start starts a service with its data under a new temporary directory and registers the
// demo deployment's Admin. Call Close when done (tests of a package share one World).
func Start() (*World, error) {
	dir, err := os.MkdirTemp("", "signum-localtest-")
	if err != nil {
		return nil, err
	}
	srv, err := local.Start(context.Background(), local.Options{Addr: "127.0.0.1:0", TLSAddr: "127.0.0.1:0", DataDir: filepath.Join(dir, "data"),
		Log: function.NewLogger(io.Discard, "error")})
	if err != nil {
		return nil, err
	}
	w := &World{Srv: srv, Dir: dir, ServerCA: filepath.Join(dir, "data", local.TLSCAFile)}
	if w.CA, err = certstest.New(); err != nil {
		return nil, err
	}
	w.CAFile = filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(w.CAFile, []byte(certstest.PEM(w.CA.Root)), 0o644); err != nil {
		return nil, err
	}
	if _, err := w.Call("POST", "/portal/register", "", "", map[string]string{"token": srv.DemoAdminInvite, "email": "admin@example.com", "name": "Admin", "password": adminPassword}); err != nil {
		return nil, err
	}
	tok, err := w.field("POST", "/portal/login", "", "", map[string]string{"email": "admin@example.com", "password": adminPassword}, "token")
	if err != nil {
		return nil, err
	}
	if w.Admin, err = w.field("POST", "/portal/deployments/"+srv.Demo.ID+"/console-token", tok, "", nil, "token"); err != nil {
		return nil, err
	}
	if w.group, err = w.field("POST", "/console/certificate-groups", w.Admin, local.DemoDomain, map[string]any{"name": "Release"}, "id"); err != nil {
		return nil, err
	}
	return w, nil
}

// Close stops the service and removes its directory.
func (w *World) Close() {
	w.Srv.Close()
	_ = os.RemoveAll(w.Dir)
}

// Call sends a request to the service (host names the deployment) and returns the body of a
// successful answer.
func (w *World) Call(method, path, token, host string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, w.Srv.URL+path, rd)
	if err != nil {
		return nil, err
	}
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
		return nil, err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 300 {
		return raw, fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, raw)
	}
	return raw, nil
}

func (w *World) field(method, path, token, host string, body any, name string) (string, error) {
	raw, err := w.Call(method, path, token, host, body)
	if err != nil {
		return "", err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return "", err
	}
	s, _ := m[name].(string)
	return s, nil
}

// Console calls the demo deployment's console API as its Admin and returns the answer.
func (w *World) Console(t testing.TB, method, path string, body any) []byte {
	t.Helper()
	raw, err := w.Call(method, path, w.Admin, local.DemoDomain, body)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// Certificate creates a certificate (algorithm "RSA_2048", "EC_P256", ...) whose chain the
// world's CA issued, and returns its id.
func (w *World) Certificate(t testing.TB, name, algorithm string) string {
	t.Helper()
	created := w.Console(t, "POST", "/console/certificates", map[string]any{"algorithm": algorithm, "name": name, "groups": []string{w.group},
		"subject": map[string]string{"commonName": name, "organization": "Demo"}})
	var c struct{ ID, CSRPem string }
	if err := json.Unmarshal(created, &c); err != nil || c.ID == "" {
		t.Fatalf("created certificate: %v %s", err, created)
	}
	leaf, err := w.CA.Issue(c.CSRPem, certstest.Leaf{})
	if err != nil {
		t.Fatal(err)
	}
	w.Console(t, "PUT", "/console/certificates/"+c.ID+"/chain", map[string]string{"chain": certstest.PEM(leaf, w.CA.Intermediate)})
	return c.ID
}

// Agent creates a console signer with a client certificate valid until notAfter (pinned
// only while it is valid) and returns its user id and a .p12 (password P12Password).
func (w *World) Agent(t testing.TB, name string, notAfter time.Time) (string, string) {
	t.Helper()
	var u struct{ ID string }
	if err := json.Unmarshal(w.Console(t, "POST", "/console/users", map[string]any{"username": name, "roles": []string{"signer"}}), &u); err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 100))
	tpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: name}, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: notAfter,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	if notAfter.After(time.Now()) {
		w.Console(t, "POST", "/console/users/"+u.ID+"/client-certificates", map[string]any{"kind": "certificate", "certificate": certstest.PEM(leaf)})
	}
	p12, err := pkcs12.Modern.Encode(key, leaf, nil, P12Password)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(w.Dir, name+".p12")
	if err := os.WriteFile(path, p12, 0o600); err != nil {
		t.Fatal(err)
	}
	return u.ID, path
}

// Policy writes an enabled allow policy for users on certificates from processes (RE2
// patterns, any command line) and returns its id.
func (w *World) Policy(t testing.TB, name string, users, certificates, processes []string) string {
	t.Helper()
	where := []map[string]string{}
	for _, p := range processes {
		where = append(where, map[string]string{"process": p})
	}
	return w.PolicyWhere(t, name, users, certificates, where)
}

// PolicyWhere is Policy with its Where given whole: {"process": ..., "commandLine": ...}
// applications (RE2 patterns matching the whole reported value).
func (w *World) PolicyWhere(t testing.TB, name string, users, certificates []string, where []map[string]string) string {
	t.Helper()
	var p struct{ ID string }
	raw := w.Console(t, "POST", "/console/policies", map[string]any{"name": name, "enabled": true, "priority": 10, "action": "allow",
		"what": map[string]any{"certificates": certificates}, "who": map[string]any{"users": users}, "where": where})
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	return p.ID
}

// Env is the environment that points signum and the PKCS#11 module at the world as the
// agent whose .p12 is p12 (its password in SIGNUM_P12_PASSWORD).
func (w *World) Env(p12 string) map[string]string {
	return map[string]string{"SIGNUM_CONFIG": filepath.Join(w.Dir, "none.json"), "SIGNUM_URL": w.Srv.TLSURL, "SIGNUM_HOST": local.DemoDomain,
		"SIGNUM_CA": w.ServerCA, "SIGNUM_P12": p12, "SIGNUM_P12_PASSWORD": P12Password, "SIGNUM_TOKEN": ""}
}
