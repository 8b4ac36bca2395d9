package main

import (
	"bufio"
	"fmt"
	"math"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"time"
)

// profileRate is the heap profile's sampling rate (runtime.MemProfileRate): an allocation
// is sampled once per this many bytes on average. Finer than the default 512 KiB, so that
// the service's share of the heap is estimated within a few hundred KiB.
const profileRate = 64 << 10

// standinPackages are the stand-ins that run in this process: what they hold (the table's
// items above all) grows with every event written, as the table would in AWS, and is not
// the service's memory.
var standinPackages = []string{
	"github.com/truora/minidyn",
	"github.com/nsmithuk/local-kms",
	"github.com/syndtr/goleveldb",
	"github.com/johannesboyne/gofakes3",
}

// sample is the process's state at a quiet moment: no request in flight, the clients' idle
// connections closed, the garbage collected.
type sample struct {
	goroutines int
	// heapInuse is runtime.MemStats.HeapInuse: the whole heap, stand-ins included.
	heapInuse uint64
	// serviceHeap, standinHeap and soakHeap split the live heap, as the heap profile
	// estimates it (partOf): the service, the stand-ins, this program.
	serviceHeap, standinHeap, soakHeap float64
	// stacks are the goroutines by stack, to say which grew when their number does.
	stacks map[string]int
	// heapSites are the service's live bytes by allocation site, to say which grew when
	// its heap does.
	heapSites map[string]float64
	// noisy says that AWS calls were still in flight when the sample was taken.
	noisy bool
}

// quiesce waits for a quiet moment and samples: no AWS call in flight or waiting to be
// retried (background work of the service included: an SDK retry can wait seconds), and, once
// closeIdle has closed the idle connections (the load client's to the service, the service's
// to the stand-ins), the goroutine count settled. Then it collects the garbage and samples.
// It gives up waiting after maxQuiet, and says so.
func quiesce(closeIdle func()) (sample, error) {
	var s sample
	deadline := time.Now().Add(maxQuiet)
	for {
		stacks, err := goroutines()
		if err != nil {
			return s, err
		}
		if !inAWSCall(stacks) {
			break
		}
		if time.Now().After(deadline) {
			s.noisy = true
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	closeIdle()
	prev := -1
	for range 50 {
		time.Sleep(100 * time.Millisecond)
		n := runtime.NumGoroutine()
		if n == prev {
			break
		}
		prev = n
	}
	// The heap profile is as of the last completed collection and counts frees only once
	// swept: collect until it is current.
	for range 3 {
		runtime.GC()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.heapInuse = ms.HeapInuse
	var b strings.Builder
	if err := pprof.Lookup("heap").WriteTo(&b, 1); err != nil {
		return s, err
	}
	hp, err := parseHeapProfile(b.String(), partOf)
	if err != nil {
		return s, err
	}
	s.serviceHeap, s.standinHeap, s.soakHeap, s.heapSites = hp.bytes[partService], hp.bytes[partStandin], hp.bytes[partSoak], hp.sites
	if s.stacks, err = goroutines(); err != nil {
		return s, err
	}
	s.goroutines = runtime.NumGoroutine()
	return s, nil
}

// maxQuiet is how long quiesce waits for the AWS calls in flight to end: longer than the
// SDK's retries of a call take (3 attempts, backoffs of up to 2 s and 4 s).
const maxQuiet = 20 * time.Second

// goroutines are the process's goroutines by stack.
func goroutines() (map[string]int, error) {
	var b strings.Builder
	if err := pprof.Lookup("goroutine").WriteTo(&b, 1); err != nil {
		return nil, err
	}
	return parseGoroutineProfile(b.String())
}

// inAWSCall reports whether a goroutine is in an AWS SDK call (in its middleware stack,
// sending, or waiting to retry).
func inAWSCall(stacks map[string]int) bool {
	for s := range stacks {
		if strings.Contains(s, "github.com/aws/smithy-go/middleware.") {
			return true
		}
	}
	return false
}

// The parts of this process's heap.
const (
	partService = "service"
	partStandin = "stand-ins"
	partSoak    = "soak"
)

// partOf tells which part of the process allocated what a stack allocated: a stand-in, this
// program (its agents keep every result until the end), or else the service (its functions,
// the gateway, their SDK clients).
func partOf(stack []string) string {
	soak := false
	for _, fn := range stack {
		for _, p := range standinPackages {
			if strings.HasPrefix(fn, p) {
				return partStandin
			}
		}
		soak = soak || strings.HasPrefix(fn, "main.")
	}
	if soak {
		return partSoak
	}
	return partService
}

// heapProfile is a heap profile's estimate of the live heap.
type heapProfile struct {
	// bytes are the live bytes by part (whatever classify says of a record's stack).
	bytes map[string]float64
	// sites are the live bytes of the part named "service" by allocation site: the stack's
	// functions, innermost first, up to siteDepth of them.
	sites map[string]float64
}

// siteDepth is how many frames name an allocation site.
const siteDepth = 8

// parseHeapProfile reads a heap profile in its text form (pprof debug=1) and estimates the
// live bytes of each part of the program, as classify tells them apart by a record's stack
// (its functions, innermost first). The profile holds sampled counts; each record is scaled
// back as pprof does (an allocation of size s is sampled with probability 1-exp(-s/rate)).
func parseHeapProfile(text string, classify func(stack []string) string) (heapProfile, error) {
	hp := heapProfile{bytes: map[string]float64{}, sites: map[string]float64{}}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	if !sc.Scan() {
		return hp, fmt.Errorf("empty heap profile")
	}
	header := sc.Text()
	_, rateText, ok := strings.Cut(header, "@ heap/")
	if !strings.HasPrefix(header, "heap profile: ") || !ok {
		return hp, fmt.Errorf("heap profile header %q", header)
	}
	rate, err := strconv.ParseFloat(strings.TrimSpace(rateText), 64)
	if err != nil || rate <= 0 {
		return hp, fmt.Errorf("heap profile rate %q", rateText)
	}
	rate /= 2 // the header gives twice the sampling rate
	var bytes, objects float64
	var frames []string
	flush := func() {
		if objects > 0 && bytes > 0 {
			scaled := bytes / (1 - math.Exp(-(bytes/objects)/rate))
			part := classify(frames)
			hp.bytes[part] += scaled
			if part == partService {
				hp.sites[strings.Join(frames[:min(siteDepth, len(frames))], " < ")] += scaled
			}
		}
		bytes, objects, frames = 0, 0, nil
	}
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "#\t"):
			// "#\t0x4d9d33\tmain.deep+0x73\t/tmp/main.go:14"
			if f := strings.Split(line, "\t"); len(f) >= 3 {
				fn, _, _ := strings.Cut(f[2], "+0x")
				frames = append(frames, fn)
			}
		case strings.Contains(line, " @ "):
			// "1: 384 [1: 384] @ 0x47c3c5 0x47f8a7": in-use objects and bytes first.
			flush()
			var o, b, ao, ab int64
			if _, err := fmt.Sscanf(line, "%d: %d [%d: %d]", &o, &b, &ao, &ab); err != nil {
				return hp, fmt.Errorf("heap profile record %q: %w", line, err)
			}
			objects, bytes = float64(o), float64(b)
		case strings.HasPrefix(line, "# runtime.MemStats"):
			flush()
			return hp, nil
		}
	}
	flush()
	return hp, sc.Err()
}

// parseGoroutineProfile reads a goroutine profile in its text form (pprof debug=1) into the
// number of goroutines by stack (its functions, innermost first, joined by " < ").
func parseGoroutineProfile(text string) (map[string]int, error) {
	out := map[string]int{}
	var count int
	var frames []string
	flush := func() {
		if count > 0 {
			out[strings.Join(frames, " < ")] += count
		}
		count, frames = 0, nil
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "goroutine profile:"):
		case strings.HasPrefix(line, "#\t"):
			if f := strings.Split(line, "\t"); len(f) >= 3 {
				fn, _, _ := strings.Cut(f[2], "+0x")
				frames = append(frames, fn)
			}
		case strings.Contains(line, " @ "):
			flush()
			n, err := strconv.Atoi(strings.TrimSpace(line[:strings.Index(line, " @ ")]))
			if err != nil {
				return nil, fmt.Errorf("goroutine profile record %q: %w", line, err)
			}
			count = n
		}
	}
	flush()
	return out, sc.Err()
}

// growth lists the keys with more in end than in start, most first, each with its growth as
// format writes it ("+5 <stack>").
func growth[N int | float64](start, end map[string]N, format func(N) string) []string {
	type grown struct {
		key string
		n   N
	}
	var g []grown
	for k, n := range end {
		if d := n - start[k]; d > 0 {
			g = append(g, grown{k, d})
		}
	}
	sort.Slice(g, func(i, j int) bool { return g[i].n > g[j].n || g[i].n == g[j].n && g[i].key < g[j].key })
	out := make([]string, len(g))
	for i, x := range g {
		out[i] = "+" + format(x.n) + " " + x.key
	}
	return out
}
