package token

import (
	"encoding/asn1"
	"errors"
	"math/big"
)

// p256Size is the length in bytes of each of r and s in a raw ES256 signature.
const p256Size = 32

// p256N is the order of the P-256 group; r and s of a valid signature lie in [1, n-1].
var p256N, _ = new(big.Int).SetString("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551", 16)

// derToRaw converts an ECDSA P-256 signature from the ASN.1 DER form KMS returns
// (SEQUENCE { INTEGER r, INTEGER s }) to the form JWS ES256 requires (RFC 7518 §3.4): r and
// s as big-endian unsigned integers, each left-padded with zeros to 32 bytes, concatenated.
// DER drops leading zero bytes (and adds one when the top bit is set), so r or s is shorter
// than 32 bytes in about one signature in 128; dropping the padding would make such tokens
// fail to verify.
func derToRaw(der []byte) ([]byte, error) {
	var sig struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(der, &sig)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, errors.New("trailing data after ECDSA signature")
	}
	for _, v := range []*big.Int{sig.R, sig.S} {
		if v.Sign() <= 0 || v.Cmp(p256N) >= 0 {
			return nil, errors.New("ECDSA signature value out of range for P-256")
		}
	}
	raw := make([]byte, 2*p256Size)
	sig.R.FillBytes(raw[:p256Size])
	sig.S.FillBytes(raw[p256Size:])
	return raw, nil
}
