// Package keystest is the behaviour every key backend must have, as one suite that each
// backend's tests run against the real thing (the KMS stand-in, SoftHSM2).
package keystest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"testing"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/keys"
)

// Options tune the suite for a backend.
type Options struct {
	// Algorithms to test (all when empty).
	Algorithms []keys.Algorithm
	// DeletedIsNotFound: after ScheduleDeletion, Open fails with keys.ErrNotFound (PKCS#11)
	// rather than keys.ErrDisabled on use (KMS: pending deletion).
	DeletedIsNotFound bool
}

// Run runs the suite against backend b.
func Run(t *testing.T, b keys.Backend, o Options) {
	algs := o.Algorithms
	if len(algs) == 0 {
		algs = keys.Algorithms
	}
	ctx := context.Background()
	for _, alg := range algs {
		t.Run(string(alg), func(t *testing.T) {
			label := fmt.Sprintf("keystest-%s-%s", alg, randHex())
			k, err := b.Generate(ctx, keys.GenerateRequest{Algorithm: alg, Label: label, Tags: map[string]string{"test": "keystest"}})
			if err != nil {
				t.Fatalf("generate: %v", err)
			}
			if k.Algorithm() != alg {
				t.Fatalf("algorithm %s, want %s", k.Algorithm(), alg)
			}
			if got, err := keys.AlgorithmOf(k.Public()); err != nil || got != alg {
				t.Fatalf("public key is %v (%v), want %s", got, err, alg)
			}
			// Open by URI gives the same key.
			again, err := b.Open(ctx, k.URI())
			if err != nil {
				t.Fatalf("open %s: %v", k.URI(), err)
			}
			if !publicEqual(k.Public(), again.Public()) {
				t.Fatal("reopened key has another public key")
			}
			// A CSR signed through crypto.Signer verifies with crypto/x509.
			csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: label}}, again)
			if err != nil {
				t.Fatalf("CSR: %v", err)
			}
			csr, err := x509.ParseCertificateRequest(csrDER)
			if err != nil || csr.CheckSignature() != nil {
				t.Fatalf("CSR does not verify: %v", err)
			}
			// Every scheme × hash signs a digest that verifies with the public key.
			for _, scheme := range keys.SchemesFor(alg) {
				for _, h := range keys.Hashes {
					digest := randDigest(h)
					opts := keys.Opts(scheme, h)
					sig, err := again.SignContext(ctx, digest, opts)
					if err != nil {
						t.Fatalf("%s/%v: sign: %v", scheme, h, err)
					}
					if err := verify(k.Public(), scheme, h, digest, sig); err != nil {
						t.Fatalf("%s/%v: signature does not verify: %v", scheme, h, err)
					}
					// A changed digest does not verify: the check above can fail.
					digest[0] ^= 0xff
					if verify(k.Public(), scheme, h, digest, sig) == nil {
						t.Fatalf("%s/%v: signature verifies for another digest", scheme, h)
					}
				}
			}
			// Bad input: wrong digest length, SHA-1, a scheme the key type lacks.
			if _, err := k.SignContext(ctx, make([]byte, 31), crypto.SHA256); !errors.Is(err, fault.ErrInvalid) {
				t.Errorf("31-byte SHA-256 digest: %v", err)
			}
			if _, err := k.SignContext(ctx, make([]byte, 20), crypto.SHA1); !errors.Is(err, keys.ErrUnsupported) {
				t.Errorf("SHA-1: %v", err)
			}
			if !alg.IsRSA() {
				if _, err := k.SignContext(ctx, make([]byte, 32), keys.Opts(keys.PSS, crypto.SHA256)); !errors.Is(err, keys.ErrUnsupported) {
					t.Errorf("PSS with an EC key: %v", err)
				}
			}
			// Deletion: the key can no longer sign.
			if err := b.ScheduleDeletion(ctx, k.URI()); err != nil {
				t.Fatalf("schedule deletion: %v", err)
			}
			if o.DeletedIsNotFound {
				if _, err := b.Open(ctx, k.URI()); !errors.Is(err, keys.ErrNotFound) {
					t.Fatalf("open after deletion: %v", err)
				}
			} else {
				gone, err := b.Open(ctx, k.URI())
				if err == nil {
					_, err = gone.SignContext(ctx, randDigest(crypto.SHA256), crypto.SHA256)
				}
				if !errors.Is(err, keys.ErrDisabled) && !errors.Is(err, keys.ErrNotFound) {
					t.Fatalf("sign after deletion: %v", err)
				}
			}
		})
	}
	t.Run("unknown-uri", func(t *testing.T) {
		if _, err := b.Open(ctx, b.Scheme()+":///does-not-exist"); !errors.Is(err, keys.ErrNotFound) {
			t.Fatalf("open unknown: %v", err)
		}
	})
	t.Run("unsupported-algorithm", func(t *testing.T) {
		if _, err := b.Generate(ctx, keys.GenerateRequest{Algorithm: "DSA_1024", Label: "x-" + randHex()}); !errors.Is(err, keys.ErrUnsupported) {
			t.Fatalf("DSA: %v", err)
		}
	})
}

func verify(pub crypto.PublicKey, s keys.Scheme, h crypto.Hash, digest, sig []byte) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if s == keys.PSS {
			return rsa.VerifyPSS(k, h, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		}
		return rsa.VerifyPKCS1v15(k, h, digest, sig)
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, digest, sig) {
			return errors.New("ECDSA verification failed")
		}
		return nil
	}
	return fmt.Errorf("unknown key %T", pub)
}

func publicEqual(a, b crypto.PublicKey) bool {
	type eq interface{ Equal(crypto.PublicKey) bool }
	ea, ok := a.(eq)
	return ok && ea.Equal(b)
}

func randDigest(h crypto.Hash) []byte {
	d := make([]byte, h.Size())
	_, _ = rand.Read(d)
	return d
}

func randHex() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%x", b)
}
