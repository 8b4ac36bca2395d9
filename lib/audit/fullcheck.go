package audit

import (
	"context"
	"time"
)

// A full check of a large log does not fit in one request: FullCheck is its state, kept
// between pages, and CheckPage does one page of it: the next events of the current lane, checked
// as Verify checks them (their hashes, their links to the events before, the gaps, the lane's
// checkpoint, signed checkpoint and anchors as the page reaches what they recorded, and the
// decisions that signed completions name). The problems are what Verify reports of the same
// log but for two details: a lane's signed checkpoint that is missing or not genuine is
// reported once per page that compares a position with it (FullCheck keeps each problem once),
// and the anchors are compared page by page.

// States of a full check.
const (
	CheckRunning = "running"
	CheckDone    = "done"
)

// MaxCheckProblems is how many problems a full check keeps (ProblemCount counts them all).
const MaxCheckProblems = 100

// FullCheck is the state of a full check of a deployment's log.
type FullCheck struct {
	ID    string
	State string
	// Lanes is how many lanes the log has; Lane is the lane being checked, Next the sequence
	// number of the last item of it read, After the last event of it checked (nil at a lane's
	// start).
	Lanes int
	Lane  int
	Next  int64
	After *Resume
	// LanesDone and Events say how far it is.
	LanesDone    int
	Events       int
	Problems     []Problem
	ProblemCount int
	// LaneProblems counts the problems found in the current lane; Intact is, after a page
	// that ended a lane without any, the lane's signed checkpoint (for the incremental check
	// to go on from: VerifySince), until the next page.
	LaneProblems int
	Intact       *Seal
	RequestedBy  string
	StartedAt    time.Time
	UpdatedAt    time.Time
	FinishedAt   time.Time
	// Version is the revision of the stored state, which a save must name.
	Version int
}

// PageReader reads a lane a page at a time (store.Store).
type PageReader interface {
	// ReadLanePage is at most limit events of the lane after sequence number after, with the
	// lane's checkpoint; last is the sequence number of the last item read (an event's, or
	// one that does not decode), more that the lane may go on.
	ReadLanePage(ctx context.Context, dep string, lane int, after int64, limit int) (l Lane, last int64, more bool, err error)
}

// CheckPage does the next page (at most limit events) of check c of dep's log and updates c
// (its state turns done after the last lane's last page). r may be an EventFinder too.
func CheckPage(ctx context.Context, r PageReader, dep string, c *FullCheck, limit int, opts ...Option) error {
	if c.State != CheckRunning {
		return nil
	}
	if c.Lane >= c.Lanes {
		c.State = CheckDone
		return nil
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	lane, last, more, err := r.ReadLanePage(ctx, dep, c.Lane, c.Next, limit)
	if err != nil {
		return err
	}
	more = more && last > c.Next // a page that read nothing ends the lane
	lane.Number, lane.After, lane.More = c.Lane, c.After, more
	found, ch := verifyLane(dep, lane, o)
	if o.anchors != nil && o.root != nil {
		a, err := checkAnchors(ctx, dep, lane, ch, o)
		if err != nil {
			return err
		}
		found = append(found, a...)
	}
	// Decisions not in the page: looked up in their lanes around their completions' time.
	missing, err := missingDecisions(ctx, r, dep, lane.Events, func(int) int64 { return 0 })
	if err != nil {
		return err
	}
	c.Intact = nil
	c.LaneProblems += c.add(append(found, missing...))
	c.Events += len(lane.Events)
	if more {
		c.Next = last
		if ch.last.Seq > 0 {
			l := ch.last
			c.After = &l
		}
		return nil
	}
	// A lane found whole, whose signed checkpoint this last page compared (the position is in
	// it, or is the event it went on from), is intact up to that checkpoint.
	if sl := ch.sealed; c.LaneProblems == 0 && sl != nil && o.root != nil && sl.Seq >= ch.from.Seq && sl.Seq <= ch.maxSeq {
		c.Intact = lane.Seal
	}
	c.Lane, c.LanesDone, c.Next, c.After, c.LaneProblems = c.Lane+1, c.LanesDone+1, 0, nil, 0
	if c.Lane >= c.Lanes {
		c.State = CheckDone
	}
	return nil
}

// add keeps each of ps that c does not have yet, up to MaxCheckProblems, and counts them; it
// returns how many were new.
func (c *FullCheck) add(ps []Problem) (n int) {
	for _, p := range ps {
		dup := false
		for _, q := range c.Problems {
			if q == p {
				dup = true
				break
			}
		}
		if dup {
			continue
		}
		c.ProblemCount++
		n++
		if len(c.Problems) < MaxCheckProblems {
			c.Problems = append(c.Problems, p)
		}
	}
	return n
}
