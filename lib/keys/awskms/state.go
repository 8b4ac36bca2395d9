package awskms

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/opensignum/signum/lib/keys"
)

// Compile-time check that Backend tells key states.
var _ keys.Stater = (*Backend)(nil)

// State asks KMS (DescribeKey, which needs kms:DescribeKey) what state the key at uri is in.
// Enabled is enabled; Disabled is disabled; PendingDeletion (and PendingReplicaDeletion) is
// pending deletion with KMS's deletion date; a key KMS does not know is missing; throttling
// or a KMS failure is unreachable; the transitional states (Creating, PendingImport,
// Unavailable, Updating) are disabled, since the key cannot sign in them.
func (b *Backend) State(ctx context.Context, uri string) (keys.State, error) {
	id, err := parseURI(uri)
	if err != nil {
		return keys.State{}, err
	}
	out, err := b.kms.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(id)})
	if err != nil {
		return keys.StateOf(mapError("describe KMS key "+id, err))
	}
	m := out.KeyMetadata
	if m == nil {
		return keys.State{}, errors.New("awskms: DescribeKey returned no metadata for " + id)
	}
	switch m.KeyState {
	case kmstypes.KeyStateEnabled:
		return keys.State{Status: keys.StatusEnabled}, nil
	case kmstypes.KeyStateDisabled:
		return keys.State{Status: keys.StatusDisabled, Detail: "The key is disabled in AWS KMS."}, nil
	case kmstypes.KeyStatePendingDeletion, kmstypes.KeyStatePendingReplicaDeletion:
		s := keys.State{Status: keys.StatusPendingDeletion, Detail: "The key is scheduled for deletion in AWS KMS."}
		if m.DeletionDate != nil {
			s.DeletionDate = m.DeletionDate.UTC()
		}
		return s, nil
	}
	return keys.State{Status: keys.StatusDisabled, Detail: "The key cannot sign in its current AWS KMS state (" + string(m.KeyState) + ")."}, nil
}
