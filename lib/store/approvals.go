package store

import (
	"context"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/fault"
)

// A signing request whose policy requires approval is held in one item,
// PK=DEP#<dep>, SK=APPROVAL#<id>, from its pending decision until it is signed, rejected,
// expired or failed: what was asked (the digests, the certificate, the reported context),
// who may approve, the approvals given, and once signed the answer the requester fetches.
// Every change is a put over the version read, so that two approvers, or an approver and
// the requester's fetch, cannot both move it from the same state.

// ApprovalRetention is how long a held request is kept after it expires, for its requester
// to fetch the answer and the console to show it (then the TTL removes it; the events stay).
const ApprovalRetention = 30 * 24 * time.Hour

// HeldDigest is one digest of a held request: base64, as the request sent it.
type HeldDigest struct {
	Digest, Algorithm, FileName string
}

// ApprovalVote is one approver's answer to a held request ("approve" or "reject").
type ApprovalVote struct {
	UserID, Answer, Comment string
	At                      time.Time
}

// ApprovalRequest is a signing request held for approval.
type ApprovalRequest struct {
	// ID is the request's id: the id of its pending decision event.
	ID, DeploymentID string
	// Who asked, from where, with which certificate, under which policy, how to sign.
	UserID, ClientIP, CertificateID, PolicyID, Scheme string
	Digests                                           []HeldDigest
	// What the client reported (as recorded on the decision) and, for a CI job's session,
	// what its verified token said.
	Process, CommandLine, AgentID, FileName string
	CI, Workload                            map[string]string
	// The approval the policy required when the request was made.
	Required     int
	Users, Roles []string
	CreatedAt    time.Time
	Expires      time.Time
	// Status is pending, approved, signing, signed, rejected, expired or failed.
	Status string
	Votes  []ApprovalVote
	// Decision is the pending decision event as recorded (JSON), for the signing receipt.
	Decision string
	// Response is the signed answer (JSON) once signed; Reason why it ended unsigned.
	Response, Reason string
	// ClaimedAt is when a fetch of the approved request began signing it.
	ClaimedAt time.Time
	Version   int64
}

type approvalVoteItem struct {
	UserID  string `dynamodbav:"userId"`
	Answer  string `dynamodbav:"answer"`
	Comment string `dynamodbav:"comment,omitempty"`
	At      string `dynamodbav:"at"`
}

type heldDigestItem struct {
	Digest    string `dynamodbav:"digest"`
	Algorithm string `dynamodbav:"algorithm"`
	FileName  string `dynamodbav:"fileName,omitempty"`
}

type approvalItem struct {
	PK, SK        string
	Type          string             `dynamodbav:"type"`
	ID            string             `dynamodbav:"id"`
	DeploymentID  string             `dynamodbav:"deploymentId"`
	UserID        string             `dynamodbav:"userId"`
	ClientIP      string             `dynamodbav:"clientIp,omitempty"`
	CertificateID string             `dynamodbav:"certificateId"`
	PolicyID      string             `dynamodbav:"policyId"`
	Scheme        string             `dynamodbav:"scheme"`
	Digests       []heldDigestItem   `dynamodbav:"digests"`
	Process       string             `dynamodbav:"process,omitempty"`
	CommandLine   string             `dynamodbav:"commandLine,omitempty"`
	AgentID       string             `dynamodbav:"agentId,omitempty"`
	FileName      string             `dynamodbav:"fileName,omitempty"`
	CI            map[string]string  `dynamodbav:"ci,omitempty"`
	Workload      map[string]string  `dynamodbav:"workload,omitempty"`
	Required      int                `dynamodbav:"required"`
	Users         []string           `dynamodbav:"users,omitempty"`
	Roles         []string           `dynamodbav:"roles,omitempty"`
	CreatedAt     string             `dynamodbav:"createdAt"`
	Expires       string             `dynamodbav:"expires"`
	Status        string             `dynamodbav:"status"`
	Votes         []approvalVoteItem `dynamodbav:"votes,omitempty"`
	Decision      string             `dynamodbav:"decision"`
	Response      string             `dynamodbav:"response,omitempty"`
	Reason        string             `dynamodbav:"reason,omitempty"`
	ClaimedAt     string             `dynamodbav:"claimedAt,omitempty"`
	Version       int64              `dynamodbav:"version"`
	ExpiresAt     int64              `dynamodbav:"expiresAt"`
}

func toApprovalItem(r ApprovalRequest) approvalItem {
	it := approvalItem{PK: deploymentPK(r.DeploymentID), SK: approvalSK(r.ID), Type: "approval", ID: r.ID, DeploymentID: r.DeploymentID,
		UserID: r.UserID, ClientIP: r.ClientIP, CertificateID: r.CertificateID, PolicyID: r.PolicyID, Scheme: r.Scheme,
		Process: r.Process, CommandLine: r.CommandLine, AgentID: r.AgentID, FileName: r.FileName, CI: r.CI, Workload: r.Workload,
		Required: r.Required, Users: r.Users, Roles: r.Roles, CreatedAt: formatTime(r.CreatedAt), Expires: formatTime(r.Expires),
		Status: r.Status, Decision: r.Decision, Response: r.Response, Reason: r.Reason, ClaimedAt: formatTime(r.ClaimedAt),
		Version: r.Version, ExpiresAt: r.Expires.Add(ApprovalRetention).Unix()}
	for _, d := range r.Digests {
		it.Digests = append(it.Digests, heldDigestItem{Digest: d.Digest, Algorithm: d.Algorithm, FileName: d.FileName})
	}
	for _, v := range r.Votes {
		it.Votes = append(it.Votes, approvalVoteItem{UserID: v.UserID, Answer: v.Answer, Comment: v.Comment, At: formatTime(v.At)})
	}
	return it
}

func decodeApproval(av map[string]types.AttributeValue) (ApprovalRequest, error) {
	it, err := decodeAs[approvalItem]("approval request")(av)
	if err != nil {
		return ApprovalRequest{}, err
	}
	r := ApprovalRequest{ID: it.ID, DeploymentID: it.DeploymentID, UserID: it.UserID, ClientIP: it.ClientIP, CertificateID: it.CertificateID,
		PolicyID: it.PolicyID, Scheme: it.Scheme, Process: it.Process, CommandLine: it.CommandLine, AgentID: it.AgentID, FileName: it.FileName,
		CI: it.CI, Workload: it.Workload, Required: it.Required, Users: it.Users, Roles: it.Roles, CreatedAt: parseTime(it.CreatedAt),
		Expires: parseTime(it.Expires), Status: it.Status, Decision: it.Decision, Response: it.Response, Reason: it.Reason,
		ClaimedAt: parseTime(it.ClaimedAt), Version: it.Version}
	for _, d := range it.Digests {
		r.Digests = append(r.Digests, HeldDigest{Digest: d.Digest, Algorithm: d.Algorithm, FileName: d.FileName})
	}
	for _, v := range it.Votes {
		r.Votes = append(r.Votes, ApprovalVote{UserID: v.UserID, Answer: v.Answer, Comment: v.Comment, At: parseTime(v.At)})
	}
	return r, nil
}

// CreateApprovalRequest stores a request held for approval (version 1).
func (s *Store) CreateApprovalRequest(ctx context.Context, r ApprovalRequest) (ApprovalRequest, error) {
	r.Version = 1
	if err := s.create(ctx, "hold signing request", toApprovalItem(r), fault.Newf(ErrConflict, "A held request with the id %s exists.", r.ID)); err != nil {
		return ApprovalRequest{}, err
	}
	return r, nil
}

// GetApprovalRequest reads a held request (consistent).
func (s *Store) GetApprovalRequest(ctx context.Context, dep, id string) (ApprovalRequest, error) {
	return get(ctx, s, deploymentPK(dep), approvalSK(id), "get held request", decodeApproval,
		notFound("No signing request held for approval has the id %q.", fault.Clip(id, 40)))
}

// ListApprovalRequests lists a deployment's held requests a page at a time, by id; status,
// when set, keeps those in that status only.
func (s *Store) ListApprovalRequests(ctx context.Context, dep, status string, pr PageRequest) (Page[ApprovalRequest], error) {
	pk := deploymentPK(dep)
	in := listPrefixInput(pk, approvalPrefix)
	scope := approvalPrefix + pk
	if status != "" {
		in.FilterExpression = aws.String("#s = :s")
		in.ExpressionAttributeNames = map[string]string{"#s": "status"}
		in.ExpressionAttributeValues[":s"] = &types.AttributeValueMemberS{Value: status}
		scope += "#" + status
	}
	return query(ctx, s, scope, in, []string{attrPK, attrSK}, pr, decodeApproval)
}

// SaveApprovalRequest writes next over the held request as read at version current: of two
// changes from the same state only one lands, the other is ErrStale (read again and retry).
func (s *Store) SaveApprovalRequest(ctx context.Context, current int64, next ApprovalRequest) (ApprovalRequest, error) {
	next.Version = current + 1
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: marshal(toApprovalItem(next)),
		ConditionExpression:       aws.String("attribute_exists(PK) AND version = :v"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: strconv.FormatInt(current, 10)}}})
	switch {
	case isConditionFailed(err):
		return ApprovalRequest{}, fault.Newf(ErrStale, "The signing request %s changed meanwhile; read it again.", fault.Clip(next.ID, 40))
	case err != nil:
		return ApprovalRequest{}, unavailable("save held request", err)
	}
	return next, nil
}
