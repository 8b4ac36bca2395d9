package certificates

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"net/mail"
	"strings"

	"github.com/opensignum/signum/lib/fault"
)

// Subject is the distinguished name a new certificate asks for.
type Subject struct {
	CommonName         string `json:"commonName"`
	Organization       string `json:"organization,omitempty"`
	OrganizationalUnit string `json:"organizationalUnit,omitempty"`
	Country            string `json:"country,omitempty"`
	Province           string `json:"province,omitempty"`
	Locality           string `json:"locality,omitempty"`
}

// Validate checks the subject and returns field errors (names prefixed with "subject.").
func (s Subject) Validate() fault.Fields {
	var bad fault.Fields
	check := func(name, v string, required bool, max int) {
		switch {
		case required && strings.TrimSpace(v) == "":
			bad.Add("subject."+name, "is required")
		case len(v) > max:
			bad.Add("subject."+name, "is longer than %d characters", max)
		case strings.IndexFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0:
			bad.Add("subject."+name, "contains control characters")
		}
	}
	check("commonName", s.CommonName, true, 64)
	check("organization", s.Organization, false, 64)
	check("organizationalUnit", s.OrganizationalUnit, false, 64)
	check("province", s.Province, false, 128)
	check("locality", s.Locality, false, 128)
	if s.Country != "" && (len(s.Country) != 2 || strings.ToUpper(s.Country) != s.Country) {
		bad.Add("subject.country", "is a two-letter upper-case ISO 3166 code")
	}
	return bad
}

func (s Subject) name() pkix.Name {
	n := pkix.Name{CommonName: s.CommonName}
	add := func(dst *[]string, v string) {
		if v != "" {
			*dst = append(*dst, v)
		}
	}
	add(&n.Organization, s.Organization)
	add(&n.OrganizationalUnit, s.OrganizationalUnit)
	add(&n.Country, s.Country)
	add(&n.Province, s.Province)
	add(&n.Locality, s.Locality)
	return n
}

// MaxSANs is the most subject alternative names a CSR carries.
const MaxSANs = 20

// NewCSR makes a PKCS#10 request for subject and sans (DNS names or e-mail addresses), signed
// by key (which never leaves its backend: only its signature is used), as PEM.
func NewCSR(key crypto.Signer, subject Subject, sans []string) (string, error) {
	bad := subject.Validate()
	tpl := &x509.CertificateRequest{Subject: subject.name()}
	if len(sans) > MaxSANs {
		bad.Add("sans", "at most %d names", MaxSANs)
	}
	for i, s := range sans {
		switch {
		case strings.Contains(s, "@"):
			if a, err := mail.ParseAddress(s); err != nil || a.Address != s {
				bad.Add(fmt.Sprintf("sans[%d]", i), "is not an e-mail address")
				continue
			}
			tpl.EmailAddresses = append(tpl.EmailAddresses, s)
		default:
			if !dnsName(s) {
				bad.Add(fmt.Sprintf("sans[%d]", i), "is not a DNS name or e-mail address")
				continue
			}
			tpl.DNSNames = append(tpl.DNSNames, s)
		}
	}
	if err := bad.Err(); err != nil {
		return "", err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tpl, key)
	if err != nil {
		return "", fmt.Errorf("sign CSR: %w", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), nil
}

func dnsName(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(strings.TrimPrefix(s, "*."), ".") {
		if l == "" || len(l) > 63 || strings.IndexFunc(l, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-')
		}) >= 0 {
			return false
		}
	}
	return true
}
