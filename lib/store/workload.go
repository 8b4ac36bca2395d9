package store

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// workloadTokenItem records a CI job's OIDC token exchanged for a session, so that the token is
// exchanged once: PK=DEP#<dep>, SK=WLTOKEN#<sha256 of issuer NUL token id>, TTL expiresAt (once
// the token is refused as expired anyway).
type workloadTokenItem struct {
	PK, SK    string
	Type      string `dynamodbav:"type"`
	DomainID  string `dynamodbav:"domainId"`
	ExpiresAt int64  `dynamodbav:"expiresAt"`
}

// WorkloadTokenUsed records, with one conditional put, that the workload token tokenID (its
// jti, or a hash of the token when it has none) of issuer was exchanged in deployment dep
// through domain, until until (when the token is refused as expired anyway; the TTL removes
// the record lazily after that); it reports whether the token was recorded already, i.e. is
// replayed. Of two exchanges of one token at the same moment exactly one finds it new.
func (s *Store) WorkloadTokenUsed(ctx context.Context, dep, domain, issuer, tokenID string, until time.Time) (bool, error) {
	if issuer == "" || tokenID == "" {
		return false, errors.New("store: a workload token is recorded under its issuer and id")
	}
	it := workloadTokenItem{PK: deploymentPK(dep), SK: workloadTokenSK(issuer, tokenID), Type: "workloadToken", DomainID: domain, ExpiresAt: until.Unix() + 1}
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: marshal(it), ConditionExpression: aws.String(keyIsFree)})
	switch {
	case isConditionFailed(err):
		return true, nil
	case err != nil:
		return false, unavailable("record workload token", err)
	}
	return false, nil
}
