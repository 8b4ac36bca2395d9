// Package eventcheck checks a deployment's signing-event log without reading it whole on a
// request: the console's check goes on from where each lane was last found intact under a
// signed checkpoint (audit.VerifySince) and keeps the new positions; a full check of every
// event runs in the background, a page at a time, on the updater's queue (the updater
// function advances it as it advances update runs), with its progress stored for the console
// to show.
package eventcheck

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/opensignum/signum/lib/audit"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/tenant"
	"github.com/opensignum/signum/lib/updates"
)

// PageSize is how many events a step of the full check reads (one Query).
const PageSize = 1000

// Quiet is how long a running full check may go without progress before a new start sends
// its message again (a message lost or dead-lettered).
const Quiet = 2 * time.Minute

// Store is what the checks need of the store (store.Store).
type Store interface {
	audit.LaneSinceReader
	audit.PageReader
	audit.EventFinder
	VerifiedLanes(ctx context.Context, dep string) ([]*audit.Seal, error)
	SaveVerified(ctx context.Context, dep string, seal audit.Seal) error
	GetEventCheck(ctx context.Context, dep string) (audit.FullCheck, error)
	SaveEventCheck(ctx context.Context, dep string, c audit.FullCheck) (audit.FullCheck, error)
}

// Checker checks deployments' event logs.
type Checker struct {
	Store Store
	// Root gives the checkpoint key's public key (audit.Notary.Root); nil when none is
	// configured: then the console's check reads every lane whole, as no position can be
	// trusted, and the full check checks no seals.
	Root func(ctx context.Context) (crypto.PublicKey, string, error)
	// Anchors are the checkpoints kept outside the table (nil: none).
	Anchors audit.AnchorReader
	// Queue carries the full checks' messages to the updater (nil: a full check is started
	// but only advanced by Advance's callers).
	Queue updates.Queue
	Now   func() time.Time
	Log   *slog.Logger
	// PageSize is the events of a step (PageSize when 0).
	PageSize int
}

// options are the checks' options: the key and the anchors when there is a key.
func (c *Checker) options(ctx context.Context) ([]audit.Option, error) {
	if c.Root == nil {
		return nil, nil
	}
	pub, _, err := c.Root(ctx)
	if err != nil {
		return nil, fault.Wrap(fault.ErrUnavailable, err, "The checkpoint key cannot be read; retry.")
	}
	opts := []audit.Option{audit.WithKey(pub)}
	if c.Anchors != nil {
		opts = append(opts, audit.WithAnchors(c.Anchors))
	}
	return opts, nil
}

// Since checks dep's log from where each lane was last found intact, and keeps where each is
// found intact now: what the console's check does.
func (c *Checker) Since(ctx context.Context, dep string) (audit.SinceResult, error) {
	opts, err := c.options(ctx)
	if err != nil {
		return audit.SinceResult{}, err
	}
	var kept []*audit.Seal
	if c.Root != nil {
		if kept, err = c.Store.VerifiedLanes(ctx, dep); err != nil {
			return audit.SinceResult{}, err
		}
	}
	res, err := audit.VerifySince(ctx, c.Store, dep, audit.Lanes, kept, opts...)
	if err != nil {
		return audit.SinceResult{}, err
	}
	for n, sl := range res.Intact {
		if sl != nil && sl.Statement.Events[0].Seq != res.After[n] { // else kept already
			c.keep(ctx, dep, *sl)
		}
	}
	return res, nil
}

// keep keeps sl as where its lane was found intact. A position not kept costs the next check
// a longer read, nothing else: a failure is logged.
func (c *Checker) keep(ctx context.Context, dep string, sl audit.Seal) {
	if err := c.Store.SaveVerified(ctx, dep, sl); err != nil {
		c.Log.WarnContext(ctx, "verified lane position not kept", slog.String("error", err.Error()))
	}
}

// Start starts a full check of dep's log in the background, requested by actor, and returns
// it; while one runs, it returns that one (and sends its message again when it has made no
// progress for Quiet).
func (c *Checker) Start(ctx context.Context, dep, actor string) (audit.FullCheck, error) {
	now := c.Now().UTC()
	cur, err := c.Store.GetEventCheck(ctx, dep)
	switch {
	case errors.Is(err, fault.ErrNotFound):
	case err != nil:
		return audit.FullCheck{}, err
	case cur.State == audit.CheckRunning:
		if now.Sub(cur.UpdatedAt) > Quiet {
			if err := c.send(ctx, dep, cur.ID); err != nil {
				return audit.FullCheck{}, err
			}
		}
		return cur, nil
	}
	next := audit.FullCheck{ID: tenant.NewID("chk_"), State: audit.CheckRunning, Lanes: audit.Lanes, RequestedBy: actor,
		StartedAt: now, UpdatedAt: now, Version: cur.Version}
	saved, err := c.Store.SaveEventCheck(ctx, dep, next)
	if errors.Is(err, fault.ErrPrecondition) {
		// Another start at the same moment: its check is the one.
		return c.Store.GetEventCheck(ctx, dep)
	}
	if err != nil {
		return audit.FullCheck{}, err
	}
	return saved, c.send(ctx, dep, saved.ID)
}

func (c *Checker) send(ctx context.Context, dep, id string) error {
	if c.Queue == nil {
		return nil
	}
	if err := c.Queue.Send(ctx, updates.Message{DeploymentID: dep, Check: id}); err != nil {
		return fault.Wrap(fault.ErrUnavailable, fmt.Errorf("send event check message: %w", err), "The check could not be started; retry.")
	}
	return nil
}

// Current is dep's full check: the running one or the last (fault.ErrNotFound when none).
func (c *Checker) Current(ctx context.Context, dep string) (audit.FullCheck, error) {
	return c.Store.GetEventCheck(ctx, dep)
}

// Advance does pages of dep's full check id until it is done or budget is spent, saving its
// state after every page over the revision it read (two deliveries at once cannot both record
// progress: the one whose save fails stops). more says that work remains and the caller must
// send the message again; an error means the message should be delivered again as it is.
func (c *Checker) Advance(ctx context.Context, dep, id string, budget time.Duration) (more bool, err error) {
	deadline := c.Now().Add(budget)
	opts, err := c.options(ctx)
	if err != nil {
		return false, err
	}
	size := c.PageSize
	if size == 0 {
		size = PageSize
	}
	for {
		cur, err := c.Store.GetEventCheck(ctx, dep)
		if errors.Is(err, fault.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if cur.ID != id || cur.State != audit.CheckRunning {
			return false, nil // an old message, or a check that is over: dropped
		}
		if err := audit.CheckPage(ctx, c.Store, dep, &cur, size, opts...); err != nil {
			return false, err
		}
		if cur.Intact != nil {
			// The console's checks go on from where the full check found the lane intact:
			// after a full check, the first of them does not read a large log whole.
			c.keep(ctx, dep, *cur.Intact)
			cur.Intact = nil
		}
		cur.UpdatedAt = c.Now().UTC()
		if cur.State == audit.CheckDone {
			cur.FinishedAt = cur.UpdatedAt
		}
		if _, err := c.Store.SaveEventCheck(ctx, dep, cur); err != nil {
			if errors.Is(err, fault.ErrPrecondition) {
				return false, nil // another delivery is ahead, or a new check started
			}
			return false, err
		}
		if cur.State != audit.CheckRunning {
			return false, nil
		}
		if !c.Now().Before(deadline) {
			return true, nil
		}
	}
}
