package clientauth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/opensignum/signum/lib/certificates/certstest"
	"github.com/opensignum/signum/lib/clientauth"
)

// av is one attribute of a test name: its type, the value's ASN.1 tag and its contents.
type av struct {
	oid string
	tag cbasn1.Tag
	val string
}

func utf8AV(oid, v string) av { return av{oid, cbasn1.UTF8String, v} }

// rawName encodes RDNs (each a list of attributes, kept in the order given) as a DER Name.
func rawName(t *testing.T, rdns ...[]av) []byte {
	t.Helper()
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for _, rdn := range rdns {
			b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
				for _, a := range rdn {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						var oid asn1.ObjectIdentifier
						for _, p := range strings.Split(a.oid, ".") {
							var n int
							for _, c := range p {
								n = n*10 + int(c-'0')
							}
							oid = append(oid, n)
						}
						b.AddASN1ObjectIdentifier(oid)
						b.AddASN1(a.tag, func(b *cryptobyte.Builder) { b.AddBytes([]byte(a.val)) })
					})
				}
			})
		}
	})
	der, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// withNames issues a certificate whose subject is subject, from a CA whose subject is issuer.
func withNames(t *testing.T, subject, issuer []byte) *x509.Certificate {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), RawSubject: issuer, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(2), RawSubject: subject, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tpl, ca, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// openssl finds the openssl command: a test that compares with it is skipped without it,
// unless SIGNUM_REQUIRE_TOOLS is set (make test-all), where it fails.
func openssl(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("SIGNUM_REQUIRE_TOOLS") != "" {
			t.Fatal("openssl is not installed")
		}
		t.Skip("openssl is not installed")
	}
	return path
}

// TestDNMatchesOpenSSL: the subject and issuer text rules match is, byte for byte, what
// `openssl x509 -noout -subject -issuer -nameopt RFC2253` prints: repeated attributes,
// multi-valued RDNs (in encoded order, sorted or not), characters that need escapes, UTF-8,
// BMPString, T61String, IA5String, every attribute type the service names, and types it does
// not know.
func TestDNMatchesOpenSSL(t *testing.T) {
	bin := openssl(t)
	const cn, o, ou, c, uid, email, dc = "2.5.4.3", "2.5.4.10", "2.5.4.11", "2.5.4.6", "0.9.2342.19200300.100.1.1", "1.2.840.113549.1.9.1", "0.9.2342.19200300.100.1.25"
	const unknown = "1.3.6.1.4.1.55555.7.1"
	printable := func(oid, v string) av { return av{oid, cbasn1.PrintableString, v} }
	var all []av
	for _, oid := range clientauth.AttributeTypes() {
		all = append(all, utf8AV(oid, "v"))
	}
	sort.Slice(all, func(i, j int) bool { return all[i].oid < all[j].oid })
	var allRDNs [][]av
	for _, a := range all {
		allRDNs = append(allRDNs, []av{a})
	}
	names := map[string][]byte{
		"repeated CN":         rawName(t, []av{utf8AV(cn, "someone else")}, []av{utf8AV(cn, "agent-9")}, []av{utf8AV(o, "Acme")}),
		"multi-valued":        rawName(t, []av{printable(c, "US")}, []av{utf8AV(o, "Acme")}, []av{utf8AV(cn, "a"), utf8AV(uid, "b"), utf8AV(ou, "c")}),
		"multi-valued sorted": rawName(t, []av{utf8AV(dc, "org")}, []av{utf8AV(dc, "example"), utf8AV(o, "users")}, []av{utf8AV(cn, "John Doe")}),
		"escapes":             rawName(t, []av{utf8AV(cn, `a,b+c"d\e<f>g;h=i#j/k*l(m)n`)}, []av{utf8AV(o, "#lead")}, []av{utf8AV(ou, " both ends ")}),
		"lone characters":     rawName(t, []av{utf8AV(cn, "#")}, []av{utf8AV(o, " ")}, []av{utf8AV(ou, "\\")}, []av{utf8AV(uid, ",")}),
		"inner spaces and #":  rawName(t, []av{utf8AV(cn, "a  b#c")}, []av{utf8AV(o, "x #")}),
		"control characters":  rawName(t, []av{utf8AV(cn, "a\nb\x01c\x7fd\x00e\tf")}),
		"UTF-8":               rawName(t, []av{printable(c, "DE")}, []av{utf8AV(o, "Müller & Söhne")}, []av{utf8AV(cn, "José 日本 😀")}, []av{utf8AV(ou, "é")}),
		"BMPString":           rawName(t, []av{{cn, cbasn1.Tag(asn1.TagBMPString), "\x00J\x00\xe9\x65\xe5\x00 \x00#"}}, []av{{o, cbasn1.Tag(asn1.TagBMPString), "\x00#\x00a\x00\x00"}}),
		"T61String":           rawName(t, []av{{cn, cbasn1.T61String, "Jos\xe9 #"}}),
		"IA5String":           rawName(t, []av{{email, cbasn1.IA5String, "ci+agent@acme.example"}}, []av{{dc, cbasn1.IA5String, "acme"}}),
		"NumericString":       rawName(t, []av{{"2.5.4.5", cbasn1.Tag(asn1.TagNumericString), "0123 456"}}),
		"unknown types":       rawName(t, []av{utf8AV(unknown, "abc")}, []av{printable("1.2.3.4", "x,y"), utf8AV(cn, "z")}, []av{{"2.5.4.1", cbasn1.IA5String, "alias"}}),
		"every named type":    rawName(t, allRDNs...),
		"empty":               rawName(t),
	}
	dir := t.TempDir()
	plain := rawName(t, []av{utf8AV(cn, "issuer")})
	for what, name := range names {
		for _, role := range []string{"subject", "issuer"} {
			subject, issuer := name, plain
			if role == "issuer" {
				subject, issuer = plain, name
			}
			cert := withNames(t, subject, issuer)
			file := filepath.Join(dir, "c.pem")
			if err := os.WriteFile(file, []byte(certstest.PEM(cert)), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(bin, "x509", "-noout", "-"+role, "-nameopt", "RFC2253", "-in", file).Output()
			if err != nil {
				t.Fatalf("%s (%s): openssl: %v", what, role, err)
			}
			want := strings.TrimSuffix(strings.TrimPrefix(string(out), role+"="), "\n")
			got, err := clientauth.DN(name)
			if err != nil {
				t.Fatalf("%s (%s): %v", what, role, err)
			}
			if got != want {
				t.Errorf("%s (%s):\n got %q\nwant %q", what, role, got, want)
			}
		}
	}
}

// TestDNRefusesWhatItCannotWrite: a name that is not DER, or holds an empty RDN, has no text.
func TestDNRefusesWhatItCannotWrite(t *testing.T) {
	for what, der := range map[string][]byte{
		"not DER":    {0x30, 0x05, 0x31},
		"empty RDN":  {0x30, 0x02, 0x31, 0x00},
		"trailing":   append(rawName(t, []av{utf8AV("2.5.4.3", "a")}), 0),
		"an INTEGER": rawName(t, []av{{"2.5.4.3", cbasn1.INTEGER, "\x01"}}),
		"odd BMP":    rawName(t, []av{{"2.5.4.3", cbasn1.Tag(asn1.TagBMPString), "\x00"}}),
		"bad UTF-8":  rawName(t, []av{utf8AV("2.5.4.3", "\xff")}),
	} {
		if s, err := clientauth.DN(der); err == nil {
			t.Errorf("%s: written as %q", what, s)
		}
	}
}
