//go:build cgo

package pkcs11_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"github.com/ThalesGroup/crypto11"
	p11 "github.com/miekg/pkcs11"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/keys/keystest"
	"github.com/opensignum/signum/lib/keys/pkcs11"
)

func TestBackend(t *testing.T) {
	b, _ := newBackend(t)
	if b.Scheme() != "pkcs11" {
		t.Fatalf("scheme %q", b.Scheme())
	}
	keystest.Run(t, b, keystest.Options{DeletedIsNotFound: true})
}

func generate(t testing.TB, b keys.Backend, alg keys.Algorithm) keys.Key {
	t.Helper()
	k, err := b.Generate(context.Background(), keys.GenerateRequest{Algorithm: alg, Label: fmt.Sprintf("test-%s-%s", alg, randomPIN())})
	if err != nil {
		t.Fatalf("generate %s: %v", alg, err)
	}
	return k
}

func TestOpenURIs(t *testing.T) {
	b, h := newBackend(t)
	ctx := context.Background()
	k := generate(t, b, keys.ECP256)
	u, err := pkcs11.ParseURI(k.URI())
	if err != nil {
		t.Fatalf("own URI %s: %v", k.URI(), err)
	}
	if u.Token != h.Tokens[0] || len(u.ID) != 16 || !strings.HasPrefix(u.Object, "test-") {
		t.Fatalf("URI %s: %+v", k.URI(), u)
	}
	hexID := fmt.Sprintf("%x", u.ID)
	upperID := "id=" + strings.ToUpper(pkcs11.URI{ID: u.ID}.String()[len("pkcs11:id="):])
	tests := []struct {
		name string
		uri  string
		want error // nil: opens k
	}{
		{"ok/as-issued", k.URI(), nil},
		{"ok/attributes-reordered", "pkcs11:id=" + pkcs11.URI{ID: u.ID}.String()[len("pkcs11:id="):] + ";object=" + u.Object + ";token=" + h.Tokens[0], nil},
		{"ok/no-token-means-configured-token", pkcs11.URI{Object: u.Object, ID: u.ID}.String(), nil},
		{"ok/object-only", pkcs11.URI{Object: u.Object}.String(), nil},
		{"ok/id-only", pkcs11.URI{ID: u.ID}.String(), nil},
		{"ok/uppercase-percent-encoding", "pkcs11:" + upperID, nil},
		{"fail/other-token", pkcs11.URI{Token: "other-token", Object: u.Object, ID: u.ID}.String(), keys.ErrNotFound},
		{"fail/unknown-object", pkcs11.URI{Object: u.Object + "x", ID: u.ID}.String(), keys.ErrNotFound},
		{"fail/unknown-id", pkcs11.URI{Object: u.Object, ID: append([]byte{1}, u.ID...)}.String(), keys.ErrNotFound},
		{"fail/id-as-bare-hex-is-other-bytes", "pkcs11:id=" + hexID, keys.ErrNotFound},
		{"fail/other-scheme", "awskms:///" + hexID, keys.ErrNotFound},
		{"fail/unknown-attribute", k.URI() + ";serial=1", keys.ErrNotFound},
		{"fail/pin-value-query", k.URI() + "?pin-value=" + h.PIN, keys.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := b.Open(ctx, tc.uri)
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("Open(%s) = %v, want %v", tc.uri, err, tc.want)
				}
				if strings.Contains(err.Error(), h.PIN) {
					t.Fatalf("error contains the PIN: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open(%s): %v", tc.uri, err)
			}
			// However the key was named, it comes back with its full URI.
			if got.URI() != k.URI() || !k.Public().(*ecdsa.PublicKey).Equal(got.Public()) {
				t.Fatalf("Open(%s) = %s", tc.uri, got.URI())
			}
		})
	}
}

// TestOpenAmbiguous: a key pair made outside the service (here with crypto11 directly) with
// the label of one of ours makes the label alone ambiguous; object and id still name one key.
func TestOpenAmbiguous(t *testing.T) {
	b, h := newBackend(t)
	ctx := context.Background()
	k := generate(t, b, keys.ECP256)
	u, _ := pkcs11.ParseURI(k.URI())
	c, err := crypto11.Configure(&crypto11.Config{Path: h.Library, TokenLabel: h.Tokens[0], Pin: h.PIN})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.GenerateECDSAKeyPairWithLabel([]byte("other-id"), []byte(u.Object), elliptic.P256()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Open(ctx, pkcs11.URI{Object: u.Object}.String()); !errors.Is(err, fault.ErrConflict) {
		t.Fatalf("ambiguous label: %v", err)
	}
	if got, err := b.Open(ctx, k.URI()); err != nil || got.URI() != k.URI() {
		t.Fatalf("object and id: %v", err)
	}
	other, err := b.Open(ctx, pkcs11.URI{ID: []byte("other-id")}.String())
	if err != nil {
		t.Fatal(err)
	}
	if want := (pkcs11.URI{Token: h.Tokens[0], Object: u.Object, ID: []byte("other-id")}).String(); other.URI() != want {
		t.Fatalf("URI of a key opened by id: %s, want %s", other.URI(), want)
	}
}

func TestGenerateDuplicateLabel(t *testing.T) {
	b, _ := newBackend(t)
	ctx := context.Background()
	k := generate(t, b, keys.ECP256)
	u, _ := pkcs11.ParseURI(k.URI())
	for _, alg := range []keys.Algorithm{keys.ECP256, keys.RSA2048} {
		_, err := b.Generate(ctx, keys.GenerateRequest{Algorithm: alg, Label: u.Object})
		if !errors.Is(err, fault.ErrConflict) {
			t.Fatalf("%s with a used label: %v", alg, err)
		}
	}
	// After deletion the label is free again.
	if err := b.ScheduleDeletion(ctx, k.URI()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Generate(ctx, keys.GenerateRequest{Algorithm: keys.ECP256, Label: u.Object}); err != nil {
		t.Fatalf("label of a deleted key: %v", err)
	}
}

func TestGenerateBadRequest(t *testing.T) {
	b, _ := newBackend(t)
	tests := []struct {
		name string
		req  keys.GenerateRequest
		want error
	}{
		{"fail/no-label", keys.GenerateRequest{Algorithm: keys.ECP256}, fault.ErrInvalid},
		{"fail/label-too-long", keys.GenerateRequest{Algorithm: keys.ECP256, Label: strings.Repeat("x", 128)}, fault.ErrInvalid},
		{"fail/label-control-character", keys.GenerateRequest{Algorithm: keys.ECP256, Label: "a\nb"}, fault.ErrInvalid},
		{"fail/label-not-utf8", keys.GenerateRequest{Algorithm: keys.ECP256, Label: "\xff"}, fault.ErrInvalid},
		{"fail/algorithm", keys.GenerateRequest{Algorithm: "EC_P521", Label: "x"}, keys.ErrUnsupported},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := b.Generate(context.Background(), tc.req); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestNew(t *testing.T) {
	h := newSoftHSM(t, "signum-test")
	good := h.Config(0)
	tests := []struct {
		name string
		cfg  func(c *pkcs11.Config)
		want error
	}{
		{"fail/wrong-pin", func(c *pkcs11.Config) { c.PIN = "wrong-" + h.PIN }, keys.ErrUnavailable},
		{"fail/unknown-token", func(c *pkcs11.Config) { c.TokenLabel = "no-such-token" }, keys.ErrUnavailable},
		{"fail/no-module", func(c *pkcs11.Config) { c.LibraryPath = "/nonexistent/libpkcs11.so" }, keys.ErrUnavailable},
		{"fail/no-pin", func(c *pkcs11.Config) { c.PIN = "" }, fault.ErrInvalid},
		{"fail/no-token", func(c *pkcs11.Config) { c.TokenLabel = "" }, fault.ErrInvalid},
		{"fail/one-session", func(c *pkcs11.Config) { c.MaxSessions = 1 }, fault.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.cfg(&cfg)
			b, err := pkcs11.New(cfg)
			if err == nil {
				_ = b.Close()
				t.Fatal("New succeeded")
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			for _, pin := range []string{h.PIN, cfg.PIN} {
				if pin != "" && strings.Contains(fmt.Sprintf("%v %+v %#v", err, err, err), pin) {
					t.Fatalf("error contains the PIN: %v", err)
				}
			}
		})
	}
	var rv p11.Error
	_, err := pkcs11.New(pkcs11.Config{LibraryPath: h.Library, TokenLabel: h.Tokens[0], PIN: "0000"})
	if !errors.As(err, &rv) || rv != p11.CKR_PIN_INCORRECT {
		t.Errorf("wrong PIN: the cause is %v, want CKR_PIN_INCORRECT", err)
	}
	// While a Backend is logged in, the token takes any PIN (CKR_USER_ALREADY_LOGGED_IN);
	// New must not.
	t.Run("fail/wrong-pin-while-logged-in", func(t *testing.T) {
		b, err := pkcs11.New(good)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		bad := good
		bad.PIN = "wrong-" + h.PIN
		if b2, err := pkcs11.New(bad); !errors.Is(err, keys.ErrUnavailable) || strings.Contains(fmt.Sprint(err), h.PIN) {
			if b2 != nil {
				_ = b2.Close()
			}
			t.Fatalf("wrong PIN while logged in: %v", err)
		}
		b2, err := pkcs11.New(good)
		if err != nil {
			t.Fatalf("right PIN while logged in: %v", err)
		}
		if err := b2.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Open(context.Background(), "pkcs11:object=x"); !errors.Is(err, keys.ErrNotFound) {
			t.Fatalf("first backend after the second closed: %v", err)
		}
	})
	if _, err := pkcs11.New(pkcs11.Config{LibraryPath: h.Library, TokenLabel: h.Tokens[0], PIN: "wrong"}); !errors.Is(err, keys.ErrUnavailable) {
		t.Fatalf("wrong PIN after every backend closed: %v", err)
	}
	t.Run("ok", func(t *testing.T) {
		b, err := pkcs11.New(good)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if err := b.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if _, err := b.Open(context.Background(), "pkcs11:object=x"); !errors.Is(err, keys.ErrUnavailable) {
			t.Fatalf("Open after Close: %v", err)
		}
	})
}

// TestTwoTokens: a backend serves its own token only; a key URI naming the other token is
// not found even though that token, on the same module, has the key.
func TestTwoTokens(t *testing.T) {
	h := newSoftHSM(t, "signum-a", "signum-b")
	ctx := context.Background()
	var bs []*pkcs11.Backend
	for i := range h.Tokens {
		b, err := pkcs11.New(h.Config(i))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		bs = append(bs, b)
	}
	k := generate(t, bs[0], keys.ECP256)
	if _, err := bs[0].Open(ctx, k.URI()); err != nil {
		t.Fatal(err)
	}
	if _, err := bs[1].Open(ctx, k.URI()); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("another token's key URI: %v", err)
	}
	// Without the token attribute the URI means "on your token", where there is no such key.
	u, _ := pkcs11.ParseURI(k.URI())
	u.Token = ""
	if _, err := bs[1].Open(ctx, u.String()); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("token-less URI on the other token: %v", err)
	}
	if err := bs[1].ScheduleDeletion(ctx, k.URI()); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("delete another token's key: %v", err)
	}
	if _, err := bs[0].Open(ctx, k.URI()); err != nil {
		t.Fatalf("key gone after the other backend's delete: %v", err)
	}
}

// TestKeyAttributes reads back what the token holds: the private half was generated on the
// token, is sensitive and non-extractable and was never otherwise, and may only sign.
func TestKeyAttributes(t *testing.T) {
	b, _ := newBackend(t)
	for _, alg := range []keys.Algorithm{keys.RSA2048, keys.ECP256} {
		t.Run(string(alg), func(t *testing.T) {
			k := generate(t, b, alg)
			want := map[crypto11.AttributeType]bool{
				crypto11.CkaToken:            true,
				crypto11.CkaPrivate:          true,
				crypto11.CkaSensitive:        true,
				crypto11.CkaAlwaysSensitive:  true,
				crypto11.CkaExtractable:      false,
				crypto11.CkaNeverExtractable: true,
				crypto11.CkaLocal:            true,
				crypto11.CkaSign:             true,
			}
			pubWant := map[crypto11.AttributeType]bool{crypto11.CkaVerify: true, crypto11.CkaToken: true}
			secret := crypto11.CkaValue // EC private value
			if alg.IsRSA() {
				want[crypto11.CkaDecrypt] = false
				pubWant[crypto11.CkaEncrypt] = false
				secret = crypto11.CkaPrivateExponent
			} else {
				want[crypto11.CkaDerive] = false
			}
			check := func(public bool, want map[crypto11.AttributeType]bool) {
				t.Helper()
				var types []crypto11.AttributeType
				for a := range want {
					types = append(types, a)
				}
				got, err := pkcs11.KeyAttributes(k, public, types...)
				if err != nil {
					t.Fatalf("read attributes: %v", err)
				}
				for a, v := range want {
					attr := got[a]
					if attr == nil || len(attr.Value) != 1 || (attr.Value[0] != 0) != v {
						t.Errorf("public=%v attribute %#x = %v, want %v", public, a, attr, v)
					}
				}
			}
			check(false, want)
			check(true, pubWant)
			// The private value cannot be read.
			_, err := pkcs11.KeyAttributes(k, false, secret)
			var rv p11.Error
			if !errors.As(err, &rv) || rv != p11.CKR_ATTRIBUTE_SENSITIVE {
				t.Fatalf("reading the private value: %v, want CKR_ATTRIBUTE_SENSITIVE", err)
			}
		})
	}
}

func TestCancelledContext(t *testing.T) {
	b, _ := newBackend(t)
	k := generate(t, b, keys.ECP256)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	digest := make([]byte, 32)
	if _, err := k.SignContext(ctx, digest, crypto.SHA256); !errors.Is(err, context.Canceled) {
		t.Fatalf("sign: %v", err)
	}
	if _, err := b.Open(ctx, k.URI()); !errors.Is(err, context.Canceled) {
		t.Fatalf("open: %v", err)
	}
	if _, err := b.Generate(ctx, keys.GenerateRequest{Algorithm: keys.ECP256, Label: "cancelled"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("generate: %v", err)
	}
	if err := b.ScheduleDeletion(ctx, k.URI()); !errors.Is(err, context.Canceled) {
		t.Fatalf("delete: %v", err)
	}
	if _, err := b.Open(context.Background(), k.URI()); err != nil {
		t.Fatalf("key gone after a cancelled delete: %v", err)
	}
	if _, err := b.Open(context.Background(), pkcs11.URI{Object: "cancelled"}.String()); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("a cancelled generate made a key: %v", err)
	}
}

func TestSignOptions(t *testing.T) {
	b, _ := newBackend(t)
	ctx := context.Background()
	rk := generate(t, b, keys.RSA2048)
	ek := generate(t, b, keys.ECP256)
	digest := make([]byte, 32)
	_, _ = rand.Read(digest)
	pub := rk.Public().(*rsa.PublicKey)

	t.Run("ok/pss-salt-auto-means-hash-length", func(t *testing.T) {
		sig, err := rk.SignContext(ctx, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto, Hash: crypto.SHA256})
		if err != nil {
			t.Fatal(err)
		}
		if err := rsa.VerifyPSS(pub, crypto.SHA256, digest, sig, &rsa.PSSOptions{SaltLength: 32}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ok/pss-explicit-hash-length", func(t *testing.T) {
		sig, err := rk.SignContext(ctx, digest, &rsa.PSSOptions{SaltLength: 32, Hash: crypto.SHA256})
		if err != nil {
			t.Fatal(err)
		}
		if err := rsa.VerifyPSS(pub, crypto.SHA256, digest, sig, &rsa.PSSOptions{SaltLength: 32}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ok/crypto.Signer", func(t *testing.T) {
		sig, err := rk.Sign(nil, digest, crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest, sig); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ok/ecdsa-der", func(t *testing.T) {
		sig, err := ek.SignContext(ctx, digest, crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		var rs struct{ R, S *big.Int }
		if rest, err := asn1.Unmarshal(sig, &rs); err != nil || len(rest) != 0 || rs.R.Sign() <= 0 || rs.S.Sign() <= 0 {
			t.Fatalf("not an ASN.1 ECDSA signature: %x (%v)", sig, err)
		}
		if !ecdsa.Verify(ek.Public().(*ecdsa.PublicKey), digest, rs.R, rs.S) {
			t.Fatal("does not verify")
		}
	})
	t.Run("fail/pss-other-salt", func(t *testing.T) {
		if _, err := rk.SignContext(ctx, digest, &rsa.PSSOptions{SaltLength: 20, Hash: crypto.SHA256}); !errors.Is(err, keys.ErrUnsupported) {
			t.Fatal(err)
		}
	})
	t.Run("fail/pss-with-ec-key", func(t *testing.T) {
		if _, err := ek.SignContext(ctx, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}); !errors.Is(err, keys.ErrUnsupported) {
			t.Fatal(err)
		}
	})
	t.Run("fail/no-hash", func(t *testing.T) {
		if _, err := rk.SignContext(ctx, digest, crypto.Hash(0)); !errors.Is(err, keys.ErrUnsupported) {
			t.Fatal(err)
		}
	})
	t.Run("fail/key-deleted-after-open", func(t *testing.T) {
		k := generate(t, b, keys.ECP256)
		if err := b.ScheduleDeletion(ctx, k.URI()); err != nil {
			t.Fatal(err)
		}
		if _, err := k.SignContext(ctx, digest, crypto.SHA256); !errors.Is(err, keys.ErrNotFound) {
			t.Fatalf("sign with a destroyed key: %v", err)
		}
		if err := b.ScheduleDeletion(ctx, k.URI()); !errors.Is(err, keys.ErrNotFound) {
			t.Fatalf("delete twice: %v", err)
		}
	})
}

// TestConcurrentSign: a Backend signs from many goroutines, even with a pool of one session
// (MaxSessions 2: one session keeps the login, one signs).
func TestConcurrentSign(t *testing.T) {
	h := newSoftHSM(t)
	cfg := h.Config(0)
	cfg.MaxSessions = 2
	b, err := pkcs11.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	k := generate(t, b, keys.ECP256)
	pub := k.Public().(*ecdsa.PublicKey)
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			for range 20 {
				digest := make([]byte, 32)
				_, _ = rand.Read(digest)
				sig, err := k.SignContext(context.Background(), digest, crypto.SHA256)
				if err == nil && !ecdsa.VerifyASN1(pub, digest, sig) {
					err = errors.New("signature does not verify")
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// BenchmarkSign signs a SHA-256 digest with every algorithm and scheme on SoftHSM2.
func BenchmarkSign(b *testing.B) {
	backend, _ := newBackend(b)
	ctx := context.Background()
	digest := make([]byte, 32)
	_, _ = rand.Read(digest)
	for _, alg := range keys.Algorithms {
		k := generate(b, backend, alg)
		for _, scheme := range keys.SchemesFor(alg) {
			opts := keys.Opts(scheme, crypto.SHA256)
			b.Run("alg="+string(alg)+"/scheme="+string(scheme), func(b *testing.B) {
				for b.Loop() {
					if _, err := k.SignContext(ctx, digest, opts); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
