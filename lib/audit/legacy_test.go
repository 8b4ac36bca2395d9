package audit_test

import (
	"context"
	"strings"
	"testing"

	"github.com/opensignum/signum/lib/audit"
)

// legacyExport is two events as the code before hash version 1 wrote and exported them
// (made by that code): no "v" member, hashed over Go's JSON form with "hash":"".
const legacyExport = `{"id":"evt_old1","deploymentId":"dep_old","lane":2,"seq":1,"kind":"decision","at":"2026-01-02T03:04:05.000000006Z","userId":"cu_1","decision":"deny","reason":"no \u003cpolicy\u003e \u0026 no owner","process":"signum","ci":{"userId":"x"},"prevHash":"0000000000000000000000000000000000000000000000000000000000000000","hash":"5418d08c5b22d1021cb11ff899848fde54bea5fb2612f0e04d4c86f627415c8c"}
{"id":"evt_old2","deploymentId":"dep_old","lane":2,"seq":2,"kind":"completion","at":"2026-01-02T03:04:06Z","of":"evt_old1","outcome":"failed","prevHash":"5418d08c5b22d1021cb11ff899848fde54bea5fb2612f0e04d4c86f627415c8c","hash":"999f53b887b39f6336bb91b58e4377c0c9369bc7bb2350248d31e35537f22661"}
`

// TestLegacyEventsStillVerify: events hashed the old way verify by their version, and an
// event of the new version follows them in the same lane.
func TestLegacyEventsStillVerify(t *testing.T) {
	x, err := audit.ReadExport(strings.NewReader(legacyExport))
	if err != nil {
		t.Fatal(err)
	}
	if p, n, err := audit.Verify(context.Background(), x, "dep_old", audit.Lanes); err != nil || n != 2 || len(p) != 0 {
		t.Fatalf("legacy events: %d %+v %v", n, p, err)
	}
	l, _ := x.ReadLane(context.Background(), "dep_old", 2)
	next := audit.Event{ID: "evt_new", DeploymentID: "dep_old", Lane: 2, Kind: audit.KindDecision, At: l.Events[1].At}
	next.Seal(&l.Events[1])
	if next.V != audit.HashJCS || next.ComputeHash() != next.Hash {
		t.Fatalf("new event: %+v", next)
	}
	l.Events, l.Raw = append(l.Events, next), nil
	if p := audit.VerifyLane("dep_old", l); len(p) != 0 {
		t.Fatalf("mixed lane: %+v", p)
	}
	// A legacy event altered is still caught.
	l.Events[0].Reason = "changed"
	if p := audit.VerifyLane("dep_old", l); len(p) == 0 {
		t.Fatal("an altered legacy event is not reported")
	}
}
