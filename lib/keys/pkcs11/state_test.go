//go:build cgo

package pkcs11_test

import (
	"context"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/keys/pkcs11"
)

// TestState: a key on the token is enabled, a deleted or unknown one missing, and every key is
// unreachable once the backend is closed (as when the token or its module cannot be used).
func TestState(t *testing.T) {
	b, h := newBackend(t)
	ctx := context.Background()
	r := keys.NewRegistry(b)
	k := generate(t, b, keys.ECP256)
	gone := generate(t, b, keys.ECP256)
	if err := b.ScheduleDeletion(ctx, gone.URI()); err != nil {
		t.Fatal(err)
	}
	u, _ := pkcs11.ParseURI(k.URI())
	for _, tc := range []struct {
		name string
		uri  string
		want keys.Status
	}{
		{"ok/enabled", k.URI(), keys.StatusEnabled},
		{"ok/deleted-is-missing", gone.URI(), keys.StatusMissing},
		{"ok/unknown-is-missing", pkcs11.URI{Token: h.Tokens[0], Object: "no-such-key"}.String(), keys.StatusMissing},
		{"ok/other-token-is-missing", pkcs11.URI{Token: "other", Object: u.Object, ID: u.ID}.String(), keys.StatusMissing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := r.State(ctx, tc.uri)
			if err != nil || s.Status != tc.want {
				t.Fatalf("State(%s) = %+v, %v; want %s", tc.uri, s, err, tc.want)
			}
		})
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err := r.State(ctx, k.URI()); err != nil || s.Status != keys.StatusUnreachable || s.Detail == "" {
		t.Fatalf("ok/closed-is-unreachable: %+v, %v", s, err)
	}
}

// TestStateLazy: a token whose module cannot be loaded makes every key unreachable through the
// lazy backend the functions use, rather than an error.
func TestStateLazy(t *testing.T) {
	h := newSoftHSM(t)
	cfg := h.Config(0)
	cfg.LibraryPath = "/nonexistent/libpkcs11.so"
	r := keys.NewRegistry(keys.Lazy(pkcs11.Scheme, func(context.Context) (keys.Backend, error) {
		return pkcs11.New(cfg)
	}, time.Second, time.Now))
	s, err := r.State(context.Background(), "pkcs11:object=x")
	if err != nil || s.Status != keys.StatusUnreachable || s.Detail == "" {
		t.Fatalf("State = %+v, %v; want unreachable", s, err)
	}
}
