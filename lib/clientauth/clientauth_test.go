package clientauth_test

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/certificates/certstest"
	"github.com/opensignum/signum/lib/clientauth"
	"github.com/opensignum/signum/lib/fault"
)

func mustCA(t *testing.T) *certstest.CA {
	t.Helper()
	ca, err := certstest.New()
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func client(t *testing.T, ca *certstest.CA, cn string, l certstest.Leaf) tls.Certificate {
	t.Helper()
	c, err := ca.Client(pkix.Name{CommonName: cn, Organization: []string{"Acme"}}, l)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func credential(t *testing.T, kind clientauth.Kind, user string, cert *x509.Certificate, rules ...clientauth.Rule) clientauth.Credential {
	t.Helper()
	c, err := clientauth.New(clientauth.Credential{ID: "cc_" + user, UserID: user, Kind: kind, Rules: rules}, certstest.PEM(cert), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func refused(t *testing.T, err error, want string) {
	t.Helper()
	if !errors.Is(err, fault.ErrUnauthenticated) {
		t.Fatalf("want a 401 refusal, got %v", err)
	}
	if d, _ := fault.DetailOf(err); !strings.Contains(d, want) {
		t.Fatalf("refusal %q does not say %q", d, want)
	}
}

func TestAuthenticate(t *testing.T) {
	ca, other := mustCA(t), mustCA(t)
	now := time.Now()
	agent1 := client(t, ca, "agent-1", certstest.Leaf{DNSNames: []string{"agent-1.ci.acme.test"}})
	agent2 := client(t, ca, "agent-2", certstest.Leaf{})
	stranger := client(t, other, "agent-1", certstest.Leaf{}) // same subject, other CA
	viaCA := credential(t, clientauth.Authority, "cu_a", ca.Intermediate, clientauth.Rule{Field: clientauth.Subject, Pattern: "CN=agent-1,.*"},
		clientauth.Rule{Field: clientauth.SAN, Pattern: `[a-z0-9-]+\.ci\.acme\.test`})

	got, err := clientauth.Authenticate(agent1.Leaf, clientauth.Candidates{Credentials: []clientauth.Credential{viaCA}}, now)
	if err != nil || got.UserID != "cu_a" {
		t.Fatalf("agent-1: %v %v", got.UserID, err)
	}
	_, err = clientauth.Authenticate(agent2.Leaf, clientauth.Candidates{Credentials: []clientauth.Credential{viaCA}}, now)
	refused(t, err, "is not registered")
	_, err = clientauth.Authenticate(stranger.Leaf, clientauth.Candidates{Credentials: []clientauth.Credential{viaCA}}, now)
	refused(t, err, "is not registered")
	_, err = clientauth.Authenticate(agent1.Leaf, clientauth.Candidates{Credentials: []clientauth.Credential{viaCA}, Revoked: true}, now)
	refused(t, err, "has been revoked")
	_, err = clientauth.Authenticate(agent1.Leaf, clientauth.Candidates{Credentials: []clientauth.Credential{viaCA}}, agent1.Leaf.NotAfter.Add(time.Second))
	refused(t, err, "expired on")
	_, err = clientauth.Authenticate(agent1.Leaf, clientauth.Candidates{Credentials: []clientauth.Credential{viaCA}}, agent1.Leaf.NotBefore.Add(-time.Second))
	refused(t, err, "is not valid before")
	_, err = clientauth.Authenticate(agent1.Leaf, clientauth.Candidates{}, now)
	refused(t, err, "is not registered")

	// A code-signing certificate is not a client certificate, even from the right CA.
	codeSigning := client(t, ca, "agent-1", certstest.Leaf{EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}, DNSNames: []string{"agent-1.ci.acme.test"}})
	_, err = clientauth.Authenticate(codeSigning.Leaf, clientauth.Candidates{Credentials: []clientauth.Credential{viaCA}}, now)
	refused(t, err, "not for client authentication")

	// Two users' rules both match: refused rather than guessed.
	wide := credential(t, clientauth.Authority, "cu_b", ca.Intermediate, clientauth.Rule{Field: clientauth.Subject, Pattern: ".*"})
	_, err = clientauth.Authenticate(agent1.Leaf, clientauth.Candidates{Credentials: []clientauth.Credential{viaCA, wide}}, now)
	refused(t, err, "more than one user")
	// agent-2 matches only the wide credential.
	if got, err := clientauth.Authenticate(agent2.Leaf, clientauth.Candidates{Credentials: []clientauth.Credential{viaCA, wide}}, now); err != nil || got.UserID != "cu_b" {
		t.Fatalf("agent-2 via the wide CA credential: %v %v", got.UserID, err)
	}

	// A CA certificate the registered CA issued does not authenticate through it.
	subCA := client(t, ca, "agent-1", certstest.Leaf{IsCA: true, DNSNames: []string{"agent-1.ci.acme.test"}})
	_, err = clientauth.Authenticate(subCA.Leaf, clientauth.Candidates{Credentials: []clientauth.Credential{viaCA}}, now)
	refused(t, err, "is not registered")

	// Pinned: exactly that certificate.
	self, err := certstest.SelfSigned(pkix.Name{CommonName: "laptop"})
	if err != nil {
		t.Fatal(err)
	}
	pinned := credential(t, clientauth.Pinned, "cu_c", self.Leaf)
	if got, err := clientauth.Authenticate(self.Leaf, clientauth.Candidates{Credentials: []clientauth.Credential{pinned}}, now); err != nil || got.UserID != "cu_c" {
		t.Fatalf("pinned: %v %v", got.UserID, err)
	}
	twin, err := certstest.SelfSigned(pkix.Name{CommonName: "laptop"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = clientauth.Authenticate(twin.Leaf, clientauth.Candidates{Credentials: []clientauth.Credential{pinned}}, now)
	refused(t, err, "is not registered")
}

func TestRuleFields(t *testing.T) {
	ca := mustCA(t)
	c := client(t, ca, "agent-9", certstest.Leaf{DNSNames: []string{"a.example"}, Emails: []string{"ci@example.com"}})
	now := time.Now()
	thumb := clientauth.ThumbprintOf(c.Leaf)
	serial := clientauth.SerialOf(c.Leaf)
	for _, tc := range []struct {
		rule clientauth.Rule
		ok   bool
	}{
		{clientauth.Rule{Field: clientauth.Serial, Pattern: serial}, true},
		{clientauth.Rule{Field: clientauth.Serial, Pattern: serial[:4]}, false}, // full match only
		{clientauth.Rule{Field: clientauth.Thumbprint, Pattern: thumb}, true},
		{clientauth.Rule{Field: clientauth.Issuer, Pattern: "CN=Signum Test Issuing CA,O=Signum test"}, true},
		{clientauth.Rule{Field: clientauth.Issuer, Pattern: "CN=Other"}, false},
		{clientauth.Rule{Field: clientauth.SAN, Pattern: `ci@example\.com`}, true},
		{clientauth.Rule{Field: clientauth.SAN, Pattern: `b\.example`}, false},
		{clientauth.Rule{Field: clientauth.Subject, Pattern: "CN=agent-9,O=Acme"}, true},
	} {
		cred := credential(t, clientauth.Authority, "cu_x", ca.Intermediate, tc.rule)
		_, err := clientauth.Authenticate(c.Leaf, clientauth.Candidates{Credentials: []clientauth.Credential{cred}}, now)
		if (err == nil) != tc.ok {
			t.Errorf("%s %q: err=%v, want ok=%v", tc.rule.Field, tc.rule.Pattern, err, tc.ok)
		}
	}
}

func TestNewRefusesBadCredentials(t *testing.T) {
	ca := mustCA(t)
	leaf := client(t, ca, "agent", certstest.Leaf{})
	codeSigning := client(t, ca, "signer", certstest.Leaf{EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}})
	expired := client(t, ca, "old", certstest.Leaf{NotBefore: time.Now().AddDate(-2, 0, 0), NotAfter: time.Now().AddDate(-1, 0, 0)})
	for _, tc := range []struct {
		name  string
		c     clientauth.Credential
		pem   string
		field string
	}{
		{"leaf as CA", clientauth.Credential{Kind: clientauth.Authority}, certstest.PEM(leaf.Leaf), "not a CA certificate"},
		{"CA as pinned", clientauth.Credential{Kind: clientauth.Pinned}, certstest.PEM(ca.Intermediate), "is a CA certificate"},
		{"code signing pinned", clientauth.Credential{Kind: clientauth.Pinned}, certstest.PEM(codeSigning.Leaf), "clientAuth"},
		{"expired", clientauth.Credential{Kind: clientauth.Pinned}, certstest.PEM(expired.Leaf), "expired on"},
		{"two certificates", clientauth.Credential{Kind: clientauth.Pinned}, certstest.PEM(leaf.Leaf, ca.Intermediate), "more than one"},
		{"not PEM", clientauth.Credential{Kind: clientauth.Pinned}, "hello", "not a PEM certificate"},
		{"bad kind", clientauth.Credential{Kind: "user"}, certstest.PEM(leaf.Leaf), `"certificate"`},
		{"bad field", clientauth.Credential{Kind: clientauth.Authority, Rules: []clientauth.Rule{{Field: "cn", Pattern: "x"}}}, certstest.PEM(ca.Intermediate), "is one of serial"},
		{"bad pattern", clientauth.Credential{Kind: clientauth.Authority, Rules: []clientauth.Rule{{Field: "subject", Pattern: "(("}}}, certstest.PEM(ca.Intermediate), "not a regular expression"},
		{"rules on pinned", clientauth.Credential{Kind: clientauth.Pinned, Rules: []clientauth.Rule{{Field: "subject", Pattern: "x"}}}, certstest.PEM(leaf.Leaf), "apply to CA credentials"},
		{"CA without rules", clientauth.Credential{Kind: clientauth.Authority}, certstest.PEM(ca.Intermediate), "at least one for a CA"},
	} {
		_, err := clientauth.New(tc.c, tc.pem, time.Now())
		if !errors.Is(err, fault.ErrInvalid) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: %v (want a 400 saying %q)", tc.name, err, tc.field)
		}
	}
}

// A self-signed certificate that says CA:TRUE, as openssl req -x509 makes them, can be pinned.
func TestPinSelfSignedCA(t *testing.T) {
	ca := mustCA(t)
	c, err := clientauth.New(clientauth.Credential{Kind: clientauth.Pinned}, certstest.PEM(ca.Root), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := clientauth.Authenticate(ca.Root, clientauth.Candidates{Credentials: []clientauth.Credential{c}}, time.Now()); err != nil || got.Kind != clientauth.Pinned {
		t.Fatalf("pinned self-signed CA certificate: %v", err)
	}
}

func TestNormalizeSerial(t *testing.T) {
	for in, want := range map[string]string{"01:A3:FF": "1a3ff", "0x1A3FF": "1a3ff", "1a 3f f": "1a3ff", "00": "0"} {
		if got, ok := clientauth.NormalizeSerial(in); !ok || got != want {
			t.Errorf("%q → %q %v, want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "xyz", "-1", strings.Repeat("f", 65)} {
		if _, ok := clientauth.NormalizeSerial(in); ok {
			t.Errorf("%q accepted", in)
		}
	}
}
