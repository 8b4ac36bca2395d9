package activity

import (
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	day := func(date string, certs map[string]int, users map[string]int, denied map[string]int) Day {
		d := Day{Date: date, ByCertificate: certs, ByUser: users, DeniedBy: denied}
		for _, n := range certs {
			d.Signed += n
		}
		for _, n := range denied {
			d.Denied += n
		}
		return d
	}
	days := []Day{
		// Two lanes' items of the same day, read apart.
		day("2026-12-01", map[string]int{"crt_a": 3}, map[string]int{"cu_1": 3}, nil),
		day("2026-12-01", map[string]int{"crt_b": 2}, map[string]int{"cu_2": 2}, map[string]int{"no-policy-allows": 1}),
		day("2026-12-03", map[string]int{"crt_a": 1}, map[string]int{"cu_2": 1}, map[string]int{"policy-denies": 2}),
		day("2026-11-01", map[string]int{"crt_c": 9}, nil, nil), // outside the range
	}
	from := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	to := time.Date(2026, 12, 3, 18, 0, 0, 0, time.UTC)

	s := Summarize(days, from, to, nil)
	if s.From != "2026-11-30" || s.To != "2026-12-03" || len(s.Days) != 4 || s.Days[0].Signed != 0 || s.Days[1].Signed != 5 || s.Days[2].Date != "2026-12-02" {
		t.Fatalf("days: %+v", s)
	}
	if s.Signed != 6 || s.Denied != 3 || len(s.Certificates) != 2 || s.Certificates[0] != "crt_a" {
		t.Fatalf("totals: %+v", s)
	}
	if len(s.TopUsers) != 2 || s.TopUsers[0] != (Count{"cu_1", 3}) || s.TopUsers[1] != (Count{"cu_2", 3}) {
		t.Fatalf("top users (ties by name): %+v", s.TopUsers)
	}
	if len(s.DeniedBy) != 2 || s.DeniedBy[0] != (Count{"policy-denies", 2}) {
		t.Fatalf("denied by: %+v", s.DeniedBy)
	}

	scoped := Summarize(days, from, to, func(id string) bool { return id == "crt_b" })
	if scoped.Signed != 2 || scoped.Denied != 0 || len(scoped.Certificates) != 1 || scoped.TopUsers != nil || scoped.DeniedBy != nil {
		t.Fatalf("scoped: %+v", scoped)
	}
}

func TestWindowAndTop(t *testing.T) {
	d := Day{Date: "2026-12-03"}
	d.Hours[9] = Hour{Signed: 1}
	d.Hours[10] = Hour{Signed: 2, Failed: 1}
	d.Hours[11] = Hour{Denied: 4}
	now := time.Date(2026, 12, 3, 11, 20, 0, 0, time.UTC)
	if w := Window([]Day{d}, now.Add(-time.Hour), now); w != (Hour{Signed: 2, Failed: 1, Denied: 4}) {
		t.Fatalf("last hour: %+v", w)
	}
	if top := Top([]Day{{ByAgent: map[string]int{"a": 1, "b": 5, "c": 0}}}, func(d Day) map[string]int { return d.ByAgent }, 1); len(top) != 1 || top[0].Name != "b" {
		t.Fatalf("top: %+v", top)
	}
}
