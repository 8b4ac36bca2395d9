package awskms_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/keys/awskms"
)

// TestSignRequest checks what KMS is asked to sign, for every key type × scheme × hash and
// for the options that must be refused before KMS is called.
func TestSignRequest(t *testing.T) {
	pss := func(h crypto.Hash, salt int) crypto.SignerOpts { return &rsa.PSSOptions{Hash: h, SaltLength: salt} }
	digest := func(n int) []byte {
		d := make([]byte, n)
		for i := range d {
			d[i] = byte(i + 1)
		}
		return d
	}
	padded := func(d []byte, n int) []byte { return append(make([]byte, n-len(d)), d...) }
	tests := []struct {
		name    string
		spec    kmstypes.KeySpec
		opts    crypto.SignerOpts
		digest  []byte
		wantAlg kmstypes.SigningAlgorithmSpec
		wantMsg []byte
		wantErr error
	}{
		{"ok/rsa-pkcs1-sha256", kmstypes.KeySpecRsa2048, crypto.SHA256, digest(32), kmstypes.SigningAlgorithmSpecRsassaPkcs1V15Sha256, digest(32), nil},
		{"ok/rsa-pkcs1-sha384", kmstypes.KeySpecRsa2048, crypto.SHA384, digest(48), kmstypes.SigningAlgorithmSpecRsassaPkcs1V15Sha384, digest(48), nil},
		{"ok/rsa-pkcs1-sha512", kmstypes.KeySpecRsa2048, crypto.SHA512, digest(64), kmstypes.SigningAlgorithmSpecRsassaPkcs1V15Sha512, digest(64), nil},
		{"ok/rsa-pss-sha256", kmstypes.KeySpecRsa2048, pss(crypto.SHA256, rsa.PSSSaltLengthEqualsHash), digest(32), kmstypes.SigningAlgorithmSpecRsassaPssSha256, digest(32), nil},
		{"ok/rsa-pss-sha384", kmstypes.KeySpecRsa2048, pss(crypto.SHA384, rsa.PSSSaltLengthEqualsHash), digest(48), kmstypes.SigningAlgorithmSpecRsassaPssSha384, digest(48), nil},
		{"ok/rsa-pss-sha512", kmstypes.KeySpecRsa2048, pss(crypto.SHA512, rsa.PSSSaltLengthEqualsHash), digest(64), kmstypes.SigningAlgorithmSpecRsassaPssSha512, digest(64), nil},
		{"ok/rsa-pss-salt-auto", kmstypes.KeySpecRsa2048, pss(crypto.SHA256, rsa.PSSSaltLengthAuto), digest(32), kmstypes.SigningAlgorithmSpecRsassaPssSha256, digest(32), nil},
		{"ok/rsa-pss-salt-explicit-hash-length", kmstypes.KeySpecRsa2048, pss(crypto.SHA384, 48), digest(48), kmstypes.SigningAlgorithmSpecRsassaPssSha384, digest(48), nil},
		{"ok/p256-sha256", kmstypes.KeySpecEccNistP256, crypto.SHA256, digest(32), kmstypes.SigningAlgorithmSpecEcdsaSha256, digest(32), nil},
		{"ok/p256-sha384-truncated", kmstypes.KeySpecEccNistP256, crypto.SHA384, digest(48), kmstypes.SigningAlgorithmSpecEcdsaSha256, digest(48)[:32], nil},
		{"ok/p256-sha512-truncated", kmstypes.KeySpecEccNistP256, crypto.SHA512, digest(64), kmstypes.SigningAlgorithmSpecEcdsaSha256, digest(64)[:32], nil},
		{"ok/p384-sha256-padded", kmstypes.KeySpecEccNistP384, crypto.SHA256, digest(32), kmstypes.SigningAlgorithmSpecEcdsaSha384, padded(digest(32), 48), nil},
		{"ok/p384-sha384", kmstypes.KeySpecEccNistP384, crypto.SHA384, digest(48), kmstypes.SigningAlgorithmSpecEcdsaSha384, digest(48), nil},
		{"ok/p384-sha512-truncated", kmstypes.KeySpecEccNistP384, crypto.SHA512, digest(64), kmstypes.SigningAlgorithmSpecEcdsaSha384, digest(64)[:48], nil},

		{"fail/rsa-pss-salt-20", kmstypes.KeySpecRsa2048, pss(crypto.SHA256, 20), digest(32), "", nil, keys.ErrUnsupported},
		{"fail/rsa-pss-salt-max", kmstypes.KeySpecRsa2048, pss(crypto.SHA256, 222), digest(32), "", nil, keys.ErrUnsupported},
		{"fail/rsa-pss-no-hash", kmstypes.KeySpecRsa2048, pss(0, rsa.PSSSaltLengthEqualsHash), digest(32), "", nil, keys.ErrUnsupported},
		{"fail/p256-pss", kmstypes.KeySpecEccNistP256, pss(crypto.SHA256, rsa.PSSSaltLengthEqualsHash), digest(32), "", nil, keys.ErrUnsupported},
		{"fail/p384-pss", kmstypes.KeySpecEccNistP384, pss(crypto.SHA384, rsa.PSSSaltLengthEqualsHash), digest(48), "", nil, keys.ErrUnsupported},
		{"fail/sha1", kmstypes.KeySpecRsa2048, crypto.SHA1, digest(20), "", nil, keys.ErrUnsupported},
		{"fail/sha224", kmstypes.KeySpecEccNistP256, crypto.SHA224, digest(28), "", nil, keys.ErrUnsupported},
		{"fail/unhashed", kmstypes.KeySpecEccNistP256, crypto.Hash(0), digest(32), "", nil, keys.ErrUnsupported},
		{"fail/short-digest", kmstypes.KeySpecRsa2048, crypto.SHA256, digest(31), "", nil, fault.ErrInvalid},
		{"fail/long-digest", kmstypes.KeySpecEccNistP256, crypto.SHA256, digest(33), "", nil, fault.ErrInvalid},
		{"fail/sha512-digest-as-sha256", kmstypes.KeySpecEccNistP256, crypto.SHA256, digest(64), "", nil, fault.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.spec)
			k, err := awskms.New(f).Open(context.Background(), "awskms:///"+fakeKeyID)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := k.SignContext(context.Background(), tt.digest, tt.opts)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("got %v, want %v", err, tt.wantErr)
				}
				if _, ok := fault.DetailOf(err); !ok {
					t.Errorf("no caller detail: %v", err)
				}
				if len(f.signs) != 0 {
					t.Fatalf("KMS was asked to sign")
				}
				return
			}
			if err != nil || string(sig) != "signature" {
				t.Fatalf("sign: %q, %v", sig, err)
			}
			in := f.signs[0]
			if *in.KeyId != fakeKeyID || in.MessageType != kmstypes.MessageTypeDigest || in.SigningAlgorithm != tt.wantAlg || !bytes.Equal(in.Message, tt.wantMsg) {
				t.Fatalf("asked KMS to sign %x with %s (%s, key %s); want %x with %s", in.Message, in.SigningAlgorithm, in.MessageType, *in.KeyId, tt.wantMsg, tt.wantAlg)
			}
			// crypto.Signer's Sign is SignContext.
			if _, err := k.Sign(rand.Reader, tt.digest, tt.opts); err != nil || len(f.signs) != 2 || f.signs[1].SigningAlgorithm != tt.wantAlg {
				t.Fatalf("Sign: %v", err)
			}
		})
	}
}

// TestOpenChecksKey: Open refuses keys that do not sign, or whose type the service does not
// use, as keys.ErrUnsupported.
func TestOpenChecksKey(t *testing.T) {
	for _, tt := range []struct {
		name  string
		spec  kmstypes.KeySpec
		usage kmstypes.KeyUsageType
	}{
		{"fail/encrypt-decrypt", kmstypes.KeySpecRsa2048, kmstypes.KeyUsageTypeEncryptDecrypt},
		{"fail/key-agreement", kmstypes.KeySpecEccNistP256, kmstypes.KeyUsageTypeKeyAgreement},
		{"fail/p521", kmstypes.KeySpecEccNistP521, kmstypes.KeyUsageTypeSignVerify},
		{"fail/secp256k1", kmstypes.KeySpecEccSecgP256k1, kmstypes.KeyUsageTypeSignVerify},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &wrongKey{fakeKMS: newFake(t, kmstypes.KeySpecEccNistP256), spec: tt.spec, usage: tt.usage}
			_, err := awskms.New(f).Open(context.Background(), "awskms:///"+fakeKeyID)
			if !errors.Is(err, keys.ErrUnsupported) {
				t.Fatalf("got %v", err)
			}
		})
	}
	t.Run("fail/spec-and-key-disagree", func(t *testing.T) {
		f := newFake(t, kmstypes.KeySpecEccNistP256)
		f.spec = kmstypes.KeySpecEccNistP384
		_, err := awskms.New(f).Open(context.Background(), "awskms:///"+fakeKeyID)
		if err == nil || errors.Is(err, keys.ErrUnsupported) {
			t.Fatalf("got %v, want a plain error", err)
		}
	})
}

// wrongKey answers GetPublicKey with another spec and usage.
type wrongKey struct {
	*fakeKMS
	spec  kmstypes.KeySpec
	usage kmstypes.KeyUsageType
}

func (w *wrongKey) GetPublicKey(ctx context.Context, in *kms.GetPublicKeyInput, opts ...func(*kms.Options)) (*kms.GetPublicKeyOutput, error) {
	out, err := w.fakeKMS.GetPublicKey(ctx, in, opts...)
	if err == nil {
		out.KeySpec, out.KeyUsage = w.spec, w.usage
	}
	return out, err
}
