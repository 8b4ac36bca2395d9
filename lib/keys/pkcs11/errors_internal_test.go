//go:build cgo

package pkcs11

import (
	"context"
	"errors"
	"fmt"
	"testing"

	p11 "github.com/miekg/pkcs11"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/keys"
)

// TestMapErrorRetryAfter: a token that is unavailable for the moment says when to retry (the
// edge's Retry-After on the 503), sooner when every session was busy; the token's other
// answers carry no retry advice. The token's failures are injected: SoftHSM cannot be made
// to fail on demand.
func TestMapErrorRetryAfter(t *testing.T) {
	for _, tt := range []struct {
		name  string
		err   error
		kind  error
		after bool
	}{
		{"device-error", fmt.Errorf("sign: %w", p11.Error(p11.CKR_DEVICE_ERROR)), keys.ErrUnavailable, true},
		{"session-closed", p11.Error(p11.CKR_SESSION_CLOSED), keys.ErrUnavailable, true},
		{"pin-locked", p11.Error(p11.CKR_PIN_LOCKED), keys.ErrUnavailable, true},
		{"pool-timeout", fmt.Errorf("get session: %w", context.DeadlineExceeded), keys.ErrUnavailable, true},
		{"token-gone", errors.New("could not find PKCS#11 token"), keys.ErrUnavailable, true},
		{"key-gone", p11.Error(p11.CKR_KEY_HANDLE_INVALID), keys.ErrNotFound, false},
		{"mechanism", p11.Error(p11.CKR_MECHANISM_INVALID), keys.ErrUnsupported, false},
		{"data", p11.Error(p11.CKR_DATA_LEN_RANGE), fault.ErrInvalid, false},
		{"unknown", errors.New("something else"), nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := mapError(tt.err, "cannot sign")
			if tt.kind != nil && !errors.Is(err, tt.kind) {
				t.Errorf("kind: %v, want %v", err, tt.kind)
			}
			d, ok := fault.RetryAfter(err)
			if ok != tt.after || ok && d <= 0 {
				t.Errorf("retry after %v (%v), want advice %v", d, ok, tt.after)
			}
			if d, ok := fault.RetryAfter(redactPIN(err, "cannot")); ok != tt.after || ok && d <= 0 {
				t.Errorf("redacted: retry after %v (%v), want advice %v", d, ok, tt.after)
			}
		})
	}
	busy, _ := fault.RetryAfter(mapError(context.DeadlineExceeded, "x"))
	down, _ := fault.RetryAfter(mapError(p11.Error(p11.CKR_DEVICE_ERROR), "x"))
	if busy >= down {
		t.Errorf("a busy session pool (%v) should be retried sooner than a failing token (%v)", busy, down)
	}
}
