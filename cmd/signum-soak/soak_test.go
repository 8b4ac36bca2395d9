package main

import (
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		var d []time.Duration
		for _, n := range ns {
			d = append(d, time.Duration(n)*time.Millisecond)
		}
		return d
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // 100 … 1, unsorted
	}
	for name, c := range map[string]struct {
		d    []time.Duration
		p    float64
		want time.Duration
	}{
		"ok/none":            {nil, 50, 0},
		"ok/one":             {ms(7), 99, 7 * time.Millisecond},
		"ok/p50-nearest":     {ms(hundred...), 50, 50 * time.Millisecond},
		"ok/p99-nearest":     {ms(hundred...), 99, 99 * time.Millisecond},
		"ok/p100-is-the-max": {ms(hundred...), 100, 100 * time.Millisecond},
		"ok/p99-of-ten":      {ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 1000), 99, time.Second},
	} {
		if got := percentile(c.d, c.p); got != c.want {
			t.Errorf("%s: %v, want %v", name, got, c.want)
		}
	}
}

func TestCheckRecords(t *testing.T) {
	// Three requests: one of one digest (decision d1), one of two (decision d2), one of two
	// as logs before one decision per request recorded it (d3, d5), and one denial.
	log := []event{
		{ID: "d1", Kind: "decision", Decision: "allow"},
		{ID: "d2", Kind: "decision", Decision: "allow"},
		{ID: "d3", Kind: "decision", Decision: "allow"},
		{ID: "d5", Kind: "decision", Decision: "allow"},
		{ID: "d4", Kind: "decision", Decision: "deny"},
		{ID: "c1", Kind: "completion", Outcome: "signed", Of: "d1", SignatureSHA256: "s1"},
		{ID: "c2", Kind: "completion", Outcome: "signed", Of: "d2", SignatureSHA256: "s2,s3"},
		{ID: "c3", Kind: "completion", Outcome: "signed", Of: "d3,d5", SignatureSHA256: "s4,s5"},
	}
	returned := map[string]string{"d1#0": "s1", "d2#0": "s2", "d2#1": "s3", "d3#0": "s4", "d5#0": "s5"}
	without := func(id string) []event {
		return slices.DeleteFunc(slices.Clone(log), func(e event) bool { return e.ID == id })
	}
	for name, c := range map[string]struct {
		returned               map[string]string
		log                    []event
		unrecorded, orphans    []string
		malformed              int
		allow, deny, completed int
	}{
		"ok/all-recorded":              {returned: returned, log: log, allow: 4, deny: 1, completed: 3},
		"fail/no-completion":           {returned: returned, log: without("c2"), unrecorded: []string{"d2#0", "d2#1"}, allow: 4, deny: 1, completed: 2},
		"fail/no-decision":             {returned: returned, log: without("d1"), unrecorded: []string{"d1#0"}, allow: 3, deny: 1, completed: 3},
		"fail/other-signature":         {returned: map[string]string{"d1#0": "other", "d2#0": "s2", "d2#1": "s3", "d3#0": "s4", "d5#0": "s5"}, log: log, unrecorded: []string{"d1#0"}, allow: 4, deny: 1, completed: 3},
		"fail/swapped-in-a-request":    {returned: map[string]string{"d1#0": "s1", "d2#0": "s3", "d2#1": "s2", "d3#0": "s4", "d5#0": "s5"}, log: log, unrecorded: []string{"d2#0", "d2#1"}, allow: 4, deny: 1, completed: 3},
		"fail/completion-of-a-denial":  {returned: map[string]string{"d4#0": "s6"}, log: append(slices.Clone(log), event{ID: "c4", Kind: "completion", Outcome: "signed", Of: "d4", SignatureSHA256: "s6"}), unrecorded: []string{"d4#0"}, orphans: []string{"d1#0", "d2#0", "d2#1", "d3#0", "d5#0"}, allow: 4, deny: 1, completed: 4},
		"fail/claimed-not-returned":    {returned: map[string]string{"d1#0": "s1"}, log: log, orphans: []string{"d2#0", "d2#1", "d3#0", "d5#0"}, allow: 4, deny: 1, completed: 3},
		"fail/failed-completion-shown": {returned: map[string]string{"d1#0": "s1"}, log: []event{log[0], {ID: "c1", Kind: "completion", Outcome: "failed", Of: "d1"}}, unrecorded: []string{"d1#0"}, allow: 1},
		"fail/malformed":               {returned: map[string]string{}, log: []event{{ID: "c9", Kind: "completion", Outcome: "signed", Of: "d1,d2", SignatureSHA256: "s1"}}, malformed: 1, completed: 1},
	} {
		got := checkRecords(c.returned, c.log)
		slices.Sort(got.unrecorded)
		slices.Sort(got.orphans)
		if !slices.Equal(got.unrecorded, c.unrecorded) || !slices.Equal(got.orphans, c.orphans) || len(got.malformed) != c.malformed {
			t.Errorf("%s: unrecorded %v orphans %v malformed %v; want %v, %v, %d", name, got.unrecorded, got.orphans, got.malformed, c.unrecorded, c.orphans, c.malformed)
		}
		if got.decisions["allow"] != c.allow || got.decisions["deny"] != c.deny || got.completions["signed"] != c.completed {
			t.Errorf("%s: counts %v %v", name, got.decisions, got.completions)
		}
	}
}

func TestTally(t *testing.T) {
	tl := newTally()
	for _, r := range []result{
		{dep: 1, status: 200, latency: time.Millisecond, signatures: []returned{{"d1", "s1"}, {"d2", "s2"}}},
		{dep: 2, status: 200, latency: time.Millisecond, signatures: []returned{{"d3", "s3"}}, badSignatures: 1},
		{dep: 1, status: 403, problem: "forbidden", denyCase: true},
		{dep: 1, status: 403, problem: "forbidden"},                                 // an allowed request denied
		{dep: 2, status: 200, denyCase: true, signatures: []returned{{"d9", "s9"}}}, // signed without a policy
		{dep: 1, status: 503, problem: "unavailable", retryAfter: "5"},
		{dep: 1, status: 503, problem: "unavailable", retryAfter: "5"},
		{dep: 2, status: 503, problem: "unavailable"},
		{dep: 2, status: 429, problem: "too-many-requests", retryAfter: "1"},
		{dep: 1, err: io.ErrUnexpectedEOF},
	} {
		tl.add(r)
	}
	if tl.requests != 10 || tl.signed != 2 || tl.signatures != 3 || tl.denied != 1 || tl.badSignatures != 1 || tl.deniedBy[1] != 1 {
		t.Errorf("counts: %+v", tl)
	}
	want := map[string]int{"503 unavailable retry-after=5": 2, "503 unavailable": 1, "429 too-many-requests retry-after=1": 1, "no answer": 1}
	if len(tl.failed) != len(want) || tl.failures() != 5 {
		t.Errorf("failed %v, want %v", tl.failed, want)
	}
	for k, n := range want {
		if tl.failed[k] != n {
			t.Errorf("failed[%q] = %d, want %d", k, tl.failed[k], n)
		}
	}
	if len(tl.unexpected) != 2 {
		t.Errorf("unexpected %q, want the denial of an allowed request and the signature without a policy", tl.unexpected)
	}
	if tl.returned[1]["d2"] != "s2" || tl.returned[2]["d3"] != "s3" || len(tl.returned[1]) != 2 {
		t.Errorf("returned %v", tl.returned)
	}
	if len(tl.latencies) != 9 {
		t.Errorf("%d latencies, want one per answer", len(tl.latencies))
	}
}

func TestPause(t *testing.T) {
	for name, c := range map[string]struct {
		r    result
		want time.Duration
	}{
		"ok/signed":                 {result{status: 200}, 0},
		"ok/denied":                 {result{status: 403}, 0},
		"ok/no-answer":              {result{err: io.EOF}, 0},
		"ok/limited":                {result{status: 429, retryAfter: "1"}, time.Second},
		"ok/kms-down":               {result{status: 503, retryAfter: "5"}, 5 * time.Second},
		"ok/unavailable-no-header":  {result{status: 503}, time.Second},
		"ok/unparsable-retry-after": {result{status: 503, retryAfter: "Wed, 21 Oct 2026 07:28:00 GMT"}, time.Second},
	} {
		if got := pause(c.r); got != c.want {
			t.Errorf("%s: %v, want %v", name, got, c.want)
		}
	}
}

func TestAWSCause(t *testing.T) {
	for name, c := range map[string]struct{ text, want string }{
		"ok/kms": {"keys: service unavailable: The key service is unavailable; retry later.: sign with KMS key k: operation error KMS: Sign, exceeded maximum number of attempts, 3, https response error StatusCode: 500, RequestID: b4e4, KMSInternalException: The request was rejected",
			"KMS:Sign KMSInternalException"},
		"ok/dynamodb-throttled": {"append event: operation error DynamoDB: PutItem, exceeded maximum number of attempts, 3, https response error StatusCode: 400, RequestID: 86, ProvisionedThroughputExceededException: The level",
			"DynamoDB:PutItem ProvisionedThroughputExceededException"},
		"ok/transaction-throttled": {"operation error DynamoDB: TransactWriteItems, https response error StatusCode: 400, RequestID: 1, TransactionCanceledException: Transaction cancelled, please refer cancellation reasons for specific reasons [ThrottlingError, None]",
			"DynamoDB:TransactWriteItems TransactionCanceledException/ThrottlingError"},
		"ok/generic-api-error": {"operation error DynamoDB: GetItem, https response error StatusCode: 400, RequestID: 1, api error ThrottlingException: slow down",
			"DynamoDB:GetItem ThrottlingException"},
		"ok/no-answer":      {"operation error KMS: Sign, https response error: dial tcp: connection refused", "KMS:Sign no error code"},
		"ok/not-an-aws-err": {"context deadline exceeded", "no AWS call named"},
	} {
		if got := awsCause(c.text); got != c.want {
			t.Errorf("%s: %q, want %q", name, got, c.want)
		}
	}
}

func TestServiceLogCountsFailuresByCause(t *testing.T) {
	var copied strings.Builder
	l := newServiceLog(&copied)
	lines := `{"level":"ERROR","msg":"request failed","status":503,"error":"operation error KMS: Sign, exceeded maximum number of attempts, 3, https response error StatusCode: 500, RequestID: 1, KMSInternalException: x"}
{"level":"ERROR","msg":"request failed","status":503,"error":"operation error DynamoDB: UpdateItem, exceeded maximum number of attempts, 3, https response error StatusCode: 400, RequestID: 2, ProvisionedThroughputExceededException: y"}
{"level":"ERROR","msg":"request failed","status":500,"error":"something else"}
{"level":"INFO","msg":"request refused","status":403}
{"level":"WARN","msg":"event checkpoint not moved"}
`
	// Written in pieces that cut lines, as a writer may be.
	for _, part := range []string{lines[:50], lines[50:333], lines[333:]} {
		if _, err := l.Write([]byte(part)); err != nil {
			t.Fatal(err)
		}
	}
	if copied.String() != lines {
		t.Error("the log is not passed on as written")
	}
	kms, throttled, other := l.failures()
	if kms != 1 || throttled != 1 || other != 1 {
		t.Errorf("kms %d throttled %d other %d; causes %v", kms, throttled, other, l.causes)
	}
	if l.lines["WARN event checkpoint not moved"] != 1 || l.lines["INFO request refused"] != 1 || l.causes["500 no AWS call named"] != 1 {
		t.Errorf("lines %v causes %v", l.lines, l.causes)
	}
}

func TestParseHeapProfile(t *testing.T) {
	// Rate 65536 (the header gives twice it). A record of 4 sampled objects of 1 MiB each is
	// scaled by 1/(1-exp(-16)) ≈ 1; one of 10 objects of 64 B by 1/(1-exp(-1/1024)) ≈ 1024.5.
	text := "heap profile: 15: 4195328 [20: 5000000] @ heap/131072\n" +
		"4: 4194304 [4: 4194304] @ 0x1 0x2\n" +
		"#\t0x1\tencoding/json.(*decodeState).object+0x73\t/go/json/decode.go:1\n" +
		"#\t0x2\tgithub.com/truora/minidyn/server.(*Server).putItem+0x9e\t/x/server.go:2\n" +
		"\n" +
		"10: 640 [16: 805696] @ 0x3\n" +
		"#\t0x3\tgithub.com/opensignum/signum/lib/store.(*Store).get+0x1\t/x/store.go:3\n" +
		"\n" +
		"1: 1048576 [1: 1048576] @ 0x4 0x5\n" +
		"#\t0x4\tencoding/hex.EncodeToString+0x1\t/go/hex.go:4\n" +
		"#\t0x5\tmain.(*agent).once+0x1\t/x/load.go:5\n" +
		"\n" +
		"# runtime.MemStats\n# Alloc = 123\n"
	hp, err := parseHeapProfile(text, partOf)
	if err != nil {
		t.Fatal(err)
	}
	near := func(got, want, tolerance float64) bool { return math.Abs(got-want) <= tolerance }
	if got := hp.bytes[partStandin]; !near(got, 4194304, 1) {
		t.Errorf("stand-in bytes %.0f, want ≈ 4194304", got)
	}
	if got := hp.bytes[partSoak]; !near(got, 1048576, 1) {
		t.Errorf("soak bytes %.0f, want ≈ 1048576", got)
	}
	if got := hp.bytes[partService]; !near(got, 655680, 100) {
		t.Errorf("service bytes %.0f, want ≈ 640 × 1024.5", got)
	}
	if site := hp.sites["github.com/opensignum/signum/lib/store.(*Store).get"]; len(hp.sites) != 1 || !near(site, hp.bytes[partService], 1) {
		t.Errorf("sites %v, want the service's one", hp.sites)
	}
	if _, err := parseHeapProfile("goroutine profile: total 3\n", partOf); err == nil {
		t.Error("fail/not-a-heap-profile: parsed")
	}
}

func TestGoroutineGrowth(t *testing.T) {
	start, err := parseGoroutineProfile("goroutine profile: total 3\n" +
		"2 @ 0x1 0x2\n#\t0x1\tnet/http.(*persistConn).readLoop+0x1\t/a.go:1\n#\t0x2\truntime.goexit+0x1\t/b.go:2\n\n" +
		"1 @ 0x3\n#\t0x3\tmain.main+0x1\t/c.go:3\n\n")
	if err != nil {
		t.Fatal(err)
	}
	end, err := parseGoroutineProfile("goroutine profile: total 9\n" +
		"7 @ 0x1 0x2\n#\t0x1\tnet/http.(*persistConn).readLoop+0x1\t/a.go:1\n#\t0x2\truntime.goexit+0x1\t/b.go:2\n\n" +
		"2 @ 0x4\n#\t0x4\tgithub.com/aws/smithy-go/middleware.decoratedHandler.Handle+0x1\t/d.go:4\n\n")
	if err != nil {
		t.Fatal(err)
	}
	if start["net/http.(*persistConn).readLoop < runtime.goexit"] != 2 || start["main.main"] != 1 {
		t.Errorf("start %v", start)
	}
	g := growth(start, end, strconv.Itoa)
	want := []string{"+5 net/http.(*persistConn).readLoop < runtime.goexit", "+2 github.com/aws/smithy-go/middleware.decoratedHandler.Handle"}
	if !slices.Equal(g, want) {
		t.Errorf("growth %q, want %q", g, want)
	}
	if inAWSCall(start) || !inAWSCall(end) {
		t.Error("inAWSCall does not tell a goroutine in an SDK call")
	}
}

func TestFlat(t *testing.T) {
	const mib = 1 << 20
	base := sample{goroutines: 30, serviceHeap: 6 * mib}
	for name, c := range map[string]struct {
		end  sample
		want int
	}{
		"ok/same":                    {sample{goroutines: 30, serviceHeap: 6 * mib}, 0},
		"ok/fewer":                   {sample{goroutines: 20, serviceHeap: 5 * mib}, 0},
		"ok/within-margins":          {sample{goroutines: 30 + goroutineMargin, serviceHeap: 6*mib + heapMargin}, 0},
		"fail/goroutines-grew":       {sample{goroutines: 31 + goroutineMargin, serviceHeap: 6 * mib}, 1},
		"fail/heap-grew":             {sample{goroutines: 30, serviceHeap: 6*mib + heapMargin + 1}, 1},
		"fail/both":                  {sample{goroutines: 300, serviceHeap: 600 * mib}, 2},
		"ok/stand-ins-may-grow-much": {sample{goroutines: 30, serviceHeap: 6 * mib, standinHeap: 900 * mib, heapInuse: 1000 * mib}, 0},
	} {
		if got := flat(base, c.end); len(got) != c.want {
			t.Errorf("%s: %q, want %d complaints", name, got, c.want)
		}
	}
	// A large heap may grow by heapGrowth.
	big := sample{serviceHeap: 200 * mib}
	if got := flat(big, sample{serviceHeap: 200 * mib * heapGrowth}); len(got) != 0 {
		t.Errorf("ok/large-heap-within-growth: %q", got)
	}
}
