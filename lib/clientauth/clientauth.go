// Package clientauth is the Certificate users domain: console users who authenticate with a
// client certificate over mutual TLS instead of a password, as unattended CI/CD agents do.
//
// An admin registers, for a console user, either the user's own certificate (pinned: only
// that exact certificate authenticates) or the certificate of an issuing CA, with rules on
// the attributes of the certificates it issues (serial, subject, SAN, issuer, thumbprint).
// Certificates can be revoked by serial.
//
// The TLS layer (API Gateway's mutual TLS custom domain, or the local server's TLS port)
// proves that the client holds the certificate's private key and hands the certificate
// over in the request context. This package decides, against the credentials of the
// deployment the request was sent to, which user the certificate belongs to. It trusts
// nothing else about the certificate: dates, issuer signature, rules and revocation are all
// checked here, so the answer is the same whatever the TLS layer's trust store holds.
package clientauth

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/policy"
)

// Kind is what a credential registers.
type Kind string

// Kinds of credential.
const (
	// Pinned registers the user's own certificate: exactly that certificate authenticates.
	Pinned Kind = "certificate"
	// Authority registers an issuing CA: certificates it issued authenticate when they
	// match the credential's rules.
	Authority Kind = "ca"
)

// Field is a certificate attribute a rule matches.
type Field string

// Fields rules can match.
const (
	Serial     Field = "serial"     // lower-case hex, no leading zeros or separators
	Subject    Field = "subject"    // RFC 2253 text as openssl prints it (DN), e.g. "CN=agent-1,O=Acme"
	SAN        Field = "san"        // any DNS name, e-mail address, URI or IP address
	Issuer     Field = "issuer"     // RFC 2253 text as openssl prints it (DN)
	Thumbprint Field = "thumbprint" // SHA-256 of the DER certificate, lower-case hex
)

var fields = []Field{Serial, Subject, SAN, Issuer, Thumbprint}

// Limits.
const (
	MaxRules          = 10
	MaxPerUser        = 20
	MaxCertificatePEM = 16 << 10
	MaxNameLen        = 100
)

// Rule says that a certificate's Field must fully match Pattern (RE2).
type Rule struct {
	Field   Field  `json:"field"`
	Pattern string `json:"pattern"`
}

// Credential is one registered client certificate or issuing CA of a console user.
type Credential struct {
	ID           string
	DeploymentID string
	UserID       string
	Kind         Kind
	Name         string
	// CertificateDER is the registered certificate (the user's, or the CA's).
	CertificateDER []byte
	Rules          []Rule
	CreatedAt      time.Time
	CreatedBy      string
}

// Certificate parses the registered certificate.
func (c Credential) Certificate() (*x509.Certificate, error) {
	return x509.ParseCertificate(c.CertificateDER)
}

// IssuerKey is the key under which the credential is found: the name that a presented
// certificate's issuer must have. For a CA that is the CA's subject; for a pinned
// certificate, its issuer.
func (c Credential) IssuerKey() string {
	cert, err := c.Certificate()
	if err != nil {
		return ""
	}
	if c.Kind == Authority {
		return NameKey(cert.RawSubject)
	}
	return NameKey(cert.RawIssuer)
}

// NameKey is the lookup key of a distinguished name (DER): credentials are stored under the
// key of the name a client certificate's issuer must have.
func NameKey(rawName []byte) string {
	sum := sha256.Sum256(rawName)
	return hex.EncodeToString(sum[:16])
}

// ThumbprintOf is the SHA-256 thumbprint of cert, lower-case hex.
func ThumbprintOf(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// SerialOf is cert's serial number in the form rules and revocations use.
func SerialOf(cert *x509.Certificate) string { return serialHex(cert.SerialNumber) }

func serialHex(n *big.Int) string {
	if n == nil {
		return ""
	}
	return n.Text(16)
}

// NormalizeSerial accepts a serial number as hex, with optional "0x" prefix, colons or
// spaces, in any case ("01:A3:FF", "0x1a3ff"), and returns its canonical form.
func NormalizeSerial(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimPrefix(s, "0x")
	s = strings.NewReplacer(":", "", " ", "").Replace(s)
	if s == "" || len(s) > 64 {
		return "", false
	}
	n, ok := new(big.Int).SetString(s, 16)
	if !ok || n.Sign() < 0 {
		return "", false
	}
	return serialHex(n), true
}

// ParsePEM reads one certificate from PEM text.
func ParsePEM(text string) (*x509.Certificate, error) {
	if len(text) > MaxCertificatePEM {
		return nil, fmt.Errorf("is longer than %d bytes", MaxCertificatePEM)
	}
	block, rest := pem.Decode([]byte(text))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("is not a PEM certificate (-----BEGIN CERTIFICATE-----)")
	}
	if more, _ := pem.Decode(rest); more != nil {
		return nil, errors.New("holds more than one PEM block; register one certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("is not a valid X.509 certificate: %s", fault.Clip(err.Error(), 120))
	}
	return cert, nil
}

// New validates a credential to register: the certificate, its kind and the rules.
func New(c Credential, certificatePEM string, now time.Time) (Credential, error) {
	var bad fault.Fields
	if c.Kind != Pinned && c.Kind != Authority {
		bad.Add("kind", `is "certificate" (the user's own certificate) or "ca" (an issuing CA with rules)`)
	}
	if len(c.Name) > MaxNameLen {
		bad.Add("name", "is at most %d characters", MaxNameLen)
	}
	cert, err := ParsePEM(certificatePEM)
	if err != nil {
		bad.Add("certificate", "%s", err.Error())
	}
	if cert != nil {
		if _, err := DN(cert.RawSubject); err != nil {
			bad.Add("certificate", "has a subject that cannot be written exactly in RFC 2253 form: it %s", err)
		} else if _, err := DN(cert.RawIssuer); err != nil {
			bad.Add("certificate", "has an issuer that cannot be written exactly in RFC 2253 form: it %s", err)
		}
		if now.After(cert.NotAfter) {
			bad.Add("certificate", "expired on %s", cert.NotAfter.UTC().Format(time.RFC3339))
		}
		switch c.Kind {
		case Authority:
			if !cert.BasicConstraintsValid || !cert.IsCA {
				bad.Add("certificate", "is not a CA certificate (basic constraints CA:TRUE); register it as kind \"certificate\"")
			} else if cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0 {
				bad.Add("certificate", "is a CA certificate that may not sign certificates (key usage lacks keyCertSign)")
			} else if err := checkCA(cert); err != nil {
				bad.Add("certificate", "%s", err)
			}
		case Pinned:
			// Self-signed certificates often say CA:TRUE (openssl req -x509 does); pinned, only
			// that certificate authenticates, so it does not matter. An issuing CA's certificate
			// registered as pinned is a mistake worth naming.
			if cert.IsCA && !bytes.Equal(cert.RawIssuer, cert.RawSubject) {
				bad.Add("certificate", "is a CA certificate; register it as kind \"ca\" with rules for the certificates it issues")
			} else if !clientAuthUsage(cert) {
				bad.Add("certificate", "is not for client authentication (its extended key usage lacks clientAuth)")
			}
		}
		c.CertificateDER = cert.Raw
	}
	if len(c.Rules) > MaxRules {
		bad.Add("rules", "at most %d", MaxRules)
	}
	for i, r := range c.Rules {
		name := fmt.Sprintf("rules[%d]", i)
		if !slices.Contains(fields, r.Field) {
			bad.Add(name+".field", "is one of serial, subject, san, issuer, thumbprint")
		}
		if r.Pattern == "" {
			bad.Add(name+".pattern", "is required (a regular expression the whole value must match)")
		} else {
			policy.CompileFull(&bad, name+".pattern", r.Pattern)
		}
	}
	if c.Kind == Pinned && len(c.Rules) > 0 {
		bad.Add("rules", "apply to CA credentials; a pinned certificate matches only itself")
	}
	if c.Kind == Authority && len(c.Rules) == 0 {
		// A CA often issues certificates to more people than this user; taking all of them
		// must be said, not implied.
		bad.Add("rules", `at least one for a CA; to accept every certificate the CA issues, say so: {"field": "subject", "pattern": ".*"}`)
	}
	if err := bad.Err(); err != nil {
		return Credential{}, err
	}
	c.CreatedAt = now
	return c, nil
}

func clientAuthUsage(cert *x509.Certificate) bool {
	if len(cert.ExtKeyUsage) == 0 && len(cert.UnknownExtKeyUsage) == 0 {
		return true
	}
	return slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageClientAuth) || slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageAny)
}

// Candidates are the deployment's credentials that could match a presented certificate:
// the ones registered under its issuer's name, and whether its serial is revoked there.
type Candidates struct {
	Credentials []Credential
	Revoked     bool
}

// ErrRefused is the kind of every refusal (401).
var ErrRefused = fault.ErrUnauthenticated

// Authenticate decides which credential, if any, cert (presented and proven by the TLS
// layer) matches at now.
func Authenticate(cert *x509.Certificate, c Candidates, now time.Time) (Credential, error) {
	serial := SerialOf(cert)
	if now.Before(cert.NotBefore) {
		return Credential{}, fault.Newf(ErrRefused, "Your client certificate (serial %s) is not valid before %s.", serial, cert.NotBefore.UTC().Format(time.RFC3339))
	}
	if now.After(cert.NotAfter) {
		return Credential{}, fault.Newf(ErrRefused, "Your client certificate (serial %s) expired on %s; ask a console admin for a new one.", serial, cert.NotAfter.UTC().Format(time.RFC3339))
	}
	if !clientAuthUsage(cert) {
		return Credential{}, fault.Newf(ErrRefused, "Your client certificate (serial %s) is not for client authentication (its extended key usage lacks clientAuth).", serial)
	}
	if c.Revoked {
		return Credential{}, fault.Newf(ErrRefused, "Your client certificate (serial %s) has been revoked.", serial)
	}
	p, err := present(cert)
	if err != nil {
		return Credential{}, fault.Newf(ErrRefused, "Your client certificate (serial %s) %s; it cannot be matched exactly.", serial, fault.Clip(err.Error(), 200))
	}
	var found []Credential
	// outside says why a CA that issued cert does not accept it (its name constraints, ...).
	var outside error
	checkedCA := map[string]bool{}
	for _, cred := range c.Credentials {
		reg, err := cred.Certificate()
		if err != nil {
			continue
		}
		switch cred.Kind {
		case Pinned:
			if ThumbprintOf(reg) == p.thumbprint {
				found = append(found, cred)
			}
		case Authority:
			key := string(reg.Raw)
			ok, seen := checkedCA[key]
			if !seen {
				var err error
				ok, err = issuedBy(cert, reg, now)
				if err != nil && outside == nil {
					outside = err
				}
				checkedCA[key] = ok
			}
			// A CA credential authenticates the CA's end entities, not CAs it certified.
			if ok && !cert.IsCA && p.matches(cred.Rules) {
				found = append(found, cred)
			}
		}
	}
	users := map[string]bool{}
	for _, f := range found {
		users[f.UserID] = true
	}
	switch {
	case len(found) == 0 && outside != nil:
		return Credential{}, fault.Newf(ErrRefused, "Your client certificate (serial %s) is not accepted by the CA that issued it: it %s.", serial, fault.Clip(outside.Error(), 200))
	case len(found) == 0:
		return Credential{}, fault.Newf(ErrRefused, "Your client certificate (serial %s, issuer %s) is not registered for a user of this deployment.", serial, fault.Clip(p.issuer, 120))
	case len(users) > 1:
		return Credential{}, fault.Newf(ErrRefused, "Your client certificate (serial %s) matches the credentials of more than one user; a console admin must narrow their rules.", serial)
	}
	// A pinned registration is the more specific one.
	slices.SortStableFunc(found, func(a, b Credential) int {
		if a.Kind == b.Kind {
			return 0
		}
		if a.Kind == Pinned {
			return -1
		}
		return 1
	})
	return found[0], nil
}

// issuedBy reports whether ca, valid at now, signed cert and accepts it (withinCA); the error
// says why a CA that signed cert does not accept it.
func issuedBy(cert, ca *x509.Certificate, now time.Time) (bool, error) {
	if now.Before(ca.NotBefore) || now.After(ca.NotAfter) || cert.CheckSignatureFrom(ca) != nil {
		return false, nil
	}
	if err := withinCA(cert, ca, now); err != nil {
		return false, err
	}
	return true, nil
}

// presented is a certificate as rules see it, its names written once.
type presented struct {
	cert                        *x509.Certificate
	thumbprint, subject, issuer string
}

func present(cert *x509.Certificate) (presented, error) {
	p := presented{cert: cert, thumbprint: ThumbprintOf(cert)}
	var err error
	if p.subject, err = DN(cert.RawSubject); err != nil {
		return p, fmt.Errorf("has a subject that cannot be written in RFC 2253 form (it %s)", err)
	}
	if p.issuer, err = DN(cert.RawIssuer); err != nil {
		return p, fmt.Errorf("has an issuer that cannot be written in RFC 2253 form (it %s)", err)
	}
	return p, nil
}

// values are the certificate's attributes that a rule on f matches.
func (p presented) values(f Field) []string {
	switch f {
	case Serial:
		return []string{SerialOf(p.cert)}
	case Subject:
		return []string{p.subject}
	case Issuer:
		return []string{p.issuer}
	case Thumbprint:
		return []string{p.thumbprint}
	case SAN:
		out := append([]string{}, p.cert.DNSNames...)
		out = append(out, p.cert.EmailAddresses...)
		for _, u := range p.cert.URIs {
			out = append(out, u.String())
		}
		for _, ip := range p.cert.IPAddresses {
			out = append(out, ip.String())
		}
		return out
	}
	return nil
}

// compiled keeps each rule pattern compiled once per instance: authentication runs on every
// mutual-TLS request, and the patterns are few (those admins registered).
var compiled sync.Map // pattern → *regexp.Regexp (nil: does not compile)

func compile(pattern string) *regexp.Regexp {
	if re, ok := compiled.Load(pattern); ok {
		return re.(*regexp.Regexp)
	}
	var bad fault.Fields
	re := policy.CompileFull(&bad, "pattern", pattern)
	compiled.Store(pattern, re)
	return re
}

func (p presented) matches(rules []Rule) bool {
	for _, r := range rules {
		re := compile(r.Pattern)
		if re == nil || !anyMatch(re, p.values(r.Field)) {
			return false
		}
	}
	return true
}

func anyMatch(re *regexp.Regexp, vals []string) bool {
	for _, v := range vals {
		if re.MatchString(v) {
			return true
		}
	}
	return false
}
