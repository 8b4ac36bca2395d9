package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/roles"
	"github.com/opensignum/signum/lib/tenant"
)

// roleItem: PK=DEP#<dep>, SK=ROLE#<id>, a custom console role. members is written by the
// create only: console user writes move it with ADD (roleMoves) and the role's own updates
// leave it alone, so that neither overwrites the other.
type roleItem struct {
	PK, SK       string
	Type         string                     `dynamodbav:"type"`
	ID           string                     `dynamodbav:"id"`
	DeploymentID string                     `dynamodbav:"deploymentId"`
	Name         string                     `dynamodbav:"name"`
	Description  string                     `dynamodbav:"description,omitempty"`
	Areas        map[string]string          `dynamodbav:"areas"`
	Groups       map[string]groupRightsItem `dynamodbav:"groups,omitempty"`
	Domains      []string                   `dynamodbav:"domains,omitempty"`
	Members      int                        `dynamodbav:"members"`
	Version      int64                      `dynamodbav:"version"`
	CreatedAt    string                     `dynamodbav:"createdAt"`
	UpdatedAt    string                     `dynamodbav:"updatedAt"`
}

// groupRightsItem is a role's rights on one certificate group (or on every group, key "*").
type groupRightsItem struct {
	View   bool `dynamodbav:"view"`
	Add    bool `dynamodbav:"add"`
	Remove bool `dynamodbav:"remove"`
	Assign bool `dynamodbav:"assign"`
}

// roleNameItem makes custom role names unique in a deployment whatever their case:
// PK=DEP#<dep>, SK=RNAME#<lower-case name>.
type roleNameItem struct {
	PK, SK string
	Type   string `dynamodbav:"type"`
	RoleID string `dynamodbav:"roleId"`
}

func toRoleItem(r roles.Role) roleItem {
	it := roleItem{PK: deploymentPK(r.DeploymentID), SK: roleSK(r.ID), Type: "role", ID: r.ID, DeploymentID: r.DeploymentID,
		Name: r.Name, Description: r.Description, Areas: map[string]string{}, Domains: r.Domains, Members: r.Members,
		Version: r.Version, CreatedAt: formatTime(r.CreatedAt), UpdatedAt: formatTime(r.UpdatedAt)}
	for a, l := range r.Areas {
		it.Areas[string(a)] = string(l)
	}
	if len(r.Groups) > 0 {
		it.Groups = make(map[string]groupRightsItem, len(r.Groups))
		for id, g := range r.Groups {
			it.Groups[id] = groupRightsItem(g)
		}
	}
	return it
}

var decodeRoleItem = decodeAs[roleItem]("role")

func decodeRole(av map[string]types.AttributeValue) (roles.Role, error) {
	it, err := decodeRoleItem(av)
	if err != nil {
		return roles.Role{}, err
	}
	r := roles.Role{ID: it.ID, DeploymentID: it.DeploymentID, Name: it.Name, Description: it.Description,
		Areas: make(map[roles.Area]roles.Level, len(it.Areas)), Groups: make(map[string]roles.GroupRights, len(it.Groups)),
		Domains: it.Domains, Members: it.Members, Version: it.Version, CreatedAt: parseTime(it.CreatedAt), UpdatedAt: parseTime(it.UpdatedAt)}
	for a, l := range it.Areas {
		r.Areas[roles.Area(a)] = roles.Level(l)
	}
	for id, g := range it.Groups {
		r.Groups[id] = roles.GroupRights(g)
	}
	return r, nil
}

func (s *Store) roleName(r roles.Role) roleNameItem {
	return roleNameItem{PK: deploymentPK(r.DeploymentID), SK: roleNameSK(r.Name), Type: "roleName", RoleID: r.ID}
}

func roleNameTaken(name string) error {
	return fault.Newf(ErrConflict, "A role named %q exists in this deployment (names are compared ignoring case).", fault.Clip(name, 64))
}

// roleMissing is the refusal of a console user write that gives a user a role that does not
// exist (never did, or was deleted between the caller's check and the write).
func roleMissing(id string) error {
	return fault.Newf(ErrNotFound, "No custom role has the id %q.", fault.Clip(id, 40))
}

// CreateRole stores a new custom role (version 1, no members) with a log entry; its name must
// be free in the deployment, whatever its case.
func (s *Store) CreateRole(ctx context.Context, r roles.Role, log tenant.LogEntry) (roles.Role, error) {
	now := s.now()
	r.Version, r.Members, r.CreatedAt, r.UpdatedAt, r.BuiltIn = 1, 0, now, now, false
	// The name item comes first: it is what makes the name unique.
	items := []types.TransactWriteItem{s.putNew(s.roleName(r)), s.putNew(toRoleItem(r)), s.putLog(r.DeploymentID, log)}
	if err := s.conditional(ctx, "create role", items,
		map[int]error{0: roleNameTaken(r.Name), 1: fault.Newf(ErrConflict, "A role with the id %s exists.", r.ID)}); err != nil {
		return roles.Role{}, err
	}
	return r, nil
}

// GetRole reads a custom role of a deployment, with its member count. Built-in roles are not
// stored: an id of one is not found here (roles.BuiltIn has them).
func (s *Store) GetRole(ctx context.Context, dep, id string) (roles.Role, error) {
	return get(ctx, s, deploymentPK(dep), roleSK(id), "get role", decodeRole,
		notFound("No custom role has the id %q.", fault.Clip(id, 40)))
}

// ListRoles lists a deployment's custom roles a page at a time.
func (s *Store) ListRoles(ctx context.Context, dep string, pr PageRequest) (Page[roles.Role], error) {
	return listPrefix(ctx, s, dep, rolePrefix, pr, decodeRole)
}

// UpdateRole writes next's name, description, areas, groups and domains over role current,
// if it is still the version read: the new name must be free (a change of case only is the
// role's own name). Members are not a version change: a user given the role meanwhile does
// not make the change stale. The role is put whole, on condition that its version and member
// count are as read, and a count moved meanwhile is read again and the put retried (an
// UpdateItem that leaves the count alone would need REMOVE for emptied fields, which the
// DynamoDB stand-in ignores inside transactions).
func (s *Store) UpdateRole(ctx context.Context, current, next roles.Role, log tenant.LogEntry) (roles.Role, error) {
	dep := current.DeploymentID
	next.ID, next.DeploymentID, next.Version, next.CreatedAt, next.UpdatedAt, next.BuiltIn = current.ID, dep, current.Version+1, current.CreatedAt, s.now(), false
	stale := fault.Newf(ErrStale, "The role %s was changed or removed by someone else; read it again and retry.", current.ID)
	members := current.Members
	for attempt := 0; ; attempt++ {
		next.Members = members
		put := types.TransactWriteItem{Put: &types.Put{TableName: &s.table, Item: marshal(toRoleItem(next)),
			ConditionExpression: aws.String("version = :v AND members = :m"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":v": &types.AttributeValueMemberN{Value: strconv.FormatInt(current.Version, 10)},
				":m": &types.AttributeValueMemberN{Value: strconv.Itoa(members)}}}}
		items := []types.TransactWriteItem{put, s.putLog(dep, log)}
		renamed := roleNameSK(current.Name) != roleNameSK(next.Name)
		if renamed {
			items = append(items, s.putNew(s.roleName(next)), types.TransactWriteItem{Delete: &types.Delete{TableName: &s.table,
				Key: key(deploymentPK(dep), roleNameSK(current.Name)), ConditionExpression: aws.String("roleId = :id"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":id": &types.AttributeValueMemberS{Value: current.ID}}}})
		}
		err := s.transact(ctx, "update role", items)
		codes := cancellationCodes(err)
		switch {
		case err == nil:
			return next, nil
		case codes == nil:
			return roles.Role{}, err
		case renamed && len(codes) > 3 && codes[2] == conditionFailed:
			return roles.Role{}, roleNameTaken(next.Name)
		case renamed && len(codes) > 3 && codes[3] == conditionFailed:
			return roles.Role{}, stale
		case codes[0] != conditionFailed:
			return roles.Role{}, cancelled("update role", err, codes)
		}
		// The role moved on: changed (stale), or only its member count (read it, put again).
		now, rerr := s.GetRole(ctx, dep, current.ID)
		switch {
		case errors.Is(rerr, ErrNotFound) || (rerr == nil && now.Version != current.Version):
			return roles.Role{}, stale
		case rerr != nil:
			return roles.Role{}, rerr
		case attempt == 4:
			return roles.Role{}, fault.Wrap(ErrConflict, err, "Users are being given this role right now; retry.")
		}
		members = now.Members
	}
}

// DeleteRole removes custom role r if it is still the version read and no console user holds
// it when the write lands: a user given the role at the same moment either lands first (the
// delete is refused) or finds the role gone (the user's write is refused).
func (s *Store) DeleteRole(ctx context.Context, r roles.Role, log tenant.LogEntry) error {
	pk := deploymentPK(r.DeploymentID)
	items := []types.TransactWriteItem{
		{Delete: &types.Delete{TableName: &s.table, Key: key(pk, roleSK(r.ID)),
			ConditionExpression: aws.String("version = :v AND (attribute_not_exists(members) OR members = :zero)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":v":    &types.AttributeValueMemberN{Value: strconv.FormatInt(r.Version, 10)},
				":zero": &types.AttributeValueMemberN{Value: "0"}}}},
		{Delete: &types.Delete{TableName: &s.table, Key: key(pk, roleNameSK(r.Name)), ConditionExpression: aws.String("roleId = :id"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":id": &types.AttributeValueMemberS{Value: r.ID}}}},
		s.putLog(r.DeploymentID, log),
	}
	err := s.transact(ctx, "delete role", items)
	codes := cancellationCodes(err)
	if codes == nil {
		return err
	}
	if codes[0] != conditionFailed && codes[1] != conditionFailed {
		return cancelled("delete role", err, codes)
	}
	// The role read again says why: changed or gone since, or held.
	now, err := s.GetRole(ctx, r.DeploymentID, r.ID)
	switch {
	case errors.Is(err, ErrNotFound) || (err == nil && now.Version != r.Version):
		return fault.Newf(ErrStale, "The role %s was changed or removed by someone else; read it again and retry.", r.ID)
	case err != nil:
		return err
	}
	return fault.Newf(ErrConflict, "The role %s (%s) is held by %s: give its %s another role first.",
		r.ID, fault.Clip(now.Name, 64), countUsers(now.Members), countUsers(now.Members))
}

func countUsers(n int) string {
	if n == 1 {
		return "1 user"
	}
	return fmt.Sprintf("%d users", n)
}

// roleMoves are the items of a console user's write that move the member counts of the custom
// role it leaves (before) and the one it joins (after), each on condition that the role
// exists: so that a role is deleted only when nobody holds it, and nobody is given a deleted
// role. join is the index of the join among items, -1 when there is none.
func (s *Store) roleMoves(dep, before, after string) (items []types.TransactWriteItem, join int) {
	join = -1
	if before == after {
		return nil, join
	}
	move := func(id, n string) {
		items = append(items, types.TransactWriteItem{Update: &types.Update{TableName: &s.table, Key: key(deploymentPK(dep), roleSK(id)),
			UpdateExpression: aws.String("ADD members :n"), ConditionExpression: aws.String("attribute_exists(PK)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":n": &types.AttributeValueMemberN{Value: n}}}})
	}
	if after != "" {
		join = len(items)
		move(after, "1")
	}
	if before != "" {
		move(before, "-1")
	}
	return items, join
}
