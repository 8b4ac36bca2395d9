package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/activity"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// Pattern 54: a deployment's activity is counted per lane and day in the write that appends a
// request's last event with the lane's checkpoint, and read back summed over lanes, by day and
// hour; a name longer than the cap is cut, an unknown reason counts as "unknown".
func TestActivityCountedWithCheckpoints(t *testing.T) {
	f := newFixture(t)
	s := f.s
	ctx := context.Background()
	dep := tenant.NewID("dep_")
	day1 := time.Date(2026, 11, 30, 22, 15, 0, 0, time.UTC)
	day2 := day1.Add(3 * time.Hour) // 01:15 the next day
	long := strings.Repeat("x", 100)
	count := func(tl activity.Tally, lane int) {
		t.Helper()
		counted(t, s, dep, lane, store.Use{CertificateID: tl.CertificateID, N: tl.Signed, At: tl.At, Activity: &tl})
	}
	count(activity.Tally{At: day1, CertificateID: "crt_a", UserID: "cu_1", Agent: "agent-7", Signed: 3}, 0)
	count(activity.Tally{At: day1, CertificateID: "crt_b", UserID: "cu_2", Agent: long, Signed: 1}, 1)
	count(activity.Tally{At: day1, CertificateID: "crt_a", UserID: "cu_1", Denied: true, Reason: "policy-denies"}, 0)
	count(activity.Tally{At: day2, CertificateID: "crt_a", UserID: "cu_2", Failed: true}, 1)
	count(activity.Tally{At: day2, CertificateID: "crt_a", UserID: "cu_2", Denied: true}, 1) // no reason
	count(activity.Tally{At: day2, CertificateID: "crt_a", UserID: "cu_2", Signed: 2}, 0)

	days, err := s.Activity(ctx, dep, day1.Add(-48*time.Hour), day2)
	if err != nil {
		t.Fatal(err)
	}
	if len(days) != 2 || days[0].Date != "2026-11-30" || days[1].Date != "2026-12-01" {
		t.Fatalf("days: %+v", days)
	}
	d1, d2 := days[0], days[1]
	if d1.Signed != 4 || d1.Requests != 2 || d1.Denied != 1 || d1.Failed != 0 ||
		d1.ByCertificate["crt_a"] != 3 || d1.ByCertificate["crt_b"] != 1 || d1.ByUser["cu_1"] != 3 ||
		d1.ByAgent["agent-7"] != 3 || d1.ByAgent[long[:64]] != 1 || d1.DeniedBy["policy-denies"] != 1 ||
		d1.Hours[22] != (activity.Hour{Signed: 4, Denied: 1}) {
		t.Fatalf("day 1: %+v", d1)
	}
	if d2.Signed != 2 || d2.Failed != 1 || d2.Denied != 1 || d2.DeniedBy["unknown"] != 1 || d2.Hours[1] != (activity.Hour{Signed: 2, Failed: 1, Denied: 1}) {
		t.Fatalf("day 2: %+v", d2)
	}
	// The last hour at 01:40 is 00:00–02:00: day 2's counts only.
	if w := activity.Window(days, day2.Add(25*time.Minute-time.Hour), day2.Add(25*time.Minute)); w != (activity.Hour{Signed: 2, Failed: 1, Denied: 1}) {
		t.Fatalf("last hour: %+v", w)
	}
	if w := activity.Window(days, day2.Add(-24*time.Hour), day2); w != (activity.Hour{Signed: 6, Failed: 1, Denied: 2}) {
		t.Fatalf("last day: %+v", w)
	}
	// A range that holds no counted day reads nothing; another deployment's counts are apart.
	if days, err := s.Activity(ctx, dep, day2.Add(48*time.Hour), day2.Add(72*time.Hour)); err != nil || len(days) != 0 {
		t.Fatalf("empty range: %+v %v", days, err)
	}
	if days, err := s.Activity(ctx, tenant.NewID("dep_"), day1, day2); err != nil || len(days) != 0 {
		t.Fatalf("other deployment: %+v %v", days, err)
	}
}

// Agent ids are what clients report: an item counts at most MaxActivityAgents distinct names,
// signatures of later names count under OtherAgents (known names keep counting), and a
// name is cut at a character's boundary.
func TestActivityAgentsBounded(t *testing.T) {
	f := newFixture(t)
	s := f.s
	ctx := context.Background()
	dep := tenant.NewID("dep_")
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	count := func(agent string) {
		t.Helper()
		tl := activity.Tally{At: at, CertificateID: "crt_a", UserID: "cu_1", Agent: agent, Signed: 1}
		counted(t, s, dep, 0, store.Use{CertificateID: "crt_a", N: 1, At: at, Activity: &tl})
	}
	for i := range store.MaxActivityAgents + 5 {
		count(fmt.Sprintf("agent-%03d", i))
	}
	count("agent-000") // known: still counted by name
	// Another instance, which has not seen the item count the name, learns from the refused
	// condition that it does.
	tl := activity.Tally{At: at, CertificateID: "crt_a", UserID: "cu_1", Agent: "agent-000", Signed: 1}
	counted(t, store.New(f.tg.Clients.DynamoDB, f.tg.Table, randomKey()), dep, 0, store.Use{CertificateID: "crt_a", N: 1, At: at, Activity: &tl})
	accents := strings.Repeat("é", 40)
	count(accents) // new, past the bound
	days, err := s.Activity(ctx, dep, at, at)
	if err != nil || len(days) != 1 {
		t.Fatalf("%+v %v", days, err)
	}
	d := days[0]
	if d.Signed != store.MaxActivityAgents+8 || d.ByAgent["agent-000"] != 3 || d.ByAgent[store.OtherAgents] != 6 ||
		len(d.ByAgent) != store.MaxActivityAgents+1 || d.ByAgent["agent-100"] != 0 {
		t.Fatalf("agents: %d names, other %d, agent-000 %d, signed %d", len(d.ByAgent), d.ByAgent[store.OtherAgents], d.ByAgent["agent-000"], d.Signed)
	}
	// Under the bound, a long name is cut to 64 bytes on a character's boundary.
	dep2 := tenant.NewID("dep_")
	tl = activity.Tally{At: at, CertificateID: "crt_a", Agent: accents + "\xff", Signed: 1}
	counted(t, s, dep2, 0, store.Use{CertificateID: "crt_a", N: 1, At: at, Activity: &tl})
	days, _ = s.Activity(ctx, dep2, at, at)
	if len(days) != 1 || days[0].ByAgent[strings.Repeat("é", 32)] != 1 {
		t.Fatalf("cut name: %+v", days)
	}
}
