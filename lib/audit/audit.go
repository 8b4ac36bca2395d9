// Package audit is the signing-event log: every signing decision, allow or deny, and every
// signature's completion is an append-only event. Events are hash-chained per deployment (in a
// few independent lanes, so that concurrent signers do not all wait on one chain head): each
// event's hash covers its content and the previous event's hash, so a deleted, reordered or
// altered event is detected by Verify. The package is pure; the store persists events.
package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Kinds of event.
const (
	// KindDecision records a signing request and its decision; for an allowed request it is
	// written before the key is used.
	KindDecision = "decision"
	// KindCompletion records what became of an allowed request: signed or failed.
	KindCompletion = "completion"
)

// Decisions and outcomes.
const (
	Allow  = "allow"
	Deny   = "deny"
	Signed = "signed"
	Failed = "failed"
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

// Event is one entry of a deployment's signing-event log.
type Event struct {
	ID           string    `json:"id"`
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
	// Completion events: Of is the decision event they complete.
	Of              string `json:"of,omitempty"`
	Outcome         string `json:"outcome,omitempty"`
	SignatureSHA256 string `json:"signatureSha256,omitempty"`
	// Chain.
	PrevHash string `json:"prevHash"`
	Hash     string `json:"hash"`
}

// ComputeHash is SHA-256 over the event's canonical JSON without its own hash. encoding/json
// writes struct fields in declaration order and times in RFC 3339 with nanoseconds, so the
// form is stable; At is normalised to UTC first.
func (e Event) ComputeHash() string {
	e.Hash = ""
	e.At = e.At.UTC()
	b, err := json.Marshal(e)
	if err != nil {
		panic(fmt.Sprintf("audit: marshal event: %v", err)) // only strings, ints and a time
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Seal links e after prev (nil for the first event of its lane) and sets its hash.
func (e *Event) Seal(prev *Event) {
	e.Seq, e.PrevHash = 1, Genesis
	if prev != nil {
		e.Seq, e.PrevHash = prev.Seq+1, prev.Hash
	}
	e.Hash = e.ComputeHash()
}

// Problem is one break in a chain.
type Problem struct {
	Lane   int    `json:"lane"`
	Seq    int64  `json:"seq"`
	Detail string `json:"detail"`
}

// VerifyLane checks one lane's events, in sequence order, against the lane's checkpoint (a
// sequence number and the hash of the event there, which only moves forward): sequence
// numbers without gaps from 1, each event's hash right, each linked to the one before, the
// event at the checkpoint the one it recorded, and none missing up to it.
func VerifyLane(lane int, events []Event, headSeq int64, headHash string) []Problem {
	var out []Problem
	prevHash, want := Genesis, int64(1)
	atHead := ""
	for _, e := range events {
		if e.Seq != want {
			out = append(out, Problem{lane, want, fmt.Sprintf("events %d to %d are missing", want, e.Seq-1)})
		}
		if e.PrevHash != prevHash {
			out = append(out, Problem{lane, e.Seq, "does not link to the event before it"})
		}
		if e.ComputeHash() != e.Hash {
			out = append(out, Problem{lane, e.Seq, "was altered: its hash does not match its content"})
		}
		if e.Seq == headSeq {
			atHead = e.Hash
		}
		prevHash, want = e.Hash, e.Seq+1
	}
	if want-1 < headSeq {
		out = append(out, Problem{lane, headSeq, fmt.Sprintf("the chain's checkpoint is at %d but the last event is %d: events were removed", headSeq, want-1)})
	} else if headSeq > 0 && atHead != headHash {
		out = append(out, Problem{lane, headSeq, "is not the event the chain's checkpoint recorded"})
	}
	return out
}
