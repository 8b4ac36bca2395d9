// Package health answers GET /health: whether the service's dependencies (the table, KMS)
// answer, each with its latency. It says "unavailable" without the cause; the cause is
// logged, since SDK errors name tables, ARNs and hosts.
package health

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/opensignum/signum/lib/access"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/store"
)

// ProbeTimeout bounds each dependency check, so that a dead dependency makes the answer slow
// by at most this much.
const ProbeTimeout = 2 * time.Second

// Check is one dependency and how to probe it.
type Check struct {
	Name  string
	Probe func(ctx context.Context) error
}

// Status of a dependency or of the whole service.
const (
	StatusOK          = "ok"
	StatusUnavailable = "unavailable"
)

// Report is the body of GET /health.
type Report struct {
	Status       string                `json:"status"`
	Dependencies map[string]Dependency `json:"dependencies"`
}

// Dependency is one dependency's state.
type Dependency struct {
	Status    string `json:"status"`
	LatencyMS int64  `json:"latencyMs"`
}

// Run probes all checks concurrently.
func Run(ctx context.Context, log *slog.Logger, checks []Check) Report {
	rep := Report{Status: StatusOK, Dependencies: map[string]Dependency{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range checks {
		wg.Add(1)
		go func(c Check) {
			defer wg.Done()
			pctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
			defer cancel()
			start := time.Now()
			err := c.Probe(pctx)
			dep := Dependency{Status: StatusOK, LatencyMS: time.Since(start).Milliseconds()}
			if err != nil {
				dep.Status = StatusUnavailable
				log.Warn("dependency unavailable", slog.String("dependency", c.Name), slog.String("error", err.Error()))
			}
			mu.Lock()
			defer mu.Unlock()
			rep.Dependencies[c.Name] = dep
			if err != nil {
				rep.Status = StatusUnavailable
			}
		}(c)
	}
	wg.Wait()
	return rep
}

// NewHandler serves GET /health with checks: 200 when every dependency answers, else 503.
func NewHandler(log *slog.Logger, checks []Check) *access.Mux {
	m := access.NewMux(log, &access.Guard{})
	// GET /health — anyone (load balancers, uptime monitors); says nothing but up/down and
	// latency per dependency.
	m.Handle("GET /health", access.Public(), func(w http.ResponseWriter, r *http.Request, _ *access.Request) error {
		rep := Run(r.Context(), edge.Logger(r.Context()), checks)
		status := http.StatusOK
		if rep.Status != StatusOK {
			status = http.StatusServiceUnavailable
		}
		edge.WriteJSON(w, status, rep)
		return nil
	})
	return m
}

// KMSProber is what the KMS check needs.
type KMSProber interface {
	DescribeKey(context.Context, *kms.DescribeKeyInput, ...func(*kms.Options)) (*kms.DescribeKeyOutput, error)
}

// KMSCheck checks that the service key can be described and is enabled.
func KMSCheck(k KMSProber, keyID string) Check {
	return Check{Name: "kms", Probe: func(ctx context.Context) error {
		out, err := k.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(keyID)})
		if err != nil {
			return err
		}
		if out.KeyMetadata == nil || out.KeyMetadata.KeyState != kmstypes.KeyStateEnabled {
			return fmt.Errorf("service key %s is not enabled", keyID)
		}
		return nil
	}}
}

// TableCheck checks that the table is reachable and active.
func TableCheck(db store.TableDescriber, table string) Check {
	return Check{Name: "table", Probe: func(ctx context.Context) error { return store.Ping(ctx, db, table) }}
}

// Build is the health function's handler.
func Build(_ context.Context, env function.Env) (http.Handler, error) {
	return NewHandler(env.Log, []Check{
		TableCheck(env.Clients.DynamoDB, env.Config.TableName),
		KMSCheck(env.Clients.KMS, env.Config.ServiceKeyID),
	}), nil
}
