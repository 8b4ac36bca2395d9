package health_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/opensignum/signum/lib/devstack/truststoretest"
	"github.com/opensignum/signum/lib/health"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/truststore"
)

// clock is a test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// gated is a truststore whose checks wait for open, counted; it fails while fail is set.
type gated struct {
	src   health.Truststore
	open  chan struct{}
	calls atomic.Int32
	fail  atomic.Bool
}

func (g *gated) Check(ctx context.Context) (truststore.Status, error) {
	g.calls.Add(1)
	<-g.open
	if g.fail.Load() {
		return truststore.Status{}, errors.New("s3: access denied")
	}
	return g.src.Check(ctx)
}

// TestCachedTruststore: the truststore's check lists every deployment's registrations and
// calls S3 and API Gateway, so health checks (any tenant's Viewer, as often as they like)
// share one per minute: callers that come while it runs wait for it, those within the minute
// get its answer, a caller that gives up does not fail the others, and a failure is kept for
// seconds only.
func TestCachedTruststore(t *testing.T) {
	w := truststoretest.New(t)
	w.Register(t, "ca-one", 24*time.Hour)
	if _, err := w.P.Publish(context.Background()); err != nil {
		t.Fatal(err)
	}
	clk := &clock{now: time.Date(2026, 12, 3, 22, 0, 0, 0, time.UTC)}
	g := &gated{src: w.P, open: make(chan struct{})}
	c := health.NewCachedTruststore(g, clk.Now)
	ctx := context.Background()

	// A caller that gives up while the check runs gets its context's error; the check goes on
	// for the others.
	gone, cancel := context.WithCancel(ctx)
	cancelled := make(chan error, 1)
	go func() { _, err := c.Check(gone); cancelled <- err }()
	for g.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-cancelled; !errors.Is(err, context.Canceled) {
		t.Fatalf("a caller that gave up: %v", err)
	}
	const callers = 20
	var wg sync.WaitGroup
	sts := make([]truststore.Status, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() { sts[i], errs[i] = c.Check(ctx) })
	}
	time.Sleep(50 * time.Millisecond)
	close(g.open)
	wg.Wait()
	for i := range callers {
		if errs[i] != nil || sts[i].Certificates != 1 || sts[i].WantedSHA256 == "" {
			t.Fatalf("caller %d: %+v, %v", i, sts[i], errs[i])
		}
	}
	if n := g.calls.Load(); n != 1 || w.Reads != 2 {
		t.Fatalf("%d checks (%d listings) for %d concurrent callers, want 1 (2: the publish's and the check's)", n, w.Reads, callers+1)
	}

	clk.Advance(health.TruststoreCacheTTL - time.Second)
	if _, err := c.Check(ctx); err != nil || g.calls.Load() != 1 {
		t.Fatalf("within the minute: %d checks, %v", g.calls.Load(), err)
	}
	clk.Advance(2 * time.Second)
	g.fail.Store(true)
	if _, err := c.Check(ctx); err == nil || g.calls.Load() != 2 {
		t.Fatalf("after the minute: %d checks, %v", g.calls.Load(), err)
	}
	if _, err := c.Check(ctx); err == nil || g.calls.Load() != 2 {
		t.Fatalf("a failure just seen: %d checks, %v", g.calls.Load(), err)
	}
	g.fail.Store(false)
	clk.Advance(health.TruststoreErrorTTL)
	if st, err := c.Check(ctx); err != nil || g.calls.Load() != 3 || st.Certificates != 1 {
		t.Fatalf("a failure is not kept: %d checks, %+v, %v", g.calls.Load(), st, err)
	}
}

// counted counts the key states asked of its source.
type counted struct {
	src   health.KeyStates
	calls atomic.Int32
	err   error
}

func (c *counted) State(ctx context.Context, uri string) (keys.State, error) {
	c.calls.Add(1)
	if c.err != nil {
		return keys.State{}, c.err
	}
	return c.src.State(ctx, uri)
}

// TestCachedKeyStates: a key's state is a KMS call against the account's quota, so health
// checks reuse it for half a minute; a disabled key (what a person fixes, then reloads the
// page to see) and an error are asked again each time.
func TestCachedKeyStates(t *testing.T) {
	f := newFixture(t, "standard")
	crt := f.certificate("release", f.now.Add(365*24*time.Hour))
	clk := &clock{now: f.now}
	src := &counted{src: keys.NewRegistry(f.kms)}
	f.src.Keys = health.NewCachedKeyStates(src, clk.Now)

	for range 5 {
		if c := component(t, f.check(), "certificate-key:"+crt.ID); c.Status != health.StatusOK {
			t.Fatalf("enabled key: %+v", c)
		}
	}
	if n := src.calls.Load(); n != 1 {
		t.Fatalf("%d key states asked for 5 checks within %s, want 1", n, health.KeyStateCacheTTL)
	}
	keyID := aws.String(strings.TrimPrefix(crt.KeyURI, "awskms:///"))
	if _, err := f.tg.Clients.KMS.DisableKey(f.ctx, &kms.DisableKeyInput{KeyId: keyID}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(health.KeyStateCacheTTL)
	for range 2 {
		if c := component(t, f.check(), "certificate-key:"+crt.ID); c.Status != health.StatusCritical {
			t.Fatalf("disabled key after the TTL: %+v", c)
		}
	}
	if n := src.calls.Load(); n != 3 {
		t.Fatalf("%d key states asked, want 3 (a disabled key's state is not kept)", n)
	}
	if _, err := f.tg.Clients.KMS.EnableKey(f.ctx, &kms.EnableKeyInput{KeyId: keyID}); err != nil {
		t.Fatal(err)
	}
	if c := component(t, f.check(), "certificate-key:"+crt.ID); c.Status != health.StatusOK {
		t.Fatalf("key enabled again: %+v", c)
	}
	src.err = errors.New("kms: throttled")
	clk.Advance(health.KeyStateCacheTTL)
	for range 2 {
		if _, err := health.Check(f.ctx, f.src, f.dep.ID, f.now); err == nil {
			t.Fatal("a key state error is not reported")
		}
	}
	if n := src.calls.Load(); n != 6 {
		t.Fatalf("%d key states asked, want 6 (errors are not kept)", n)
	}
}
