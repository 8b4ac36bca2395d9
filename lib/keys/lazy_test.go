package keys_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/keys"
)

// nullBackend opens no key: what Lazy hands on is checked, not the backend.
type nullBackend struct{}

func (nullBackend) Scheme() string { return "pkcs11" }
func (nullBackend) Generate(context.Context, keys.GenerateRequest) (keys.Key, error) {
	return nil, errors.New("generated")
}
func (nullBackend) Open(context.Context, string) (keys.Key, error) { return nil, errors.New("opened") }
func (nullBackend) ScheduleDeletion(context.Context, string) error { return errors.New("deleted") }

// A lazy backend that cannot be opened answers 503 with Retry-After, tries again only after
// its retry interval, and hands every call on once it could be opened.
func TestLazyBackend(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	opens, down := 0, true
	b := keys.Lazy("pkcs11", func(context.Context) (keys.Backend, error) {
		opens++
		if down {
			return nil, errors.New("CKR_TOKEN_NOT_PRESENT")
		}
		return nullBackend{}, nil
	}, 5*time.Second, func() time.Time { return now })
	if b.Scheme() != "pkcs11" {
		t.Fatalf("scheme %q", b.Scheme())
	}
	_, err := b.Open(ctx, "pkcs11:object=x")
	after, ok := fault.RetryAfter(err)
	if !errors.Is(err, keys.ErrUnavailable) || !ok || after != 5*time.Second || opens != 1 {
		t.Fatalf("fail/down: %v (retry after %v, %d opens)", err, after, opens)
	}
	if d, _ := fault.DetailOf(err); d == "" || errors.Is(err, fault.ErrInvalid) {
		t.Errorf("fail/down: detail %q", d)
	}
	now = now.Add(2 * time.Second)
	if _, err := b.Generate(ctx, keys.GenerateRequest{}); !errors.Is(err, keys.ErrUnavailable) || opens != 1 {
		t.Fatalf("fail/within retry: %v, %d opens (want no new attempt)", err, opens)
	}
	down = false
	if err := b.ScheduleDeletion(ctx, "pkcs11:object=x"); !errors.Is(err, keys.ErrUnavailable) {
		t.Fatalf("fail/back but within retry: %v", err)
	}
	now = now.Add(3 * time.Second)
	if _, err := b.Open(ctx, "pkcs11:object=x"); err == nil || err.Error() != "opened" || opens != 2 {
		t.Fatalf("ok/recovered: %v, %d opens", err, opens)
	}
	if _, err := b.Generate(ctx, keys.GenerateRequest{}); err == nil || err.Error() != "generated" || opens != 2 {
		t.Fatalf("ok/opened once: %v, %d opens", err, opens)
	}
}
