package store

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/tenant"
	"github.com/opensignum/signum/lib/timestamping"
)

// timestampingItem is a deployment's time-stamping authorities: PK=DEP#<id>, SK=TIMESTAMPING.
type timestampingItem struct {
	PK        string   `dynamodbav:"PK"`
	SK        string   `dynamodbav:"SK"`
	Type      string   `dynamodbav:"type"`
	URLs      []string `dynamodbav:"urls,omitempty"`
	CAPEM     string   `dynamodbav:"caPem,omitempty"`
	Version   int64    `dynamodbav:"version"`
	UpdatedAt string   `dynamodbav:"updatedAt"`
	UpdatedBy string   `dynamodbav:"updatedBy,omitempty"`
}

// GetTimestamping reads dep's time-stamping authorities (consistent): the zero Settings
// (version 0, no authority) while none were set. The signer reads it only for a request whose
// policy requires a timestamp.
func (s *Store) GetTimestamping(ctx context.Context, dep string) (timestamping.Settings, error) {
	av, err := s.getItem(ctx, deploymentPK(dep), timestampingSK, "read time-stamping authorities")
	if err != nil || av == nil {
		return timestamping.Settings{}, err
	}
	var it timestampingItem
	if err := attributevalue.UnmarshalMap(av, &it); err != nil {
		return timestamping.Settings{}, fmt.Errorf("decode time-stamping authorities of %s: %w", dep, err)
	}
	return timestamping.Settings{URLs: it.URLs, CAPEM: it.CAPEM, Version: it.Version, UpdatedAt: parseTime(it.UpdatedAt),
		UpdatedBy: it.UpdatedBy}, nil
}

// PutTimestamping replaces dep's time-stamping authorities over the version read (0: none
// were set), with a log entry, in one transaction; it returns them with their new version.
// A write that came first is ErrStale and nothing is written.
func (s *Store) PutTimestamping(ctx context.Context, dep string, read int64, next timestamping.Settings, log tenant.LogEntry) (timestamping.Settings, error) {
	next.Version, next.UpdatedAt = read+1, s.now().UTC()
	it := timestampingItem{PK: deploymentPK(dep), SK: timestampingSK, Type: "timestamping", URLs: next.URLs, CAPEM: next.CAPEM,
		Version: next.Version, UpdatedAt: formatTime(next.UpdatedAt), UpdatedBy: next.UpdatedBy}
	put := s.putNew(it)
	if read > 0 {
		put = s.putVersioned(it, read)
	}
	if err := s.transact(ctx, "put time-stamping authorities", []types.TransactWriteItem{put, s.putLog(dep, log)}); err != nil {
		if codes := cancellationCodes(err); codes != nil {
			if codes[0] == "ConditionalCheckFailed" {
				return timestamping.Settings{}, fault.Newf(ErrStale, "The time-stamping authorities were changed by someone else; read them again and retry.")
			}
			return timestamping.Settings{}, cancelled("put time-stamping authorities", err, codes)
		}
		return timestamping.Settings{}, err
	}
	return next, nil
}
