//go:build !cgo

package pkcs11

import (
	"context"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/keys"
)

// errNoCgo is what every entry point of a cgo-less build returns.
var errNoCgo = fault.Newf(keys.ErrUnsupported, "PKCS#11 (CloudHSM) keys are unavailable in this build: it was built without cgo (CGO_ENABLED=0)")

// Backend is a keys.Backend on one PKCS#11 token. This build has no cgo, so there is none:
// New always fails.
type Backend struct{}

var _ keys.Backend = (*Backend)(nil)

// New fails with keys.ErrUnsupported: PKCS#11 needs cgo, and this build has none.
func New(cfg Config) (*Backend, error) { return nil, errNoCgo }

// Close does nothing.
func (b *Backend) Close() error { return nil }

// Scheme is "pkcs11".
func (b *Backend) Scheme() string { return Scheme }

// Generate fails with keys.ErrUnsupported.
func (b *Backend) Generate(context.Context, keys.GenerateRequest) (keys.Key, error) {
	return nil, errNoCgo
}

// Open fails with keys.ErrUnsupported.
func (b *Backend) Open(context.Context, string) (keys.Key, error) { return nil, errNoCgo }

// ScheduleDeletion fails with keys.ErrUnsupported.
func (b *Backend) ScheduleDeletion(context.Context, string) error { return errNoCgo }

// State fails with keys.ErrUnsupported.
func (b *Backend) State(context.Context, string) (keys.State, error) { return keys.State{}, errNoCgo }
