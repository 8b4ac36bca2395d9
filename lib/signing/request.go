package signing

import (
	"crypto"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/wire"
)

// MaxDigests is the most digests one request signs.
const MaxDigests = 64

// Limits on the CI metadata a request reports.
const (
	MaxCIEntries  = 32
	MaxCIKeyLen   = 64
	MaxCIValueLen = 1024
)

var hashes = map[string]crypto.Hash{"SHA256": crypto.SHA256, "SHA384": crypto.SHA384, "SHA512": crypto.SHA512}

// Request is a validated signing request: its body and its digests decoded.
type Request struct {
	body    wire.Request
	digests [][]byte
	hashes  []crypto.Hash
}

// Parse validates a signing request's body. Every problem is reported at once, each with the
// field it concerns (fault.Fields).
func Parse(r wire.Request) (Request, error) {
	var bad fault.Fields
	if r.CertificateID == "" {
		bad.Add("certificateId", "is required")
	}
	if len(r.Digests) == 0 || len(r.Digests) > MaxDigests {
		bad.Add("digests", "1 to %d digests", MaxDigests)
	}
	p := Request{body: r}
	for i, d := range r.Digests {
		name := fmt.Sprintf("digests[%d]", i)
		alg := strings.ToUpper(strings.ReplaceAll(d.DigestAlgorithm, "-", ""))
		h, ok := hashes[alg]
		if !ok {
			if alg == "SHA1" || alg == "MD5" {
				bad.Add(name+".digestAlgorithm", "%s is refused: it is broken for signatures; use SHA256, SHA384 or SHA512", alg)
			} else {
				bad.Add(name+".digestAlgorithm", "must be SHA256, SHA384 or SHA512")
			}
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(d.Digest)
		if err != nil {
			bad.Add(name+".digest", "is not base64")
			continue
		}
		if len(raw) != h.Size() {
			bad.Add(name+".digest", "a %s digest is %d bytes, this one is %d", alg, h.Size(), len(raw))
			continue
		}
		p.digests, p.hashes = append(p.digests, raw), append(p.hashes, h)
	}
	for name, v := range map[string]string{"context.process": r.Context.Process, "context.commandLine": r.Context.CommandLine,
		"context.fileName": r.Context.FileName, "context.agentId": r.Context.AgentID} {
		if len(v) > MaxApplicationField {
			bad.Add(name, "is longer than 4096 bytes")
		}
	}
	for i, d := range r.Digests {
		if len(d.FileName) > MaxApplicationField {
			bad.Add(fmt.Sprintf("digests[%d].fileName", i), "is longer than 4096 bytes")
		}
	}
	if len(r.Context.CI) > MaxCIEntries {
		bad.Add("context.ci", "has at most %d entries", MaxCIEntries)
	}
	for k, v := range r.Context.CI {
		if k == "" || len(k) > MaxCIKeyLen || len(v) > MaxCIValueLen {
			bad.Add("context.ci", "keys are 1 to %d bytes and values at most %d", MaxCIKeyLen, MaxCIValueLen)
			break
		}
	}
	return p, bad.Err()
}
