package certificates

import (
	"crypto/x509"
	"encoding/pem"

	"github.com/opensignum/signum/lib/fault"
)

// ParseCSR (tests only: the service makes CSRs, it does not take them) reads a PEM CSR and
// checks its signature, so that the tests can check the CSRs NewCSR makes.
func ParseCSR(p string) (*x509.CertificateRequest, error) {
	block, _ := pem.Decode([]byte(p))
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, fault.Newf(fault.ErrInvalid, "not a PEM certificate request")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fault.Wrap(fault.ErrInvalid, err, "the certificate request does not parse")
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fault.Wrap(fault.ErrInvalid, err, "the certificate request's signature does not verify")
	}
	return csr, nil
}
