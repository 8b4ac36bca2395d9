package keys_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/keys"
)

// staterBackend tells every key enabled.
type staterBackend struct{ nullBackend }

func (staterBackend) State(context.Context, string) (keys.State, error) {
	return keys.State{Status: keys.StatusEnabled}, nil
}

// The registry and Lazy hand State on to a backend that can tell it, and say so when the
// backend cannot; a lazy backend that cannot be opened makes the key unreachable.
func TestState(t *testing.T) {
	ctx := context.Background()
	down := true
	lazy := keys.Lazy("pkcs11", func(context.Context) (keys.Backend, error) {
		if down {
			return nil, errors.New("CKR_TOKEN_NOT_PRESENT")
		}
		return staterBackend{}, nil
	}, 0, time.Now)
	r := keys.NewRegistry(lazy)
	if s, err := r.State(ctx, "pkcs11:object=x"); err != nil || s.Status != keys.StatusUnreachable {
		t.Fatalf("ok/down: %+v, %v", s, err)
	}
	down = false
	if s, err := r.State(ctx, "pkcs11:object=x"); err != nil || s.Status != keys.StatusEnabled {
		t.Fatalf("ok/up: %+v, %v", s, err)
	}
	if _, err := keys.NewRegistry(nullBackend{}).State(ctx, "pkcs11:object=x"); !errors.Is(err, keys.ErrUnsupported) {
		t.Fatalf("fail/not-a-stater: %v", err)
	}
	if _, err := r.State(ctx, "awskms:///k"); !errors.Is(err, keys.ErrUnsupported) {
		t.Fatalf("fail/no-backend: %v", err)
	}
	if _, err := r.State(ctx, "nonsense"); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("fail/not-a-uri: %v", err)
	}
}
