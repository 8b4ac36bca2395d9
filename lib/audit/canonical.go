package audit

import (
	"bytes"
	"encoding/json"
	"time"
)

// canonicalEvent is an Event's members in RFC 8785 order (by name; every name is ASCII, so
// byte order is UTF-16 order), without hash. For almost every event, encoding/json writes it
// in exactly the canonical form, an order of magnitude faster than canonicalizing generic
// JSON (the signer hashes every event it appends). TestCanonicalEventOrder keeps the fields
// sorted and FuzzEventHash holds the result to the generic path.
type canonicalEvent struct {
	AgentID         string            `json:"agentId,omitempty"`
	At              time.Time         `json:"at"`
	CertificateID   string            `json:"certificateId,omitempty"`
	CI              map[string]string `json:"ci,omitempty"`
	ClientIP        string            `json:"clientIp,omitempty"`
	CommandLine     string            `json:"commandLine,omitempty"`
	ContextEvent    string            `json:"contextEvent,omitempty"`
	Cut             []string          `json:"cut,omitempty"`
	Decision        string            `json:"decision,omitempty"`
	DeploymentID    string            `json:"deploymentId"`
	Digest          string            `json:"digest,omitempty"`
	DigestAlgorithm string            `json:"digestAlgorithm,omitempty"`
	DigestCount     int               `json:"digestCount,omitempty"`
	Digests         []string          `json:"digests,omitempty"`
	FileName        string            `json:"fileName,omitempty"`
	Files           []string          `json:"files,omitempty"`
	ID              string            `json:"id"`
	Kind            string            `json:"kind"`
	Lane            int               `json:"lane"`
	Of              string            `json:"of,omitempty"`
	Outcome         string            `json:"outcome,omitempty"`
	PolicyID        string            `json:"policyId,omitempty"`
	PrevHash        string            `json:"prevHash"`
	Process         string            `json:"process,omitempty"`
	Reason          string            `json:"reason,omitempty"`
	Seq             int64             `json:"seq"`
	SignatureSHA256 string            `json:"signatureSha256,omitempty"`
	UserID          string            `json:"userId,omitempty"`
	V               int               `json:"v,omitempty"`
	Workload        map[string]string `json:"workload,omitempty"`
}

// fastCanonical is e's RFC 8785 form when encoding/json writes it (ok), else ok is false and
// the caller canonicalizes the generic way. encoding/json differs from RFC 8785 in what it
// escapes (HTML characters: turned off here; U+2028 and U+2029: always escaped; invalid
// UTF-8: written as the escape \ufffd, where RFC 8785 writes U+FFFD itself) and in how it
// orders map keys (by UTF-8 bytes, not UTF-16 code units: the same for ASCII keys).
//
// RFC 8785 writes numbers as IEEE doubles: integers beyond 2^53 (no sequence number gets
// there) take the generic path too.
func fastCanonical(e Event) ([]byte, bool) {
	const exact = 1 << 53
	for _, n := range []int64{e.Seq, int64(e.Lane), int64(e.DigestCount), int64(e.V)} {
		if n > exact || n < -exact {
			return nil, false
		}
	}
	for _, m := range []map[string]string{e.CI, e.Workload} {
		for k := range m {
			for i := 0; i < len(k); i++ {
				if k[i] >= 0x80 {
					return nil, false
				}
			}
		}
	}
	c := canonicalEvent{AgentID: e.AgentID, At: e.At, CertificateID: e.CertificateID, CI: e.CI, ClientIP: e.ClientIP,
		CommandLine: e.CommandLine, ContextEvent: e.ContextEvent, Cut: e.Cut, Decision: e.Decision, DeploymentID: e.DeploymentID,
		Digest: e.Digest, DigestAlgorithm: e.DigestAlgorithm, DigestCount: e.DigestCount, Digests: e.Digests, FileName: e.FileName, Files: e.Files,
		ID: e.ID, Kind: e.Kind, Lane: e.Lane, Of: e.Of, Outcome: e.Outcome, PolicyID: e.PolicyID, PrevHash: e.PrevHash,
		Process: e.Process, Reason: e.Reason, Seq: e.Seq, SignatureSHA256: e.SignatureSHA256, UserID: e.UserID, V: e.V, Workload: e.Workload}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		return nil, false
	}
	out := bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	// (A literal backslash before "u2028" is written `\\u2028` and lands here too: the
	// generic path then decides, which is only slower.)
	for _, esc := range []string{`\u2028`, `\u2029`, `\ufffd`} {
		if bytes.Contains(out, []byte(esc)) {
			return nil, false
		}
	}
	return out, true
}
