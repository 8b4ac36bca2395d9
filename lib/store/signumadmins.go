package store

import (
	"context"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/tenant"
)

// maxTransactItems is DynamoDB's limit on the items of one TransactWriteItems.
const maxTransactItems = 100

// SignumAdministrators lists the portal users of a deployment who hold the Signum
// Administrator role: a consistent Query of its portal users, filtered on the flag, every page.
// Consistent, because a change of the role reads the holders before it writes: a holder
// granted a moment ago must be among them.
func (s *Store) SignumAdministrators(ctx context.Context, deploymentID string) ([]identity.PortalUser, error) {
	in := listPrefixInput(deploymentPK(deploymentID), portalUserPrefix)
	in.TableName = &s.table
	in.ConsistentRead = aws.Bool(true)
	in.FilterExpression = aws.String("signumAdmin = :yes")
	in.ExpressionAttributeValues[":yes"] = &types.AttributeValueMemberBOOL{Value: true}
	var out []identity.PortalUser
	for {
		page, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, unavailable("list Signum Administrators", err)
		}
		for _, item := range page.Items {
			u, err := decodePortalUser(item)
			if err != nil {
				return nil, err
			}
			out = append(out, u)
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// ChangeSignumAdministrators gives the Signum Administrator role to the users of grant and
// takes it from those of revoke (each as read: its version must be unchanged), logs it, and,
// when keep is a user id, requires that user to hold the role still (an active Admin with the
// flag, as the write lands): all in one transaction, so that two revokes at once cannot both
// leave the other as the holder that stays. A failed keep is identity.ErrLastSignumAdmin, a
// user changed meanwhile ErrStale; nothing is written then. Nothing else of the users changes:
// not their product role (the Admin count stays), not their token generation.
func (s *Store) ChangeSignumAdministrators(ctx context.Context, deploymentID string, grant, revoke []identity.PortalUser, keep string, log tenant.LogEntry) error {
	if n := len(grant) + len(revoke) + 2; n > maxTransactItems {
		return fault.Newf(ErrConflict, "The role would change for %d users at once, more than one write holds; revoke some holders first.", n-2)
	}
	var items []types.TransactWriteItem
	put := func(u identity.PortalUser, holds bool) {
		next := u
		next.SignumAdmin, next.Version = holds, u.Version+1
		items = append(items, s.putVersioned(toPortalUserItem(next), u.Version))
	}
	for _, u := range grant {
		put(u, true)
	}
	for _, u := range revoke {
		put(u, false)
	}
	keepAt := -1
	if keep != "" {
		keepAt = len(items)
		items = append(items, types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
			TableName:                &s.table,
			Key:                      key(deploymentPK(deploymentID), portalUserSK(keep)),
			ConditionExpression:      aws.String("signumAdmin = :yes AND #st = :active AND #role = :admin"),
			ExpressionAttributeNames: map[string]string{"#st": "status", "#role": "role"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":yes":    &types.AttributeValueMemberBOOL{Value: true},
				":active": &types.AttributeValueMemberS{Value: string(identity.StatusActive)},
				":admin":  &types.AttributeValueMemberS{Value: string(identity.RoleAdmin)},
			},
		}})
	}
	items = append(items, s.putLog(deploymentID, log))
	err := s.transact(ctx, "change Signum Administrators", items)
	codes := cancellationCodes(err)
	if codes == nil {
		return err
	}
	if keepAt >= 0 && keepAt < len(codes) && codes[keepAt] == conditionFailed {
		return identity.ErrLastSignumAdmin
	}
	return s.userWriteError(err, -1, "portal user", strings.Join(ids(grant, revoke), ", "))
}

// ids are the ids of the users of lists, for an error's detail.
func ids(lists ...[]identity.PortalUser) []string {
	var out []string
	for _, l := range lists {
		for _, u := range l {
			out = append(out, u.ID)
		}
	}
	return out
}

// Interface guard: the store is what the role's changes need.
var _ identity.SignumAdminStore = (*Store)(nil)
