package certificates_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"

	"github.com/opensignum/signum/lib/certificates"
	"github.com/opensignum/signum/lib/certificates/certstest"
	"github.com/opensignum/signum/lib/fault"
)

func setup(t *testing.T) (*certstest.CA, *ecdsa.PrivateKey, string) {
	t.Helper()
	ca, err := certstest.New()
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, err := certificates.NewCSR(key, certificates.Subject{CommonName: "Acme Code Signing", Organization: "Acme", Country: "DE"}, []string{"sign.acme.example", "release@acme.example"})
	if err != nil {
		t.Fatal(err)
	}
	return ca, key, csr
}

func TestCSR(t *testing.T) {
	_, key, csrPEM := setup(t)
	csr, err := certificates.ParseCSR(csrPEM)
	if err != nil {
		t.Fatal(err)
	}
	if csr.Subject.CommonName != "Acme Code Signing" || csr.DNSNames[0] != "sign.acme.example" || csr.EmailAddresses[0] != "release@acme.example" || !key.PublicKey.Equal(csr.PublicKey) {
		t.Fatalf("csr: %+v", csr.Subject)
	}
	for name, c := range map[string]struct {
		s    certificates.Subject
		sans []string
	}{
		"fail/no-cn":        {certificates.Subject{}, nil},
		"fail/country":      {certificates.Subject{CommonName: "x", Country: "Germany"}, nil},
		"fail/control-char": {certificates.Subject{CommonName: "x\ny"}, nil},
		"fail/bad-san":      {certificates.Subject{CommonName: "x"}, []string{"not a name"}},
		"fail/bad-email":    {certificates.Subject{CommonName: "x"}, []string{"a@@b"}},
	} {
		if _, err := certificates.NewCSR(key, c.s, c.sans); !errors.Is(err, fault.ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := certificates.ParseCSR("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----"); !errors.Is(err, fault.ErrInvalid) {
		t.Errorf("garbage CSR: %v", err)
	}
}

func TestVerifyChain(t *testing.T) {
	ca, key, csr := setup(t)
	now := time.Now()
	leaf, err := ca.Issue(csr, certstest.Leaf{})
	if err != nil {
		t.Fatal(err)
	}
	p7, err := pkcs7.DegenerateCertificate(append(append(append([]byte{}, ca.Root.Raw...), leaf.Raw...), ca.Intermediate.Raw...))
	if err != nil {
		t.Fatal(err)
	}
	ok := map[string]string{
		"ok/leaf-int-root":   certstest.PEM(leaf, ca.Intermediate, ca.Root),
		"ok/unordered":       certstest.PEM(ca.Root, leaf, ca.Intermediate),
		"ok/without-root":    certstest.PEM(leaf, ca.Intermediate),
		"ok/leaf-only":       certstest.PEM(leaf),
		"ok/pkcs7-der":       string(p7),
		"ok/pkcs7-pem":       string(pem.EncodeToMemory(&pem.Block{Type: "PKCS7", Bytes: p7})),
		"ok/crlf-and-spaces": strings.ReplaceAll(certstest.PEM(leaf, ca.Intermediate), "\n", "\r\n") + "\n\n",
	}
	for name, bundle := range ok {
		t.Run(name, func(t *testing.T) {
			list, err := certificates.ParseBundle([]byte(bundle))
			if err != nil {
				t.Fatal(err)
			}
			chain, err := certificates.Verify(list, &key.PublicKey, now, certificates.ImportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if chain.Leaf != list[indexOf(list, leaf)] || chain.Certs[0].SerialNumber.Cmp(leaf.SerialNumber) != 0 {
				t.Fatal("leaf not first")
			}
			if len(list) > 1 && chain.Certs[1].Subject.CommonName != "Signum Test Issuing CA" {
				t.Fatalf("order: %v", chain.Certs)
			}
		})
	}

	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherCA, _ := certstest.New()
	expired, _ := ca.Issue(csr, certstest.Leaf{NotBefore: now.AddDate(-2, 0, 0), NotAfter: now.AddDate(-1, 0, 0)})
	future, _ := ca.Issue(csr, certstest.Leaf{NotBefore: now.Add(time.Hour), NotAfter: now.AddDate(1, 0, 0)})
	tls, _ := ca.Issue(csr, certstest.Leaf{EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	caLeaf, _ := ca.Issue(csr, certstest.Leaf{IsCA: true})
	fromOther, _ := otherCA.Issue(csr, certstest.Leaf{})
	keyPEM, _ := x509.MarshalECPrivateKey(other)
	fail := map[string]struct {
		bundle string
		detail string
	}{
		"fail/wrong-key":         {certstest.PEM(mustIssueFor(t, ca, other), ca.Intermediate), "no certificate of the chain holds this certificate's key"},
		"fail/expired":           {certstest.PEM(expired, ca.Intermediate), "expired"},
		"fail/not-yet-valid":     {certstest.PEM(future, ca.Intermediate), "not valid before"},
		"fail/no-code-signing":   {certstest.PEM(tls, ca.Intermediate), "code-signing"},
		"fail/ca-as-leaf":        {certstest.PEM(caLeaf, ca.Intermediate), "CA certificate"},
		"fail/foreign-intermed":  {certstest.PEM(leaf, otherCA.Intermediate), "does not belong to the chain"},
		"fail/other-ca-issuer":   {certstest.PEM(fromOther, ca.Intermediate, ca.Root), "does not belong to the chain"},
		"fail/private-key-block": {certstest.PEM(leaf) + string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyPEM})), "never a private key"},
		"fail/garbage":           {"hello", "neither PEM certificates nor a PKCS#7 bundle"},
		"fail/empty":             {"  ", "empty"},
		"fail/truncated-pem":     {certstest.PEM(leaf)[:200], "not PEM"},
		"fail/truncated-der":     {string(p7[:len(p7)/2]), "PKCS#7"},
		"fail/too-many":          {strings.Repeat(certstest.PEM(ca.Root), certificates.MaxChainLength+1), "more than"},
	}
	for name, c := range fail {
		t.Run(name, func(t *testing.T) {
			list, err := certificates.ParseBundle([]byte(c.bundle))
			if err == nil {
				_, err = certificates.Verify(list, &key.PublicKey, now, certificates.ImportOptions{})
			}
			if !errors.Is(err, fault.ErrInvalid) {
				t.Fatalf("err = %v", err)
			}
			if d, _ := fault.DetailOf(err); !strings.Contains(d, c.detail) {
				t.Fatalf("detail %q lacks %q", d, c.detail)
			}
		})
	}
	// Key usage: none at all is no restriction; one without digitalSignature cannot sign,
	// whatever allowNonCodeSigning says.
	noKU, _ := ca.Issue(csr, certstest.Leaf{NoKeyUsage: true})
	withNR, _ := ca.Issue(csr, certstest.Leaf{KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment})
	for name, leaf := range map[string]*x509.Certificate{"ok/no-key-usage": noKU, "ok/digital-signature-and-non-repudiation": withNR} {
		t.Run(name, func(t *testing.T) {
			list, _ := certificates.ParseBundle([]byte(certstest.PEM(leaf, ca.Intermediate)))
			if _, err := certificates.Verify(list, &key.PublicKey, now, certificates.ImportOptions{}); err != nil {
				t.Fatal(err)
			}
		})
	}
	encipherOnly, _ := ca.Issue(csr, certstest.Leaf{KeyUsage: x509.KeyUsageKeyEncipherment})
	nonRepudiation, _ := ca.Issue(csr, certstest.Leaf{KeyUsage: x509.KeyUsageContentCommitment})
	for name, leaf := range map[string]*x509.Certificate{"fail/key-encipherment-only": encipherOnly, "fail/non-repudiation-only": nonRepudiation} {
		for _, o := range []certificates.ImportOptions{{}, {AllowNonCodeSigning: true}} {
			t.Run(name, func(t *testing.T) {
				list, _ := certificates.ParseBundle([]byte(certstest.PEM(leaf, ca.Intermediate)))
				_, err := certificates.Verify(list, &key.PublicKey, now, o)
				if !errors.Is(err, fault.ErrInvalid) || !fault.HasField(err, "chain") || !strings.Contains(err.Error(), "digitalSignature") {
					t.Fatalf("err = %v (want a 400 on chain saying digitalSignature)", err)
				}
			})
		}
	}
	t.Run("ok/allow-non-code-signing", func(t *testing.T) {
		list, _ := certificates.ParseBundle([]byte(certstest.PEM(tls, ca.Intermediate)))
		if _, err := certificates.Verify(list, &key.PublicKey, now, certificates.ImportOptions{AllowNonCodeSigning: true}); err != nil {
			t.Fatal(err)
		}
	})
}

func mustIssueFor(t *testing.T, ca *certstest.CA, k *ecdsa.PrivateKey) *x509.Certificate {
	c, err := ca.IssueFor(&k.PublicKey, ca.Intermediate.Subject, certstest.Leaf{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func indexOf(list []*x509.Certificate, c *x509.Certificate) int {
	for i, x := range list {
		if x.Equal(c) {
			return i
		}
	}
	return -1
}

// FuzzParseBundle: uploaded chains come from customers; parsing never panics and every
// refusal is a 400.
func FuzzParseBundle(f *testing.F) {
	ca, _ := certstest.New()
	f.Add([]byte(certstest.PEM(ca.Intermediate, ca.Root)))
	p7, _ := pkcs7.DegenerateCertificate(ca.Root.Raw)
	f.Add(p7)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"))
	f.Add([]byte{0x30, 0x82, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		list, err := certificates.ParseBundle(data)
		if err != nil {
			if !errors.Is(err, fault.ErrInvalid) {
				t.Fatalf("refusal of another kind: %v", err)
			}
			return
		}
		if len(list) == 0 || len(list) > certificates.MaxChainLength {
			t.Fatalf("%d certificates", len(list))
		}
		// Whatever parsed, verifying against an unrelated key refuses cleanly.
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if _, err := certificates.Verify(list, &k.PublicKey, time.Now(), certificates.ImportOptions{}); err == nil {
			t.Fatal("chain verified for an unrelated key")
		}
	})
}

// FuzzParseCSR: a CSR never panics the parser; a refusal is a 400.
func FuzzParseCSR(f *testing.F) {
	_, _, csr := setup(&testing.T{})
	f.Add(csr)
	f.Add("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n")
	f.Fuzz(func(t *testing.T, s string) {
		if _, err := certificates.ParseCSR(s); err != nil && !errors.Is(err, fault.ErrInvalid) {
			t.Fatalf("refusal of another kind: %v", err)
		}
	})
}
