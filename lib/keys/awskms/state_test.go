package awskms_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/keys/awskms"
)

// TestState: a key's state as KMS tells it, through the registry, as the key is disabled,
// enabled again and scheduled for deletion; an unknown key is missing and a KMS that does
// not answer is unreachable.
func TestState(t *testing.T) {
	tg := devstack.NewEmbedded(t)
	ctx := context.Background()
	b := awskms.New(tg.Clients.KMS)
	r := keys.NewRegistry(b)
	k := generate(t, b, keys.ECP256)
	id := aws.String(k.URI()[len("awskms:///"):])
	state := func(name string, want keys.Status) keys.State {
		t.Helper()
		s, err := r.State(ctx, k.URI())
		if err != nil || s.Status != want {
			t.Fatalf("%s: %+v, %v; want %s", name, s, err, want)
		}
		if want != keys.StatusEnabled && s.Detail == "" {
			t.Fatalf("%s: no detail", name)
		}
		return s
	}
	state("ok/enabled", keys.StatusEnabled)
	if _, err := tg.Clients.KMS.DisableKey(ctx, &kms.DisableKeyInput{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	state("ok/disabled", keys.StatusDisabled)
	if _, err := tg.Clients.KMS.EnableKey(ctx, &kms.EnableKeyInput{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	state("ok/enabled-again", keys.StatusEnabled)
	if _, err := tg.Clients.KMS.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: id, PendingWindowInDays: aws.Int32(7)}); err != nil {
		t.Fatal(err)
	}
	s := state("ok/pending-deletion", keys.StatusPendingDeletion)
	if d := time.Until(s.DeletionDate); d < 6*24*time.Hour || d > 8*24*time.Hour {
		t.Fatalf("ok/pending-deletion: deletion date %v", s.DeletionDate)
	}
	if s, err := r.State(ctx, "awskms:///0b2e5c1e-3c4f-4e8a-9d6b-1f2a3b4c5d6e"); err != nil || s.Status != keys.StatusMissing {
		t.Fatalf("ok/missing: %+v, %v", s, err)
	}
	if _, err := r.State(ctx, "awskms:///not a key"); err == nil {
		t.Fatal("fail/malformed: no error")
	}
	if _, err := r.State(ctx, "pkcs11:object=x"); err == nil {
		t.Fatal("fail/no-backend: no error")
	}
	tg.Stack.KMS.Stop()
	defer func() { _ = tg.Stack.KMS.Start() }()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if s, err := r.State(cctx, k.URI()); err != nil || s.Status != keys.StatusUnreachable || s.Detail == "" {
		t.Fatalf("ok/unreachable: %+v, %v", s, err)
	}
}
