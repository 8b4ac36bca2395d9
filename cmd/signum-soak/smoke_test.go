package main

import (
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	runtime.MemProfileRate = profileRate // as main sets it, before the run allocates
	os.Exit(m.Run())
}

// TestSoakSmoke is a short soak (2 deployments × 4 agents for 3 s, faults at 5 %): the
// command keeps working as the service changes — its fixtures, the answers of POST /sign, the
// event log's public form — and its checks pass on a healthy service. `make soak` is the
// real run.
func TestSoakSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("a 3-second load run")
	}
	var out strings.Builder
	failures, err := run(options{duration: 3 * time.Second, warmup: time.Second, deployments: 2, agents: 4,
		kmsFault: 0.05, ddbFault: 0.05, mix: mix{deny: 0.1, multi: 0.2}, seed: 1}, &out)
	if err != nil {
		t.Fatal(err)
	}
	report := out.String()
	t.Log("\n" + report)
	if len(failures) > 0 {
		t.Fatalf("checks failed: %q", failures)
	}
	var summary string
	for _, line := range strings.Split(report, "\n") {
		if strings.HasPrefix(line, "summary soak ") {
			summary = line
		}
	}
	for _, want := range []string{" unrecorded=0 ", " orphans=0 ", " logs_intact=true ", " bad_signatures=0 ", " verdict=pass"} {
		if !strings.Contains(summary, want) {
			t.Errorf("summary lacks %q: %s", want, summary)
		}
	}
	for _, bad := range []string{" signed=0 ", " denied=0 "} {
		if strings.Contains(summary, bad) {
			t.Errorf("summary has %q: the run did not exercise both outcomes: %s", bad, summary)
		}
	}
	if !strings.Contains(report, "soak injected call=KMS:Sign:KMSInternalException") || !strings.Contains(report, "ProvisionedThroughputExceededException") {
		t.Errorf("no faults injected:\n%s", report)
	}
	if strings.Count(report, "soak deployment host=") != 2 {
		t.Errorf("want a line per deployment:\n%s", report)
	}
}
