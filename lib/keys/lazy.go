package keys

import (
	"context"
	"sync"
	"time"

	"github.com/opensignum/signum/lib/fault"
)

// Lazy is a backend opened when first used rather than when the function starts: an HSM that
// cannot be reached at a cold start (its module, its network or its PIN's secret) then makes
// the requests that need it fail with ErrUnavailable (503, with Retry-After), while the
// function starts and serves everything else, and the backend is opened as soon as the HSM is
// back. After a failure, open is tried again at most once every retry, so that a down HSM does
// not cost every request a slow attempt.
func Lazy(scheme string, open func(ctx context.Context) (Backend, error), retry time.Duration, now func() time.Time) Backend {
	return &lazy{scheme: scheme, open: open, retry: retry, now: now}
}

type lazy struct {
	scheme string
	open   func(ctx context.Context) (Backend, error)
	retry  time.Duration
	now    func() time.Time

	mu       sync.Mutex
	b        Backend
	failedAt time.Time
	err      error
}

// Scheme is the scheme of the backend it opens.
func (l *lazy) Scheme() string { return l.scheme }

// backend is the opened backend, opening it when it is not yet and the last failure is
// retry old.
func (l *lazy) backend(ctx context.Context) (Backend, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b != nil {
		return l.b, nil
	}
	now := l.now()
	if l.err != nil && now.Sub(l.failedAt) < l.retry {
		return nil, l.unavailable(now)
	}
	b, err := l.open(ctx)
	if err != nil {
		l.err, l.failedAt = err, now
		return nil, l.unavailable(now)
	}
	l.b, l.err = b, nil
	return b, nil
}

// unavailable is the answer while the backend cannot be opened: its error for the log, a
// fixed sentence for the caller, and when to retry.
func (l *lazy) unavailable(now time.Time) error {
	wait := max(l.retry-now.Sub(l.failedAt), time.Second)
	return fault.RetryLater(fault.Wrap(ErrUnavailable, l.err, "The "+l.scheme+" key backend (the HSM) cannot be reached; retry later."), wait)
}

func (l *lazy) Generate(ctx context.Context, req GenerateRequest) (Key, error) {
	b, err := l.backend(ctx)
	if err != nil {
		return nil, err
	}
	return b.Generate(ctx, req)
}

func (l *lazy) Open(ctx context.Context, uri string) (Key, error) {
	b, err := l.backend(ctx)
	if err != nil {
		return nil, err
	}
	return b.Open(ctx, uri)
}

func (l *lazy) ScheduleDeletion(ctx context.Context, uri string) error {
	b, err := l.backend(ctx)
	if err != nil {
		return err
	}
	return b.ScheduleDeletion(ctx, uri)
}

// State tells the key's state with the backend, once it is open. A backend that cannot be
// opened is the HSM being unreachable, which is a state of every key on it, not an error.
func (l *lazy) State(ctx context.Context, uri string) (State, error) {
	b, err := l.backend(ctx)
	if err != nil {
		return StateOf(err)
	}
	s, ok := b.(Stater)
	if !ok {
		return State{}, fault.Newf(ErrUnsupported, "the %s key backend cannot tell a key's state", l.scheme)
	}
	return s.State(ctx, uri)
}
