package clientauth_test

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/opensignum/signum/lib/certificates/certstest"
	"github.com/opensignum/signum/lib/clientauth"
	"github.com/opensignum/signum/lib/fault"
)

// TestSubjectRuleSeesEveryAttribute: a subject with repeated attributes is matched as
// encoded, every attribute in place. Go's pkix.Name.String keeps only the last CN, so the
// rule below used to accept these certificates.
func TestSubjectRuleSeesEveryAttribute(t *testing.T) {
	ca := mustCA(t)
	cred := credential(t, clientauth.Authority, "cu_a", ca.Intermediate, clientauth.Rule{Field: clientauth.Subject, Pattern: `CN=agent-\d+,O=Acme`})
	cands := clientauth.Candidates{Credentials: []clientauth.Credential{cred}}
	now := time.Now()
	if _, err := clientauth.Authenticate(client(t, ca, "agent-9", certstest.Leaf{}).Leaf, cands, now); err != nil {
		t.Fatalf("agent-9: %v", err)
	}
	o := asn1.ObjectIdentifier{2, 5, 4, 10}
	cn := asn1.ObjectIdentifier{2, 5, 4, 3}
	for _, names := range [][]pkix.AttributeTypeAndValue{
		{{Type: o, Value: "Acme"}, {Type: cn, Value: "someone else"}, {Type: cn, Value: "agent-9"}},
		{{Type: cn, Value: "someone else"}, {Type: cn, Value: "agent-9"}, {Type: o, Value: "Acme"}},
	} {
		c, err := ca.Client(pkix.Name{ExtraNames: names}, certstest.Leaf{})
		if err != nil {
			t.Fatal(err)
		}
		if c.Leaf.Subject.String() != "CN=agent-9,O=Acme" {
			t.Fatalf("Go's form is %q: the test no longer shows the bypass", c.Leaf.Subject.String())
		}
		dn, _ := clientauth.DN(c.Leaf.RawSubject)
		_, err = clientauth.Authenticate(c.Leaf, cands, now)
		refused(t, err, "is not registered")
		if d, _ := fault.DetailOf(err); !strings.Contains(d, "issuer CN=Signum Test Issuing CA,O=Signum test") {
			t.Fatalf("refusal %q does not name the issuer in RFC 2253 form", d)
		}
		t.Logf("%s refused", dn)
	}
}

// generalName is one GeneralName of a name constraint: its context tag and contents.
type generalName struct {
	tag cbasn1.Tag
	der []byte
}

func dirName(der []byte) generalName {
	return generalName{cbasn1.Tag(4).ContextSpecific().Constructed(), der}
}

// nameConstraints encodes a critical name constraints extension.
func nameConstraints(t *testing.T, permitted, excluded []generalName) pkix.Extension {
	t.Helper()
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for i, list := range [][]generalName{permitted, excluded} {
			if len(list) == 0 {
				continue
			}
			b.AddASN1(cbasn1.Tag(i).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
				for _, g := range list {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1(g.tag, func(b *cryptobyte.Builder) { b.AddBytes(g.der) })
					})
				}
			})
		}
	})
	der, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 30}, Critical: true, Value: der}
}

// sanDirName encodes a subject alternative name extension holding a DNS name and a
// directoryName.
func sanDirName(t *testing.T, dns string, name []byte) pkix.Extension {
	t.Helper()
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.Tag(2).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes([]byte(dns)) })
		b.AddASN1(cbasn1.Tag(4).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) { b.AddBytes(name) })
	})
	der, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 17}, Value: der}
}

func constrainedCA(t *testing.T, edit func(*x509.Certificate)) *certstest.CA {
	t.Helper()
	ca, err := certstest.NewWith(edit)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func issue(t *testing.T, ca *certstest.CA, subject pkix.Name, l certstest.Leaf) *x509.Certificate {
	t.Helper()
	c, err := ca.Client(subject, l)
	if err != nil {
		t.Fatal(err)
	}
	return c.Leaf
}

// TestNameConstraints: a registered CA's name constraints bind the certificates it issues.
// directoryName subtrees (which Go's verifier does not enforce) on the subject and on
// directoryName alternative names, compared case- and width-insensitively; DNS constraints on
// the alternative names; the CA's extended key usage. A certificate outside them is refused
// with a reason, though the CA signed it and the rules match.
func TestNameConstraints(t *testing.T) {
	now := time.Now()
	const o, ou, cn = "2.5.4.10", "2.5.4.11", "2.5.4.3"
	acme := rawName(t, []av{utf8AV(o, "Acme")})
	contractors := rawName(t, []av{utf8AV(o, "Acme")}, []av{utf8AV(ou, "Contractors")})
	dirCA := constrainedCA(t, func(c *x509.Certificate) {
		c.ExtraExtensions = []pkix.Extension{nameConstraints(t, []generalName{dirName(acme)}, []generalName{dirName(contractors)})}
	})
	dnsCA := constrainedCA(t, func(c *x509.Certificate) {
		c.PermittedDNSDomainsCritical, c.PermittedDNSDomains = true, []string{"ci.acme.test"}
	})
	serverCA := constrainedCA(t, func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth} })
	emailCA := constrainedCA(t, func(c *x509.Certificate) {
		c.PermittedDNSDomainsCritical, c.PermittedEmailAddresses = true, []string{"acme.test"}
	})
	name := func(org, unit, common string) pkix.Name {
		n := pkix.Name{Organization: []string{org}, CommonName: common}
		if unit != "" {
			n.OrganizationalUnit = []string{unit}
		}
		return n
	}
	for _, tc := range []struct {
		what   string
		ca     *certstest.CA
		cert   func(*certstest.CA) *x509.Certificate
		refuse string // "" accepted
	}{
		{"ok/inside the permitted subtree", dirCA, func(ca *certstest.CA) *x509.Certificate {
			return issue(t, ca, name("Acme", "Build", "agent-1"), certstest.Leaf{})
		}, ""},
		{"ok/other case", dirCA, func(ca *certstest.CA) *x509.Certificate {
			return issue(t, ca, name("ACME ", "", "agent-1"), certstest.Leaf{})
		}, ""},
		{"fail/outside the permitted subtree", dirCA, func(ca *certstest.CA) *x509.Certificate {
			return issue(t, ca, name("Evil", "", "agent-1"), certstest.Leaf{})
		}, "outside the directory names the CA may issue for: CN=agent-1,O=Evil"},
		{"fail/permitted name one level down", dirCA, func(ca *certstest.CA) *x509.Certificate {
			return issue(t, ca, pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{{Type: asn1.ObjectIdentifier{2, 5, 4, 6}, Value: "US"}, {Type: asn1.ObjectIdentifier{2, 5, 4, 10}, Value: "Acme"}}}, certstest.Leaf{})
		}, "outside the directory names"},
		{"fail/excluded subtree", dirCA, func(ca *certstest.CA) *x509.Certificate {
			return issue(t, ca, name("Acme", "Contractors", "bob"), certstest.Leaf{})
		}, "in the directory names the CA may not issue for: CN=bob,OU=Contractors,O=Acme"},
		{"fail/excluded subtree in another case", dirCA, func(ca *certstest.CA) *x509.Certificate {
			return issue(t, ca, name("acme", "CONTRACTORS", "bob"), certstest.Leaf{})
		}, "may not issue for"},
		{"fail/excluded subtree in full-width letters", dirCA, func(ca *certstest.CA) *x509.Certificate {
			return issue(t, ca, name("Acme", "Ｃｏｎｔｒａｃｔｏｒｓ", "bob"), certstest.Leaf{})
		}, "may not issue for"},
		{"fail/directoryName alternative name outside", dirCA, func(ca *certstest.CA) *x509.Certificate {
			return issue(t, ca, name("Acme", "", "agent-1"), certstest.Leaf{Extensions: []pkix.Extension{sanDirName(t, "agent-1.example", rawName(t, []av{utf8AV(o, "Evil")}, []av{utf8AV(cn, "x")}))}})
		}, "outside the directory names the CA may issue for: CN=x,O=Evil"},
		{"ok/DNS name inside", dnsCA, func(ca *certstest.CA) *x509.Certificate {
			return issue(t, ca, name("Acme", "", "a"), certstest.Leaf{DNSNames: []string{"a.ci.acme.test"}})
		}, ""},
		{"fail/DNS name outside", dnsCA, func(ca *certstest.CA) *x509.Certificate {
			return issue(t, ca, name("Acme", "", "a"), certstest.Leaf{DNSNames: []string{"a.evil.test"}})
		}, "a.evil.test"},
		{"fail/CA for servers only", serverCA, func(ca *certstest.CA) *x509.Certificate { return issue(t, ca, name("Acme", "", "a"), certstest.Leaf{}) }, "is not accepted by the CA"},
		{"ok/e-mail inside", emailCA, func(ca *certstest.CA) *x509.Certificate {
			return issue(t, ca, name("Acme", "", "a"), certstest.Leaf{Emails: []string{"a@acme.test"}})
		}, ""},
		{"fail/e-mail outside", emailCA, func(ca *certstest.CA) *x509.Certificate {
			return issue(t, ca, name("Acme", "", "a"), certstest.Leaf{Emails: []string{"a@evil.test"}})
		}, "a@evil.test"},
		{"fail/e-mail only in the subject", emailCA, func(ca *certstest.CA) *x509.Certificate {
			return issue(t, ca, pkix.Name{CommonName: "a", ExtraNames: []pkix.AttributeTypeAndValue{{Type: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}, Value: "a@evil.test"}}}, certstest.Leaf{})
		}, "e-mail address in its subject"},
	} {
		t.Run(tc.what, func(t *testing.T) {
			cred := credential(t, clientauth.Authority, "cu_a", tc.ca.Intermediate, clientauth.Rule{Field: clientauth.Subject, Pattern: ".*"})
			_, err := clientauth.Authenticate(tc.cert(tc.ca), clientauth.Candidates{Credentials: []clientauth.Credential{cred}}, now)
			if tc.refuse == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			refused(t, err, tc.refuse)
		})
	}
}

// TestNewRefusesUnenforceableCAs: a CA whose constraints hold a form no one here enforces, or
// that carries a critical extension no one here knows, is not registered.
func TestNewRefusesUnenforceableCAs(t *testing.T) {
	registeredID := generalName{cbasn1.Tag(8).ContextSpecific(), []byte{0x2a, 0x03}}
	otherName := generalName{cbasn1.Tag(0).ContextSpecific().Constructed(), []byte{0x06, 0x01, 0x2a, 0xa0, 0x03, 0x0c, 0x01, 0x78}}
	for what, tc := range map[string]struct {
		ext  pkix.Extension
		want string
	}{
		"registeredID constraint":    {nameConstraints(t, []generalName{registeredID}, nil), "registeredID name constraints, which Signum cannot enforce"},
		"otherName constraint":       {nameConstraints(t, nil, []generalName{otherName}), "otherName name constraints"},
		"unknown critical extension": {pkix.Extension{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 55555, 9}, Critical: true, Value: []byte{0x05, 0x00}}, "critical extensions Signum does not know (1.3.6.1.4.1.55555.9)"},
	} {
		ca := constrainedCA(t, func(c *x509.Certificate) { c.ExtraExtensions = []pkix.Extension{tc.ext} })
		_, err := clientauth.New(clientauth.Credential{Kind: clientauth.Authority, Rules: []clientauth.Rule{{Field: clientauth.Subject, Pattern: ".*"}}}, certstest.PEM(ca.Intermediate), time.Now())
		if !errors.Is(err, fault.ErrInvalid) || !fault.HasField(err, "certificate") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v (want a 400 on certificate saying %q)", what, err, tc.want)
		}
	}
	// directoryName constraints, and the forms Go enforces, are accepted.
	ca := constrainedCA(t, func(c *x509.Certificate) {
		c.ExtraExtensions = []pkix.Extension{nameConstraints(t, []generalName{dirName(rawName(t, []av{utf8AV("2.5.4.10", "Acme")})), {cbasn1.Tag(2).ContextSpecific(), []byte("acme.test")}}, nil)}
	})
	if _, err := clientauth.New(clientauth.Credential{Kind: clientauth.Authority, Rules: []clientauth.Rule{{Field: clientauth.Subject, Pattern: ".*"}}}, certstest.PEM(ca.Intermediate), time.Now()); err != nil {
		t.Fatal(err)
	}
}
