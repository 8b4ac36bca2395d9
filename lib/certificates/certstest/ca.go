// Package certstest is a throw-away certificate authority for tests and demos: a root and an
// intermediate that issue code-signing certificates from CSRs.
package certstest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"
)

// CA is a root and an intermediate.
type CA struct {
	Root, Intermediate       *x509.Certificate
	rootKey, intermediateKey crypto.Signer
}

// New makes a root and an intermediate valid from an hour ago for ten years.
func New() (*CA, error) { return NewWith(nil) }

// NewWith is New with the intermediate's template changed by edit first (name constraints,
// extended key usages, extensions), when edit is not nil.
func NewWith(edit func(intermediate *x509.Certificate)) (*CA, error) {
	now := time.Now()
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	root, err := create(&x509.Certificate{
		Subject:   pkix.Name{CommonName: "Signum Test Root", Organization: []string{"Signum test"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, nil, rootKey.Public(), rootKey)
	if err != nil {
		return nil, err
	}
	intKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tpl := &x509.Certificate{
		Subject:   pkix.Name{CommonName: "Signum Test Issuing CA", Organization: []string{"Signum test"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(5, 0, 0), IsCA: true, BasicConstraintsValid: true,
		MaxPathLenZero: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	if edit != nil {
		edit(tpl)
	}
	inter, err := create(tpl, root, intKey.Public(), rootKey)
	if err != nil {
		return nil, err
	}
	return &CA{Root: root, Intermediate: inter, rootKey: rootKey, intermediateKey: intKey}, nil
}

// Leaf describes a certificate to issue.
type Leaf struct {
	NotBefore, NotAfter time.Time
	// EKU defaults to code signing.
	EKU  []x509.ExtKeyUsage
	IsCA bool
	// DNSNames and Emails go into the subject alternative name.
	DNSNames, Emails []string
	// KeyUsage defaults to digitalSignature; NoKeyUsage leaves the extension out.
	KeyUsage   x509.KeyUsage
	NoKeyUsage bool
	// Extensions are added as they are (they replace one Go would make of the same type).
	Extensions []pkix.Extension
}

// Issue issues a certificate for the CSR's key and subject from the intermediate.
func (ca *CA) Issue(csrPEM string, l Leaf) (*x509.Certificate, error) {
	block, _ := pem.Decode([]byte(csrPEM))
	if block == nil {
		return nil, fmt.Errorf("no PEM CSR")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, err
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, err
	}
	return ca.IssueFor(csr.PublicKey, csr.Subject, l)
}

// IssueFor issues a certificate for pub.
func (ca *CA) IssueFor(pub crypto.PublicKey, subject pkix.Name, l Leaf) (*x509.Certificate, error) {
	now := time.Now()
	if l.NotBefore.IsZero() {
		l.NotBefore = now.Add(-time.Minute)
	}
	if l.NotAfter.IsZero() {
		l.NotAfter = now.AddDate(1, 0, 0)
	}
	if l.EKU == nil {
		l.EKU = []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}
	}
	if l.KeyUsage == 0 && !l.NoKeyUsage {
		l.KeyUsage = x509.KeyUsageDigitalSignature
	}
	return create(&x509.Certificate{
		Subject: subject, NotBefore: l.NotBefore, NotAfter: l.NotAfter, ExtKeyUsage: l.EKU,
		KeyUsage: l.KeyUsage, IsCA: l.IsCA, BasicConstraintsValid: true,
		DNSNames: l.DNSNames, EmailAddresses: l.Emails, ExtraExtensions: l.Extensions,
	}, ca.Intermediate, pub, ca.intermediateKey)
}

// Client issues a client-authentication certificate (EKU clientAuth unless l says otherwise)
// for a new P-256 key, ready for a TLS client.
func (ca *CA) Client(subject pkix.Name, l Leaf) (tls.Certificate, error) {
	if l.EKU == nil {
		l.EKU = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	cert, err := ca.IssueFor(key.Public(), subject, l)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}, nil
}

// SelfSigned makes a self-signed client-authentication certificate valid for a year.
func SelfSigned(subject pkix.Name) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	cert, err := create(&x509.Certificate{
		Subject: subject, NotBefore: now.Add(-time.Minute), NotAfter: now.AddDate(1, 0, 0),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}, nil, key.Public(), key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}, nil
}

// PEM encodes certificates.
func PEM(certs ...*x509.Certificate) string {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return string(out)
}

func create(tpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, err
	}
	tpl.SerialNumber = serial
	if parent == nil {
		parent = tpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, parent, pub, signer)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}
