package store

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/tenant"
)

// logRetention is how long system log entries live before DynamoDB's TTL removes them.
const logRetention = 400 * 24 * time.Hour

// logItem is a system log entry: PK=DEP#<id>, SK=LOG#<time>#<entry id>, expiring by TTL.
type logItem struct {
	PK        string `dynamodbav:"PK"`
	SK        string `dynamodbav:"SK"`
	Type      string `dynamodbav:"type"`
	ID        string `dynamodbav:"id"`
	At        string `dynamodbav:"at"`
	Actor     string `dynamodbav:"actor"`
	Action    string `dynamodbav:"action"`
	Detail    string `dynamodbav:"detail,omitempty"`
	ExpiresAt int64  `dynamodbav:"expiresAt"`
}

func (s *Store) logItem(deploymentID string, e tenant.LogEntry) logItem {
	if e.ID == "" {
		e.ID = tenant.NewID("log_")
	}
	if e.At.IsZero() {
		e.At = s.now()
	}
	return logItem{
		PK: deploymentPK(deploymentID), SK: logSK(e.At, e.ID), Type: "systemLog", ID: e.ID,
		At: e.At.UTC().Format(time.RFC3339Nano), Actor: e.Actor, Action: e.Action, Detail: e.Detail,
		ExpiresAt: e.At.Add(logRetention).Unix(),
	}
}

func (s *Store) putLog(deploymentID string, e tenant.LogEntry) types.TransactWriteItem {
	return s.putNew(s.logItem(deploymentID, e))
}

// AppendLog adds an entry to a deployment's system log.
func (s *Store) AppendLog(ctx context.Context, deploymentID string, e tenant.LogEntry) error {
	return s.create(ctx, "append log", s.logItem(deploymentID, e), fmt.Errorf("append log: entry %s exists: %w", e.ID, ErrConflict))
}

// ListLog lists a deployment's system log, newest first.
func (s *Store) ListLog(ctx context.Context, deploymentID string, pr PageRequest) (Page[tenant.LogEntry], error) {
	pk := deploymentPK(deploymentID)
	in := &dynamodb.QueryInput{
		KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :log)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk":  &types.AttributeValueMemberS{Value: pk},
			":log": &types.AttributeValueMemberS{Value: logPrefix},
		},
		ScanIndexForward: aws.Bool(false),
	}
	return query(ctx, s, "log:"+pk, in, []string{attrPK, attrSK}, pr, decodeLog)
}

func decodeLog(av map[string]types.AttributeValue) (tenant.LogEntry, error) {
	var it logItem
	if err := attributevalue.UnmarshalMap(av, &it); err != nil {
		return tenant.LogEntry{}, fmt.Errorf("decode log entry: %w", err)
	}
	at, err := time.Parse(time.RFC3339Nano, it.At)
	if err != nil {
		return tenant.LogEntry{}, fmt.Errorf("decode log entry %s: %w", it.ID, err)
	}
	return tenant.LogEntry{ID: it.ID, At: at, Actor: it.Actor, Action: it.Action, Detail: it.Detail}, nil
}
