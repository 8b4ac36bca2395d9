package local_test

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"os"
	"strings"
	"testing"

	"github.com/opensignum/signum/lib/certificates/certstest"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/keys/awskms"
	"github.com/opensignum/signum/lib/keys/pkcs11"
	"github.com/opensignum/signum/lib/local"
)

// consoleAdmin registers the demo deployment's first Admin and returns a console client with
// its console token (console admin and Signum Administrator).
func consoleAdmin(t *testing.T, srv *local.Server) client {
	t.Helper()
	c := client{t: t, srv: srv}
	adminTok, _ := register(t, c, srv.DemoAdminInvite, "ada@example.com")
	var ct struct{ Token string }
	c.as(adminTok).do("POST", "/portal/deployments/"+srv.Demo.ID+"/console-token", nil).must(t, 200, "console token").json(t, &ct)
	return c.at(local.DemoDomain).as(ct.Token)
}

type certJSON struct {
	ID, Status, Backend, Algorithm, KeyURI, CSRPem, SerialNumber string
	Renewal                                                      *struct{ CSRPem, Algorithm string }
	Version                                                      int64
}

// TestCertificateLifecycle: create → CSR → import chain → disable → enable → renew → import
// the renewed chain → delete, through the API, on each key backend.
func TestCertificateLifecycle(t *testing.T) {
	srv := startLocal(t)
	con := consoleAdmin(t, srv)
	ca, err := certstest.New()
	if err != nil {
		t.Fatal(err)
	}
	backends := []string{"awskms"}
	if srv.Config.PKCS11Library != "" {
		backends = append(backends, "pkcs11")
	} else if requireSoftHSM() {
		t.Fatal("SoftHSM2 is required (SIGNUM_REQUIRE_SOFTHSM=1) but the local server has no PKCS#11 backend")
	}
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			var c certJSON
			r := con.do("POST", "/console/certificates", map[string]any{
				"name": "Release signing", "backend": backend, "algorithm": "RSA_2048",
				"subject": map[string]string{"commonName": "Acme Release", "organization": "Acme", "country": "DE"},
				"sans":    []string{"release@acme.example"}, "groups": inGroup(t, con),
			}).must(t, 201, "create")
			r.json(t, &c)
			if c.Status != "pending" || c.Backend != backend || !strings.HasPrefix(c.KeyURI, backend+":") || !strings.Contains(c.CSRPem, "CERTIFICATE REQUEST") {
				t.Fatalf("created: %+v", c)
			}
			for _, leak := range []string{"PRIVATE KEY", "privateKey"} {
				if strings.Contains(r.body, leak) {
					t.Fatalf("response mentions %s", leak)
				}
			}
			path := "/console/certificates/" + c.ID
			// Nothing signs before the chain: enabling a pending certificate is refused.
			con.do("PATCH", path, map[string]bool{"enabled": true}).must(t, 400, "enable pending")
			con.do("GET", path+"/chain", nil).must(t, 404, "no chain yet")

			// The CA issues from the CSR; bad chains are refused and leave it pending.
			leaf, err := ca.Issue(c.CSRPem, certstest.Leaf{})
			if err != nil {
				t.Fatal(err)
			}
			other, _ := ca.IssueFor(ca.Intermediate.PublicKey, ca.Intermediate.Subject, certstest.Leaf{})
			con.do("PUT", path+"/chain", map[string]string{"chain": certstest.PEM(other, ca.Intermediate)}).must(t, 400, "chain of another key")
			con.do("PUT", path+"/chain", map[string]string{"chain": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"}).must(t, 400, "garbage chain")
			con.do("PUT", path+"/chain", `{"chain":"`+strings.Repeat("A", 70<<10)+`"}`).must(t, 413, "oversized chain")
			con.do("GET", path, nil).must(t, 200, "get").json(t, &c)
			if c.Status != "pending" {
				t.Fatalf("a refused import changed the certificate: %+v", c)
			}
			con.do("PUT", path+"/chain", map[string]string{"chain": certstest.PEM(leaf, ca.Intermediate, ca.Root)}).must(t, 200, "import").json(t, &c)
			if c.Status != "active" || c.SerialNumber == "" {
				t.Fatalf("imported: %+v", c)
			}
			dl := con.do("GET", path+"/chain", nil).must(t, 200, "download")
			if dl.header.Get("Content-Type") != "application/pem-certificate-chain" || strings.Count(dl.body, "BEGIN CERTIFICATE") != 3 {
				t.Fatalf("download: %v %s", dl.header, dl.body)
			}
			con.do("PUT", path+"/chain", map[string]string{"chain": certstest.PEM(leaf)}).must(t, 409, "second import")

			con.do("PATCH", path, map[string]bool{"enabled": false}).must(t, 200, "disable").json(t, &c)
			if c.Status != "disabled" {
				t.Fatalf("disable: %+v", c)
			}
			con.do("PATCH", path, map[string]any{"enabled": true, "groups": inGroup(t, con)}).must(t, 200, "enable").json(t, &c)
			if c.Status != "active" {
				t.Fatalf("enable: %+v", c)
			}

			// Renew: a new key and CSR; the old key keeps the certificate working meanwhile.
			oldKey := c.KeyURI
			con.do("POST", path+"/renew", map[string]string{"algorithm": "EC_P256"}).must(t, 200, "renew").json(t, &c)
			if c.Status != "active" || c.KeyURI != oldKey || c.Renewal == nil || c.Renewal.Algorithm != "EC_P256" {
				t.Fatalf("renewing: %+v", c)
			}
			con.do("POST", path+"/renew", map[string]string{}).must(t, 409, "second renewal")
			renewed, err := ca.Issue(c.Renewal.CSRPem, certstest.Leaf{})
			if err != nil {
				t.Fatal(err)
			}
			c = certJSON{} // absent fields (renewal) must not keep earlier values
			con.do("PUT", path+"/chain", map[string]string{"chain": certstest.PEM(renewed, ca.Intermediate)}).must(t, 200, "import renewal").json(t, &c)
			if c.KeyURI == oldKey || c.Algorithm != "EC_P256" || c.Renewal != nil || c.Status != "active" {
				t.Fatalf("renewed: %+v", c)
			}
			block, _ := pem.Decode([]byte(con.do("GET", path+"/chain", nil).must(t, 200, "download renewed").body))
			got, _ := x509.ParseCertificate(block.Bytes)
			if got == nil || !got.Equal(renewed) {
				t.Fatal("downloaded chain is not the renewed one")
			}
			// The old key is gone from its backend.
			if _, err := openKey(t, srv, oldKey); err == nil {
				t.Fatal("old key still usable after renewal")
			}

			// Delete: the key is scheduled for deletion, the record stays for audit.
			con.do("DELETE", path, nil).must(t, 204, "delete")
			con.do("GET", path, nil).must(t, 200, "deleted record kept").json(t, &c)
			if c.Status != "deleted" {
				t.Fatalf("deleted: %+v", c)
			}
			if _, err := openKey(t, srv, c.KeyURI); err == nil {
				t.Fatal("key still usable after delete")
			}
			con.do("DELETE", path, nil).must(t, 204, "delete again (idempotent)")
			con.do("PATCH", path, map[string]bool{"enabled": true}).must(t, 410, "enable deleted")
		})
	}
	// Bad create requests name the problem and make no key.
	con.do("POST", "/console/certificates", map[string]any{"algorithm": "DSA_1024", "subject": map[string]string{"commonName": "x"}}).must(t, 400, "bad algorithm")
	con.do("POST", "/console/certificates", map[string]any{"algorithm": "EC_P256", "subject": map[string]string{}}).must(t, 400, "no common name")
	con.do("POST", "/console/certificates", map[string]any{"algorithm": "EC_P256", "backend": "nope", "subject": map[string]string{"commonName": "x"}}).must(t, 400, "bad backend")
}

func requireSoftHSM() bool { return os.Getenv("SIGNUM_REQUIRE_SOFTHSM") == "1" }

// openKey opens a key URI with the server's backends and tries to sign with it.
func openKey(t *testing.T, srv *local.Server, uri string) (keys.Key, error) {
	t.Helper()
	ctx := context.Background()
	backends := []keys.Backend{awskms.New(srv.Clients.KMS)}
	if srv.Config.PKCS11Library != "" {
		b, err := pkcs11.New(pkcs11.Config{LibraryPath: srv.Config.PKCS11Library, TokenLabel: srv.Config.PKCS11Token, PIN: srv.Config.PKCS11PIN})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		backends = append(backends, b)
	}
	k, err := keys.NewRegistry(backends...).Open(ctx, uri)
	if err != nil {
		return nil, err
	}
	digest := make([]byte, 32)
	_, err = k.SignContext(ctx, digest, crypto.SHA256)
	return k, err
}

// activate imports a chain for a pending certificate, issued by a fresh test CA.
func activate(t *testing.T, con client, id string) {
	t.Helper()
	ca, err := certstest.New()
	if err != nil {
		t.Fatal(err)
	}
	var c certJSON
	con.do("GET", "/console/certificates/"+id, nil).must(t, 200, "get").json(t, &c)
	leaf, err := ca.Issue(c.CSRPem, certstest.Leaf{})
	if err != nil {
		t.Fatal(err)
	}
	con.do("PUT", "/console/certificates/"+id+"/chain", map[string]string{"chain": certstest.PEM(leaf, ca.Intermediate)}).must(t, 200, "import")
}
