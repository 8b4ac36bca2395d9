package client

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/opensignum/signum/lib/wire"
)

// ErrHeld is a signing request held for approval and not signed (yet): the service answered
// 202, and the client did not wait, or waited in vain (HeldError says which request).
var ErrHeld = errors.New("held for approval")

// HeldError is a signing request held for approval that has no signatures yet.
type HeldError struct {
	Request wire.HeldRequest
	// TimedOut says the client waited and gave up.
	TimedOut bool
}

func (e *HeldError) Error() string {
	r := e.Request
	what := fmt.Sprintf("the signing request %s is held for approval (%d of %d approvals; expires %s)", r.RequestID, r.Approvals, r.Required, r.ExpiresAt)
	if e.TimedOut {
		what += "; gave up waiting"
	}
	return what
}

// Is makes errors.Is(err, ErrHeld) hold.
func (e *HeldError) Is(target error) bool { return target == ErrHeld }

// Approval says what Sign does when the service holds a request for approval.
type Approval struct {
	// Wait polls the held request (with backoff) until it is signed or ends, at most
	// Timeout; without it Sign returns a *HeldError at once.
	Wait    bool
	Timeout time.Duration
	// RequestID, when set, fetches that held request instead of sending a new one: its
	// signatures are those of the digests it holds, which Sign then checks against its own.
	RequestID string
	// OnHeld, when set, is told the held request once, before waiting.
	OnHeld func(wire.HeldRequest)
}

// SetApproval sets what Sign does with requests held for approval.
func (c *Client) SetApproval(a Approval) { c.approval = a }

// Backoff of the polls of a held request: from pollFirst, growing by half, to pollMax.
var (
	pollFirst = time.Second
	pollMax   = 15 * time.Second
)

// heldOrSigned is an answer that is either the signatures or a held request's state.
type heldOrSigned struct {
	SignResult
	wire.HeldRequest
}

// signOrWait sends body (POST /sign), or fetches the held request c.approval names, and
// waits for a held request's signatures when c.approval says so.
func (c *Client) signOrWait(ctx context.Context, body wire.Request, hdr []string) (SignResult, error) {
	var out heldOrSigned
	if id := c.approval.RequestID; id != "" {
		if err := c.do(ctx, "GET", "/sign/requests/"+url.PathEscape(id), nil, &out); err != nil {
			return SignResult{}, err
		}
	} else if err := c.do(ctx, "POST", "/sign", body, &out, hdr...); err != nil {
		return SignResult{}, err
	}
	if out.Status == "" {
		return out.SignResult, nil
	}
	if err := ended(out.HeldRequest); err != nil {
		return SignResult{}, err
	}
	if !c.approval.Wait {
		return SignResult{}, &HeldError{Request: out.HeldRequest}
	}
	if c.approval.OnHeld != nil {
		c.approval.OnHeld(out.HeldRequest)
	}
	timeout := c.approval.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	deadline := time.Now().Add(timeout)
	id, pause := out.RequestID, pollFirst
	for {
		if time.Now().Add(pause).After(deadline) {
			return SignResult{}, &HeldError{Request: out.HeldRequest, TimedOut: true}
		}
		select {
		case <-ctx.Done():
			return SignResult{}, ctx.Err()
		case <-time.After(pause):
		}
		pause = min(pause*3/2, pollMax)
		var next heldOrSigned
		if err := c.do(ctx, "GET", "/sign/requests/"+url.PathEscape(id), nil, &next); err != nil {
			// Too many polls, or the service busy: ask again later.
			var p *Problem
			if errors.As(err, &p) && (p.Status == 429 || p.Status == 409 || p.Status >= 500) {
				continue
			}
			return SignResult{}, err
		}
		if next.Status == "" {
			return next.SignResult, nil
		}
		if err := ended(next.HeldRequest); err != nil {
			return SignResult{}, err
		}
		out = next
	}
}

// ended is the error of a held request that ended unsigned (nil while it may still sign).
func ended(r wire.HeldRequest) error {
	switch r.Status {
	case wire.HeldPending, wire.HeldApproved:
		return nil
	case wire.HeldRejected:
		return fmt.Errorf("%w: the signing request %s was rejected (%s)", ErrDenied, r.RequestID, r.Reason)
	case wire.HeldExpired:
		return fmt.Errorf("%w: the signing request %s expired before it was approved", ErrDenied, r.RequestID)
	}
	return fmt.Errorf("%w: the signing request %s was not signed (%s): %s", ErrServer, r.RequestID, r.Status, r.Reason)
}
