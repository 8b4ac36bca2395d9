package awskms_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/opensignum/signum/lib/keys/awskms"
)

// fakeKMS is a KMS whose answers the test sets: for injected faults and for checking exactly
// what the backend asks KMS. Tests of behaviour run against the stand-in instead.
type fakeKMS struct {
	mu       sync.Mutex
	spec     kmstypes.KeySpec
	pub      crypto.PublicKey
	err      error // returned by every call when set
	creates  []*kms.CreateKeyInput
	signs    []*kms.SignInput
	deletes  []*kms.ScheduleKeyDeletionInput
	getPub   func() error // overrides err for GetPublicKey when set
	keyState kmstypes.KeyState
}

const fakeKeyID = "1234abcd-12ab-34cd-56ef-1234567890ab"

var _ awskms.KMS = (*fakeKMS)(nil)

// newFake answers GetPublicKey with a key of spec.
func newFake(t testing.TB, spec kmstypes.KeySpec) *fakeKMS {
	t.Helper()
	return &fakeKMS{spec: spec, pub: testPublicKey(t, spec), keyState: kmstypes.KeyStateEnabled}
}

func (f *fakeKMS) CreateKey(_ context.Context, in *kms.CreateKeyInput, _ ...func(*kms.Options)) (*kms.CreateKeyOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.creates = append(f.creates, in)
	if f.err != nil {
		return nil, f.err
	}
	return &kms.CreateKeyOutput{KeyMetadata: &kmstypes.KeyMetadata{KeyId: aws.String(fakeKeyID)}}, nil
}

func (f *fakeKMS) GetPublicKey(_ context.Context, in *kms.GetPublicKeyInput, _ ...func(*kms.Options)) (*kms.GetPublicKeyOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.getPub != nil {
		if err := f.getPub(); err != nil {
			return nil, err
		}
	} else if f.err != nil {
		return nil, f.err
	}
	der, err := x509.MarshalPKIXPublicKey(f.pub)
	if err != nil {
		return nil, err
	}
	return &kms.GetPublicKeyOutput{KeyId: in.KeyId, KeySpec: f.spec, KeyUsage: kmstypes.KeyUsageTypeSignVerify, PublicKey: der}, nil
}

func (f *fakeKMS) Sign(_ context.Context, in *kms.SignInput, _ ...func(*kms.Options)) (*kms.SignOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.signs = append(f.signs, in)
	if f.err != nil {
		return nil, f.err
	}
	return &kms.SignOutput{KeyId: in.KeyId, Signature: []byte("signature"), SigningAlgorithm: in.SigningAlgorithm}, nil
}

func (f *fakeKMS) ScheduleKeyDeletion(_ context.Context, in *kms.ScheduleKeyDeletionInput, _ ...func(*kms.Options)) (*kms.ScheduleKeyDeletionOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deletes = append(f.deletes, in)
	if f.err != nil {
		return nil, f.err
	}
	return &kms.ScheduleKeyDeletionOutput{KeyId: in.KeyId}, nil
}

func (f *fakeKMS) DescribeKey(_ context.Context, in *kms.DescribeKeyInput, _ ...func(*kms.Options)) (*kms.DescribeKeyOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &kms.DescribeKeyOutput{KeyMetadata: &kmstypes.KeyMetadata{KeyId: in.KeyId, KeyState: f.keyState}}, nil
}

// testPublicKey returns a public key of spec, made once per spec and test binary.
func testPublicKey(t testing.TB, spec kmstypes.KeySpec) crypto.PublicKey {
	t.Helper()
	testKeysMu.Lock()
	defer testKeysMu.Unlock()
	if k, ok := testKeys[spec]; ok {
		return k
	}
	var pub crypto.PublicKey
	switch spec {
	case kmstypes.KeySpecRsa2048:
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		pub = &k.PublicKey
	case kmstypes.KeySpecEccNistP256, kmstypes.KeySpecEccNistP384:
		c := elliptic.P256()
		if spec == kmstypes.KeySpecEccNistP384 {
			c = elliptic.P384()
		}
		k, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pub = &k.PublicKey
	default:
		t.Fatalf("no test key for %s", spec)
	}
	testKeys[spec] = pub
	return pub
}

var (
	testKeysMu sync.Mutex
	testKeys   = map[kmstypes.KeySpec]crypto.PublicKey{}
)

// countingKMS counts the GetPublicKey calls that reach the KMS it wraps.
type countingKMS struct {
	awskms.KMS
	getPublicKey atomic.Int64
}

func (c *countingKMS) GetPublicKey(ctx context.Context, in *kms.GetPublicKeyInput, opts ...func(*kms.Options)) (*kms.GetPublicKeyOutput, error) {
	c.getPublicKey.Add(1)
	return c.KMS.GetPublicKey(ctx, in, opts...)
}

// timeoutError is a net.Error that timed out, as a dial or read deadline gives.
type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

var errBoom = errors.New("boom")
