// Package audit is the signing-event log: every signing decision, allow or deny, and every
// signature's completion is an append-only event. Events are hash-chained per deployment (in a
// few independent lanes, so that concurrent signers do not all wait on one chain head): each
// event's hash covers its content and the previous event's hash, so a deleted, reordered or
// altered event is detected by Verify. Each lane's checkpoint and each signing answer's
// receipt are sealed (seal.go): signed by a key that whoever can write the table cannot use,
// and checkpoints are anchored outside the table (Anchors), so that a rewritten and rolled-back
// lane is detected too. The package is pure but for DirAnchors; the store persists events.
package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gowebpki/jcs"
)

// Kinds of event.
const (
	// KindDecision records a signing request and its decision; for an allowed request it is
	// written before the key is used.
	KindDecision = "decision"
	// KindCompletion records what became of an allowed request: signed or failed.
	KindCompletion = "completion"
	// KindApproval records an approver's answer to a request held for approval (decision
	// Pending): Outcome is Approve or Reject, Of the held request's decision, Reason the
	// approver's comment. The request ends with a completion like any allowed one.
	KindApproval = "approval"
)

// Decisions and outcomes.
const (
	Allow  = "allow"
	Deny   = "deny"
	Signed = "signed"
	Failed = "failed"
	// Pending is the decision on a request its policy allows once it is approved.
	Pending = "pending"
	// Approve and Reject are an approver's answers (KindApproval).
	Approve = "approve"
	Reject  = "reject"
)

// Lanes is how many independent hash chains a deployment's event log has; appends spread over
// them so that concurrent signers rarely wait on one chain head.
const Lanes = 8

// LaneOf is the lane an event with id goes to: spread evenly by a hash of the id.
func LaneOf(id string) int {
	sum := sha256.Sum256([]byte(id))
	return int(binary.BigEndian.Uint32(sum[:4]) % Lanes)
}

// Genesis is the previous hash of the first event of a lane.
const Genesis = "0000000000000000000000000000000000000000000000000000000000000000"

// Hash versions: how an event's hash is computed (Event.V).
const (
	// HashLegacy (no "v" member) is SHA-256 over Go's encoding/json form of the event with
	// "hash":"" (struct field order, HTML characters escaped): what events written before
	// HashJCS hash with. Verifiers accept it; nothing writes it any more.
	HashLegacy = 0
	// HashJCS is SHA-256 over the RFC 8785 (JSON Canonicalization Scheme) form of the
	// event's JSON object without its "hash" member: what every new event is sealed with.
	HashJCS = 1
)

// Event is one entry of a deployment's signing-event log.
type Event struct {
	ID string `json:"id"`
	// V is the event's hash version (HashJCS; absent for HashLegacy).
	V            int       `json:"v,omitempty"`
	DeploymentID string    `json:"deploymentId"`
	Lane         int       `json:"lane"`
	Seq          int64     `json:"seq"`
	Kind         string    `json:"kind"`
	At           time.Time `json:"at"`
	// Decision events.
	UserID        string `json:"userId,omitempty"`
	ClientIP      string `json:"clientIp,omitempty"`
	CertificateID string `json:"certificateId,omitempty"`
	Decision      string `json:"decision,omitempty"`
	PolicyID      string `json:"policyId,omitempty"`
	Reason        string `json:"reason,omitempty"`
	Process       string `json:"process,omitempty"`
	CommandLine   string `json:"commandLine,omitempty"`
	AgentID       string `json:"agentId,omitempty"`
	// FileName and CI are what the client reported about the file and the CI job (events
	// before they were recorded hash the same: empty fields are left out).
	FileName        string            `json:"fileName,omitempty"`
	CI              map[string]string `json:"ci,omitempty"`
	Digest          string            `json:"digest,omitempty"`
	DigestAlgorithm string            `json:"digestAlgorithm,omitempty"`
	// ContextEvent, on the second and later decisions of a request, is the decision event
	// that records the request's shared context (process, command line, agent, CI, file
	// name) once for all its digests.
	ContextEvent string `json:"contextEvent,omitempty"`
	// Digests are a request's digests ("<algorithm>:<hex>") on its decision when it was
	// denied or had several (a request is one decision, not one per digest; decisions
	// recorded before were one per digest, the later ones naming the first in ContextEvent).
	// DigestCount is how many the request had.
	Digests     []string `json:"digests,omitempty"`
	DigestCount int      `json:"digestCount,omitempty"`
	// Files, on an allowed decision of several digests, are the file names the client
	// reported for them, in the digests' order ("" for a digest without one).
	Files []string `json:"files,omitempty"`
	// Cut names the fields the client reported that were cut to what the log keeps (the
	// signer's caps; for ci, entries left out too).
	Cut []string `json:"cut,omitempty"`
	// Workload, on the decisions of a CI job that signs with a session made from its OIDC
	// token, is what the verified token said of the job (repository, ref, workflow, run_id,
	// sub, ...) with the rule and the issuer that admitted it. Unlike CI, which the client
	// reports, it is verified. Like every member it is hashed; events without it hash as
	// before (an empty member is left out).
	Workload map[string]string `json:"workload,omitempty"`
	// Completion events: Of is the decision event they complete.
	Of              string `json:"of,omitempty"`
	Outcome         string `json:"outcome,omitempty"`
	SignatureSHA256 string `json:"signatureSha256,omitempty"`
	// Chain.
	PrevHash string `json:"prevHash"`
	Hash     string `json:"hash"`
}

// ComputeHash is the event's hash by its version (V): "" for a version this code does not
// know, "-" (never a hash: Verify reports the event altered) for an event that does not
// marshal, e.g. one read from the table with a time whose year in UTC is beyond 9999. At is
// normalised to UTC first (the hash does not depend on the zone a time was written in).
func (e Event) ComputeHash() string {
	e.Hash = ""
	e.At = e.At.UTC()
	if e.V == HashJCS {
		if c, ok := fastCanonical(e); ok {
			sum := sha256.Sum256(c)
			return hex.EncodeToString(sum[:])
		}
	}
	b, err := json.Marshal(e)
	if err != nil {
		return "-"
	}
	switch e.V {
	case HashLegacy:
		sum := sha256.Sum256(b)
		return hex.EncodeToString(sum[:])
	case HashJCS:
		h, err := HashJSON(b)
		if err != nil {
			return "-"
		}
		return h
	}
	return ""
}

// CanonicalJSON is the RFC 8785 form of the JSON object raw without its "hash" member: what
// a HashJCS event's hash is taken over. It fails on anything but a JSON object.
func CanonicalJSON(raw []byte) ([]byte, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	delete(obj, "hash")
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	return jcs.Transform(b)
}

// HashJSON is the HashJCS hash of the event JSON object raw as written (members a reader does
// not know included): the lowercase hex SHA-256 of CanonicalJSON(raw).
func HashJSON(raw []byte) (string, error) {
	c, err := CanonicalJSON(raw)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(c)
	return hex.EncodeToString(sum[:]), nil
}

// Seal links e after prev (nil for the first event of its lane) and sets its hash, of the
// current version (HashJCS), over its time in UTC.
func (e *Event) Seal(prev *Event) {
	e.Seq, e.PrevHash = 1, Genesis
	if prev != nil {
		e.Seq, e.PrevHash = prev.Seq+1, prev.Hash
	}
	e.V, e.At = HashJCS, e.At.UTC()
	e.Hash = e.ComputeHash()
}
