package local_test

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"strings"
	"testing"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/opensignum/signum/lib/certificates/certstest"
	"github.com/opensignum/signum/lib/local"
)

// TestClientCertificateNames, through the API and the mutual-TLS port: a subject rule sees
// every attribute of the subject (a second CN no longer passes `CN=agent-\d+,O=Acme`), a
// registered CA's directoryName constraints refuse what it issued outside them, a CA whose
// constraints cannot be enforced is not registered, and a chain whose leaf may not sign is
// not imported.
func TestClientCertificateNames(t *testing.T) {
	srv := startLocal(t)
	con := consoleAdmin(t, srv)
	var agent struct{ ID string }
	con.do("POST", "/console/users", map[string]any{"username": "build-agents", "roles": []string{"signer"}}).must(t, 201, "certificate user").json(t, &agent)
	base := "/console/users/" + agent.ID + "/client-certificates"
	mtls := client{t: t, srv: srv, host: local.DemoDomain}

	// The subject rule of the review: a certificate with a second CN is refused.
	ca := newCA(t)
	con.do("POST", base, map[string]any{"kind": "ca", "certificate": certstest.PEM(ca.Intermediate),
		"rules": []map[string]string{{"field": "subject", "pattern": `CN=agent-\d+,O=Acme`}}}).must(t, 201, "register CA")
	mtls.withCert(clientCert(t, ca, "agent-9", certstest.Leaf{})).do("GET", "/console/session", nil).must(t, 200, "agent-9")
	cn, o := asn1.ObjectIdentifier{2, 5, 4, 3}, asn1.ObjectIdentifier{2, 5, 4, 10}
	twoCNs, err := ca.Client(pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{{Type: o, Value: "Acme"}, {Type: cn, Value: "someone else"}, {Type: cn, Value: "agent-9"}}}, certstest.Leaf{})
	if err != nil {
		t.Fatal(err)
	}
	if r := mtls.withCert(twoCNs).do("GET", "/console/session", nil); r.status != 401 || !strings.Contains(r.body, "is not registered") {
		t.Fatalf("a subject with a second CN: %d %s", r.status, r.body)
	}

	// A CA that may issue for O=Acme only: its certificate for O=Evil is refused, and the
	// registration shows its names in the form rules match.
	constrained, err := certstest.NewWith(func(c *x509.Certificate) {
		c.Subject = pkix.Name{CommonName: "Acme, Inc. CI", Organization: []string{"Acme"}}
		c.ExtraExtensions = []pkix.Extension{dirNameConstraint(t, pkix.Name{Organization: []string{"Acme"}})}
	})
	if err != nil {
		t.Fatal(err)
	}
	var reg struct{ Subject, Issuer string }
	con.do("POST", base, map[string]any{"kind": "ca", "certificate": certstest.PEM(constrained.Intermediate),
		"rules": []map[string]string{{"field": "issuer", "pattern": `CN=Acme\\, Inc\. CI,O=Acme`}}}).must(t, 201, "register constrained CA").json(t, &reg)
	if reg.Subject != `CN=Acme\, Inc. CI,O=Acme` || reg.Issuer != "CN=Signum Test Root,O=Signum test" {
		t.Fatalf("registered names: %+v", reg)
	}
	evil, err := constrained.Client(pkix.Name{Organization: []string{"Evil"}, CommonName: "agent-1"}, certstest.Leaf{})
	if err != nil {
		t.Fatal(err)
	}
	if r := mtls.withCert(evil).do("GET", "/console/session", nil); r.status != 401 || !strings.Contains(r.body, "outside the directory names the CA may issue for: CN=agent-1,O=Evil") {
		t.Fatalf("a certificate outside the CA's name constraints: %d %s", r.status, r.body)
	}
	good, err := constrained.Client(pkix.Name{Organization: []string{"Acme"}, CommonName: "agent-1"}, certstest.Leaf{})
	if err != nil {
		t.Fatal(err)
	}
	mtls.withCert(good).do("GET", "/console/session", nil).must(t, 200, "a certificate inside the CA's name constraints")

	// A CA whose constraints hold a form no one here enforces is not registered.
	unenforceable, err := certstest.NewWith(func(c *x509.Certificate) {
		c.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 30}, Critical: true,
			Value: []byte{0x30, 0x08, 0xa0, 0x06, 0x30, 0x04, 0x88, 0x02, 0x2a, 0x03}}} // permitted registeredID 1.2.3
	})
	if err != nil {
		t.Fatal(err)
	}
	r := con.do("POST", base, map[string]any{"kind": "ca", "certificate": certstest.PEM(unenforceable.Intermediate), "rules": []map[string]string{{"field": "subject", "pattern": ".*"}}})
	if r.status != 400 || !hasInvalidParam(t, r, "certificate", "registeredID name constraints") {
		t.Fatalf("a CA with registeredID constraints: %d %s", r.status, r.body)
	}

	// A chain whose leaf's key usage leaves out digitalSignature is not imported.
	var cert struct{ ID, CSRPem string }
	con.do("POST", "/console/certificates", map[string]any{"groups": inGroup(t, con), "algorithm": "EC_P256", "subject": map[string]string{"commonName": "Key usage"}}).must(t, 201, "cert").json(t, &cert)
	con.do("GET", "/console/certificates/"+cert.ID, nil).must(t, 200, "get").json(t, &cert)
	leaf, err := ca.Issue(cert.CSRPem, certstest.Leaf{KeyUsage: x509.KeyUsageKeyEncipherment})
	if err != nil {
		t.Fatal(err)
	}
	r = con.do("PUT", "/console/certificates/"+cert.ID+"/chain", map[string]any{"chain": certstest.PEM(leaf, ca.Intermediate), "allowNonCodeSigning": true})
	if r.status != 400 || !hasInvalidParam(t, r, "chain", "digitalSignature") {
		t.Fatalf("a leaf that may not sign: %d %s", r.status, r.body)
	}
	var after struct{ Status string }
	con.do("GET", "/console/certificates/"+cert.ID, nil).must(t, 200, "get").json(t, &after)
	if after.Status != "pending" {
		t.Fatalf("the refused import changed the certificate: %s", after.Status)
	}
}

// hasInvalidParam reports whether a problem lists field name with a reason saying want.
func hasInvalidParam(t *testing.T, r resp, name, want string) bool {
	t.Helper()
	var p struct {
		InvalidParams []struct{ Name, Reason string } `json:"invalid-params"`
	}
	if err := json.Unmarshal([]byte(r.body), &p); err != nil {
		t.Fatal(err)
	}
	for _, f := range p.InvalidParams {
		if f.Name == name && strings.Contains(f.Reason, want) {
			return true
		}
	}
	return false
}

// dirNameConstraint is a critical name constraints extension permitting the subtree of name.
func dirNameConstraint(t *testing.T, name pkix.Name) pkix.Extension {
	t.Helper()
	der, err := asn1.Marshal(name.ToRDNSequence())
	if err != nil {
		t.Fatal(err)
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.Tag(4).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) { b.AddBytes(der) })
			})
		})
	})
	value, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 30}, Critical: true, Value: value}
}
