package samlsso

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// spKeyBits is the size of a generated service-provider key. RSA, because XML encryption
// (the IdP encrypting the assertion to the SP) transports keys with RSA only.
const spKeyBits = 2048

// spCertLifetime is how long a generated SP certificate is valid. IdPs treat the certificate
// in SP metadata as a container for the public key, but some refuse an expired one, and
// every renewal means re-registering the service with the customer's IdP; ten years keeps
// that a rare, deliberate act (rotate by generating a new pair and re-registering).
const spCertLifetime = 10 * 365 * 24 * time.Hour

// NewSPKeyPair generates the key and self-signed certificate of one domain's service
// provider, PEM-encoded (a PKCS#8 "PRIVATE KEY" and a "CERTIFICATE"), for Config.SPKeyPEM
// and Config.SPCertPEM. commonName names the certificate's subject (the domain's entity ID
// or alias is a good choice; it is not checked by anyone). The key decrypts assertions and
// signs AuthnRequests, so store it as a secret (encrypted at rest, never logged, never
// returned by the API); the certificate is public and is what SPMetadata publishes.
func NewSPKeyPair(commonName string, now time.Time) (keyPEM, certPEM []byte, err error) {
	key, err := rsa.GenerateKey(rand.Reader, spKeyBits)
	if err != nil {
		return nil, nil, fmt.Errorf("samlsso: generate SP key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("samlsso: certificate serial: %w", err)
	}
	if len(commonName) > 64 { // the X.520 upper bound for a CN
		commonName = commonName[:64]
	}
	tpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(spCertLifetime),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("samlsso: self-sign SP certificate: %w", err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("samlsso: encode SP key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// parseKeyPair reads an SP key (PKCS#8 or PKCS#1 RSA) and its certificate, and checks that
// they belong together. Its errors never quote the key.
func parseKeyPair(keyPEM, certPEM []byte) (*rsa.PrivateKey, *x509.Certificate, error) {
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, nil, errors.New("the key is not PEM")
	}
	var key *rsa.PrivateKey
	switch kb.Type {
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
		if err != nil {
			return nil, nil, errors.New("the key is not a PKCS#8 private key")
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, nil, errors.New("the key is not an RSA key")
		}
		key = rk
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(kb.Bytes)
		if err != nil {
			return nil, nil, errors.New("the key is not a PKCS#1 RSA private key")
		}
		key = k
	default:
		return nil, nil, fmt.Errorf("the key is a PEM %q block, not a private key", kb.Type)
	}
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, nil, errors.New("the certificate is not a PEM certificate")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, errors.New("the certificate does not parse")
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) {
		return nil, nil, errors.New("the certificate is not for the key")
	}
	return key, cert, nil
}
