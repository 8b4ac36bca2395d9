// Package activity is what a deployment's signing adds up to: signatures per day and
// certificate, failures, denials by reason, the users and agents who sign most, and the same
// per hour for the last day. The signer counts each request once, in the write that moves its
// event lane's checkpoint (store.Tally), so the dashboard and the health page read a few
// counter items per day instead of the event log.
//
// The counts are statistics, not the record: the event log is. A count whose write failed is
// lost (the signer logs it) and a request counted twice is not possible (one write per
// request), but a count may be missing.
package activity

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// DateLayout is how a Day's date is written.
const DateLayout = "2006-01-02"

// Tally is what one signing request adds to its deployment's activity.
type Tally struct {
	At            time.Time
	CertificateID string
	UserID        string
	// Agent names the client that asked: the agent id it reported, or for a CI job's session
	// its repository; "" when neither is known.
	Agent string
	// Signed is how many signatures the request returned (a request with 64 digests counts
	// 64), Failed and Denied whether the request failed (allowed, not signed) or was denied.
	Signed         int
	Failed, Denied bool
	// Reason is a denial's reason (a policy.Decision's Code).
	Reason string
}

// Hour is the activity of one hour.
type Hour struct {
	Signed, Failed, Denied int
}

// Day is a deployment's activity on one UTC day.
type Day struct {
	Date                   string // DateLayout
	Signed, Failed, Denied int
	// Requests is how many requests signed (a request with several digests counts once).
	Requests int
	// ByCertificate, ByUser, ByAgent count signatures; DeniedBy counts denied requests by
	// reason.
	ByCertificate, ByUser, ByAgent, DeniedBy map[string]int
	Hours                                    [24]Hour
}

// Add adds o's counts to d (both the same date).
func (d *Day) Add(o Day) {
	d.Signed += o.Signed
	d.Failed += o.Failed
	d.Denied += o.Denied
	d.Requests += o.Requests
	d.ByCertificate = addCounts(d.ByCertificate, o.ByCertificate)
	d.ByUser = addCounts(d.ByUser, o.ByUser)
	d.ByAgent = addCounts(d.ByAgent, o.ByAgent)
	d.DeniedBy = addCounts(d.DeniedBy, o.DeniedBy)
	for h := range d.Hours {
		d.Hours[h].Signed += o.Hours[h].Signed
		d.Hours[h].Failed += o.Hours[h].Failed
		d.Hours[h].Denied += o.Hours[h].Denied
	}
}

func addCounts(into, from map[string]int) map[string]int {
	if len(from) == 0 {
		return into
	}
	if into == nil {
		into = map[string]int{}
	}
	for k, n := range from {
		into[k] += n
	}
	return into
}

// Window sums days' hours whose clock hour starts in [from truncated to the hour, to): with
// from an hour before now, the current and the previous clock hour. Days are UTC dates.
func Window(days []Day, from, to time.Time) Hour {
	var sum Hour
	from = from.UTC().Truncate(time.Hour)
	for _, d := range days {
		date, err := time.Parse(DateLayout, d.Date)
		if err != nil {
			continue
		}
		for h, c := range d.Hours {
			if start := date.Add(time.Duration(h) * time.Hour); !start.Before(from) && start.Before(to) {
				sum.Signed += c.Signed
				sum.Failed += c.Failed
				sum.Denied += c.Denied
			}
		}
	}
	return sum
}

// Count is one name's count in a ranking.
type Count struct {
	Name string
	N    int
}

// Top ranks the counts that pick selects over days, highest first (ties by name), at most n.
func Top(days []Day, pick func(Day) map[string]int, n int) []Count {
	sum := map[string]int{}
	for _, d := range days {
		for k, v := range pick(d) {
			sum[k] += v
		}
	}
	out := make([]Count, 0, len(sum))
	for k, v := range sum {
		if v > 0 {
			out = append(out, Count{Name: k, N: v})
		}
	}
	slices.SortFunc(out, func(a, b Count) int {
		if c := cmp.Compare(b.N, a.N); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// Summary is a deployment's activity over a range of days, as the dashboard shows it.
type Summary struct {
	From, To string // DateLayout, both included
	// Days has one entry per date from From to To, days without activity included (their
	// counts zero, ByCertificate nil).
	Days                   []Day
	Signed, Failed, Denied int
	// Certificates are the ids that appear in Days' ByCertificate, sorted.
	Certificates []string
	// DeniedBy, TopUsers and TopAgents rank the range's denials by reason and signatures by
	// user and by agent (at most TopN each).
	DeniedBy, TopUsers, TopAgents []Count
}

// TopN is how many users and agents a Summary ranks.
const TopN = 10

// Summarize sums days (as Store.Activity reads them, any order) over the dates from from's to
// to's. keep, when not nil, says which certificates may be shown: the others are left out of
// Days and the totals count only the kept certificates' signatures (the rankings and the
// failures and denials, which are not split by certificate, are then left empty).
func Summarize(days []Day, from, to time.Time, keep func(certificateID string) bool) Summary {
	from, to = from.UTC().Truncate(24*time.Hour), to.UTC().Truncate(24*time.Hour)
	s := Summary{From: from.Format(DateLayout), To: to.Format(DateLayout)}
	byDate := map[string]Day{}
	for _, d := range days {
		sum := byDate[d.Date]
		sum.Date = d.Date
		sum.Add(d)
		byDate[d.Date] = sum
	}
	certs := map[string]bool{}
	var kept []Day
	for t := from; !t.After(to); t = t.Add(24 * time.Hour) {
		date := t.Format(DateLayout)
		d, ok := byDate[date]
		if !ok {
			d = Day{Date: date}
		}
		if keep != nil {
			d = d.only(keep)
		}
		for id := range d.ByCertificate {
			certs[id] = true
		}
		s.Signed += d.Signed
		s.Failed += d.Failed
		s.Denied += d.Denied
		s.Days = append(s.Days, d)
		kept = append(kept, d)
	}
	for id := range certs {
		s.Certificates = append(s.Certificates, id)
	}
	slices.Sort(s.Certificates)
	if keep == nil {
		s.DeniedBy = Top(kept, func(d Day) map[string]int { return d.DeniedBy }, 100) // a handful of reasons
		s.TopUsers = Top(kept, func(d Day) map[string]int { return d.ByUser }, TopN)
		s.TopAgents = Top(kept, func(d Day) map[string]int { return d.ByAgent }, TopN)
	}
	return s
}

// only is d with only the kept certificates' signatures, and nothing that is not split by
// certificate.
func (d Day) only(keep func(string) bool) Day {
	out := Day{Date: d.Date}
	for id, n := range d.ByCertificate {
		if keep(id) {
			out.ByCertificate = addCounts(out.ByCertificate, map[string]int{id: n})
			out.Signed += n
		}
	}
	return out
}
