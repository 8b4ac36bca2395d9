package updates

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/opensignum/signum/lib/fault"
)

// Window is a deployment's weekly maintenance window, in UTC: on each of Days, from Start
// for Duration. A scheduled update starts inside it.
type Window struct {
	// Days are weekday abbreviations: "mon" ... "sun".
	Days []string
	// Start is "HH:MM", UTC.
	Start    string
	Duration time.Duration
	Version  int64
	// UpdatedAt is zero for the default window (never set).
	UpdatedAt time.Time
}

// weekdays are the day names of a window, in time.Weekday order.
var weekdays = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// DefaultWindow is the window of a deployment that set none: every day, 01:00 to 05:00 UTC.
func DefaultWindow() Window {
	return Window{Days: []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}, Start: "01:00", Duration: 4 * time.Hour}
}

// ValidWindow checks a window as a caller sent it and returns it with its days in week
// order; every problem is reported at once as a field problem.
func ValidWindow(w Window) (Window, error) {
	var bad fault.Fields
	var days []string
	for _, d := range w.Days {
		d = strings.ToLower(strings.TrimSpace(d))
		if !slices.Contains(weekdays, d) {
			bad.Add("days", "%q is not one of mon, tue, wed, thu, fri, sat, sun", fault.Clip(d, 16))
			continue
		}
		if !slices.Contains(days, d) {
			days = append(days, d)
		}
	}
	if len(w.Days) == 0 {
		bad.Add("days", "name at least one day")
	}
	if _, err := time.Parse("15:04", w.Start); err != nil || len(w.Start) != 5 {
		bad.Add("start", "must be HH:MM (UTC), e.g. 01:00")
	}
	if w.Duration < 30*time.Minute || w.Duration > 24*time.Hour || w.Duration%time.Minute != 0 {
		bad.Add("durationMinutes", "must be whole minutes from 30 to 1440")
	}
	slices.SortFunc(days, func(a, b string) int { return slices.Index(weekdays, a) - slices.Index(weekdays, b) })
	w.Days = days
	return w, bad.Err()
}

// opening is when the window opens on t's UTC date, and whether it opens that day.
func (w Window) opening(day time.Time) (time.Time, bool) {
	st, err := time.Parse("15:04", w.Start)
	if err != nil {
		return time.Time{}, false
	}
	y, m, d := day.UTC().Date()
	open := time.Date(y, m, d, st.Hour(), st.Minute(), 0, 0, time.UTC)
	return open, slices.Contains(w.Days, weekdays[open.Weekday()])
}

// Contains reports whether t is inside the window (an opening of the day before may reach
// into t's day).
func (w Window) Contains(t time.Time) bool {
	for _, off := range []int{-1, 0} {
		open, ok := w.opening(t.AddDate(0, 0, off))
		if ok && !t.Before(open) && t.Before(open.Add(w.Duration)) {
			return true
		}
	}
	return false
}

// Next is the first time at or after t that is inside the window: t itself when it is.
func (w Window) Next(t time.Time) time.Time {
	if w.Contains(t) {
		return t
	}
	for off := 0; off <= 8; off++ {
		if open, ok := w.opening(t.AddDate(0, 0, off)); ok && !open.Before(t) {
			return open
		}
	}
	return t // a valid window opens every week; an invalid one never stops anything
}

// String says the window as a person reads it: "mon, wed 01:00 UTC for 4h0m0s".
func (w Window) String() string {
	return fmt.Sprintf("%s %s UTC for %s", strings.Join(w.Days, ", "), w.Start, w.Duration)
}
