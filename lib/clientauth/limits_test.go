package clientauth_test

import (
	"crypto/x509"
	"errors"
	"testing"

	"github.com/opensignum/signum/lib/certificates/certstest"
	"github.com/opensignum/signum/lib/clientauth"
	"github.com/opensignum/signum/lib/fault"
)

// A pinned certificate's revocation is of its own serial (which may be left out); a CA's needs
// the serial of a certificate it issued, and names the CA as the issuer.
func TestRevoke(t *testing.T) {
	ca := mustCA(t)
	leaf := client(t, ca, "agent-1", certstest.Leaf{})
	cert, err := x509.ParseCertificate(leaf.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	pinned := credential(t, clientauth.Pinned, "cu_a", cert)
	own := clientauth.SerialOf(cert)
	if rv, err := clientauth.Revoke(pinned, "", " lost "); err != nil || rv.Serial != own || rv.Issuer != cert.Issuer.String() || rv.Reason != "lost" {
		t.Errorf("ok/pinned own serial: %+v %v", rv, err)
	}
	if _, err := clientauth.Revoke(pinned, "ff", ""); !errors.Is(err, fault.ErrInvalid) {
		t.Errorf("fail/pinned other serial: %v", err)
	}
	authority := credential(t, clientauth.Authority, "cu_a", ca.Intermediate, clientauth.Rule{Field: clientauth.Subject, Pattern: ".*"})
	if _, err := clientauth.Revoke(authority, "", ""); !errors.Is(err, fault.ErrInvalid) {
		t.Errorf("fail/ca without serial: %v", err)
	}
	if _, err := clientauth.Revoke(authority, "zz", ""); !errors.Is(err, fault.ErrInvalid) {
		t.Errorf("fail/not hex: %v", err)
	}
	if rv, err := clientauth.Revoke(authority, "01:A3:FF", ""); err != nil || rv.Serial != "1a3ff" || rv.Issuer != ca.Intermediate.Subject.String() {
		t.Errorf("ok/ca: %+v %v", rv, err)
	}
}
