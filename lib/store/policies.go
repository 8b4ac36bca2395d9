package store

import (
	"context"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/policy"
	"github.com/opensignum/signum/lib/tenant"
)

// policyItem: PK=DEP#<dep>, SK=POLICY#<id>; the policy's fields as a map.
type policyItem struct {
	PK, SK  string
	Type    string        `dynamodbav:"type"`
	Policy  policy.Policy `dynamodbav:"policy"`
	Version int64         `dynamodbav:"version"`
}

func toPolicyItem(dep string, p policy.Policy) policyItem {
	return policyItem{PK: deploymentPK(dep), SK: policySK(p.ID), Type: "policy", Policy: p, Version: p.Version}
}

func decodePolicy(av map[string]types.AttributeValue) (policy.Policy, error) {
	var it policyItem
	if err := attributevalue.UnmarshalMap(av, &it); err != nil {
		return policy.Policy{}, fmt.Errorf("decode policy: %w", err)
	}
	it.Policy.Version = it.Version
	return it.Policy, nil
}

// bumpPolicies moves the deployment's policies version, a counter item (PK=DEP#<dep>,
// SK=POLICIES#VERSION) bumped in the same transaction as every policy change: signers cache a
// deployment's compiled policies and reload them only when it moved, so a decision costs one
// GetItem whatever the number of policies.
func (s *Store) bumpPolicies(dep string) types.TransactWriteItem {
	return types.TransactWriteItem{Update: &types.Update{TableName: &s.table, Key: key(deploymentPK(dep), policiesVersionSK),
		UpdateExpression:          aws.String("ADD version :one SET #t = :type"),
		ExpressionAttributeNames:  map[string]string{"#t": "type"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":one": &types.AttributeValueMemberN{Value: "1"}, ":type": &types.AttributeValueMemberS{Value: "policiesVersion"}}}}
}

// policiesVersionItem is the counter's item: PK=DEP#<dep>, SK=POLICIES#VERSION.
type policiesVersionItem struct {
	Version int64 `dynamodbav:"version"`
}

var decodePoliciesVersion = decodeAs[policiesVersionItem]("policies version")

// PoliciesVersion is the deployment's policy counter (0 before any change).
func (s *Store) PoliciesVersion(ctx context.Context, dep string) (int64, error) {
	v, err := get(ctx, s, deploymentPK(dep), policiesVersionSK, "get policies version", decodePoliciesVersion, nil)
	return v.Version, err
}

// CreatePolicy stores a new policy (version 1) with a log entry.
func (s *Store) CreatePolicy(ctx context.Context, dep string, p policy.Policy, log tenant.LogEntry) (policy.Policy, error) {
	p.Version = 1
	if err := s.create(ctx, "create policy", toPolicyItem(dep, p), fault.Newf(ErrConflict, "A policy with the id %s exists.", p.ID),
		s.putLog(dep, log), s.bumpPolicies(dep)); err != nil {
		return policy.Policy{}, err
	}
	return p, nil
}

// GetPolicy reads a policy.
func (s *Store) GetPolicy(ctx context.Context, dep, id string) (policy.Policy, error) {
	return get(ctx, s, deploymentPK(dep), policySK(id), "get policy", decodePolicy, notFound("No policy has the id %q.", fault.Clip(id, 40)))
}

// ListPolicies lists a deployment's policies a page at a time.
func (s *Store) ListPolicies(ctx context.Context, dep string, pr PageRequest) (Page[policy.Policy], error) {
	return listPrefix(ctx, s, dep, policyPrefix, pr, decodePolicy)
}

// AllPolicies reads every policy of a deployment (conflict checks and decisions need them
// all), page by page.
func (s *Store) AllPolicies(ctx context.Context, dep string) ([]policy.Policy, error) {
	return All(ctx, func(ctx context.Context, pr PageRequest) (Page[policy.Policy], error) {
		return s.ListPolicies(ctx, dep, pr)
	})
}

// UpdatePolicy writes next over current (as read; optimistic).
func (s *Store) UpdatePolicy(ctx context.Context, dep string, current, next policy.Policy, log tenant.LogEntry) (policy.Policy, error) {
	next.ID, next.Version = current.ID, current.Version+1
	items := []types.TransactWriteItem{s.putVersioned(toPolicyItem(dep, next), current.Version), s.putLog(dep, log), s.bumpPolicies(dep)}
	if err := s.transact(ctx, "update policy", items); err != nil {
		return policy.Policy{}, s.userWriteError(err, -1, "policy", current.ID)
	}
	return next, nil
}

// DeletePolicy removes a policy if it is still the version read.
func (s *Store) DeletePolicy(ctx context.Context, dep string, p policy.Policy, log tenant.LogEntry) error {
	items := []types.TransactWriteItem{
		{Delete: &types.Delete{TableName: &s.table, Key: key(deploymentPK(dep), policySK(p.ID)),
			ConditionExpression:       aws.String("version = :v"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: strconv.FormatInt(p.Version, 10)}}}},
		s.putLog(dep, log),
		s.bumpPolicies(dep),
	}
	if err := s.transact(ctx, "delete policy", items); err != nil {
		return s.userWriteError(err, -1, "policy", p.ID)
	}
	return nil
}

// PolicyPage reads up to limit of a deployment's policies after cursor ("" for the first),
// in id order; next is "" after the last. A migration keeps next as its cursor.
func (s *Store) PolicyPage(ctx context.Context, dep, cursor string, limit int) (items []policy.Policy, next string, err error) {
	page, err := s.ListPolicies(ctx, dep, PageRequest{Limit: limit, Cursor: cursor})
	return page.Items, page.Next, err
}
