// Package certificates is the certificate side of key custody: the certificate signing request a new
// key makes, the checks an issued chain must pass before it is attached to its key (both pure:
// time is passed in), and the certificate lifecycle (Lifecycle: create, import the chain, update,
// renew, delete) on a narrow Store and the key backends, with an injected clock. It knows
// nothing of HTTP.
package certificates

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/smallstep/pkcs7"

	"github.com/opensignum/signum/lib/fault"
)

// MaxChainLength is the most certificates an imported chain may hold.
const MaxChainLength = 10

// Chain is an imported chain, leaf first, each certificate issued by the next.
type Chain struct {
	Leaf  *x509.Certificate
	Certs []*x509.Certificate
}

// PEM is the chain as concatenated PEM, leaf first.
func (c Chain) PEM() string {
	var b bytes.Buffer
	for _, cert := range c.Certs {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	}
	return b.String()
}

// Thumbprint is the SHA-256 of the leaf's DER, hex.
func Thumbprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// ParseBundle reads certificates from PEM ("-----BEGIN CERTIFICATE-----" blocks; other block
// types are refused) or from a PKCS#7 (CMS SignedData) bundle in DER or PEM. Errors say what is
// wrong and wrap fault.ErrInvalid.
func ParseBundle(data []byte) ([]*x509.Certificate, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, fault.Newf(fault.ErrInvalid, "the chain is empty")
	}
	if !bytes.HasPrefix(data, []byte("-----BEGIN")) {
		return parsePKCS7(data)
	}
	var out []*x509.Certificate
	rest := data
	for len(bytes.TrimSpace(rest)) > 0 {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, fault.Newf(fault.ErrInvalid, "the chain holds text that is not PEM after certificate %d", len(out))
		}
		switch block.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fault.Wrap(fault.ErrInvalid, err, fmt.Sprintf("certificate %d of the chain is not a valid X.509 certificate", len(out)+1))
			}
			out = append(out, c)
		case "PKCS7", "CMS":
			certs, err := parsePKCS7(block.Bytes)
			if err != nil {
				return nil, err
			}
			out = append(out, certs...)
		default:
			return nil, fault.Newf(fault.ErrInvalid, "the chain holds a %q PEM block; only certificates are accepted (never a private key)", block.Type)
		}
		if len(out) > MaxChainLength {
			return nil, fault.Newf(fault.ErrInvalid, "the chain holds more than %d certificates", MaxChainLength)
		}
	}
	return out, nil
}

func parsePKCS7(der []byte) ([]*x509.Certificate, error) {
	p7, err := pkcs7.Parse(der)
	if err != nil {
		return nil, fault.Wrap(fault.ErrInvalid, err, "the chain is neither PEM certificates nor a PKCS#7 bundle")
	}
	if len(p7.Certificates) == 0 {
		return nil, fault.Newf(fault.ErrInvalid, "the PKCS#7 bundle holds no certificates")
	}
	if len(p7.Certificates) > MaxChainLength {
		return nil, fault.Newf(fault.ErrInvalid, "the chain holds more than %d certificates", MaxChainLength)
	}
	return p7.Certificates, nil
}

// ImportOptions relax the checks of Verify.
type ImportOptions struct {
	// AllowNonCodeSigning accepts a leaf without the code-signing extended key usage. It
	// does not accept a leaf whose key usage forbids signatures.
	AllowNonCodeSigning bool
}

// Verify checks that certs is a chain for the key whose public key is pub, at now: one
// certificate (the leaf) holds pub and is not a CA; the leaf is valid at now and is for code
// signing (unless allowed) and its key usage, if it has one, allows digital signatures; every
// other certificate is a CA valid at now that issued the one
// before it (leaf → intermediates → optionally the root), and nothing else is in the bundle.
// It returns the chain ordered leaf first.
func Verify(certs []*x509.Certificate, pub crypto.PublicKey, now time.Time, o ImportOptions) (Chain, error) {
	type eq interface{ Equal(crypto.PublicKey) bool }
	want, ok := pub.(eq)
	if !ok {
		return Chain{}, fmt.Errorf("public key %T cannot be compared", pub)
	}
	var leaf *x509.Certificate
	for _, c := range certs {
		if want.Equal(c.PublicKey) {
			if leaf != nil {
				return Chain{}, fault.Newf(fault.ErrInvalid, "two certificates of the chain hold this key")
			}
			leaf = c
		}
	}
	if leaf == nil {
		return Chain{}, fault.Newf(fault.ErrInvalid, "no certificate of the chain holds this certificate's key: was it issued from this certificate's CSR?")
	}
	if leaf.IsCA || (leaf.BasicConstraintsValid && leaf.IsCA) {
		return Chain{}, fault.Newf(fault.ErrInvalid, "the certificate for this key is a CA certificate; a signing certificate is an end-entity certificate")
	}
	if err := validAt(leaf, now, "the certificate"); err != nil {
		return Chain{}, err
	}
	if hasExtension(leaf, oidKeyUsage) && leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		// RFC 5280 4.2.1.3: a key whose usage leaves out digitalSignature may not sign;
		// Authenticode and CMS verifiers refuse what it signs. No key usage at all is no
		// restriction.
		var bad fault.Fields
		bad.Add("chain", "the certificate's key usage does not include digitalSignature, so what it signs will not verify; ask the CA for a certificate with digitalSignature")
		return Chain{}, bad
	}
	if !o.AllowNonCodeSigning && !hasCodeSigning(leaf) {
		return Chain{}, fault.Newf(fault.ErrInvalid, "the certificate has no code-signing extended key usage (1.3.6.1.5.5.7.3.3); set allowNonCodeSigning to import it anyway")
	}
	chain := Chain{Leaf: leaf, Certs: []*x509.Certificate{leaf}}
	used := map[*x509.Certificate]bool{leaf: true}
	cur := leaf
	for !selfSigned(cur) {
		var parent *x509.Certificate
		for _, c := range certs {
			if !used[c] && bytes.Equal(c.RawSubject, cur.RawIssuer) && cur.CheckSignatureFrom(c) == nil {
				parent = c
				break
			}
		}
		if parent == nil {
			break // the rest of the path (e.g. a public root) is not in the bundle
		}
		if !parent.IsCA || !parent.BasicConstraintsValid {
			return Chain{}, fault.Newf(fault.ErrInvalid, "the issuing certificate %q is not a CA certificate", parent.Subject.CommonName)
		}
		if err := validAt(parent, now, fmt.Sprintf("the issuing certificate %q", parent.Subject.CommonName)); err != nil {
			return Chain{}, err
		}
		used[parent] = true
		chain.Certs = append(chain.Certs, parent)
		cur = parent
	}
	if selfSigned(cur) && cur != leaf && cur.CheckSignatureFrom(cur) != nil {
		return Chain{}, fault.Newf(fault.ErrInvalid, "the root certificate's self-signature does not verify")
	}
	for _, c := range certs {
		if !used[c] {
			return Chain{}, fault.Newf(fault.ErrInvalid, "certificate %q does not belong to the chain of this certificate (it did not issue it or one of its issuers)", c.Subject.CommonName)
		}
	}
	return chain, nil
}

func selfSigned(c *x509.Certificate) bool { return bytes.Equal(c.RawSubject, c.RawIssuer) }

func validAt(c *x509.Certificate, now time.Time, what string) error {
	if now.Before(c.NotBefore) {
		return fault.Newf(fault.ErrInvalid, "%s is not valid before %s", what, c.NotBefore.UTC().Format(time.RFC3339))
	}
	if now.After(c.NotAfter) {
		return fault.Newf(fault.ErrInvalid, "%s expired on %s", what, c.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

var oidKeyUsage = asn1.ObjectIdentifier{2, 5, 29, 15}

func hasExtension(c *x509.Certificate, id asn1.ObjectIdentifier) bool {
	return slices.ContainsFunc(c.Extensions, func(e pkix.Extension) bool { return e.Id.Equal(id) })
}

func hasCodeSigning(c *x509.Certificate) bool {
	for _, u := range c.ExtKeyUsage {
		if u == x509.ExtKeyUsageCodeSigning {
			return true
		}
	}
	return false
}

// Serial is the leaf's serial number in upper-case hex.
func Serial(c *x509.Certificate) string { return strings.ToUpper(c.SerialNumber.Text(16)) }
