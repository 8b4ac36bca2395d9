package function

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/opensignum/signum/lib/audit"
	"github.com/opensignum/signum/lib/keys/awskms"
	"github.com/opensignum/signum/lib/store"
)

// notary is the event log's notary on the checkpoint key of env (nil when none is
// configured). The key is opened when first needed, so that a cold start makes no call.
func notary(env Env) *audit.Notary {
	id := env.Config.CheckpointKeyID
	if id == "" {
		return nil
	}
	var mu sync.Mutex
	var opened audit.RootKey
	open := func(ctx context.Context) (audit.RootKey, error) {
		mu.Lock()
		defer mu.Unlock()
		if opened != nil {
			return opened, nil
		}
		ref := id
		// A key URI names a key id or ARN; an alias (configured locally) is resolved once.
		if strings.HasPrefix(ref, "alias/") {
			out, err := env.Clients.KMS.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(ref)})
			if err != nil {
				return nil, fmt.Errorf("resolve the checkpoint key %s: %w", ref, err)
			}
			ref = aws.ToString(out.KeyMetadata.Arn)
		}
		k, err := awskms.New(env.Clients.KMS).Open(ctx, "awskms:///"+ref)
		if err != nil {
			return nil, err
		}
		opened = k
		return k, nil
	}
	return audit.NewNotary(open, env.Now)
}

// anchors are where the event log's checkpoints are anchored outside the table (nil when no
// bucket is configured).
func anchors(env Env) audit.Anchors {
	if env.Config.AnchorBucket == "" {
		return nil
	}
	return store.NewS3Anchors(env.Clients.S3, env.Config.AnchorBucket)
}
