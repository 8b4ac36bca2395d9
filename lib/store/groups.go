package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/certificates"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/tenant"
)

// groupItem: PK=DEP#<dep>, SK=CGROUP#<id>. members is not part of the item struct's writes
// after the create: certificate writes move it with ADD (see memberships), and the group's own
// changes are updates that leave it alone, so that neither overwrites the other.
type groupItem struct {
	PK, SK       string
	Type         string `dynamodbav:"type"`
	ID           string `dynamodbav:"id"`
	DeploymentID string `dynamodbav:"deploymentId"`
	Name         string `dynamodbav:"name"`
	Limit        int    `dynamodbav:"certificateLimit,omitempty"`
	Members      int    `dynamodbav:"members"`
	Version      int64  `dynamodbav:"version"`
	CreatedAt    string `dynamodbav:"createdAt"`
}

// groupNameItem makes group names unique in a deployment whatever their case:
// PK=DEP#<dep>, SK=CGNAME#<lower-case name>.
type groupNameItem struct {
	PK, SK  string
	Type    string `dynamodbav:"type"`
	GroupID string `dynamodbav:"groupId"`
}

var decodeGroupItem = decodeAs[groupItem]("certificate group")

func decodeGroup(av map[string]types.AttributeValue) (certificates.Group, error) {
	it, err := decodeGroupItem(av)
	if err != nil {
		return certificates.Group{}, err
	}
	return certificates.Group{ID: it.ID, DeploymentID: it.DeploymentID, Name: it.Name, Limit: it.Limit, Members: it.Members,
		Version: it.Version, CreatedAt: parseTime(it.CreatedAt)}, nil
}

func (s *Store) groupName(g certificates.Group) groupNameItem {
	return groupNameItem{PK: deploymentPK(g.DeploymentID), SK: groupNameSK(g.Name), Type: "certificateGroupName", GroupID: g.ID}
}

func nameTaken(name string) error {
	return fault.Newf(ErrConflict, "A certificate group named %q exists in this deployment (names are compared ignoring case).", fault.Clip(name, 64))
}

// CreateCertificateGroup stores a new group (version 1, no members) with a log entry; its
// name must be free in the deployment, whatever its case.
func (s *Store) CreateCertificateGroup(ctx context.Context, g certificates.Group, log tenant.LogEntry) (certificates.Group, error) {
	g.Version, g.Members, g.CreatedAt = 1, 0, s.now()
	// The name item comes first: it is what makes the name unique.
	if err := s.conditional(ctx, "create certificate group", append(s.newGroup(g), s.putLog(g.DeploymentID, log)),
		map[int]error{0: nameTaken(g.Name), 1: fault.Newf(ErrConflict, "A certificate group with the id %s exists.", g.ID)}); err != nil {
		return certificates.Group{}, err
	}
	return g, nil
}

// newGroup writes a new group g (version 1, created at g.CreatedAt): its name item, which
// makes the name unique, then the group.
func (s *Store) newGroup(g certificates.Group) []types.TransactWriteItem {
	it := groupItem{PK: deploymentPK(g.DeploymentID), SK: groupSK(g.ID), Type: "certificateGroup", ID: g.ID, DeploymentID: g.DeploymentID,
		Name: g.Name, Limit: g.Limit, Version: 1, CreatedAt: formatTime(g.CreatedAt)}
	return []types.TransactWriteItem{s.putNew(s.groupName(g)), s.putNew(it)}
}

// GetCertificateGroup reads a group of a deployment, with its member count.
func (s *Store) GetCertificateGroup(ctx context.Context, dep, id string) (certificates.Group, error) {
	return get(ctx, s, deploymentPK(dep), groupSK(id), "get certificate group", decodeGroup,
		notFound("No certificate group has the id %q.", fault.Clip(id, 40)))
}

// ListCertificateGroupsIn lists the groups of ids (at most 100, DynamoDB's IN limit) a page
// at a time, for a caller whose role sees only those: a filter on the query, so that pages
// stay full.
func (s *Store) ListCertificateGroupsIn(ctx context.Context, dep string, ids []string, pr PageRequest) (Page[certificates.Group], error) {
	if len(ids) == 0 {
		return Page[certificates.Group]{}, nil
	}
	pk := deploymentPK(dep)
	in := listPrefixInput(pk, groupPrefix)
	vals := make([]string, len(ids))
	for i, id := range ids {
		vals[i] = fmt.Sprintf(":g%d", i)
		in.ExpressionAttributeValues[vals[i]] = &types.AttributeValueMemberS{Value: id}
	}
	in.FilterExpression = aws.String("#id IN (" + strings.Join(vals, ", ") + ")")
	in.ExpressionAttributeNames = map[string]string{"#id": "id"}
	sum := sha256.Sum256([]byte(strings.Join(ids, ",")))
	return query(ctx, s, groupPrefix+pk+"#in:"+hex.EncodeToString(sum[:8]), in, []string{attrPK, attrSK}, pr, decodeGroup)
}

// ListCertificateGroups lists a deployment's groups a page at a time.
func (s *Store) ListCertificateGroups(ctx context.Context, dep string, pr PageRequest) (Page[certificates.Group], error) {
	return listPrefix(ctx, s, dep, groupPrefix, pr, decodeGroup)
}

// UpdateCertificateGroup renames a group and sets its limit, if it is still the version read
// (current): the new name must be free (a change of case only is the group's own name), and
// the new limit at least the certificates it holds when the write lands. Members are not a
// version change: a certificate added meanwhile does not make the rename stale.
func (s *Store) UpdateCertificateGroup(ctx context.Context, current, next certificates.Group, log tenant.LogEntry) (certificates.Group, error) {
	dep := current.DeploymentID
	next.ID, next.DeploymentID, next.Version, next.CreatedAt = current.ID, dep, current.Version+1, current.CreatedAt
	cond := "version = :v"
	// No limit is stored as 0 (a create leaves the attribute out): the joins' condition reads
	// both as none.
	set := "SET #n = :name, version = :next, certificateLimit = :limit"
	values := map[string]types.AttributeValue{
		":v":     &types.AttributeValueMemberN{Value: strconv.FormatInt(current.Version, 10)},
		":next":  &types.AttributeValueMemberN{Value: strconv.FormatInt(next.Version, 10)},
		":name":  &types.AttributeValueMemberS{Value: next.Name},
		":limit": &types.AttributeValueMemberN{Value: strconv.Itoa(next.Limit)},
	}
	if next.Limit > 0 {
		cond += " AND (attribute_not_exists(members) OR members <= :limit)"
	}
	items := []types.TransactWriteItem{{Update: &types.Update{TableName: &s.table, Key: key(deploymentPK(dep), groupSK(current.ID)),
		UpdateExpression: aws.String(set), ConditionExpression: aws.String(cond),
		ExpressionAttributeNames: map[string]string{"#n": "name"}, ExpressionAttributeValues: values}}, s.putLog(dep, log)}
	failed := map[int]error{}
	if groupNameSK(current.Name) != groupNameSK(next.Name) {
		items = append(items, s.putNew(s.groupName(next)), types.TransactWriteItem{Delete: &types.Delete{TableName: &s.table,
			Key: key(deploymentPK(dep), groupNameSK(current.Name)), ConditionExpression: aws.String("groupId = :id"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":id": &types.AttributeValueMemberS{Value: current.ID}}}})
		failed[2] = nameTaken(next.Name)
	}
	err := s.conditional(ctx, "update certificate group", items, failed)
	if codes := cancellationCodes(err); len(codes) > 0 && codes[0] == conditionFailed {
		return certificates.Group{}, s.groupRefusal(ctx, current, func(now certificates.Group) error {
			return fault.Newf(ErrConflict, "The certificate group %s holds %d certificates, more than the limit %d: move or delete certificates first, or set a higher limit.",
				current.ID, now.Members, next.Limit)
		})
	}
	if err != nil {
		return certificates.Group{}, err
	}
	stored, err := s.GetCertificateGroup(ctx, dep, current.ID)
	if err != nil {
		// Written; only the member count is unknown.
		next.Members = current.Members
		return next, nil
	}
	return stored, nil
}

// DeleteCertificateGroup removes a group if it is still the version read and holds no
// certificate when the write lands: a certificate added at the same moment either lands
// first (the delete is refused) or finds the group gone (the certificate write is refused).
func (s *Store) DeleteCertificateGroup(ctx context.Context, g certificates.Group, log tenant.LogEntry) error {
	pk := deploymentPK(g.DeploymentID)
	items := []types.TransactWriteItem{
		{Delete: &types.Delete{TableName: &s.table, Key: key(pk, groupSK(g.ID)),
			ConditionExpression: aws.String("version = :v AND (attribute_not_exists(members) OR members = :zero)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":v":    &types.AttributeValueMemberN{Value: strconv.FormatInt(g.Version, 10)},
				":zero": &types.AttributeValueMemberN{Value: "0"}}}},
		{Delete: &types.Delete{TableName: &s.table, Key: key(pk, groupNameSK(g.Name)), ConditionExpression: aws.String("groupId = :id"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":id": &types.AttributeValueMemberS{Value: g.ID}}}},
		s.putLog(g.DeploymentID, log),
	}
	err := s.transact(ctx, "delete certificate group", items)
	if codes := cancellationCodes(err); codes != nil {
		if codes[0] == conditionFailed || codes[1] == conditionFailed {
			return s.groupRefusal(ctx, g, func(now certificates.Group) error {
				return fault.Newf(ErrConflict, "The certificate group %s still holds %d certificates: move them to another group or delete them first.", g.ID, now.Members)
			})
		}
		return cancelled("delete certificate group", err, codes)
	}
	return err
}

// groupRefusal tells why a write conditioned on group g (as read) was refused: stale when the
// group is gone or changed since, else what members says about the group as it is now.
func (s *Store) groupRefusal(ctx context.Context, g certificates.Group, members func(now certificates.Group) error) error {
	now, err := s.GetCertificateGroup(ctx, g.DeploymentID, g.ID)
	switch {
	case errors.Is(err, ErrNotFound) || (err == nil && now.Version != g.Version):
		return fault.Newf(ErrStale, "The certificate group %s was changed or removed by someone else; read it again and retry.", g.ID)
	case err != nil:
		return err
	}
	return members(now)
}

// maxMemberships bounds the group changes of one certificate write, so that the write with
// its certificate and log entry stays within DynamoDB's 100 items per transaction.
const maxMemberships = 96

// memberships are the transaction items that move the member counts of the groups a
// certificate leaves (before, not after) and joins (after, not before): a join on condition
// that the group exists and is below its limit, a leave on condition that it exists. groups
// names the group of each item, in order.
func (s *Store) memberships(dep string, before, after []string) (items []types.TransactWriteItem, groups []string, err error) {
	join := func(g string, n string, cond string) {
		values := map[string]types.AttributeValue{":n": &types.AttributeValueMemberN{Value: n}}
		if strings.Contains(cond, ":zero") {
			values[":zero"] = &types.AttributeValueMemberN{Value: "0"}
		}
		items = append(items, types.TransactWriteItem{Update: &types.Update{TableName: &s.table, Key: key(deploymentPK(dep), groupSK(g)),
			UpdateExpression: aws.String("ADD members :n"), ConditionExpression: aws.String(cond), ExpressionAttributeValues: values}})
		groups = append(groups, g)
	}
	for _, g := range after {
		if !slices.Contains(before, g) && !slices.Contains(groups, g) {
			join(g, "1", "attribute_exists(PK) AND (attribute_not_exists(certificateLimit) OR certificateLimit = :zero OR attribute_not_exists(members) OR members < certificateLimit)")
		}
	}
	for _, g := range before {
		if !slices.Contains(after, g) && !slices.Contains(groups, g) {
			join(g, "-1", "attribute_exists(PK)")
		}
	}
	if len(items) > maxMemberships {
		return nil, nil, fault.Newf(fault.ErrInvalid, "A certificate can change at most %d group memberships at once.", maxMemberships)
	}
	return items, groups, nil
}

// membershipRefusal tells why the membership item of group g was refused: the group does not
// exist, or it holds its limit.
func (s *Store) membershipRefusal(ctx context.Context, dep, g string) error {
	now, err := s.GetCertificateGroup(ctx, dep, g)
	switch {
	case errors.Is(err, ErrNotFound):
		return fault.Newf(ErrNotFound, "No certificate group has the id %q.", fault.Clip(g, 40))
	case err != nil:
		return err
	case now.Limit > 0 && now.Members >= now.Limit:
		return fault.Newf(ErrConflict, "The certificate group %s (%s) holds its limit of %d certificates: raise its limit or move a certificate out first.",
			now.ID, fault.Clip(now.Name, 64), now.Limit)
	}
	return fault.Newf(ErrConflict, "The certificate group %s changed meanwhile; retry.", g)
}

// CertificateGroupByName finds a group of dep by its name, whatever its case: the name item,
// then the group (two consistent reads).
func (s *Store) CertificateGroupByName(ctx context.Context, dep, name string) (certificates.Group, error) {
	it, err := get(ctx, s, deploymentPK(dep), groupNameSK(name), "get certificate group name", decodeAs[groupNameItem]("certificate group name"),
		notFound("No certificate group is named %q.", fault.Clip(name, 64)))
	if err != nil {
		return certificates.Group{}, err
	}
	return s.GetCertificateGroup(ctx, dep, it.GroupID)
}

// migrationItem marks a deployment migrated: PK=DEP#<dep>, SK=MIGRATED#certificate-groups.
type migrationItem struct {
	PK, SK string
	Type   string `dynamodbav:"type"`
	At     string `dynamodbav:"at"`
}

// GroupsMigrated reports whether dep's certificate labels were turned into groups.
func (s *Store) GroupsMigrated(ctx context.Context, dep string) (bool, error) {
	item, err := s.getItem(ctx, deploymentPK(dep), groupsMigratedSK, "get groups migration")
	return item != nil, err
}

// MarkGroupsMigrated records that dep's labels were turned into groups, with a log entry; the
// first to mark it writes them, a later or concurrent one writes nothing and gets no error.
func (s *Store) MarkGroupsMigrated(ctx context.Context, dep string, log tenant.LogEntry) error {
	it := migrationItem{PK: deploymentPK(dep), SK: groupsMigratedSK, Type: "migration", At: formatTime(s.now())}
	err := s.create(ctx, "mark groups migrated", it, ErrConflict, s.putLog(dep, log))
	if errors.Is(err, ErrConflict) {
		return nil
	}
	return err
}
