//go:build cgo

package pkcs11

import (
	"context"
	"errors"
	"strings"
	"time"

	p11 "github.com/miekg/pkcs11"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/keys"
)

// How long a caller is told to wait (Retry-After) before retrying a request that failed on
// the token: every session busy clears in a moment; a token, connection or login that is not
// working needs longer (it recovers, or an operator fixes it).
const (
	retryBusy        = time.Second
	retryUnavailable = 5 * time.Second
)

// mapError turns an error of crypto11 or the token into one of this service's kinds, with
// detail as the caller-safe message and err as the cause for the log. An unavailable token is
// marked fault.RetryLater, so the caller gets a 503 with Retry-After. Errors it cannot
// classify keep no kind (the edge answers 500).
func mapError(err error, detail string) error {
	kind := kindOf(err)
	switch {
	case kind == nil:
		return &unclassified{detail: detail, err: err}
	case kind != keys.ErrUnavailable:
		return fault.Wrap(kind, err, detail)
	case errors.Is(err, context.DeadlineExceeded):
		// crypto11's session pool timed out: all sessions were busy.
		return fault.RetryLater(fault.Wrap(kind, err, detail), retryBusy)
	}
	return fault.RetryLater(fault.Wrap(kind, err, detail), retryUnavailable)
}

type unclassified struct {
	detail string
	err    error
}

func (e *unclassified) Error() string { return "pkcs11: " + e.detail + ": " + e.err.Error() }
func (e *unclassified) Unwrap() error { return e.err }

// kindOf classifies err. crypto11 v1.6.2 exports no error values: a missing key is an empty
// result (handled by the callers), and its own failures are unexported errors.New values
// told apart here by message, which is the only handle it gives.
func kindOf(err error) error {
	var rv p11.Error
	if errors.As(err, &rv) {
		return kindOfCKR(rv)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		// crypto11's session pool timed out (Config.PoolWaitTimeout).
		return keys.ErrUnavailable
	}
	msg := err.Error()
	for _, s := range []string{
		"could not find PKCS#11 token", // Configure: no token with the label
		"failed to open module",        // dlopen failed
		"failed to initialize module",  // C_Initialize failed without a CKR (rare)
		"cannot used closed Context",   // [sic] crypto11's errClosed
		"context is closed",            // the session pool was closed under us
	} {
		if strings.Contains(msg, s) {
			return keys.ErrUnavailable
		}
	}
	return nil
}

func kindOfCKR(rv p11.Error) error {
	switch rv {
	case p11.CKR_OBJECT_HANDLE_INVALID, p11.CKR_KEY_HANDLE_INVALID:
		// The key was destroyed after we found it.
		return keys.ErrNotFound
	case p11.CKR_MECHANISM_INVALID, p11.CKR_MECHANISM_PARAM_INVALID,
		p11.CKR_KEY_TYPE_INCONSISTENT, p11.CKR_KEY_SIZE_RANGE, p11.CKR_KEY_FUNCTION_NOT_PERMITTED,
		p11.CKR_DOMAIN_PARAMS_INVALID, p11.CKR_CURVE_NOT_SUPPORTED,
		p11.CKR_TEMPLATE_INCONSISTENT, p11.CKR_ATTRIBUTE_TYPE_INVALID, p11.CKR_ATTRIBUTE_VALUE_INVALID,
		p11.CKR_FUNCTION_NOT_SUPPORTED:
		// The token cannot do what was asked (an algorithm, size or attribute it lacks).
		return keys.ErrUnsupported
	case p11.CKR_DATA_INVALID, p11.CKR_DATA_LEN_RANGE:
		return fault.ErrInvalid
	case p11.CKR_HOST_MEMORY, p11.CKR_GENERAL_ERROR, p11.CKR_FUNCTION_FAILED,
		p11.CKR_DEVICE_ERROR, p11.CKR_DEVICE_MEMORY, p11.CKR_DEVICE_REMOVED,
		p11.CKR_FUNCTION_CANCELED, p11.CKR_OPERATION_ACTIVE, p11.CKR_CANT_LOCK,
		p11.CKR_SLOT_ID_INVALID, p11.CKR_TOKEN_NOT_PRESENT, p11.CKR_TOKEN_NOT_RECOGNIZED,
		p11.CKR_TOKEN_WRITE_PROTECTED,
		p11.CKR_SESSION_CLOSED, p11.CKR_SESSION_COUNT, p11.CKR_SESSION_HANDLE_INVALID,
		p11.CKR_SESSION_PARALLEL_NOT_SUPPORTED, p11.CKR_SESSION_READ_ONLY, p11.CKR_SESSION_EXISTS,
		p11.CKR_SESSION_READ_ONLY_EXISTS, p11.CKR_SESSION_READ_WRITE_SO_EXISTS,
		p11.CKR_PIN_INCORRECT, p11.CKR_PIN_INVALID, p11.CKR_PIN_LEN_RANGE, p11.CKR_PIN_EXPIRED,
		p11.CKR_PIN_LOCKED, p11.CKR_USER_NOT_LOGGED_IN, p11.CKR_USER_PIN_NOT_INITIALIZED,
		p11.CKR_USER_TYPE_INVALID, p11.CKR_USER_ANOTHER_ALREADY_LOGGED_IN, p11.CKR_USER_TOO_MANY_TYPES,
		p11.CKR_CRYPTOKI_NOT_INITIALIZED, p11.CKR_LIBRARY_LOAD_FAILED, p11.CKR_FIPS_SELF_TEST_FAILED:
		// The token, the connection to it or the login is not working; an operator fixes
		// it (or it recovers) and the call can be retried.
		return keys.ErrUnavailable
	}
	return nil
}

// redactPIN replaces err by an error without its text if that text contains pin. crypto11
// and the tokens we know do not echo the PIN; this keeps it that way if a module ever does.
// The fault kind survives, the cause does not.
func redactPIN(err error, pin string) error {
	if err == nil || pin == "" || !strings.Contains(err.Error(), pin) {
		return err
	}
	kind := keys.ErrUnavailable
	for _, k := range []error{keys.ErrUnsupported, keys.ErrNotFound, fault.ErrInvalid} {
		if errors.Is(err, k) {
			kind = k
			break
		}
	}
	redacted := fault.Newf(kind, "cannot log in to the PKCS#11 token (the error text is withheld: it contained the PIN)")
	if d, ok := fault.RetryAfter(err); ok {
		return fault.RetryLater(redacted, d)
	}
	return redacted
}
