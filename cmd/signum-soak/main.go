// Command signum-soak is a bounded load run of the whole local service (`make soak`): several
// deployments, each with its agents signing over POST /sign in a loop (mostly one digest,
// some several, P-256 and RSA-2048 certificates, a few requests denied by policy), while
// every function's DynamoDB and KMS calls fail now and then as AWS's do (KMS internal errors,
// DynamoDB throttling; local.Options.Faults). At the end it checks, through the public API:
//
//   - every signature returned has its allow decision and a signed completion carrying the
//     signature's SHA-256 in its deployment's event log, no completion claims a signature
//     that was not returned, and GET /console/events/verify finds each log intact;
//   - every signature verifies with its certificate's public key;
//   - goroutines and the service's heap are flat: measured at two quiet moments, after the
//     warm-up and after the load (report.go states the rules).
//
// It prints a line per deployment, per failure cause and per sample, and a summary line:
//
//	summary soak duration_s=60 requests=… signed=… p50_ms=… p99_ms=… errors_kms=… errors_throttled=… unrecorded=0 …
//
// and exits 1 when a check fails.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/local"
)

type options struct {
	duration, warmup    time.Duration
	deployments, agents int
	kmsFault, ddbFault  float64
	mix                 mix
	seed                uint64
	logPath             string
}

func main() {
	// As early as can be: only allocations made after it are sampled at this rate.
	runtime.MemProfileRate = profileRate
	var o options
	flag.DurationVar(&o.duration, "duration", 60*time.Second, "how long the agents sign, warm-up included")
	flag.DurationVar(&o.warmup, "warmup", 0, "the warm-up, after which goroutines and heap are first sampled (default: a sixth of -duration, at most 10s)")
	flag.IntVar(&o.deployments, "deployments", 3, "deployments")
	flag.IntVar(&o.agents, "agents", 16, "concurrent agents per deployment")
	flag.Float64Var(&o.kmsFault, "kms-fault", 0.01, "share of KMS call attempts that fail with KMSInternalException (HTTP 500)")
	flag.Float64Var(&o.ddbFault, "ddb-fault", 0.01, "share of DynamoDB call attempts that are throttled (ProvisionedThroughputExceededException; a transaction is cancelled with ThrottlingError)")
	flag.Float64Var(&o.mix.deny, "deny", 0.02, "share of requests for a certificate no policy names (denied)")
	flag.Float64Var(&o.mix.multi, "multi", 0.05, "share of requests with 2 to 8 digests")
	flag.Uint64Var(&o.seed, "seed", 0, "random seed of the requests and faults (default: the time)")
	flag.StringVar(&o.logPath, "log", "", "file for the service's log (warnings and errors); none when empty")
	flag.Parse()
	if o.warmup <= 0 {
		o.warmup = min(o.duration/6, 10*time.Second)
	}
	if o.seed == 0 {
		o.seed = uint64(time.Now().UnixNano())
	}
	if o.duration <= o.warmup || o.deployments < 1 || o.agents < 1 {
		fmt.Fprintln(os.Stderr, "signum-soak: -duration must exceed the warm-up, and -deployments and -agents be at least 1")
		os.Exit(2)
	}
	failures, err := run(o, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "signum-soak:", err)
		os.Exit(1)
	}
	if len(failures) > 0 {
		for _, f := range failures {
			fmt.Fprintln(os.Stderr, "signum-soak: FAIL:", f)
		}
		os.Exit(1)
	}
}

// injector decides, per attempt of an AWS call, whether it fails, and counts what it
// injected.
type injector struct {
	on       atomic.Bool
	kms, ddb float64
	mu       sync.Mutex
	rng      *rand.Rand
	counts   sync.Map // "KMS:Sign:KMSInternalException" → *atomic.Int64
}

func (in *injector) fault(service, op string, input any) *local.Fault {
	if !in.on.Load() {
		return nil
	}
	p := 0.0
	switch service {
	case local.ServiceKMS:
		p = in.kms
	case local.ServiceDynamoDB:
		p = in.ddb
	}
	in.mu.Lock()
	hit := in.rng.Float64() < p
	in.mu.Unlock()
	if !hit {
		return nil
	}
	var f *local.Fault
	if service == local.ServiceKMS {
		f = local.KMSInternalFault()
	} else {
		f = local.DynamoDBThrottleFault(input)
	}
	_, code, _ := strings.Cut(f.Type, "#")
	if code == "" {
		code = f.Type
	}
	n, _ := in.counts.LoadOrStore(service+":"+op+":"+code, new(atomic.Int64))
	n.(*atomic.Int64).Add(1)
	return f
}

// injected is how many faults were injected, by service, operation and error.
func (in *injector) injected() map[string]int64 {
	out := map[string]int64{}
	in.counts.Range(func(k, v any) bool { out[k.(string)] = v.(*atomic.Int64).Load(); return true })
	return out
}

// run soaks and reports to w; it returns the checks that failed.
func run(o options, w io.Writer) ([]string, error) {
	began := time.Now()
	ctx := context.Background()
	logw := io.Discard
	if o.logPath != "" {
		f, err := os.Create(o.logPath)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		logw = f
	}
	inj := &injector{kms: o.kmsFault, ddb: o.ddbFault, rng: rand.New(rand.NewPCG(mix64(o.seed), mix64(o.seed+1)))}
	svcLog := newServiceLog(logw)
	srv, err := local.Start(ctx, local.Options{Addr: "127.0.0.1:0", TLSAddr: "127.0.0.1:0", Log: function.NewLogger(svcLog, "warn"),
		Limits: function.DefaultLimits(), Faults: inj.fault})
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	fx, err := newFixture(srv)
	if err != nil {
		return nil, err
	}
	transport := &http.Transport{MaxIdleConnsPerHost: 2 * o.agents * o.deployments}
	client := &http.Client{Transport: transport, Timeout: time.Minute}
	var deps []*deployment
	var agents []*agent
	for n := 1; n <= o.deployments; n++ {
		d, err := fx.deployment(ctx, n, o.agents)
		if err != nil {
			return nil, err
		}
		deps = append(deps, d)
		for i, u := range d.agents {
			t := &tokens{issue: func() (string, error) { return fx.token(ctx, d.id, u) }, ttl: function.TokenTTL}
			agents = append(agents, &agent{dep: d, n: i + 1, token: t.get, mix: o.mix, url: srv.URL, http: client,
				rng: rand.New(rand.NewPCG(mix64(o.seed+uint64(n)<<32+uint64(i)+2), mix64(o.seed^uint64(n)<<40^uint64(i))))})
		}
	}
	fmt.Fprintf(w, "soak setup %s\n", kv("deployments", len(deps), "agents", len(agents), "kms_fault", o.kmsFault, "ddb_fault", o.ddbFault,
		"seed", o.seed, "setup_s", time.Since(began).Seconds()))

	// closeIdle closes the idle connections of the agents' client to the service and of the
	// service's AWS clients to the stand-ins (a stand-in's Stop closes its idle keep-alive
	// connections; nothing is in flight then), so that both samples count the same pools:
	// none.
	closeIdle := func() {
		transport.CloseIdleConnections()
		for _, s := range []*devstack.Standin{srv.Stack.DynamoDB, srv.Stack.KMS, srv.Stack.S3} {
			s.Stop()
			if err := s.Start(); err != nil {
				panic(err) // the port is the stand-in's still: it cannot fail
			}
		}
	}
	// The warm-up fills the caches; then the first quiet sample, the load, and the second.
	inj.on.Store(true)
	phase(agents, o.warmup)
	start, err := quiesce(closeIdle)
	if err != nil {
		return nil, err
	}
	phase(agents, o.duration-o.warmup)
	end, err := quiesce(closeIdle)
	if err != nil {
		return nil, err
	}
	inj.on.Store(false)

	t := newTally()
	for _, a := range agents {
		for _, r := range a.out {
			t.add(r)
		}
	}
	var failures []string
	unrecorded, orphans := 0, 0
	intact := true
	for _, d := range deps {
		tok, err := fx.token(ctx, d.id, d.auditor)
		if err != nil {
			return nil, err
		}
		con := console{url: srv.URL, host: d.host, token: tok, http: client}
		evs, err := con.events(ctx)
		if err != nil {
			return nil, err
		}
		rc := checkRecords(t.returned[d.n], evs)
		v, err := con.verify(ctx)
		if err != nil {
			return nil, err
		}
		unrecorded += len(rc.unrecorded)
		orphans += len(rc.orphans)
		intact = intact && v.Intact
		fmt.Fprintf(w, "soak deployment %s\n", kv("host", d.host, "signatures", len(t.returned[d.n]), "events", len(evs),
			"allow", rc.decisions["allow"], "denied", t.deniedBy[d.n], "deny", rc.decisions["deny"], "completed_signed", rc.completions["signed"], "completed_other", otherOutcomes(rc.completions),
			"unrecorded", len(rc.unrecorded), "orphans", len(rc.orphans), "malformed", len(rc.malformed), "verified_events", v.Events, "intact", v.Intact))
		if len(rc.unrecorded) > 0 {
			failures = append(failures, fmt.Sprintf("%s: %d signatures returned without their records (e.g. decision %s)", d.host, len(rc.unrecorded), rc.unrecorded[0]))
		}
		if len(rc.orphans) > 0 {
			failures = append(failures, fmt.Sprintf("%s: %d completions claim signatures no client received (e.g. decision %s)", d.host, len(rc.orphans), rc.orphans[0]))
		}
		if rc.decisions["deny"] < t.deniedBy[d.n] {
			// A denial is recorded before it is answered: the log holds at least as many.
			failures = append(failures, fmt.Sprintf("%s: %d denials answered, %d recorded", d.host, t.deniedBy[d.n], rc.decisions["deny"]))
		}
		if len(rc.malformed) > 0 {
			failures = append(failures, fmt.Sprintf("%s: %d completions whose decisions and hashes differ in number", d.host, len(rc.malformed)))
		}
		if !v.Intact {
			failures = append(failures, fmt.Sprintf("%s: the event log does not verify: %d problems, e.g. %s", d.host, len(v.Problems), firstRaw(v.Problems)))
		}
	}
	for _, c := range sortedKeys(t.failed) {
		fmt.Fprintf(w, "soak failed %s\n", kv("answer", c, "requests", t.failed[c], "e.g.", t.example[c]))
	}
	svcLog.mu.Lock()
	for _, c := range sortedKeys(svcLog.causes) {
		fmt.Fprintf(w, "soak failed %s\n", kv("logged_cause", c, "requests", svcLog.causes[c]))
	}
	for _, c := range sortedKeys(svcLog.lines) {
		fmt.Fprintf(w, "soak log %s\n", kv("line", c, "count", svcLog.lines[c]))
	}
	svcLog.mu.Unlock()
	injected := inj.injected()
	for _, k := range sortedKeys(injected) {
		fmt.Fprintf(w, "soak injected %s\n", kv("call", k, "attempts", injected[k]))
	}
	for _, s := range []struct {
		name string
		s    sample
	}{{"start", start}, {"end", end}} {
		fmt.Fprintf(w, "soak sample %s\n", kv("at", s.name, "goroutines", s.s.goroutines, "heap_inuse_mb", mb(float64(s.s.heapInuse)),
			"service_heap_mb", mb(s.s.serviceHeap), "standin_heap_mb", mb(s.s.standinHeap), "soak_heap_mb", mb(s.s.soakHeap), "quiet", !s.s.noisy))
	}
	notFlat := flat(start, end)
	if len(notFlat) > 0 {
		// What grew, for whoever looks into it.
		g := growth(start.stacks, end.stacks, strconv.Itoa)
		for _, s := range g[:min(5, len(g))] {
			fmt.Fprintln(w, "soak grew goroutines", s)
		}
		h := growth(start.heapSites, end.heapSites, func(b float64) string { return fmt.Sprintf("%.0fKB", b/1024) })
		for _, s := range h[:min(8, len(h))] {
			fmt.Fprintln(w, "soak grew heap", s)
		}
	}
	failures = append(failures, notFlat...)
	if t.badSignatures > 0 {
		failures = append(failures, fmt.Sprintf("%d signatures do not verify with their certificate", t.badSignatures))
	}
	for _, u := range t.unexpected[:min(5, len(t.unexpected))] {
		failures = append(failures, "unexpected answer: "+u)
	}
	if t.signed == 0 {
		failures = append(failures, "nothing was signed")
	}
	all := t.failures()
	kmsErrs, throttled, otherErrs := svcLog.failures()
	verdict := "pass"
	if len(failures) > 0 {
		verdict = "fail"
	}
	fmt.Fprintf(w, "summary soak %s\n", kv("duration_s", o.duration.Seconds(), "deployments", len(deps), "agents", len(agents),
		"requests", t.requests, "signed", t.signed, "signatures", t.signatures, "denied", t.denied, "failed", all,
		"error_rate_pct", 100*float64(all)/float64(max(1, t.requests)),
		"p50_ms", ms(percentile(t.latencies, 50)), "p99_ms", ms(percentile(t.latencies, 99)),
		"errors_kms", kmsErrs, "errors_throttled", throttled, "errors_other", otherErrs, "unexpected", len(t.unexpected), "bad_signatures", t.badSignatures,
		"unrecorded", unrecorded, "orphans", orphans, "logs_intact", intact,
		"goroutines_start", start.goroutines, "goroutines_end", end.goroutines,
		"heap_start_mb", mb(float64(start.heapInuse)), "heap_end_mb", mb(float64(end.heapInuse)),
		"service_heap_start_mb", mb(start.serviceHeap), "service_heap_end_mb", mb(end.serviceHeap),
		"total_s", time.Since(began).Seconds(), "verdict", verdict))
	return failures, nil
}

// mix64 is SplitMix64's finaliser: nearby seeds (one per agent) give unrelated streams.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// otherOutcomes counts the completions that did not sign.
func otherOutcomes(completions map[string]int) int {
	n := 0
	for outcome, c := range completions {
		if outcome != "signed" {
			n += c
		}
	}
	return n
}

func firstRaw(r []json.RawMessage) string {
	if len(r) == 0 {
		return "none listed"
	}
	return string(r[0])
}
