// Package awskms is the AWS KMS key backend: keys are asymmetric SIGN_VERIFY KMS keys, addressed
// as "awskms:///<key-id>" (or "awskms:///<key-ARN>"). The private half never leaves KMS; this
// package only asks KMS to create keys, hand out their public halves, sign digests and
// schedule deletion. Nothing here can export private key material, and nothing should.
//
// IAM: a function that generates keys needs kms:CreateKey and kms:TagResource (CreateKey with
// tags needs both), kms:GetPublicKey, and kms:ScheduleKeyDeletion to clean up a key it created
// but could not return; one that signs needs kms:GetPublicKey and kms:Sign (with WithKeyPolicy,
// the key policy grants kms:Sign to the roles it names, and nothing else can);
// one that deletes needs kms:ScheduleKeyDeletion and kms:DescribeKey (to tell a key already
// pending deletion from one KMS refuses for another reason); one that tells key states (State,
// for the deployment's health) needs kms:DescribeKey.
package awskms

import (
	"context"
	"errors"
	"maps"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/opensignum/signum/lib/keys"
)

// Scheme is the URI scheme of AWS KMS keys.
const Scheme = "awskms"

// KMS is the part of the AWS KMS client the backend uses.
type KMS interface {
	CreateKey(context.Context, *kms.CreateKeyInput, ...func(*kms.Options)) (*kms.CreateKeyOutput, error)
	GetPublicKey(context.Context, *kms.GetPublicKeyInput, ...func(*kms.Options)) (*kms.GetPublicKeyOutput, error)
	Sign(context.Context, *kms.SignInput, ...func(*kms.Options)) (*kms.SignOutput, error)
	ScheduleKeyDeletion(context.Context, *kms.ScheduleKeyDeletionInput, ...func(*kms.Options)) (*kms.ScheduleKeyDeletionOutput, error)
	// DescribeKey tells whether a key KMS refuses to schedule for deletion already is.
	DescribeKey(context.Context, *kms.DescribeKeyInput, ...func(*kms.Options)) (*kms.DescribeKeyOutput, error)
}

// Compile-time check that the SDK client satisfies KMS.
var _ KMS = (*kms.Client)(nil)

// Compile-time check that Backend is a key backend.
var _ keys.Backend = (*Backend)(nil)

// Pending windows KMS accepts for ScheduleKeyDeletion, in days.
const (
	MinPendingWindow = 7
	MaxPendingWindow = 30
)

// Backend creates, opens and deletes keys in AWS KMS. It is safe for concurrent use.
type Backend struct {
	kms           KMS
	pendingWindow int32
	pubs          publicKeys
	// tags are set on every key the backend creates (WithTags).
	tags map[string]string
	// policy is the key policy of every key the backend creates (WithKeyPolicy); empty for
	// KMS's default one.
	policy string
}

// Option configures a Backend.
type Option func(*Backend)

// WithTags tags every key the backend creates with tags, besides the request's, which may not
// set them. The functions tag keys with their stack, which their IAM policies require of the
// keys they create and use: a key is bound to its deployment by the caller's tags and to its
// stack here, where no request can change it.
func WithTags(tags map[string]string) Option {
	return func(b *Backend) { b.tags = maps.Clone(tags) }
}

// New returns a backend that keeps its keys in the KMS that k talks to.
func New(k KMS, opts ...Option) *Backend {
	b := &Backend{kms: k, pendingWindow: MinPendingWindow}
	for _, o := range opts {
		o(b)
	}
	return b
}

// Scheme is "awskms".
func (b *Backend) Scheme() string { return Scheme }

// Open returns the key at uri. The key's public half is fetched from KMS once per key and
// process (it never changes) and checked to be a signing key of a supported algorithm. A
// key that is disabled or pending deletion opens when its public key is already cached,
// and then fails to sign with keys.ErrDisabled.
func (b *Backend) Open(ctx context.Context, uri string) (keys.Key, error) {
	id, err := parseURI(uri)
	if err != nil {
		return nil, err
	}
	pk, err := b.publicKey(ctx, id)
	if err != nil {
		return nil, err
	}
	return &key{b: b, id: id, pub: pk}, nil
}

// ScheduleDeletion makes the key unusable at once and has KMS delete it after the pending
// window. Scheduling a key that is already pending deletion succeeds.
func (b *Backend) ScheduleDeletion(ctx context.Context, uri string) error {
	id, err := parseURI(uri)
	if err != nil {
		return err
	}
	_, err = b.kms.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{
		KeyId:               aws.String(id),
		PendingWindowInDays: aws.Int32(b.pendingWindow),
	})
	if err != nil && invalidState(err) {
		// KMS refuses to reschedule a key that is pending deletion; that is what we want.
		if pending, derr := b.pendingDeletion(ctx, id); derr == nil && pending {
			err = nil
		}
	}
	if err != nil {
		return mapError("schedule deletion of KMS key "+id, err)
	}
	b.pubs.forget(id)
	return nil
}

func invalidState(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == "KMSInvalidStateException"
}

func (b *Backend) pendingDeletion(ctx context.Context, id string) (bool, error) {
	out, err := b.kms.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(id)})
	if err != nil {
		return false, err
	}
	if out.KeyMetadata == nil {
		return false, errors.New("DescribeKey returned no metadata")
	}
	s := out.KeyMetadata.KeyState
	return s == kmstypes.KeyStatePendingDeletion || s == kmstypes.KeyStatePendingReplicaDeletion, nil
}
