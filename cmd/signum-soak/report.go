package main

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// The flatness rules, on the two quiet samples (after the warm-up and after the load; see
// quiesce): the run fails when, at the end,
//   - there are more than goroutineMargin goroutines more than after the warm-up: with no
//     request in flight and no AWS call pending, and every idle connection closed (the
//     agents' to the service, the service's to the stand-ins), what is left is the
//     service's and the stand-ins' standing goroutines; a goroutine left behind per
//     request, per failure or per retry would add hundreds;
//   - the service's live heap (partOf: not the stand-ins' data, which grows with the table
//     as it would in AWS, nor this program's record of every answer) is more than
//     heapMargin bytes or heapGrowth times larger than after the warm-up, whichever allows
//     more: its caches fill during the warm-up and are bounded; what grows with the number
//     of requests beyond that is a leak. Over a 60-second run (some 10,000 requests here)
//     that catches a leak of half a kilobyte a request; a longer run, smaller ones.
const (
	goroutineMargin = 10
	heapMargin      = 4 << 20
	heapGrowth      = 1.25
)

// tally adds up the results.
type tally struct {
	requests, signatures, signed, denied int
	// failed counts the requests that failed, by cause ("503 unavailable retry-after=5").
	failed map[string]int
	// example is the first detail (or error) of each cause.
	example map[string]string
	// unexpected are answers that contradict the fixture: a signature for the certificate no
	// policy names, a denial of an allowed one, a 200 that is not the signatures asked for.
	unexpected    []string
	badSignatures int
	latencies     []time.Duration
	// returned are the signatures returned, per deployment: decision id → SHA-256.
	returned map[int]map[string]string
	// deniedBy counts the denials per deployment.
	deniedBy map[int]int
}

func newTally() *tally {
	return &tally{failed: map[string]int{}, example: map[string]string{}, returned: map[int]map[string]string{}, deniedBy: map[int]int{}}
}

func (t *tally) add(r result) {
	t.requests++
	if r.err != nil {
		t.fail("no answer", r.err.Error())
		if strings.HasPrefix(r.err.Error(), "200 with") {
			t.unexpected = append(t.unexpected, r.err.Error())
		}
		return
	}
	t.latencies = append(t.latencies, r.latency)
	switch {
	case r.status == 200 && r.denyCase:
		t.unexpected = append(t.unexpected, fmt.Sprintf("deployment %d signed with the certificate no policy names", r.dep))
	case r.status == 200:
		t.signed++
		t.signatures += len(r.signatures)
		t.badSignatures += r.badSignatures
		if t.returned[r.dep] == nil {
			t.returned[r.dep] = map[string]string{}
		}
		for _, s := range r.signatures {
			t.returned[r.dep][s.decision] = s.sigSHA
		}
	case r.status == 403 && r.problem == "forbidden" && r.denyCase:
		t.denied++
		t.deniedBy[r.dep]++
	case r.status == 403 && r.problem == "forbidden":
		t.unexpected = append(t.unexpected, fmt.Sprintf("deployment %d denied an allowed request: %s", r.dep, r.detail))
	default:
		t.fail(cause(r.status, r.problem, r.retryAfter), r.detail)
	}
}

func (t *tally) fail(cause, detail string) {
	t.failed[cause]++
	if _, ok := t.example[cause]; !ok {
		t.example[cause] = detail
	}
}

// cause names why a request failed as its client sees it: the status, the problem type and
// the Retry-After the answer gives (5xx details are fixed; the service's log has the cause).
func cause(status int, problem, retryAfter string) string {
	c := fmt.Sprintf("%d %s", status, problem)
	if retryAfter != "" {
		c += " retry-after=" + retryAfter
	}
	return c
}

// failures is how many requests failed.
func (t *tally) failures() int {
	all := 0
	for _, n := range t.failed {
		all += n
	}
	return all
}

// percentile is the nearest-rank p-th percentile of d (sorted in place); 0 for none.
func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	i := int(math.Ceil(p/100*float64(len(d)))) - 1
	return d[min(max(i, 0), len(d)-1)]
}

// flat says what the samples break of the flatness rules.
func flat(start, end sample) []string {
	var out []string
	if end.goroutines > start.goroutines+goroutineMargin {
		out = append(out, fmt.Sprintf("goroutines grew from %d to %d (allowed: %d more)", start.goroutines, end.goroutines, goroutineMargin))
	}
	if limit := max(start.serviceHeap+heapMargin, start.serviceHeap*heapGrowth); end.serviceHeap > limit {
		out = append(out, fmt.Sprintf("the service's heap grew from %.1f MB to %.1f MB (allowed: %.1f MB)", mb(start.serviceHeap), mb(end.serviceHeap), mb(limit)))
	}
	return out
}

func mb(b float64) float64 { return b / (1 << 20) }

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// kv formats key=value pairs for the report's lines, in order.
func kv(pairs ...any) string {
	var b strings.Builder
	for i := 0; i+1 < len(pairs); i += 2 {
		if i > 0 {
			b.WriteByte(' ')
		}
		switch v := pairs[i+1].(type) {
		case float64:
			// Four significant digits, never an exponent for what this reports.
			switch a := math.Abs(v); {
			case a >= 1e4:
				fmt.Fprintf(&b, "%s=%.0f", pairs[i], v)
			case a > 0 && a < 1e-3:
				fmt.Fprintf(&b, "%s=%.6f", pairs[i], v)
			default:
				fmt.Fprintf(&b, "%s=%.4g", pairs[i], v)
			}
		case string:
			if strings.ContainsAny(v, " =\"") || v == "" {
				fmt.Fprintf(&b, "%s=%q", pairs[i], v)
			} else {
				fmt.Fprintf(&b, "%s=%s", pairs[i], v)
			}
		default:
			fmt.Fprintf(&b, "%s=%v", pairs[i], v)
		}
	}
	return b.String()
}
