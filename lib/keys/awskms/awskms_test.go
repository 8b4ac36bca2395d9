package awskms_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/keys/awskms"
	"github.com/opensignum/signum/lib/keys/keystest"
)

// TestKeystest runs the behaviour every key backend must have, for every algorithm: on the
// embedded stand-in by default, against AWS (or LocalStack) with SIGNUM_TEST_TARGET=aws.
func TestKeystest(t *testing.T) {
	tg := devstack.NewTarget(t)
	keystest.Run(t, awskms.New(tg.Clients.KMS), keystest.Options{})
}

// TestStandinPSSSalt: local-kms alone signs RSASSA-PSS with the longest possible salt; the
// devstack corrects it to a salt as long as the hash, as AWS KMS signs. This keeps that
// correction honest.
func TestStandinPSSSalt(t *testing.T) {
	tg := devstack.NewEmbedded(t)
	ctx := context.Background()
	k := generate(t, awskms.New(tg.Clients.KMS), keys.RSA2048)
	d := randDigest(crypto.SHA256)
	sig, err := k.SignContext(ctx, d, keys.Opts(keys.PSS, crypto.SHA256))
	if err != nil {
		t.Fatal(err)
	}
	pub := k.Public().(*rsa.PublicKey)
	if err := rsa.VerifyPSS(pub, crypto.SHA256, d, sig, &rsa.PSSOptions{SaltLength: crypto.SHA256.Size()}); err != nil {
		t.Fatalf("PSS signature with a hash-length salt does not verify: %v", err)
	}
}

// TestOpenByARN: a key opens by its ARN too, and keeps that URI.
func TestOpenByARN(t *testing.T) {
	tg := devstack.NewTarget(t)
	ctx := context.Background()
	b := awskms.New(tg.Clients.KMS)
	k := generate(t, b, keys.ECP256)
	id := k.URI()[len("awskms:///"):]
	out, err := tg.Clients.KMS.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	uri := "awskms:///" + *out.KeyMetadata.Arn
	byARN, err := awskms.New(tg.Clients.KMS).Open(ctx, uri)
	if err != nil {
		t.Fatalf("open %s: %v", uri, err)
	}
	if byARN.URI() != uri || !k.Public().(*ecdsa.PublicKey).Equal(byARN.Public()) {
		t.Fatalf("opened %s with another key", byARN.URI())
	}
	d := randDigest(crypto.SHA256)
	sig, err := byARN.SignContext(ctx, d, crypto.SHA256)
	if err != nil || !ecdsa.VerifyASN1(k.Public().(*ecdsa.PublicKey), d, sig) {
		t.Fatalf("sign by ARN: %v", err)
	}
}

// TestGenerateTags: the key is described and tagged as asked, in KMS.
func TestGenerateTags(t *testing.T) {
	tg := devstack.NewTarget(t)
	ctx := context.Background()
	label := "tags-" + rand.Text()[:8]
	k, err := awskms.New(tg.Clients.KMS).Generate(ctx, keys.GenerateRequest{Algorithm: keys.ECP256, Label: label, Tags: map[string]string{"deployment": "d-1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = awskms.New(tg.Clients.KMS).ScheduleDeletion(context.Background(), k.URI()) })
	id := k.URI()[len("awskms:///"):]
	desc, err := tg.Clients.KMS.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	if m := desc.KeyMetadata; *m.Description != "signum: "+label || m.KeyUsage != kmstypes.KeyUsageTypeSignVerify || m.KeySpec != kmstypes.KeySpecEccNistP256 {
		t.Fatalf("key %q %s %s", *m.Description, m.KeyUsage, m.KeySpec)
	}
	tags, err := tg.Clients.KMS.ListResourceTags(ctx, &kms.ListResourceTagsInput{KeyId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, tag := range tags.Tags {
		got[*tag.TagKey] = *tag.TagValue
	}
	if len(got) != 2 || got["deployment"] != "d-1" || got[awskms.LabelTag] != label {
		t.Fatalf("tags %v", got)
	}
}

// TestOpenNotSigningKey: KMS keys that do not sign are keys.ErrUnsupported.
func TestOpenNotSigningKey(t *testing.T) {
	tg := devstack.NewTarget(t)
	ctx := context.Background()
	b := awskms.New(tg.Clients.KMS)
	for _, tt := range []struct {
		name  string
		spec  kmstypes.KeySpec
		usage kmstypes.KeyUsageType
	}{
		{"rsa-encrypt-decrypt", kmstypes.KeySpecRsa2048, kmstypes.KeyUsageTypeEncryptDecrypt},
		{"symmetric", kmstypes.KeySpecSymmetricDefault, kmstypes.KeyUsageTypeEncryptDecrypt},
		{"hmac", kmstypes.KeySpecHmac256, kmstypes.KeyUsageTypeGenerateVerifyMac},
		{"ecc-p521", kmstypes.KeySpecEccNistP521, kmstypes.KeyUsageTypeSignVerify},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := tg.Clients.KMS.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: tt.spec, KeyUsage: tt.usage})
			if err != nil {
				t.Fatal(err)
			}
			uri := "awskms:///" + *out.KeyMetadata.KeyId
			t.Cleanup(func() { _ = b.ScheduleDeletion(context.Background(), uri) })
			if _, err := b.Open(ctx, uri); !errors.Is(err, keys.ErrUnsupported) {
				t.Fatalf("open: %v", err)
			}
		})
	}
}

// TestScheduleDeletion: deletion is idempotent, and a deleted key is disabled, for a process
// that had it open and for one that opens it afterwards.
func TestScheduleDeletion(t *testing.T) {
	tg := devstack.NewTarget(t)
	ctx := context.Background()
	b := awskms.New(tg.Clients.KMS)
	k := generate(t, b, keys.ECP256)
	for i := range 2 {
		if err := b.ScheduleDeletion(ctx, k.URI()); err != nil {
			t.Fatalf("schedule deletion #%d: %v", i+1, err)
		}
	}
	if _, err := k.SignContext(ctx, randDigest(crypto.SHA256), crypto.SHA256); !errors.Is(err, keys.ErrDisabled) {
		t.Fatalf("sign after deletion: %v", err)
	}
	if _, err := awskms.New(tg.Clients.KMS).Open(ctx, k.URI()); !errors.Is(err, keys.ErrDisabled) {
		t.Fatalf("open after deletion: %v", err)
	}
	out, err := tg.Clients.KMS.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(k.URI()[len("awskms:///"):])})
	if err != nil || out.KeyMetadata.KeyState != kmstypes.KeyStatePendingDeletion {
		t.Fatalf("key state: %v", err)
	}
	// 7 days, the minimum (the stand-in answers in seconds, AWS in a timestamp).
	if d := time.Until(*out.KeyMetadata.DeletionDate); d < 6*24*time.Hour || d > 8*24*time.Hour {
		t.Fatalf("deleted in %v", d)
	}
	for _, uri := range []string{"awskms:///00000000-0000-4000-8000-000000000000", "awskms:///not-a-key", "pkcs11:object=x"} {
		if err := b.ScheduleDeletion(ctx, uri); !errors.Is(err, keys.ErrNotFound) {
			t.Errorf("schedule deletion of %s: %v", uri, err)
		}
	}
}

// TestDisabledKey: a key disabled in KMS is keys.ErrDisabled, and usable again once enabled.
func TestDisabledKey(t *testing.T) {
	tg := devstack.NewTarget(t)
	ctx := context.Background()
	b := awskms.New(tg.Clients.KMS)
	k := generate(t, b, keys.ECP384)
	id := aws.String(k.URI()[len("awskms:///"):])
	if _, err := tg.Clients.KMS.DisableKey(ctx, &kms.DisableKeyInput{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	_, err := k.SignContext(ctx, randDigest(crypto.SHA384), crypto.SHA384)
	if !errors.Is(err, keys.ErrDisabled) {
		t.Fatalf("sign with a disabled key: %v", err)
	}
	if d, _ := fault.DetailOf(err); d != "The key is disabled or pending deletion." {
		t.Errorf("detail %q", d)
	}
	if _, err := awskms.New(tg.Clients.KMS).Open(ctx, k.URI()); !errors.Is(err, keys.ErrDisabled) {
		t.Fatalf("open a disabled key: %v", err)
	}
	if _, err := tg.Clients.KMS.EnableKey(ctx, &kms.EnableKeyInput{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := k.SignContext(ctx, randDigest(crypto.SHA384), crypto.SHA384); err != nil {
		t.Fatalf("sign after enabling: %v", err)
	}
}

// TestOutage: with KMS down, every operation is keys.ErrUnavailable; when it is back, keys
// work again without being reopened.
func TestOutage(t *testing.T) {
	tg := devstack.NewEmbedded(t)
	ctx := context.Background()
	b := awskms.New(tg.Clients.KMS)
	k := generate(t, b, keys.ECP256)
	unopened := generate(t, b, keys.ECP256)

	tg.Stack.KMS.Stop()
	start := time.Now()
	_, err := k.SignContext(ctx, randDigest(crypto.SHA256), crypto.SHA256)
	if !errors.Is(err, keys.ErrUnavailable) {
		t.Fatalf("sign during an outage: %v", err)
	}
	if d, _ := fault.DetailOf(err); d != "The key service is unavailable; retry later." {
		t.Errorf("detail %q", d)
	}
	t.Logf("sign failed after %v (SDK retries included): %v", time.Since(start).Round(time.Millisecond), err)
	if _, err := awskms.New(tg.Clients.KMS).Open(ctx, unopened.URI()); !errors.Is(err, keys.ErrUnavailable) {
		t.Errorf("open during an outage: %v", err)
	}
	if _, err := b.Generate(ctx, keys.GenerateRequest{Algorithm: keys.ECP256, Label: "outage"}); !errors.Is(err, keys.ErrUnavailable) {
		t.Errorf("generate during an outage: %v", err)
	}
	if err := b.ScheduleDeletion(ctx, k.URI()); !errors.Is(err, keys.ErrUnavailable) {
		t.Errorf("schedule deletion during an outage: %v", err)
	}
	// A deadline that passes while waiting for KMS is ErrUnavailable too.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := k.SignContext(short, randDigest(crypto.SHA256), crypto.SHA256); !errors.Is(err, keys.ErrUnavailable) {
		t.Errorf("sign with a deadline during an outage: %v", err)
	}

	if err := tg.Stack.KMS.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := k.SignContext(ctx, randDigest(crypto.SHA256), crypto.SHA256); err != nil {
		t.Fatalf("sign after the outage: %v", err)
	}
}

// TestPublicKeyCache: one GetPublicKey per key and process, however the key is opened;
// failures are not cached.
func TestPublicKeyCache(t *testing.T) {
	tg := devstack.NewTarget(t)
	ctx := context.Background()
	k := generate(t, awskms.New(tg.Clients.KMS), keys.ECP256)

	t.Run("open-twice", func(t *testing.T) {
		c := &countingKMS{KMS: tg.Clients.KMS}
		b := awskms.New(c)
		for range 2 {
			if _, err := b.Open(ctx, k.URI()); err != nil {
				t.Fatal(err)
			}
		}
		if n := c.getPublicKey.Load(); n != 1 {
			t.Fatalf("%d GetPublicKey calls, want 1", n)
		}
	})
	t.Run("concurrent-opens", func(t *testing.T) {
		c := &countingKMS{KMS: tg.Clients.KMS}
		b := awskms.New(c)
		var wg sync.WaitGroup
		errs := make(chan error, 32)
		for range 32 {
			wg.Go(func() {
				_, err := b.Open(ctx, k.URI())
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if n := c.getPublicKey.Load(); n != 1 {
			t.Fatalf("%d GetPublicKey calls, want 1", n)
		}
	})
	t.Run("generate-then-open", func(t *testing.T) {
		c := &countingKMS{KMS: tg.Clients.KMS}
		b := awskms.New(c)
		g := generate(t, b, keys.ECP256)
		if _, err := b.Open(ctx, g.URI()); err != nil {
			t.Fatal(err)
		}
		if n := c.getPublicKey.Load(); n != 1 {
			t.Fatalf("%d GetPublicKey calls, want 1", n)
		}
	})
	t.Run("failure-not-cached", func(t *testing.T) {
		g := generate(t, awskms.New(tg.Clients.KMS), keys.ECP256)
		id := aws.String(g.URI()[len("awskms:///"):])
		c := &countingKMS{KMS: tg.Clients.KMS}
		b := awskms.New(c)
		if _, err := tg.Clients.KMS.DisableKey(ctx, &kms.DisableKeyInput{KeyId: id}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Open(ctx, g.URI()); !errors.Is(err, keys.ErrDisabled) {
			t.Fatalf("open a disabled key: %v", err)
		}
		if _, err := tg.Clients.KMS.EnableKey(ctx, &kms.EnableKeyInput{KeyId: id}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Open(ctx, g.URI()); err != nil {
			t.Fatalf("open after enabling: %v", err)
		}
		if n := c.getPublicKey.Load(); n != 2 {
			t.Fatalf("%d GetPublicKey calls, want 2", n)
		}
	})
}

// TestPublicKeyCacheCancelledFetch: a caller waiting for another caller's GetPublicKey does
// not inherit that caller's cancellation.
func TestPublicKeyCacheCancelledFetch(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 2)
	f := newFake(t, kmstypes.KeySpecEccNistP256)
	b := awskms.New(&blockingKMS{fakeKMS: f, entered: entered, release: release})
	first, cancel := context.WithCancel(context.Background())
	firstErr := make(chan error, 1)
	go func() {
		_, err := b.Open(first, "awskms:///"+fakeKeyID)
		firstErr <- err
	}()
	<-entered // the first Open is in GetPublicKey
	secondErr := make(chan error, 1)
	go func() {
		_, err := b.Open(context.Background(), "awskms:///"+fakeKeyID)
		secondErr <- err
	}()
	time.Sleep(20 * time.Millisecond) // let the second Open wait for the first's fetch
	cancel()
	if err := <-firstErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("first open: %v", err)
	}
	<-entered // the second Open fetches itself
	close(release)
	if err := <-secondErr; err != nil {
		t.Fatalf("second open: %v", err)
	}
}

// blockingKMS holds GetPublicKey until release is closed or the caller's context ends.
type blockingKMS struct {
	*fakeKMS
	entered chan struct{}
	release chan struct{}
}

func (b *blockingKMS) GetPublicKey(ctx context.Context, in *kms.GetPublicKeyInput, opts ...func(*kms.Options)) (*kms.GetPublicKeyOutput, error) {
	b.entered <- struct{}{}
	select {
	case <-b.release:
		return b.fakeKMS.GetPublicKey(ctx, in, opts...)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// generate makes a key that is scheduled for deletion after the test.
func generate(t testing.TB, b *awskms.Backend, alg keys.Algorithm) keys.Key {
	t.Helper()
	k, err := b.Generate(context.Background(), keys.GenerateRequest{Algorithm: alg, Label: "awskms-test-" + rand.Text()[:10]})
	if err != nil {
		t.Fatalf("generate %s: %v", alg, err)
	}
	t.Cleanup(func() { _ = b.ScheduleDeletion(context.Background(), k.URI()) })
	return k
}

func randDigest(h crypto.Hash) []byte {
	d := make([]byte, h.Size())
	_, _ = rand.Read(d)
	return d
}
