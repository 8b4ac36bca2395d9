package timestamping

import (
	"crypto"
	"crypto/sha256"
	"encoding/asn1"
	"math/big"
	"testing"

	"github.com/sassoftware/relic/v8/lib/pkcs9"

	"github.com/opensignum/signum/lib/tsastandin"
)

// FuzzCheck: whatever an authority answers, check neither panics nor accepts a token that is
// not over the signature with the request's nonce (the seeds are a good answer, one without
// the nonce, which made relic's own parser panic, and one over another imprint).
func FuzzCheck(f *testing.F) {
	tsa, err := tsastandin.New()
	if err != nil {
		f.Fatal(err)
	}
	sig := []byte("the signature value")
	sum := sha256.Sum256(sig)
	msg := &pkcs9.TimeStampReq{Version: 1, Nonce: nil, CertReq: true}
	msg.MessageImprint.HashedMessage = sum[:]
	msg.MessageImprint.HashAlgorithm.Algorithm = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	msg.Nonce = big12345()
	der, _ := asn1.Marshal(*msg)
	roots, _ := Roots(string(tsa.CAPEM))
	for _, fault := range []tsastandin.Fault{tsastandin.None, tsastandin.NoNonce, tsastandin.OtherImprint} {
		out, err := tsa.Respond(der, fault)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(out)
	}
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, body []byte) {
		tok, err := check("http://tsa.test/", msg, body, roots, crypto.SHA256, sig)
		if err == nil && len(tok) == 0 {
			t.Fatal("accepted an empty token")
		}
	})
}

func big12345() *big.Int { return big.NewInt(12345) }
