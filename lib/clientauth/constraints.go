package clientauth

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// A registered CA's name constraints (RFC 5280 4.2.1.10) bind the certificates it issues.
// Go's verifier enforces the dNSName, rfc822Name, iPAddress and uniformResourceIdentifier
// forms against a certificate's subject alternative names; it does not enforce directoryName
// (and refuses every chain through a CA whose critical constraints hold it). This file
// enforces directoryName subtrees itself, on the subject and on directoryName alternative
// names, and New refuses a CA whose constraints hold any other form: what cannot be enforced
// is not registered.

var (
	oidNameConstraints = asn1.ObjectIdentifier{2, 5, 29, 30}
	oidSubjectAltName  = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidEmailAddress    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
)

// GeneralName forms (RFC 5280 4.2.1.6), by context tag.
var generalNameForms = map[int]string{
	0: "otherName", 1: "rfc822Name", 2: "dNSName", 3: "x400Address", 4: "directoryName",
	5: "ediPartyName", 6: "uniformResourceIdentifier", 7: "iPAddress", 8: "registeredID",
}

// dirConstraints are the directoryName subtrees of a CA's name constraints.
type dirConstraints struct {
	permitted, excluded [][][]attribute
	// email says the constraints hold rfc822Name subtrees.
	email bool
}

// caConstraints reads ca's name constraints; an error says which part cannot be enforced.
func caConstraints(ca *x509.Certificate) (dirConstraints, error) {
	var dc dirConstraints
	for _, e := range ca.Extensions {
		if !e.Id.Equal(oidNameConstraints) {
			continue
		}
		in := cryptobyte.String(e.Value)
		var nc, permitted, excluded cryptobyte.String
		var hasPermitted, hasExcluded bool
		if !in.ReadASN1(&nc, cbasn1.SEQUENCE) || !in.Empty() ||
			!nc.ReadOptionalASN1(&permitted, &hasPermitted, cbasn1.Tag(0).ContextSpecific().Constructed()) ||
			!nc.ReadOptionalASN1(&excluded, &hasExcluded, cbasn1.Tag(1).ContextSpecific().Constructed()) || !nc.Empty() {
			return dc, errors.New("has a malformed name constraints extension")
		}
		var err error
		if dc.permitted, err = subtrees(permitted, &dc.email); err != nil {
			return dc, err
		}
		if dc.excluded, err = subtrees(excluded, &dc.email); err != nil {
			return dc, err
		}
	}
	return dc, nil
}

// subtrees reads GeneralSubtrees, keeping the directoryName bases and refusing the forms no
// one here enforces.
func subtrees(in cryptobyte.String, email *bool) ([][][]attribute, error) {
	var out [][][]attribute
	for !in.Empty() {
		var st, base cryptobyte.String
		var tag cbasn1.Tag
		if !in.ReadASN1(&st, cbasn1.SEQUENCE) || !st.ReadAnyASN1(&base, &tag) {
			return nil, errors.New("has a malformed name constraints extension")
		}
		if !st.Empty() {
			// RFC 5280: minimum MUST be zero (so absent in DER), maximum MUST be absent.
			return nil, errors.New("has name constraints with a minimum or maximum distance (RFC 5280 forbids them)")
		}
		form := int(tag &^ (0x80 | 0x20)) // the context tag's number
		switch {
		case tag == cbasn1.Tag(4).ContextSpecific().Constructed():
			name, err := parseName(base)
			if err != nil {
				return nil, fmt.Errorf("has a directoryName constraint that %s", err)
			}
			out = append(out, name)
		case tag == cbasn1.Tag(1).ContextSpecific():
			*email = true
		case tag == cbasn1.Tag(2).ContextSpecific(), tag == cbasn1.Tag(6).ContextSpecific(), tag == cbasn1.Tag(7).ContextSpecific():
			// Go's verifier enforces these.
		default:
			what := generalNameForms[form]
			if what == "" {
				what = "unknown"
			}
			return nil, fmt.Errorf("has %s name constraints, which Signum cannot enforce", what)
		}
	}
	return out, nil
}

// checkCA is what New asks of a CA to register: that whatever constrains the certificates it
// issues can be enforced.
func checkCA(ca *x509.Certificate) error {
	if _, err := caConstraints(ca); err != nil {
		return err
	}
	var unknown []string
	for _, id := range ca.UnhandledCriticalExtensions {
		if !id.Equal(oidNameConstraints) {
			unknown = append(unknown, id.String())
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("has critical extensions Signum does not know (%s)", strings.Join(unknown, ", "))
	}
	return nil
}

// withinCA checks, at now, what ca (which signed cert) demands of the certificates it issues:
// Go's path validation with ca as the only root (its name constraints for DNS names, e-mail
// addresses, IP addresses and URIs, extended key usage nesting for clientAuth, critical
// extensions), then its directoryName constraints.
func withinCA(cert, ca *x509.Certificate, now time.Time) error {
	dc, err := caConstraints(ca)
	if err != nil {
		return fmt.Errorf("the CA that issued it %s", err)
	}
	// Go parses the forms it enforces even when it does not know all of them, and then lists
	// the extension as unhandled: directoryName is handled below.
	anchor := *ca
	anchor.UnhandledCriticalExtensions = slices.DeleteFunc(slices.Clone(ca.UnhandledCriticalExtensions), func(id asn1.ObjectIdentifier) bool {
		return id.Equal(oidNameConstraints)
	})
	roots := x509.NewCertPool()
	roots.AddCert(&anchor)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), "x509: "))
	}
	if len(dc.permitted) == 0 && len(dc.excluded) == 0 && !dc.email {
		return nil
	}
	subject, err := parseName(cert.RawSubject)
	if err != nil {
		return fmt.Errorf("its subject %s", err)
	}
	names, hasSAN, err := directoryNames(cert)
	if err != nil {
		return err
	}
	if len(subject) > 0 {
		names = append(names, subject)
		// RFC 5280: rfc822Name constraints apply to an e-mail address in the subject when
		// the certificate has no subject alternative names. Go's verifier does not look there.
		if dc.email && !hasSAN && slices.ContainsFunc(subject, func(rdn []attribute) bool {
			return slices.ContainsFunc(rdn, func(a attribute) bool { return a.oid.Equal(oidEmailAddress) })
		}) {
			return errors.New("has an e-mail address in its subject and no subject alternative names, which the CA's e-mail name constraints cannot be checked against")
		}
	}
	for _, n := range names {
		if len(dc.permitted) > 0 && !slices.ContainsFunc(dc.permitted, func(base [][]attribute) bool { return within(n, base) }) {
			return fmt.Errorf("has a name outside the directory names the CA may issue for: %s", showName(n))
		}
		if slices.ContainsFunc(dc.excluded, func(base [][]attribute) bool { return within(n, base) }) {
			return fmt.Errorf("has a name in the directory names the CA may not issue for: %s", showName(n))
		}
	}
	return nil
}

func showName(rdns [][]attribute) string {
	s, err := render(rdns)
	if err != nil {
		return "(a name that cannot be shown)"
	}
	return s
}

// directoryNames reads the directoryName entries of cert's subject alternative names, and
// whether it has that extension at all.
func directoryNames(cert *x509.Certificate) ([][][]attribute, bool, error) {
	var out [][][]attribute
	has := false
	for _, e := range cert.Extensions {
		if !e.Id.Equal(oidSubjectAltName) {
			continue
		}
		has = true
		in := cryptobyte.String(e.Value)
		var seq cryptobyte.String
		if !in.ReadASN1(&seq, cbasn1.SEQUENCE) {
			return nil, true, errors.New("has malformed subject alternative names")
		}
		for !seq.Empty() {
			var v cryptobyte.String
			var tag cbasn1.Tag
			if !seq.ReadAnyASN1(&v, &tag) {
				return nil, true, errors.New("has malformed subject alternative names")
			}
			if tag == cbasn1.Tag(4).ContextSpecific().Constructed() {
				name, err := parseName(v)
				if err != nil {
					return nil, true, fmt.Errorf("has a directoryName alternative name that %s", err)
				}
				out = append(out, name)
			}
		}
	}
	return out, has, nil
}

// within reports whether name is in the subtree of base: base's RDNs are name's first RDNs
// (RFC 5280 7.1: each RDN with the same attributes, in any order, values compared as
// caseIgnoreMatch does).
func within(name, base [][]attribute) bool {
	if len(base) > len(name) {
		return false
	}
	for i := range base {
		if !sameRDN(name[i], base[i]) {
			return false
		}
	}
	return true
}

func sameRDN(a, b []attribute) bool {
	if len(a) != len(b) {
		return false
	}
	used := make([]bool, len(b))
	for _, x := range a {
		found := false
		for j, y := range b {
			if !used[j] && sameAttribute(x, y) {
				used[j], found = true, true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func sameAttribute(a, b attribute) bool {
	if !a.oid.Equal(b.oid) {
		return false
	}
	x, errA := decodeString(a.tag, a.value)
	y, errB := decodeString(b.tag, b.value)
	if errA != nil || errB != nil {
		return bytes.Equal(a.der, b.der)
	}
	return prepare(string(x)) == prepare(string(y))
}

// prepare readies a value for comparison as caseIgnoreMatch does, near enough (RFC 4518):
// compatibility forms normalized, case folded, surrounding spaces dropped and inner runs of
// spaces as one. An excluded subtree is not escaped by writing a name in another case or in
// full-width letters.
func prepare(s string) string {
	s = cases.Fold().String(norm.NFKC.String(s)) // a Caser is not safe for concurrent use
	return strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " ")
}
