package function_test

import (
	"context"
	"crypto"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/keys/pkcs11"
	"github.com/opensignum/signum/lib/tenant"
)

// TestHSMOutOfReachAtStart: a function whose HSM cannot be reached when it starts (here the
// PKCS#11 module is not where the configuration says) still starts; what needs the HSM answers
// 503 with Retry-After, and once the HSM is back (the module in place) and the retry interval
// has passed, HSM keys are made and sign — no restart.
func TestHSMOutOfReachAtStart(t *testing.T) {
	hsm, err := devstack.SoftHSM(t.TempDir())
	if errors.Is(err, devstack.ErrNoSoftHSM) {
		if os.Getenv("SIGNUM_REQUIRE_SOFTHSM") == "1" {
			t.Fatal("SoftHSM2 is required (SIGNUM_REQUIRE_SOFTHSM=1)")
		}
		t.Skip("SoftHSM2 is not installed")
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tg := devstack.NewEmbedded(t)
	cfg := tg.Stack.Env(tg.Table)
	module := filepath.Join(t.TempDir(), "libsofthsm2.so") // not there yet
	cfg.PKCS11Library, cfg.PKCS11Token, cfg.PKCS11PIN = module, hsm.Token, hsm.PIN
	now := time.Now()
	env := function.Env{Config: cfg, Clients: tg.Clients, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return now }}
	reg, err := function.KeyRegistry(ctx, env)
	if err != nil {
		t.Fatalf("the function did not start without its HSM: %v", err)
	}
	req := keys.GenerateRequest{Algorithm: keys.ECP256, Label: tenant.NewID("lazy-")}
	b, err := reg.Backend(pkcs11.Scheme)
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Generate(ctx, req)
	if _, ok := fault.RetryAfter(err); edge.ProblemFor(err).Status != http.StatusServiceUnavailable || !ok {
		t.Fatalf("fail/HSM down: %v (%+v)", err, edge.ProblemFor(err))
	}
	if err := os.Symlink(devstack.SoftHSMLibrary, module); err != nil {
		t.Fatal(err)
	}
	now = now.Add(function.HSMRetry)
	key, err := b.Generate(ctx, req)
	if err != nil {
		t.Fatalf("ok/HSM back: %v", err)
	}
	sum := sha256.Sum256([]byte("back"))
	if _, err := key.SignContext(ctx, sum[:], crypto.SHA256); err != nil {
		t.Fatalf("ok/sign after recovery: %v", err)
	}
	_ = b.ScheduleDeletion(ctx, key.URI())
}
