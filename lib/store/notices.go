package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/fault"
)

// A deployment's notices (lib/notices: what needs its people's attention) are one item,
// PK=DEP#<dep>, SK=NOTICES: the current set and the changes not yet published, written whole
// over the version read, so that of two syncs that read the same set only one stores (and
// publishes) its changes. lib/notices bounds the set, which keeps the item far below 400 KB.

// StoredNotice is a notice as the store keeps it (lib/notices makes them).
type StoredNotice struct {
	ID, Severity, Title, Detail, Link string
	Since                             time.Time
}

// NoticeChange is a notice raised or cleared that is stored but not yet published.
type NoticeChange struct {
	// Change is "raised" or "cleared".
	Change string
	Notice StoredNotice
	At     time.Time
}

// NoticeSet is a deployment's stored notices.
type NoticeSet struct {
	DeploymentID string
	Notices      []StoredNotice
	Unpublished  []NoticeChange
	// Version counts writes: PutNotices writes over the version read (0: none yet).
	Version   int64
	UpdatedAt time.Time
}

type noticeItem struct {
	ID       string `dynamodbav:"id"`
	Severity string `dynamodbav:"severity"`
	Title    string `dynamodbav:"title"`
	Detail   string `dynamodbav:"detail,omitempty"`
	Link     string `dynamodbav:"link,omitempty"`
	Since    string `dynamodbav:"since"`
}

type noticeChangeItem struct {
	Change string     `dynamodbav:"change"`
	Notice noticeItem `dynamodbav:"notice"`
	At     string     `dynamodbav:"at"`
}

type noticeSetItem struct {
	PK, SK       string
	Type         string             `dynamodbav:"type"`
	DeploymentID string             `dynamodbav:"deploymentId"`
	Notices      []noticeItem       `dynamodbav:"notices,omitempty"`
	Unpublished  []noticeChangeItem `dynamodbav:"unpublished,omitempty"`
	Version      int64              `dynamodbav:"version"`
	UpdatedAt    string             `dynamodbav:"updatedAt"`
}

func toNoticeItem(n StoredNotice) noticeItem {
	return noticeItem{ID: n.ID, Severity: n.Severity, Title: n.Title, Detail: n.Detail, Link: n.Link, Since: formatTime(n.Since)}
}

func fromNoticeItem(it noticeItem) StoredNotice {
	return StoredNotice{ID: it.ID, Severity: it.Severity, Title: it.Title, Detail: it.Detail, Link: it.Link, Since: parseTime(it.Since)}
}

// GetNotices reads deployment dep's stored notices (consistent); ErrNotFound when none were
// ever stored.
func (s *Store) GetNotices(ctx context.Context, dep string) (NoticeSet, error) {
	av, err := s.getItem(ctx, deploymentPK(dep), noticesSK, "read notices")
	if err != nil {
		return NoticeSet{}, err
	}
	if av == nil {
		return NoticeSet{}, fault.Newf(ErrNotFound, "No notices are stored for this deployment.")
	}
	var it noticeSetItem
	if err := attributevalue.UnmarshalMap(av, &it); err != nil {
		return NoticeSet{}, fmt.Errorf("decode notices of %s: %w", dep, err)
	}
	set := NoticeSet{DeploymentID: it.DeploymentID, Version: it.Version, UpdatedAt: parseTime(it.UpdatedAt)}
	for _, n := range it.Notices {
		set.Notices = append(set.Notices, fromNoticeItem(n))
	}
	for _, c := range it.Unpublished {
		set.Unpublished = append(set.Unpublished, NoticeChange{Change: c.Change, Notice: fromNoticeItem(c.Notice), At: parseTime(c.At)})
	}
	return set, nil
}

// PutNotices stores set for set.DeploymentID over the version read (set.Version; 0 for the
// first), and returns it with its new version. When another write came first, it is ErrStale
// and nothing is written.
func (s *Store) PutNotices(ctx context.Context, set NoticeSet) (NoticeSet, error) {
	it := noticeSetItem{PK: deploymentPK(set.DeploymentID), SK: noticesSK, Type: "notices", DeploymentID: set.DeploymentID,
		Version: set.Version + 1, UpdatedAt: formatTime(s.now())}
	for _, n := range set.Notices {
		it.Notices = append(it.Notices, toNoticeItem(n))
	}
	for _, c := range set.Unpublished {
		it.Unpublished = append(it.Unpublished, noticeChangeItem{Change: c.Change, Notice: toNoticeItem(c.Notice), At: formatTime(c.At)})
	}
	in := &dynamodb.PutItemInput{TableName: &s.table, Item: marshal(it), ConditionExpression: aws.String(keyIsFree)}
	if set.Version > 0 {
		in.ConditionExpression = aws.String("version = :v")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: strconv.FormatInt(set.Version, 10)}}
	}
	if _, err := s.db.PutItem(ctx, in); err != nil {
		if isConditionFailed(err) {
			return NoticeSet{}, fault.Newf(ErrStale, "The deployment's notices changed since they were read.")
		}
		return NoticeSet{}, unavailable("store notices", err)
	}
	set.Version, set.UpdatedAt = it.Version, parseTime(it.UpdatedAt)
	return set, nil
}
