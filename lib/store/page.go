package store

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/fault"
)

// Page sizes of listings.
const (
	DefaultPageSize = 50
	MaxPageSize     = 100
)

// PageRequest asks for one page of a listing. Cursor is "" for the first page, else the Next
// of the previous page.
type PageRequest struct {
	Limit  int
	Cursor string
}

// Page is one page of a listing. Next is "" on the last page.
type Page[T any] struct {
	Items []T
	Next  string
}

// query runs a paginated query. It asks DynamoDB for one item more than the page so that it
// knows whether another page exists (no empty last page), follows LastEvaluatedKey when
// DynamoDB stops early (its 1 MB page limit, which the local stand-in does not enforce), and
// makes the cursor from the key of the last item returned. keyAttrs are the attributes of that
// key: the table's PK and SK plus the index's keys when querying an index.
func query[T any](ctx context.Context, s *Store, scope string, in *dynamodb.QueryInput, keyAttrs []string, pr PageRequest, decode func(map[string]types.AttributeValue) (T, error)) (Page[T], error) {
	limit := pr.Limit
	if limit == 0 {
		limit = DefaultPageSize
	}
	if limit < 1 || limit > MaxPageSize {
		return Page[T]{}, fault.Newf(fault.ErrInvalid, "limit must be between 1 and %d", MaxPageSize)
	}
	cursors, err := s.codec(ctx)
	if err != nil {
		return Page[T]{}, err
	}
	if pr.Cursor != "" {
		start, err := cursors.open(scope, pr.Cursor)
		if err != nil {
			return Page[T]{}, fault.Newf(ErrInvalidCursor, "The cursor is not valid for this listing; start again without one.")
		}
		in.ExclusiveStartKey = start
	}
	in.TableName = &s.table
	var raw []map[string]types.AttributeValue
	for len(raw) <= limit {
		in.Limit = aws.Int32(int32(limit + 1 - len(raw)))
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return Page[T]{}, unavailable("query "+scope, err)
		}
		raw = append(raw, out.Items...)
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	var page Page[T]
	if len(raw) > limit {
		raw = raw[:limit]
		last := raw[limit-1]
		key := make(map[string]types.AttributeValue, len(keyAttrs))
		for _, a := range keyAttrs {
			key[a] = last[a]
		}
		next, err := cursors.seal(scope, key)
		if err != nil {
			return Page[T]{}, err
		}
		page.Next = next
	}
	page.Items = make([]T, 0, len(raw))
	for _, item := range raw {
		v, err := decode(item)
		if err != nil {
			return Page[T]{}, err
		}
		page.Items = append(page.Items, v)
	}
	return page, nil
}

// listPrefix lists the items of a deployment whose sort key starts with prefix.
func listPrefix[T any](ctx context.Context, s *Store, deploymentID, prefix string, pr PageRequest, decode func(map[string]types.AttributeValue) (T, error)) (Page[T], error) {
	pk := deploymentPK(deploymentID)
	return query(ctx, s, prefix+pk, listPrefixInput(pk, prefix), []string{attrPK, attrSK}, pr, decode)
}

// listPrefixInput is a query of the items of partition pk whose sort keys begin with prefix.
func listPrefixInput(pk, prefix string) *dynamodb.QueryInput {
	return &dynamodb.QueryInput{
		KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :p)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: pk},
			":p":  &types.AttributeValueMemberS{Value: prefix},
		},
	}
}

// listGSI1 lists the items of one GSI1 partition in GSI1SK order.
func listGSI1[T any](ctx context.Context, s *Store, pk string, pr PageRequest, decode func(map[string]types.AttributeValue) (T, error)) (Page[T], error) {
	in := &dynamodb.QueryInput{
		IndexName:              aws.String(gsi1),
		KeyConditionExpression: aws.String("GSI1PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: pk},
		},
	}
	return query(ctx, s, "gsi1:"+pk, in, []string{attrPK, attrSK, attrGSI1PK, attrGSI1SK}, pr, decode)
}

// All reads every page of a listing, largest pages first, and returns the items in order.
func All[T any](ctx context.Context, list func(context.Context, PageRequest) (Page[T], error)) ([]T, error) {
	var out []T
	pr := PageRequest{Limit: MaxPageSize}
	for {
		page, err := list(ctx, pr)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Items...)
		if page.Next == "" {
			return out, nil
		}
		pr.Cursor = page.Next
	}
}
