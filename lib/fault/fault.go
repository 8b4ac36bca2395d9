// Package fault defines the kinds of failure the service distinguishes and a way to attach a
// message that is safe to show to the caller.
//
// Packages define their own sentinel errors (store.ErrNotFound, ...) wrapping one of these
// kinds; the edge maps kinds, not packages, to HTTP statuses in a single table. That keeps the
// edge from importing every domain package and keeps HTTP out of the domain.
package fault

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Kinds of failure. Each maps to exactly one HTTP status at the edge.
var (
	// ErrInvalid is bad input from the caller (400).
	ErrInvalid = errors.New("invalid request")
	// ErrUnauthenticated means the caller could not be identified (401).
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrForbidden means the caller is known but may not do this (403).
	ErrForbidden = errors.New("forbidden")
	// ErrNotFound means the object does not exist for this caller (404).
	ErrNotFound = errors.New("not found")
	// ErrConflict means the request conflicts with the current state (409).
	ErrConflict = errors.New("conflict")
	// ErrPrecondition means a conditional request's precondition did not hold (412).
	ErrPrecondition = errors.New("precondition failed")
	// ErrGone means the object existed but is no longer usable (410).
	ErrGone = errors.New("gone")
	// ErrUnprocessable means a well-formed request cannot be carried out as sent, e.g. an
	// Idempotency-Key reused with a different request (422).
	ErrUnprocessable = errors.New("unprocessable")
	// ErrTooManyRequests means the caller went over a rate limit; retry later (429).
	ErrTooManyRequests = errors.New("too many requests")
	// ErrUnavailable means a dependency is down or throttling; retry later (503).
	ErrUnavailable = errors.New("service unavailable")
	// ErrBadGateway means an outside service the deployment chose (a time-stamping
	// authority) failed or answered wrongly (502). Unlike the other server faults its detail
	// reaches the caller: it names that service and what went wrong, which the deployment's
	// admins configured and its signers need to know, and never an internal address.
	ErrBadGateway = errors.New("bad gateway")
	// ErrPlanLimit means the deployment's plan does not allow more of something
	// (certificates, users, signatures this month); a larger plan does (403, its own type so
	// that clients can say what to upgrade).
	ErrPlanLimit = errors.New("plan limit")
	// ErrSubscriptionInactive means the deployment's marketplace subscription is suspended or
	// cancelled, so the request is refused; its data is kept (403, its own type).
	ErrSubscriptionInactive = errors.New("subscription inactive")
)

// Later is an error the caller may retry after a while: the edge says when in a Retry-After
// header (on a 429 or a 503).
type Later struct {
	Err   error
	After time.Duration
}

// Error implements error.
func (l *Later) Error() string { return l.Err.Error() }

// Unwrap exposes the error to errors.Is and errors.As.
func (l *Later) Unwrap() error { return l.Err }

// RetryLater marks err as worth retrying after d.
func RetryLater(err error, d time.Duration) error { return &Later{Err: err, After: d} }

// RetryAfter is how long the caller should wait before retrying err, when err says so.
func RetryAfter(err error) (time.Duration, bool) {
	var l *Later
	if errors.As(err, &l) {
		return l.After, true
	}
	return 0, false
}

// Public is an error whose Detail is safe to return to the caller. Its Kind says which kind of
// failure it is; Cause, when set, is the underlying error for the log only.
type Public struct {
	Kind   error
	Detail string
	Cause  error
}

// Error implements error. It includes the cause, so it belongs in logs, not responses.
func (p *Public) Error() string {
	if p.Cause != nil {
		return fmt.Sprintf("%s: %s: %v", p.Kind, p.Detail, p.Cause)
	}
	return fmt.Sprintf("%s: %s", p.Kind, p.Detail)
}

// Unwrap exposes both the kind and the cause to errors.Is and errors.As.
func (p *Public) Unwrap() []error {
	if p.Cause != nil {
		return []error{p.Kind, p.Cause}
	}
	return []error{p.Kind}
}

// Newf returns an error of the given kind (a fault kind or a sentinel wrapping one) with a
// caller-safe detail.
func Newf(kind error, format string, args ...any) error {
	return &Public{Kind: kind, Detail: fmt.Sprintf(format, args...)}
}

// Wrap returns an error of the given kind with a caller-safe detail and a cause for the log.
func Wrap(kind error, cause error, detail string) error {
	return &Public{Kind: kind, Detail: detail, Cause: cause}
}

// DetailOf returns the caller-safe detail of the outermost Public error in err's chain.
func DetailOf(err error) (string, bool) {
	var p *Public
	if errors.As(err, &p) {
		return p.Detail, true
	}
	return "", false
}

// FieldError is one invalid input field, reported to the caller as an RFC 7807
// "invalid-params" entry.
type FieldError struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// Fields is a list of invalid fields; it is an ErrInvalid error.
type Fields []FieldError

// Add appends a field error.
func (f *Fields) Add(name, format string, args ...any) {
	*f = append(*f, FieldError{Name: name, Reason: fmt.Sprintf(format, args...)})
}

// Err returns nil when there is no field error, else f as an error.
func (f Fields) Err() error {
	if len(f) == 0 {
		return nil
	}
	return f
}

// Error implements error.
func (f Fields) Error() string {
	s := "invalid request: "
	for i, e := range f {
		if i > 0 {
			s += "; "
		}
		s += e.Name + ": " + e.Reason
	}
	return s
}

// Unwrap makes Fields an ErrInvalid.
func (f Fields) Unwrap() error { return ErrInvalid }

// HasField reports whether err is (or wraps) field errors that name the field name.
func HasField(err error, name string) bool {
	var f Fields
	return errors.As(err, &f) && slices.ContainsFunc(f, func(e FieldError) bool { return e.Name == name })
}

// Clip shortens s to n bytes (marking the cut) before it is quoted in a caller-safe detail,
// so that a huge or hostile input is not echoed back whole.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
