package p11token

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	p11 "github.com/miekg/pkcs11"
)

// Mechanisms the module signs with. The hashing ones hash here and send the digest; the
// others take the digest (CKM_RSA_PKCS a DER DigestInfo) from the application.
var (
	rsaMechanisms = []uint{p11.CKM_RSA_PKCS, p11.CKM_RSA_PKCS_PSS,
		p11.CKM_SHA256_RSA_PKCS, p11.CKM_SHA384_RSA_PKCS, p11.CKM_SHA512_RSA_PKCS,
		p11.CKM_SHA256_RSA_PKCS_PSS, p11.CKM_SHA384_RSA_PKCS_PSS, p11.CKM_SHA512_RSA_PKCS_PSS}
	ecMechanisms = []uint{p11.CKM_ECDSA, p11.CKM_ECDSA_SHA256, p11.CKM_ECDSA_SHA384, p11.CKM_ECDSA_SHA512}
)

func mechanismsFor(keyType uint) []uint {
	switch keyType {
	case p11.CKK_RSA:
		return rsaMechanisms
	case p11.CKK_EC:
		return ecMechanisms
	}
	return nil
}

// Mechanisms lists every mechanism the module signs with.
func Mechanisms() []uint { return append(append([]uint{}, rsaMechanisms...), ecMechanisms...) }

// MechanismInfo is CK_MECHANISM_INFO.
type MechanismInfo struct {
	MinKeySize, MaxKeySize uint
	Flags                  uint
}

// InfoOf describes a mechanism (ok false for one the module does not have).
func InfoOf(m uint) (MechanismInfo, bool) {
	for _, r := range rsaMechanisms {
		if r == m {
			return MechanismInfo{MinKeySize: 2048, MaxKeySize: 4096, Flags: p11.CKF_SIGN}, true
		}
	}
	for _, e := range ecMechanisms {
		if e == m {
			return MechanismInfo{MinKeySize: 256, MaxKeySize: 521, Flags: p11.CKF_SIGN | p11.CKF_EC_F_P | p11.CKF_EC_NAMEDCURVE | p11.CKF_EC_UNCOMPRESS}, true
		}
	}
	return MechanismInfo{}, false
}

// Mechanism is what C_SignInit asks for. PSS is set for the PSS mechanisms when the
// application gave CK_RSA_PKCS_PSS_PARAMS.
type Mechanism struct {
	Type uint
	PSS  *PSSParams
}

// PSSParams is CK_RSA_PKCS_PSS_PARAMS.
type PSSParams struct {
	HashAlg, MGF, SaltLen uint
}

// hashOf is the hash a hashing mechanism applies here (0 for those given a digest).
func hashOf(m uint) crypto.Hash {
	switch m {
	case p11.CKM_SHA256_RSA_PKCS, p11.CKM_SHA256_RSA_PKCS_PSS, p11.CKM_ECDSA_SHA256:
		return crypto.SHA256
	case p11.CKM_SHA384_RSA_PKCS, p11.CKM_SHA384_RSA_PKCS_PSS, p11.CKM_ECDSA_SHA384:
		return crypto.SHA384
	case p11.CKM_SHA512_RSA_PKCS, p11.CKM_SHA512_RSA_PKCS_PSS, p11.CKM_ECDSA_SHA512:
		return crypto.SHA512
	}
	return 0
}

func isPSS(m uint) bool {
	switch m {
	case p11.CKM_RSA_PKCS_PSS, p11.CKM_SHA256_RSA_PKCS_PSS, p11.CKM_SHA384_RSA_PKCS_PSS, p11.CKM_SHA512_RSA_PKCS_PSS:
		return true
	}
	return false
}

var pssHashes = map[uint]crypto.Hash{p11.CKM_SHA256: crypto.SHA256, p11.CKM_SHA384: crypto.SHA384, p11.CKM_SHA512: crypto.SHA512}
var mgfHashes = map[uint]crypto.Hash{p11.CKG_MGF1_SHA256: crypto.SHA256, p11.CKG_MGF1_SHA384: crypto.SHA384, p11.CKG_MGF1_SHA512: crypto.SHA512}

// checkPSS checks PSS parameters against what the service signs: MGF1 with the message's
// hash and a salt as long as the hash (KMS's only PSS). want is the hash of a hashing
// mechanism, 0 for CKM_RSA_PKCS_PSS.
func checkPSS(p *PSSParams, want crypto.Hash) (crypto.Hash, error) {
	if p == nil {
		return 0, errors.New("RSA-PSS needs CK_RSA_PKCS_PSS_PARAMS")
	}
	h, ok := pssHashes[p.HashAlg]
	if !ok {
		return 0, errors.New("RSA-PSS: the hash must be SHA-256, SHA-384 or SHA-512")
	}
	if want != 0 && h != want {
		return 0, fmt.Errorf("RSA-PSS: the parameters' hash %v is not the mechanism's %v", h, want)
	}
	if mgfHashes[p.MGF] != h {
		return 0, fmt.Errorf("RSA-PSS: the mask generation must be MGF1 with %v", h)
	}
	if p.SaltLen != uint(h.Size()) {
		return 0, fmt.Errorf("RSA-PSS: the salt must be %d bytes (the hash's length), not %d", h.Size(), p.SaltLen)
	}
	return h, nil
}

// digestInfoPrefixes are the DER DigestInfo headers CKM_RSA_PKCS's input starts with.
var digestInfoPrefixes = map[crypto.Hash][]byte{
	crypto.SHA256: {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20},
	crypto.SHA384: {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30},
	crypto.SHA512: {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40},
}

// parseDigestInfo finds the digest in CKM_RSA_PKCS's input.
func parseDigestInfo(data []byte) (crypto.Hash, []byte, error) {
	for h, prefix := range digestInfoPrefixes {
		if len(data) == len(prefix)+h.Size() && bytes.HasPrefix(data, prefix) {
			return h, data[len(prefix):], nil
		}
	}
	return 0, nil, fmt.Errorf("CKM_RSA_PKCS takes a DER DigestInfo of a SHA-256, SHA-384 or SHA-512 digest (%d bytes given); the service signs nothing else", len(data))
}

// hashBySize is the hash whose digest is n bytes long.
func hashBySize(n int) (crypto.Hash, error) {
	for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		if h.Size() == n {
			return h, nil
		}
	}
	return 0, fmt.Errorf("a %d-byte digest is not SHA-256, SHA-384 or SHA-512; the service signs nothing else", n)
}

// rawECDSA turns an ASN.1 ECDSA signature into PKCS#11's r‖s, each as long as the curve.
func rawECDSA(der []byte, size int) ([]byte, error) {
	var sig struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(der, &sig)
	if err != nil || len(rest) > 0 || sig.R == nil || sig.S == nil || sig.R.Sign() <= 0 || sig.S.Sign() <= 0 {
		return nil, errors.New("the service's ECDSA signature is not DER")
	}
	if (sig.R.BitLen()+7)/8 > size || (sig.S.BitLen()+7)/8 > size {
		return nil, errors.New("the service's ECDSA signature does not fit the curve")
	}
	out := make([]byte, 2*size)
	sig.R.FillBytes(out[:size])
	sig.S.FillBytes(out[size:])
	return out, nil
}

// verify checks a signature the service returned with the certificate's key before the
// application gets it. sig is in PKCS#11's form.
func verify(pub crypto.PublicKey, h crypto.Hash, pss bool, digest, sig []byte) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if pss {
			return rsa.VerifyPSS(k, h, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h})
		}
		return rsa.VerifyPKCS1v15(k, h, digest, sig)
	case *ecdsa.PublicKey:
		half := len(sig) / 2
		if !ecdsa.Verify(k, digest, new(big.Int).SetBytes(sig[:half]), new(big.Int).SetBytes(sig[half:])) {
			return errors.New("the ECDSA signature does not verify with the certificate's key")
		}
		return nil
	}
	return fmt.Errorf("key type %T", pub)
}
