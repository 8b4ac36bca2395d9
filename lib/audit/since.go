package audit

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// A check of the whole log reads every event, so it takes longer as the log grows. VerifySince
// reads only what each lane gained since an earlier check found it intact: that check's
// position is a genuine signed checkpoint of the lane (which whoever can write the table
// cannot make), so the events after it must link to the hash it recorded, and every check that
// Verify makes of the lane's end (its checkpoint, signed checkpoint and anchors) is made of
// the new part. What it cannot see is a change made since to the part checked before: a full
// check (Verify, or CheckPage over every page) finds that.

// LaneSinceReader reads a lane's events after a position (store.Store).
type LaneSinceReader interface {
	LaneReader
	// ReadLaneAfter is ReadLane of the lane's events after sequence number after only.
	ReadLaneAfter(ctx context.Context, dep string, lane int, after int64) (Lane, error)
}

// EventFinder finds a deployment's decisions by id in their lanes (store.Store): what
// VerifySince and CheckPage use to check that the decisions a signed completion names are in
// the log when they are not among the events they read. A decision is in lane LaneOf(its id),
// stamped up to CompletionWindow before its completion, so a look back from there reads a few
// events, not the log.
type EventFinder interface {
	// FindEvents reports which of ids are events of the lane of dep, looking back from
	// sequence number upTo (0: from the last event stamped at or before at) through the events
	// stamped at or after since.
	FindEvents(ctx context.Context, dep string, lane int, upTo int64, at, since time.Time, ids []string) (map[string]bool, error)
}

// CompletionWindow bounds how long before its signed completion a decision was stamped: the
// signer stamps both with its own clock in one request, which its function's timeout (10 s in
// template.yaml) ends; the window leaves room for a longer timeout and for clocks.
const CompletionWindow = 2 * time.Minute

// SinceResult is what VerifySince found.
type SinceResult struct {
	Problems []Problem
	// Events is how many events were read and checked.
	Events int
	// After is, per lane, the sequence number the check read after (0: the lane was read
	// whole).
	After []int64
	// Intact is, per lane, the lane's signed checkpoint when the check found the lane intact
	// up to it, else nil: the position a later check may go on from.
	Intact []*Seal
}

// VerifySince checks lanes 0..lanes-1 of dep as Verify does, each from since[n], the signed
// checkpoint of lane n at which an earlier check found it intact (nil, or a seal that is not a
// genuine checkpoint of the lane: read whole). It needs WithKey: without a key no position is
// trusted, every lane is read whole and none is reported intact.
func VerifySince(ctx context.Context, r LaneSinceReader, dep string, lanes int, since []*Seal, opts ...Option) (SinceResult, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	res := SinceResult{After: make([]int64, lanes), Intact: make([]*Seal, lanes)}
	read := make([]Lane, lanes)
	for n := 0; n < lanes; n++ {
		var from *Resume
		if o.root != nil && n < len(since) && since[n] != nil {
			if p, err := checkpointOf(*since[n], o.root, dep, n); err == nil {
				from = &Resume{Seq: p.Seq, Hash: p.Hash, JCS: true, Sealed: true}
			}
		}
		var lane Lane
		var err error
		if from == nil {
			lane, err = r.ReadLane(ctx, dep, n)
		} else {
			lane, err = r.ReadLaneAfter(ctx, dep, n, from.Seq)
			res.After[n] = from.Seq
		}
		if err != nil {
			return SinceResult{}, err
		}
		lane.Number, lane.After, lane.More = n, from, false
		read[n] = lane
		res.Events += len(lane.Events)
		found, c := verifyLane(dep, lane, o)
		if o.anchors != nil && o.root != nil {
			more, err := checkAnchors(ctx, dep, lane, c, o)
			if err != nil {
				return SinceResult{}, err
			}
			found = append(found, more...)
		}
		res.Problems = append(res.Problems, found...)
		if len(found) == 0 && c.sealed != nil && o.root != nil {
			res.Intact[n] = lane.Seal
		}
	}
	var events []Event
	for _, l := range read {
		events = append(events, l.Events...)
	}
	// A decision not read is before its lane's position (the lane was read from there on).
	missing, err := missingDecisions(ctx, r, dep, events, func(lane int) int64 {
		if lane >= 0 && lane < lanes {
			return max(res.After[lane], 1)
		}
		return 0
	})
	if err != nil {
		return SinceResult{}, err
	}
	for _, p := range missing {
		res.Problems = append(res.Problems, p)
		res.Intact[p.Lane] = nil
	}
	return res, nil
}

// missingDecisions reports the signed completions among events that name decisions neither
// among events nor, when r is an EventFinder, in their lanes (LaneOf) looking back from
// upTo(lane) (0: from the completion's time) over CompletionWindow.
func missingDecisions(ctx context.Context, r any, dep string, events []Event, upTo func(lane int) int64) ([]Problem, error) {
	ids := make(map[string]bool, len(events))
	for _, e := range events {
		ids[e.ID] = true
	}
	type ref struct {
		e  Event
		id string
	}
	var refs []ref
	for _, e := range events {
		if e.Kind != KindCompletion || e.Outcome != Signed {
			continue
		}
		for _, id := range strings.Split(e.Of, ",") {
			if id != "" && !ids[id] {
				refs = append(refs, ref{e, id})
			}
		}
	}
	found := map[string]bool{}
	if f, ok := r.(EventFinder); ok && len(refs) > 0 {
		// One look back per lane, from the latest completion through the window before
		// the earliest.
		type look struct {
			at, since time.Time
			ids       []string
		}
		byLane := map[int]*look{}
		for _, rf := range refs {
			lane := LaneOf(rf.id)
			l := byLane[lane]
			if l == nil {
				l = &look{at: rf.e.At, since: rf.e.At}
				byLane[lane] = l
			}
			l.ids = append(l.ids, rf.id)
			if rf.e.At.After(l.at) {
				l.at = rf.e.At
			}
			if rf.e.At.Before(l.since) {
				l.since = rf.e.At
			}
		}
		for lane, l := range byLane {
			got, err := f.FindEvents(ctx, dep, lane, upTo(lane), l.at, l.since.Add(-CompletionWindow), l.ids)
			if err != nil {
				return nil, err
			}
			for id := range got {
				found[id] = true
			}
		}
	}
	var out []Problem
	for _, rf := range refs {
		if !found[rf.id] {
			out = append(out, Problem{Kind: ProblemDeleted, Lane: rf.e.Lane, Seq: rf.e.Seq,
				Detail: fmt.Sprintf("completes decision %s, which is not in the log", rf.id)})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Lane != out[j].Lane {
			return out[i].Lane < out[j].Lane
		}
		return out[i].Seq < out[j].Seq
	})
	return out, nil
}
