package store

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// IdempotencyTTL is how long a request key is remembered.
const IdempotencyTTL = 24 * time.Hour

// idemItem remembers a request made with an Idempotency-Key:
// PK=IDEMP#<dep>#<scope>#<key>, SK=IDEMP; it expires by TTL.
type idemItem struct {
	PK, SK      string
	Type        string `dynamodbav:"type"`
	Status      string `dynamodbav:"status"` // pending | done
	Fingerprint string `dynamodbav:"fingerprint"`
	Response    string `dynamodbav:"response,omitempty"`
	ExpiresAt   int64  `dynamodbav:"expiresAt"`
}

// Idempotent is what an earlier request with the same key left.
type Idempotent struct {
	Done        bool
	Fingerprint string
	Response    string
}

func idemKey(dep, scope, k string) map[string]types.AttributeValue {
	return key(idempotencyPK(dep, scope, k), idempotencySK)
}

// errClaimed says that a request key is claimed already; ClaimIdempotency answers it with
// what the claim holds.
var errClaimed = errors.New("idempotency key claimed")

// ClaimIdempotency claims key for a request with fingerprint before it is carried out. It
// returns nil when the claim is new; otherwise what the earlier request left (in progress, or
// done with its response), so that a retry gets the same answer and nothing happens twice.
func (s *Store) ClaimIdempotency(ctx context.Context, dep, scope, k, fingerprint string) (*Idempotent, error) {
	pk := idempotencyPK(dep, scope, k)
	it := idemItem{PK: pk, SK: idempotencySK, Type: "idempotency", Status: "pending", Fingerprint: fingerprint, ExpiresAt: s.now().Add(IdempotencyTTL).Unix()}
	switch err := s.create(ctx, "claim idempotency key", it, errClaimed); err {
	case nil:
		return nil, nil
	case errClaimed:
	default:
		return nil, err
	}
	// Claimed before. Should the claim be gone again (released by its failed request, or
	// expired), the zero record answers: pending, of no fingerprint.
	got, err := get(ctx, s, pk, idempotencySK, "read idempotency key", decodeAs[idemItem]("idempotency key"), nil)
	if err != nil {
		return nil, err
	}
	return &Idempotent{Done: got.Status == "done", Fingerprint: got.Fingerprint, Response: got.Response}, nil
}

// CompleteIdempotency stores the response of a claimed request.
func (s *Store) CompleteIdempotency(ctx context.Context, dep, scope, k, response string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &s.table, Key: idemKey(dep, scope, k),
		UpdateExpression: aws.String("SET #s = :done, #r = :r"), ExpressionAttributeNames: map[string]string{"#s": "status", "#r": "response"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":done": &types.AttributeValueMemberS{Value: "done"}, ":r": &types.AttributeValueMemberS{Value: response}}})
	if err != nil {
		return unavailable("complete idempotency key", err)
	}
	return nil
}

// ReleaseIdempotency forgets a claim whose request failed, so that a retry can run.
func (s *Store) ReleaseIdempotency(ctx context.Context, dep, scope, k string) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: idemKey(dep, scope, k),
		ConditionExpression: aws.String("#s = :p"), ExpressionAttributeNames: map[string]string{"#s": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: "pending"}}})
	if err != nil && !isConditionFailed(err) {
		return unavailable("release idempotency key", err)
	}
	return nil
}
