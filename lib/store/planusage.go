package store

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/certificates"
)

// What a deployment's plan limits (tenant.Limits) is counted when something is added, by a
// consistent Query of the deployment's items of that kind with Select COUNT, rather than by a
// counter item moved in every create and delete:
//   - a count is right from the first request for every deployment that exists, with no
//     backfill of a counter for them, and it cannot drift;
//   - it is read only when a certificate or a console user is made, which is rare next to
//     reads and signatures, and it stops as soon as it reaches the limit (a few KB a
//     certificate, under 1 KB a user: one or a few 1 MB pages at the plans' limits).
//
// What that gives up: the count and the create are two calls, so two creates at the same
// moment may both see one below the limit and both land, one over it. That is accepted for
// plan limits (they bill, they do not guard anything), as the policy count cap accepts it;
// the next create is refused. A deleted certificate's record stays (for audit), so the count
// of certificates reads those too and leaves them out with a filter.

// CountCertificates counts deployment dep's certificates that are not deleted. With upTo > 0
// it stops once it has counted upTo of them (the answer is then upTo or a little more):
// enough to know whether the deployment is at a limit of upTo.
func (s *Store) CountCertificates(ctx context.Context, dep string, upTo int) (int, error) {
	in := listPrefixInput(deploymentPK(dep), certificatePrefix)
	in.FilterExpression = aws.String("#s <> :deleted")
	in.ExpressionAttributeNames = map[string]string{"#s": "status"}
	in.ExpressionAttributeValues[":deleted"] = &types.AttributeValueMemberS{Value: string(certificates.StatusDeleted)}
	return s.count(ctx, "count certificates", in, upTo)
}

// CountConsoleUsers counts deployment dep's console users (a removed user's item is deleted),
// stopping at upTo as CountCertificates does.
func (s *Store) CountConsoleUsers(ctx context.Context, dep string, upTo int) (int, error) {
	return s.count(ctx, "count console users", listPrefixInput(deploymentPK(dep), consoleUserPrefix), upTo)
}

// count runs in, a Query, with Select COUNT and consistent reads, page by page, until the
// last page or until upTo (> 0) items are counted.
func (s *Store) count(ctx context.Context, op string, in *dynamodb.QueryInput, upTo int) (int, error) {
	in.TableName, in.Select, in.ConsistentRead = &s.table, types.SelectCount, aws.Bool(true)
	n := 0
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return 0, unavailable(op, err)
		}
		n += int(out.Count)
		if len(out.LastEvaluatedKey) == 0 || (upTo > 0 && n >= upTo) {
			return n, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}
