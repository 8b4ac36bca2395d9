package token_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"math/big"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/opensignum/signum/lib/token"
)

func der(t testing.TB, r, s *big.Int) []byte {
	t.Helper()
	b, err := asn1.Marshal(struct{ R, S *big.Int }{r, s})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func hexInt(s string) *big.Int {
	v, ok := new(big.Int).SetString(s, 16)
	if !ok {
		panic(s)
	}
	return v
}

// padded is r||s each left-padded to 32 bytes, computed independently of the code under test.
func padded(r, s *big.Int) []byte {
	out := make([]byte, 64)
	rb, sb := r.Bytes(), s.Bytes()
	copy(out[32-len(rb):32], rb)
	copy(out[64-len(sb):], sb)
	return out
}

func TestDERToRaw(t *testing.T) {
	n := elliptic.P256().Params().N
	full := hexInt("f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff00") // top bit set: 33 DER bytes
	short := hexInt("00000000000000000000000000000000000000000000000000000000000000ab")
	leading0 := hexInt("0012233445566778899aabbccddeeff00112233445566778899aabbccddeeff0") // 31 bytes
	for _, tc := range []struct {
		name string
		r, s *big.Int
	}{
		{"ok/full length", full, full},
		{"ok/short r", leading0, full},
		{"ok/short s", full, leading0},
		{"ok/both very short", big.NewInt(1), short},
		{"ok/n-1", new(big.Int).Sub(n, big.NewInt(1)), new(big.Int).Sub(n, big.NewInt(1))},
		{"ok/n/2 stays", full, new(big.Int).Rsh(n, 1)},
		{"ok/n/2+1 becomes n/2", full, new(big.Int).Add(new(big.Int).Rsh(n, 1), big.NewInt(1))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := token.DERToRaw(der(t, tc.r, tc.s))
			if err != nil {
				t.Fatal(err)
			}
			s := tc.s // a high s becomes n-s, the low-S twin
			if s.Cmp(new(big.Int).Rsh(n, 1)) > 0 {
				s = new(big.Int).Sub(n, s)
			}
			if want := padded(tc.r, s); !bytes.Equal(raw, want) {
				t.Fatalf("raw %x\nwant %x", raw, want)
			}
		})
	}
	for _, tc := range []struct {
		name string
		der  []byte
	}{
		{"fail/empty", nil},
		{"fail/garbage", []byte("not DER at all")},
		{"fail/trailing data", append(der(t, full, full), 0)},
		{"fail/zero r", der(t, big.NewInt(0), full)},
		{"fail/negative s", der(t, full, big.NewInt(-5))},
		{"fail/r equals n", der(t, n, full)},
		{"fail/s over 32 bytes", der(t, full, new(big.Int).Lsh(big.NewInt(1), 300))},
		{"fail/raw form given", padded(full, full)},
		{"fail/truncated", der(t, full, full)[:40]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if raw, err := token.DERToRaw(tc.der); err == nil {
				t.Fatalf("converted to %x", raw)
			}
		})
	}
}

// TestDERToRawSignatures converts real signatures until it has seen both a short r and a
// short s (each about one signature in 256) and checks each converted signature verifies as
// ES256, the way a token's does.
func TestDERToRawSignatures(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	const msg = "header.payload"
	digest := sha256.Sum256([]byte(msg))
	var shortR, shortS int
	for i := 0; i < 20000 && (shortR == 0 || shortS == 0); i++ {
		sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		raw, err := token.DERToRaw(sig)
		if err != nil {
			t.Fatal(err)
		}
		if len(raw) != 64 {
			t.Fatalf("raw signature of %d bytes", len(raw))
		}
		if raw[0] == 0 {
			shortR++
		}
		if raw[32] == 0 {
			shortS++
		}
		if err := jwt.SigningMethodES256.Verify(msg, raw, &key.PublicKey); err != nil {
			t.Fatalf("signature %d (%x): %v", i, sig, err)
		}
	}
	if shortR == 0 || shortS == 0 {
		t.Fatalf("saw %d short r and %d short s", shortR, shortS)
	}
}
