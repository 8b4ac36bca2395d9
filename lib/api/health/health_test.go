package health_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/api/health"
)

func TestRun(t *testing.T) {
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	ok := health.Check{Name: "ok", Probe: func(context.Context) error { return nil }}
	down := health.Check{Name: "down", Probe: func(context.Context) error { return errors.New("dial tcp: refused") }}
	hung := health.Check{Name: "hung", Probe: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }}

	if rep := health.Run(context.Background(), log, []health.Check{ok}); rep.Status != health.StatusOK || rep.Dependencies["ok"].Status != health.StatusOK {
		t.Fatalf("ok: %+v", rep)
	}
	rep := health.Run(context.Background(), log, []health.Check{ok, down})
	if rep.Status != health.StatusUnavailable || rep.Dependencies["down"].Status != health.StatusUnavailable || rep.Dependencies["ok"].Status != health.StatusOK {
		t.Fatalf("one down: %+v", rep)
	}
	start := time.Now()
	rep = health.Run(context.Background(), log, []health.Check{hung, hung, ok})
	if took := time.Since(start); took > health.ProbeTimeout+time.Second {
		t.Fatalf("hung probes made the check take %v (probes must run concurrently and time out)", took)
	}
	if rep.Status != health.StatusUnavailable || rep.Dependencies["hung"].LatencyMS < health.ProbeTimeout.Milliseconds()-50 {
		t.Fatalf("hung: %+v", rep)
	}
}
