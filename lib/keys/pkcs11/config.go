// Package pkcs11 is the CloudHSM key backend: keys are generated on a PKCS#11 token as
// sensitive, non-extractable, sign-only key pairs and used through
// github.com/ThalesGroup/crypto11. It implements keys.Backend for URIs of the form
//
//	pkcs11:token=<token label>;object=<key label>;id=<CKA_ID, every byte percent-encoded>
//
// (a subset of RFC 7512, see ParseURI).
//
// crypto11 needs cgo. A build without cgo (CGO_ENABLED=0, as the Lambda functions are built)
// still compiles this package, but New then fails with keys.ErrUnsupported, so a deployment
// configured for CloudHSM with a cgo-less binary fails at start, not at the first signature.
//
// The token is tested against SoftHSM2; scripts/softhsm-setup.sh makes a throw-away token.
package pkcs11

import (
	"fmt"
	"log/slog"

	"github.com/opensignum/signum/lib/fault"
)

// Scheme is the URI scheme of this backend's keys.
const Scheme = "pkcs11"

// Config says which PKCS#11 token to use and how to log in to it.
type Config struct {
	// LibraryPath is the token's PKCS#11 module, e.g. /opt/cloudhsm/lib/libcloudhsm_pkcs11.so
	// or /usr/lib/softhsm/libsofthsm2.so.
	LibraryPath string
	// TokenLabel selects the token (CK_TOKEN_INFO label); it is also the token attribute of
	// every key URI this backend issues.
	TokenLabel string
	// PIN logs the crypto user in (CloudHSM: "<user>:<password>"). It comes from a secret
	// store, never from the template or the environment in plain text; it is never logged and
	// never part of an error. Config's String, GoString and LogValue leave it out.
	PIN string
	// MaxSessions caps the sessions this process opens on the token (0: crypto11's default of
	// 1024, further capped by what the token reports). When set it must be at least 2: one
	// session stays open to keep the login, the rest form the signing pool.
	MaxSessions int
}

// String describes c without the PIN.
func (c Config) String() string {
	return fmt.Sprintf("pkcs11.Config{LibraryPath: %q, TokenLabel: %q, PIN: %s, MaxSessions: %d}",
		c.LibraryPath, c.TokenLabel, redacted(c.PIN), c.MaxSessions)
}

// GoString describes c without the PIN, for %#v.
func (c Config) GoString() string { return c.String() }

// LogValue makes slog log c without the PIN.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("library_path", c.LibraryPath),
		slog.String("token_label", c.TokenLabel),
		slog.String("pin", redacted(c.PIN)),
		slog.Int("max_sessions", c.MaxSessions),
	)
}

func redacted(pin string) string {
	if pin == "" {
		return "(empty)"
	}
	return "(redacted)"
}

// validate checks c before the library is loaded. Its errors never quote the PIN.
func (c Config) validate() error {
	var f fault.Fields
	if c.LibraryPath == "" {
		f.Add("LibraryPath", "is required")
	}
	if c.TokenLabel == "" {
		f.Add("TokenLabel", "is required")
	} else if len(c.TokenLabel) > maxTokenLabel {
		f.Add("TokenLabel", "is longer than the %d bytes of a PKCS#11 token label", maxTokenLabel)
	}
	if c.PIN == "" {
		f.Add("PIN", "is required")
	}
	if c.MaxSessions < 0 || c.MaxSessions == 1 {
		f.Add("MaxSessions", "must be 0 (the default) or at least 2, not %d", c.MaxSessions)
	}
	return f.Err()
}
