package updates

import (
	"slices"
	"testing"
	"time"
)

func TestWindow(t *testing.T) {
	w, err := ValidWindow(Window{Days: []string{"sun", "Sat"}, Start: "23:00", Duration: 2 * time.Hour})
	if err != nil || !slices.Equal(w.Days, []string{"sun", "sat"}) {
		t.Fatalf("%+v %v", w, err)
	}
	sat23 := time.Date(2026, 12, 5, 23, 30, 0, 0, time.UTC) // a Saturday
	for name, tc := range map[string]struct {
		at   time.Time
		in   bool
		next time.Time
	}{
		"ok/inside":             {sat23, true, sat23},
		"ok/past-midnight":      {sat23.Add(time.Hour), true, sat23.Add(time.Hour)},
		"fail/after":            {sat23.Add(2 * time.Hour), false, time.Date(2026, 12, 6, 23, 0, 0, 0, time.UTC)},
		"fail/weekday":          {time.Date(2026, 12, 3, 23, 30, 0, 0, time.UTC), false, time.Date(2026, 12, 5, 23, 0, 0, 0, time.UTC)},
		"fail/monday-carryover": {time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC), false, time.Date(2026, 12, 12, 23, 0, 0, 0, time.UTC)},
	} {
		if got := w.Contains(tc.at); got != tc.in {
			t.Errorf("%s: contains %v", name, got)
		}
		if got := w.Next(tc.at); !got.Equal(tc.next) {
			t.Errorf("%s: next %v, want %v", name, got, tc.next)
		}
	}
	if _, err := ValidWindow(Window{Days: []string{"funday"}, Start: "25:00", Duration: time.Minute}); err == nil {
		t.Fatal("a bad window passed")
	}
}

func TestPath(t *testing.T) {
	rs := []Release{{Version: "0.2.0", MinFrom: "0.1.0"}, {Version: "0.3.0", MinFrom: "0.2.0"}, {Version: "0.3.1", MinFrom: "0.2.0"}, {Version: "1.0.0", MinFrom: "0.3.1"}}
	SortReleases(rs)
	for from, want := range map[string][]string{"0.1.0": {"0.2.0", "0.3.1", "1.0.0"}, "0.2.0": {"0.3.1", "1.0.0"}, "0.3.1": {"1.0.0"}, "1.0.0": nil} {
		if got := Path(rs, from, "1.0.0"); !slices.Equal(got, want) {
			t.Errorf("from %s: %v, want %v", from, got, want)
		}
	}
	if v, err := ParseVersion("01.2.3"); err == nil {
		t.Fatalf("leading zero parsed: %v", v)
	}
}
