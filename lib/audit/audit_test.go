package audit_test

import (
	"testing"
	"time"

	"github.com/opensignum/signum/lib/audit"
)

func chain(n int) []audit.Event {
	var out []audit.Event
	var prev *audit.Event
	for i := 0; i < n; i++ {
		e := audit.Event{ID: string(rune('a' + i)), Kind: audit.KindDecision, Decision: audit.Allow,
			At: time.Date(2026, 1, 1, 0, 0, i, 0, time.FixedZone("X", 3600))}
		e.Seal(prev)
		out = append(out, e)
		prev = &out[len(out)-1]
	}
	return out
}

func lane(events []audit.Event, headSeq int64, headHash string) audit.Lane {
	return audit.Lane{Events: events, HeadSeq: headSeq, HeadHash: headHash}
}

func TestVerifyLane(t *testing.T) {
	c := chain(5)
	if p := audit.VerifyLane("dep", lane(c, 5, c[4].Hash)); len(p) != 0 {
		t.Fatalf("intact chain: %+v", p)
	}
	if audit.VerifyLane("dep", audit.Lane{}) != nil {
		t.Fatal("empty lane reported")
	}
	altered := append([]audit.Event(nil), c...)
	altered[2].Decision = audit.Deny
	rehashed := append([]audit.Event(nil), altered...)
	rehashed[2].Hash = rehashed[2].ComputeHash()
	swapped := []audit.Event{c[0], c[2], c[1], c[3], c[4]}
	for name, tc := range map[string]struct {
		events   []audit.Event
		headSeq  int64
		headHash string
		kind     string
	}{
		"fail/altered":       {altered, 5, c[4].Hash, audit.ProblemAltered},
		"fail/rehashed":      {rehashed, 5, c[4].Hash, audit.ProblemAltered},
		"fail/middle-gone":   {append(append([]audit.Event{}, c[:2]...), c[3:]...), 5, c[4].Hash, audit.ProblemDeleted},
		"fail/first-gone":    {c[1:], 5, c[4].Hash, audit.ProblemDeleted},
		"fail/last-gone":     {c[:4], 5, c[4].Hash, audit.ProblemDeleted},
		"fail/reordered":     {swapped, 5, c[4].Hash, audit.ProblemReordered},
		"fail/head-replaced": {c, 5, c[3].Hash, audit.ProblemAltered},
	} {
		p := audit.VerifyLane("dep", lane(tc.events, tc.headSeq, tc.headHash))
		if len(p) == 0 {
			t.Errorf("%s: not detected", name)
			continue
		}
		for _, pr := range p {
			if pr.Kind != tc.kind {
				t.Errorf("%s: reported as %s, want only %s: %+v", name, pr.Kind, tc.kind, p)
			}
		}
	}
	// The hash does not depend on the time zone the time was written in.
	u := c[1]
	u.At = u.At.In(time.FixedZone("Y", -7200))
	if u.ComputeHash() != c[1].Hash {
		t.Error("hash depends on the time zone")
	}
}
