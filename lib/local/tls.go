package local

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// The local server's mutual-TLS port stands in for API Gateway's mutual-TLS custom domain:
// it asks every client for a certificate, completes the handshake only when the client
// proves it holds the certificate's key, and hands the certificate to the functions in
// requestContext.authentication.clientCert. Like the service in AWS, the functions then
// decide, against the deployment's own registrations, whom the certificate belongs to.
//
// Unlike API Gateway, the stand-in has no truststore: it lets every certificate complete the
// handshake, and the functions refuse the ones no deployment registered (API Gateway would
// already refuse those whose chain does not end in the truststore at the handshake).

// TLSCAFile is the file (in the data dir) holding the local CA that issued the TLS port's
// server certificate: clients trust it to reach https://<deployment>.localhost:<port>.
const TLSCAFile = "tls-ca.pem"

// serverTLS makes a throw-away CA and a server certificate for the local host names, and
// the TLS configuration of the mutual-TLS port. caPEM is the CA clients must trust.
func serverTLS(hosts ...string) (*tls.Config, []byte, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	caTpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "Signum local server CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0),
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTpl, caTpl, caKey.Public(), caKey)
	if err != nil {
		return nil, nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: append([]string{"localhost", "*.localhost"}, hosts...), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, ca, key.Public(), caKey)
	if err != nil {
		return nil, nil, err
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{{Certificate: [][]byte{der, caDER}, PrivateKey: key}},
		// As API Gateway's mutual TLS: no certificate, no handshake. The handshake proves
		// possession of the certificate's key; trust is decided by the functions.
		ClientAuth: tls.RequireAnyClientCert,
	}
	return cfg, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}

// writeTLSCA keeps the local CA where clients (curl --cacert, the CLI) find it: like
// everything in the data directory, readable by the current user only.
func writeTLSCA(dataDir string, caPEM []byte) error {
	if dataDir == "" {
		return nil
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dataDir, TLSCAFile), caPEM, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", TLSCAFile, err)
	}
	return nil
}
