//go:build !cgo

package pkcs11_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/keys/pkcs11"
)

// TestNewWithoutCgo: a cgo-less build compiles, and New says PKCS#11 is unavailable.
func TestNewWithoutCgo(t *testing.T) {
	b, err := pkcs11.New(pkcs11.Config{LibraryPath: "/usr/lib/softhsm/libsofthsm2.so", TokenLabel: "t", PIN: "1234"})
	if b != nil || !errors.Is(err, keys.ErrUnsupported) || !strings.Contains(err.Error(), "unavailable in this build") || strings.Contains(err.Error(), "1234") {
		t.Fatalf("New = %v, %v", b, err)
	}
	var kb keys.Backend = &pkcs11.Backend{}
	if _, err := kb.Open(context.Background(), "pkcs11:object=a"); !errors.Is(err, keys.ErrUnsupported) {
		t.Fatalf("Open: %v", err)
	}
	if kb.Scheme() != "pkcs11" {
		t.Fatalf("Scheme %q", kb.Scheme())
	}
}
