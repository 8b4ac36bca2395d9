package token

import (
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"math/big"
	"strings"
)

// p256Size is the length in bytes of each of r and s in a raw ES256 signature.
const p256Size = 32

// p256N is the order of the P-256 group; r and s of a valid signature lie in [1, n-1].
var p256N, _ = new(big.Int).SetString("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551", 16)

// p256HalfN is n/2 (rounded down). For every valid signature (r, s), (r, n-s) verifies too;
// tokens carry only the twin whose s is at most n/2 ("low S"), so that each token has one
// signature and no one can make a second valid spelling of a token they were given.
var p256HalfN = new(big.Int).Rsh(p256N, 1)

// derToRaw converts an ECDSA P-256 signature from the ASN.1 DER form KMS returns
// (SEQUENCE { INTEGER r, INTEGER s }) to the form JWS ES256 requires (RFC 7518 §3.4): r and
// s as big-endian unsigned integers, each left-padded with zeros to 32 bytes, concatenated.
// DER drops leading zero bytes (and adds one when the top bit is set), so r or s is shorter
// than 32 bytes in about one signature in 128; dropping the padding would make such tokens
// fail to verify. A high s is replaced by n-s, which verifies as well (KMS does not promise
// low-S signatures; Verify refuses the others).
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
	if sig.S.Cmp(p256HalfN) > 0 {
		sig.S.Sub(p256N, sig.S)
	}
	raw := make([]byte, 2*p256Size)
	sig.R.FillBytes(raw[:p256Size])
	sig.S.FillBytes(raw[p256Size:])
	return raw, nil
}

// highS reports whether the compact token raw carries an ES256 signature whose s is above
// n/2: the malleable twin of a low-S signature, which the issuer never produces. A signature
// that does not decode to 64 bytes is left to the parser to refuse.
func highS(raw string) bool {
	i := strings.LastIndexByte(raw, '.')
	if i < 0 {
		return false
	}
	sig, err := base64.RawURLEncoding.Strict().DecodeString(raw[i+1:])
	if err != nil || len(sig) != 2*p256Size {
		return false
	}
	return new(big.Int).SetBytes(sig[p256Size:]).Cmp(p256HalfN) > 0
}
