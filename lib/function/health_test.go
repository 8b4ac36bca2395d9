package function_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/health"
)

// TestHealthSourcesAreCached: the health functions read key states and the truststore through
// the instance's caches, so that a tenant reloading the health page does not drive KMS, S3,
// API Gateway and a listing of every deployment's registrations at each request.
func TestHealthSourcesAreCached(t *testing.T) {
	tg := devstack.NewEmbedded(t)
	cfg := tg.Stack.Env(tg.Table)
	cfg.TruststoreBucket = "truststore-test"
	env := function.Env{Config: cfg, Clients: tg.Clients, Log: slog.New(slog.DiscardHandler), Now: time.Now}
	src, err := function.HealthSources(context.Background(), env, function.NewParts(env))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := src.Keys.(*health.CachedKeyStates); !ok {
		t.Errorf("key states from %T, want the cache", src.Keys)
	}
	if _, ok := src.Truststore.(*health.CachedTruststore); !ok {
		t.Errorf("truststore from %T, want the cache", src.Truststore)
	}
	cfg.TruststoreBucket = ""
	env.Config = cfg
	if src, err := function.HealthSources(context.Background(), env, function.NewParts(env)); err != nil || src.Truststore != nil {
		t.Errorf("without a truststore bucket: %v, %v", src.Truststore, err)
	}
}
