package store_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/audit"
	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// BenchEventsEnv lists the log sizes BenchmarkEventLogScale grows one deployment's log to,
// comma-separated ("20000,100000" when unset: every filter of the benchmark has more than two
// pages of events at 20,000).
const BenchEventsEnv = "SIGNUM_BENCH_EVENTS"

// BenchmarkEventLogScale grows one deployment's signing-event log, written in batches of 25
// (BatchWriteItem, in the items' own shape, chained and checkpointed with seals and anchors as
// the signer does), through the sizes of SIGNUM_BENCH_EVENTS, on the embedded DynamoDB
// stand-in. At each size it reports what a page of a filtered listing and the next read (items
// counted by an SDK middleware: Query counts, GetItem and BatchGetItem items) and what an
// incremental check of the log reads after 100 new events, and how long the stand-in took to
// write a batch at that size (which grows with the table: it sorts the table's keys and each
// index's on every new item). The log grows 10,000 events at a time, each step checked
// (incrementally) as a console would now and then. Each size is a sub-benchmark that lists
// the two pages b.N times.
// Not part of `make test` (benchmarks run with -bench only); `make bench-events` runs it.
func BenchmarkEventLogScale(b *testing.B) {
	sizes := []int{20000, 100000}
	if v := os.Getenv(BenchEventsEnv); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				b.Fatalf("%s=%q: want sizes like 10000,100000", BenchEventsEnv, v)
			}
			sizes = append(sizes, n)
		}
	}
	tg := devstack.NewEmbedded(b)
	s, c := readsCounted(tg)
	ctx := context.Background()
	notary, root := newNotary(b)
	anchors := store.NewS3Anchors(tg.Clients.S3, tg.Bucket)
	opts := []audit.Option{audit.WithKey(root), audit.WithAnchors(anchors)}
	dep := tenant.NewID("dep_")
	markIndexed(ctx, b, s, dep)
	l := &sinceLog{t: b, s: s, log: newEventLog(tg.Clients.DynamoDB, tg.Table, dep), seal: sealer(ctx, b, notary, anchors), dep: dep}
	filters := []struct {
		name string
		f    store.EventFilter
	}{
		{"all", store.EventFilter{}},
		{"user", store.EventFilter{UserID: "cu_user3"}},
		{"decision", store.EventFilter{Decision: audit.Deny}},
		{"user+certificate", store.EventFilter{UserID: "cu_user3", CertificateID: "crt_2"}},
		{"user+certificate+decision", store.EventFilter{UserID: "cu_user3", CertificateID: "crt_2", Decision: audit.Deny}},
	}
	// step is how far the log grows between the checks that keep its lanes' positions, as a
	// console checked now and then would: each check reads what was added since the last.
	const step = 10000
	for _, size := range sizes {
		if size < l.log.n {
			b.Fatalf("sizes must grow: %v", sizes)
		}
		start := time.Now()
		var perBatch time.Duration
		for l.log.n < size {
			n := min(step, size-l.log.n)
			timed := time.Now()
			events, err := l.log.append(ctx, n, store.EventItem)
			must(b, err)
			// The batch time at the size: the last step's, per batch.
			perBatch = time.Since(timed) / time.Duration(max(n/25, 1))
			must(b, s.CheckpointEvents(ctx, l.seal, events...))
			c.reads()
			_, err = l.since(ctx, opts...)
			must(b, err)
			items, _, _ := c.reads()
			b.Logf("events=%d: %d events written, a batch of 25 took %s; the check since the last read %d items", l.log.n, n, perBatch.Round(time.Microsecond), items)
		}
		b.Logf("events=%d written in %s", size, time.Since(start).Round(time.Millisecond))
		l.grow(ctx, 100)
		c.reads()
		res, err := l.since(ctx, opts...)
		must(b, err)
		sinceItems, _, _ := c.reads()
		if len(res.Problems) > 0 || res.Events != 100 {
			b.Fatalf("the incremental check read %d events and found %+v", res.Events, res.Problems)
		}
		b.Logf("events=%d check of 100 new events read %d items", l.log.n, sinceItems)
		b.Run("events="+strconv.Itoa(size), func(b *testing.B) {
			for _, fc := range filters {
				var first, second int
				for i := 0; i < b.N; i++ {
					c.reads()
					p1, err := s.ListEvents(ctx, dep, fc.f, store.PageRequest{Limit: store.DefaultPageSize})
					must(b, err)
					first, _, _ = c.reads()
					_, err = s.ListEvents(ctx, dep, fc.f, store.PageRequest{Limit: store.DefaultPageSize, Cursor: p1.Next})
					must(b, err)
					second, _, _ = c.reads()
				}
				b.ReportMetric(float64(first), fc.name+"-page1-items")
				b.ReportMetric(float64(second), fc.name+"-page2-items")
			}
			b.ReportMetric(float64(sinceItems), "verify-100-new-items")
			b.ReportMetric(float64(perBatch.Microseconds())/1000, "ms/batch-of-25")
		})
	}
}
