package audit_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/audit"
)

// pinnedExport is two events sealed by the code before events recorded a CI job's verified
// claims (workload), with the hashes it gave them.
const pinnedExport = `{"id":"evt_pin1","v":1,"deploymentId":"dep_pin","lane":3,"seq":1,"kind":"decision","at":"2026-11-28T12:00:00.000000005Z","userId":"cu_1","clientIp":"203.0.113.7","certificateId":"crt_1","decision":"allow","policyId":"pol_1","process":"signum","commandLine":"signum sign a.txt","agentId":"runner-1","fileName":"a.txt","ci":{"GITHUB_REPOSITORY":"acme/app"},"digest":"ab","digestAlgorithm":"SHA256","prevHash":"0000000000000000000000000000000000000000000000000000000000000000","hash":"3af0f9857e457f56c2551793d8e19052c4cbe051f20213687f3e578a9472477b"}
{"id":"evt_pin2","v":1,"deploymentId":"dep_pin","lane":3,"seq":2,"kind":"completion","at":"2026-11-28T12:00:01.000000005Z","userId":"cu_1","certificateId":"crt_1","of":"evt_pin1","outcome":"signed","signatureSha256":"cd","prevHash":"3af0f9857e457f56c2551793d8e19052c4cbe051f20213687f3e578a9472477b","hash":"3a1e7ade07837ac693505957469ff74d4e8daaffb81be8cb45ab4520902d2da7"}
`

// TestEventsWithoutWorkloadHashAsBefore: an event with no workload claims hashes exactly as it
// did before the member existed, sealed anew from its fields or verified from its exported
// line; an event of a CI job follows it in the same lane, its claims covered by its hash (a
// changed, added or removed claim is reported).
func TestEventsWithoutWorkloadHashAsBefore(t *testing.T) {
	x, err := audit.ReadExport(strings.NewReader(pinnedExport))
	if err != nil {
		t.Fatal(err)
	}
	if p, n, err := audit.Verify(context.Background(), x, "dep_pin", audit.Lanes); err != nil || n != 2 || len(p) != 0 {
		t.Fatalf("pinned events: %d %+v %v", n, p, err)
	}
	l, err := x.ReadLane(context.Background(), "dep_pin", 3)
	if err != nil {
		t.Fatal(err)
	}
	// Sealed again from the fields (the signer's path): the same hashes.
	first := l.Events[0]
	first.Hash = ""
	first.Seal(nil)
	second := l.Events[1]
	second.Hash = ""
	second.Seal(&first)
	if first.Hash != "3af0f9857e457f56c2551793d8e19052c4cbe051f20213687f3e578a9472477b" || second.Hash != "3a1e7ade07837ac693505957469ff74d4e8daaffb81be8cb45ab4520902d2da7" {
		t.Fatalf("an event without workload hashes differently now: %s, %s", first.Hash, second.Hash)
	}

	job := audit.Event{ID: "evt_job", DeploymentID: "dep_pin", Lane: 3, Kind: audit.KindDecision, At: second.At.Add(time.Second),
		UserID: "cu_ci", CertificateID: "crt_1", Decision: audit.Allow, Digest: "ef", DigestAlgorithm: "SHA256",
		Workload: map[string]string{"repository": "acme/app", "ref": "refs/heads/main", "run_id": "1001", "rule": "release", "issuer": "https://token.actions.githubusercontent.com"}}
	job.Seal(&second)
	bare := job
	bare.Workload = nil
	if bare.ComputeHash() == job.Hash {
		t.Fatal("the workload claims are not in the hash")
	}
	l.Events, l.Raw = []audit.Event{first, second, job}, nil
	if p := audit.VerifyLane("dep_pin", l); len(p) != 0 {
		t.Fatalf("lane with a CI job's event: %+v", p)
	}
	for name, change := range map[string]func(e *audit.Event){
		"changed": func(e *audit.Event) {
			e.Workload = map[string]string{"repository": "evil/app", "ref": "refs/heads/main", "run_id": "1001", "rule": "release", "issuer": "https://token.actions.githubusercontent.com"}
		},
		"added": func(e *audit.Event) {
			e.Workload = map[string]string{"repository": "acme/app"}
			e.Workload["environment"] = "prod"
		},
		"removed": func(e *audit.Event) { e.Workload = nil },
	} {
		altered := l
		altered.Events = append([]audit.Event(nil), l.Events...)
		change(&altered.Events[2])
		if p := audit.VerifyLane("dep_pin", altered); len(p) == 0 {
			t.Errorf("a workload claim %s is not reported", name)
		}
	}
}
