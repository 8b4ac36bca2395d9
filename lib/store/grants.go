package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/policy"
	"github.com/opensignum/signum/lib/tenant"
)

// Grants (policy.Grant, policy.UserGrant): a count of signatures in one item per grant, taken
// with one conditional UpdateItem, so that no two requests can take the last signature.
//
//	GRANT#<grantId>                        a user grant, with its count (used)
//	GRANTUSE#<policyId>#<from, epoch s|->  the count of an allow policy's grant in its window
//
// (These key strings are built here rather than in keys.go while three branches add key
// prefixes at once; they move there on merge.)
const (
	grantPrefix    = "GRANT#"
	grantUsePrefix = "GRANTUSE#"
)

func grantSK(id string) string { return grantPrefix + id }

// grantUseSK is the count of policy id's grant whose window starts at from: a new window
// (another from) starts a new count, a changed maximum keeps it.
func grantUseSK(policyID string, from time.Time) string {
	start := "-"
	if !from.IsZero() {
		start = strconv.FormatInt(from.Unix(), 10)
	}
	return grantUsePrefix + policyID + "#" + start
}

// grantItem: PK=DEP#<dep>, SK=GRANT#<id>, a user grant and its count.
type grantItem struct {
	PK, SK        string
	Type          string `dynamodbav:"type"`
	ID            string `dynamodbav:"id"`
	UserID        string `dynamodbav:"userId"`
	CertificateID string `dynamodbav:"certificateId"`
	MaxSignatures int    `dynamodbav:"maxSignatures"`
	From          string `dynamodbav:"from,omitempty"`
	To            string `dynamodbav:"to,omitempty"`
	Used          int    `dynamodbav:"used"`
	CreatedBy     string `dynamodbav:"createdBy"`
	CreatedAt     string `dynamodbav:"createdAt"`
	RevokedAt     string `dynamodbav:"revokedAt,omitempty"`
	Version       int64  `dynamodbav:"version"`
}

func decodeGrant(av map[string]types.AttributeValue) (policy.UserGrant, error) {
	it, err := decodeAs[grantItem]("grant")(av)
	if err != nil {
		return policy.UserGrant{}, err
	}
	return policy.UserGrant{ID: it.ID, UserID: it.UserID, CertificateID: it.CertificateID,
		Grant: policy.Grant{MaxSignatures: it.MaxSignatures, From: parseTime(it.From), To: parseTime(it.To)},
		Used:  it.Used, CreatedBy: it.CreatedBy, CreatedAt: parseTime(it.CreatedAt), RevokedAt: parseTime(it.RevokedAt), Version: it.Version}, nil
}

// CreateGrant stores a new user grant (version 1, nothing used) with its log entry. It moves
// the deployment's policies version: signers keep the user grants with the compiled policies
// and read them again when it moved.
func (s *Store) CreateGrant(ctx context.Context, dep string, g policy.UserGrant, log tenant.LogEntry) (policy.UserGrant, error) {
	g.Version, g.Used, g.RevokedAt = 1, 0, time.Time{}
	it := grantItem{PK: deploymentPK(dep), SK: grantSK(g.ID), Type: "grant", ID: g.ID, UserID: g.UserID, CertificateID: g.CertificateID,
		MaxSignatures: g.MaxSignatures, From: formatTime(g.From), To: formatTime(g.To), CreatedBy: g.CreatedBy, CreatedAt: formatTime(g.CreatedAt), Version: 1}
	if err := s.create(ctx, "create grant", it, fault.Newf(ErrConflict, "A grant with the id %s exists.", g.ID),
		s.putLog(dep, log), s.bumpPolicies(dep)); err != nil {
		return policy.UserGrant{}, err
	}
	return g, nil
}

// GetGrant reads a user grant with its count.
func (s *Store) GetGrant(ctx context.Context, dep, id string) (policy.UserGrant, error) {
	return get(ctx, s, deploymentPK(dep), grantSK(id), "get grant", decodeGrant, notFound("No grant has the id %q.", fault.Clip(id, 40)))
}

// ListGrants lists a deployment's user grants a page at a time, in id order.
func (s *Store) ListGrants(ctx context.Context, dep string, pr PageRequest) (Page[policy.UserGrant], error) {
	return listPrefix(ctx, s, dep, grantPrefix, pr, decodeGrant)
}

// AllGrants reads every user grant of a deployment, revoked and ended ones too (a request
// they would have allowed is told why not), page by page.
func (s *Store) AllGrants(ctx context.Context, dep string) ([]policy.UserGrant, error) {
	return All(ctx, func(ctx context.Context, pr PageRequest) (Page[policy.UserGrant], error) {
		return s.ListGrants(ctx, dep, pr)
	})
}

// RevokeGrant marks user grant g revoked at at, if it is still the version read and not
// revoked, with its log entry, and moves the policies version (as CreateGrant). What was
// signed stays counted.
func (s *Store) RevokeGrant(ctx context.Context, dep string, g policy.UserGrant, at time.Time, log tenant.LogEntry) (policy.UserGrant, error) {
	items := []types.TransactWriteItem{
		{Update: &types.Update{TableName: &s.table, Key: key(deploymentPK(dep), grantSK(g.ID)),
			UpdateExpression:    aws.String("SET revokedAt = :at ADD version :one"),
			ConditionExpression: aws.String("attribute_exists(PK) AND attribute_not_exists(revokedAt) AND version = :v"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":at": &types.AttributeValueMemberS{Value: formatTime(at)},
				":one": &types.AttributeValueMemberN{Value: "1"}, ":v": &types.AttributeValueMemberN{Value: strconv.FormatInt(g.Version, 10)}}}},
		s.putLog(dep, log),
		s.bumpPolicies(dep),
	}
	if err := s.conditional(ctx, "revoke grant", items, map[int]error{0: fault.Newf(ErrStale, "The grant %s was revoked or changed by someone else; read it again.", g.ID)}); err != nil {
		return policy.UserGrant{}, err
	}
	g.RevokedAt, g.Version = at, g.Version+1
	return g, nil
}

// GrantCounter names the count a signing request takes from: user grant GrantID's, or (no
// GrantID) the count of policy PolicyID's grant in the window that starts at From. Max is the
// grant's maximum as the signer decided with it.
type GrantCounter struct {
	GrantID, PolicyID string
	From              time.Time
	Max               int
}

func (c GrantCounter) sk() string {
	if c.GrantID != "" {
		return grantSK(c.GrantID)
	}
	return grantUseSK(c.PolicyID, c.From)
}

// GrantTake is the outcome of TakeGrant: whether the signatures were taken, and the count
// after the take (when taken) or as it stands (when not).
type GrantTake struct {
	Taken   bool
	Used    int
	Revoked bool // a user grant revoked since the signer read it
}

// TakeGrant takes n signatures from c's count: one conditional UpdateItem that adds n unless
// the count would pass c.Max (or the user grant is gone or revoked). A refusal adds nothing and
// reads the count as it stands, to say how much is used. A failed call may have taken the
// signatures (its answer lost): the caller must not give them back, so that a grant can count
// a signature that was not made, never sign one more than it allows.
func (s *Store) TakeGrant(ctx context.Context, dep string, c GrantCounter, n int) (GrantTake, error) {
	if n <= c.Max {
		in := &dynamodb.UpdateItemInput{TableName: &s.table, Key: key(deploymentPK(dep), c.sk()),
			UpdateExpression:         aws.String("ADD #u :n"),
			ConditionExpression:      aws.String("attribute_not_exists(#u) OR #u <= :room"),
			ExpressionAttributeNames: map[string]string{"#u": "used"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":n":    &types.AttributeValueMemberN{Value: strconv.Itoa(n)},
				":room": &types.AttributeValueMemberN{Value: strconv.Itoa(c.Max - n)},
			},
			ReturnValues: types.ReturnValueUpdatedNew,
		}
		if c.GrantID != "" {
			in.ConditionExpression = aws.String("attribute_exists(PK) AND attribute_not_exists(revokedAt) AND #u <= :room")
		} else {
			in.UpdateExpression = aws.String("SET #t = :t ADD #u :n")
			in.ExpressionAttributeNames["#t"] = "type"
			in.ExpressionAttributeValues[":t"] = &types.AttributeValueMemberS{Value: "grantUse"}
		}
		out, err := s.db.UpdateItem(ctx, in)
		if err == nil {
			used := 0
			if u, ok := out.Attributes["used"].(*types.AttributeValueMemberN); ok {
				used, _ = strconv.Atoi(u.Value)
			}
			return GrantTake{Taken: true, Used: used}, nil
		}
		if !isConditionFailed(err) {
			return GrantTake{}, unavailable("take grant", err)
		}
	}
	item, err := s.getItem(ctx, deploymentPK(dep), c.sk(), "read grant")
	if err != nil {
		return GrantTake{}, err
	}
	var it grantItem
	if item != nil {
		if it, err = decodeAs[grantItem]("grant count")(item); err != nil {
			return GrantTake{}, err
		}
	}
	return GrantTake{Used: it.Used, Revoked: c.GrantID != "" && (item == nil || it.RevokedAt != "")}, nil
}

// ReturnGrant gives n signatures taken from c's count back, after the request that took them
// signed nothing. One UpdateItem, never below zero; it is not retried (a retry of a return
// whose answer was lost would give back twice).
func (s *Store) ReturnGrant(ctx context.Context, dep string, c GrantCounter, n int) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &s.table, Key: key(deploymentPK(dep), c.sk()),
		UpdateExpression:         aws.String("ADD #u :back"),
		ConditionExpression:      aws.String("#u >= :n"),
		ExpressionAttributeNames: map[string]string{"#u": "used"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":back": &types.AttributeValueMemberN{Value: strconv.Itoa(-n)},
			":n":    &types.AttributeValueMemberN{Value: strconv.Itoa(n)},
		}})
	switch {
	case isConditionFailed(err):
		return fmt.Errorf("return grant: fewer than %d signatures are counted", n)
	case err != nil:
		return unavailable("return grant", err)
	}
	return nil
}

// PolicyGrantUsed is how many signatures policy id's grant whose window starts at from has
// counted (0 before the first).
func (s *Store) PolicyGrantUsed(ctx context.Context, dep, policyID string, from time.Time) (int, error) {
	it, err := get(ctx, s, deploymentPK(dep), grantUseSK(policyID, from), "read grant count", decodeAs[grantItem]("grant count"), nil)
	return it.Used, err
}
