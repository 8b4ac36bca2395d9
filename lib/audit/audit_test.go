package audit_test

import (
	"strings"
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

func TestVerifyLane(t *testing.T) {
	c := chain(5)
	if p := audit.VerifyLane(0, c, 5, c[4].Hash); len(p) != 0 {
		t.Fatalf("intact chain: %+v", p)
	}
	if audit.VerifyLane(0, nil, 0, "") != nil {
		t.Fatal("empty lane reported")
	}
	altered := append([]audit.Event(nil), c...)
	altered[2].Decision = audit.Deny
	swapped := []audit.Event{c[0], c[2], c[1], c[3], c[4]}
	for name, tc := range map[string]struct {
		events   []audit.Event
		headSeq  int64
		headHash string
	}{
		"fail/altered":       {altered, 5, c[4].Hash},
		"fail/middle-gone":   {append(append([]audit.Event{}, c[:2]...), c[3:]...), 5, c[4].Hash},
		"fail/last-gone":     {c[:4], 5, c[4].Hash},
		"fail/reordered":     {swapped, 5, c[4].Hash},
		"fail/head-replaced": {c, 5, c[3].Hash},
	} {
		if p := audit.VerifyLane(0, tc.events, tc.headSeq, tc.headHash); len(p) == 0 {
			t.Errorf("%s: not detected", name)
		}
	}
	// The hash does not depend on the time zone the time was written in.
	u := c[1]
	u.At = u.At.UTC()
	if u.ComputeHash() != c[1].Hash {
		t.Error("hash depends on the time zone")
	}
}

// Unfinished: an allowed decision needs a completion naming it (a completion may close
// several, listed in Of), once it is older than the cutoff; denials need none.
func TestUnfinished(t *testing.T) {
	at := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	events := []audit.Event{
		{ID: "evt_a", Kind: audit.KindDecision, Decision: audit.Allow, At: at, Lane: 1, Seq: 4},
		{ID: "evt_b", Kind: audit.KindDecision, Decision: audit.Allow, At: at, Lane: 2, Seq: 9},
		{ID: "evt_c", Kind: audit.KindCompletion, Of: "evt_a,evt_b", Outcome: audit.Signed, At: at, Lane: 1, Seq: 5},
		{ID: "evt_d", Kind: audit.KindDecision, Decision: audit.Deny, At: at, Lane: 3, Seq: 1},
		{ID: "evt_e", Kind: audit.KindDecision, Decision: audit.Allow, At: at, Lane: 3, Seq: 2},
		{ID: "evt_f", Kind: audit.KindDecision, Decision: audit.Allow, At: at.Add(time.Hour), Lane: 0, Seq: 1},
	}
	got := audit.Unfinished(events, at.Add(time.Minute))
	if len(got) != 1 || got[0].Lane != 3 || got[0].Seq != 2 || !strings.Contains(got[0].Detail, "evt_e") {
		t.Fatalf("unfinished: %+v", got)
	}
	if got := audit.Unfinished(events, at); len(got) != 0 {
		t.Fatalf("decisions not older than the cutoff are in progress: %+v", got)
	}
}
