package audit

import (
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// Kinds of problem Verify reports.
const (
	// ProblemDeleted: events are missing (a gap, or a lane shorter than its checkpoint).
	ProblemDeleted = "deleted"
	// ProblemAltered: an event's content does not match its hash, or an event is not the one
	// its successor, a checkpoint, an anchor or a receipt recorded (the lane was rewritten).
	ProblemAltered = "altered"
	// ProblemReordered: events are not in their sequence order.
	ProblemReordered = "reordered"
	// ProblemRollback: the lane is behind what was recorded outside it (an anchor, a
	// receipt): its checkpoint was moved back.
	ProblemRollback = "rollback"
	// ProblemSeal: a checkpoint, anchor or receipt is missing its seal or its seal does not
	// verify with the checkpoint key: written by someone who cannot use that key.
	ProblemSeal = "seal"
	// ProblemUndecodable: an item of the log is not an event.
	ProblemUndecodable = "undecodable"
)

// Problem is one break in the log.
type Problem struct {
	Kind   string `json:"kind"`
	Lane   int    `json:"lane"`
	Seq    int64  `json:"seq"`
	Detail string `json:"detail"`
}

// Lane is one lane of a deployment's event log as read for verification: its events in
// the order they are stored, the items that did not decode, and its checkpoint.
type Lane struct {
	Number      int
	Events      []Event
	Undecodable []string // why each undecodable item did not decode
	// Raw, when set, is each event's JSON as read (an export's lines): HashJCS events are
	// hashed from it, members this code does not know included.
	Raw [][]byte
	// HeadSeq and HeadHash are the lane's plain checkpoint, which anyone who can write the
	// table can move; Seal is its signed checkpoint (nil when there is none) and SealError
	// why it did not decode.
	HeadSeq   int64
	HeadHash  string
	Seal      *Seal
	SealError string
	// NoCheckpoints is set by a reader that keeps no checkpoints (an export): Verify does not
	// ask its lanes for a signed one; anchors and receipts carry the proof instead.
	NoCheckpoints bool
	// After, when set, is where the check of the lane resumes: Events holds only the lane's
	// events after it, and the first of them links to its hash (VerifySince, CheckPage).
	After *Resume
	// More says that the lane goes on after Events (a page of a check done in pages): what a
	// checkpoint or anchor recorded beyond them is compared with a later page.
	More bool
}

// Resume is the last event of a lane that a check went over before, where the next check of
// the lane goes on from.
type Resume struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
	// JCS says that a HashJCS event is at or before it (a legacy event after it is altered).
	JCS bool `json:"jcs,omitempty"`
	// Sealed says that a genuine signed checkpoint recorded it and a check found the lane
	// intact up to it: a checkpoint behind it was moved back. Unset for the last event of a
	// page (what was recorded before it was compared with the pages that held it).
	Sealed bool `json:"sealed,omitempty"`
}

// LaneReader reads a lane of a deployment's log (store.Store).
type LaneReader interface {
	ReadLane(ctx context.Context, dep string, lane int) (Lane, error)
}

// Option adds a check to Verify.
type Option func(*options)

type options struct {
	root     crypto.PublicKey
	anchors  AnchorReader
	receipts []Seal
}

// WithKey checks seals (the lanes' signed checkpoints, anchors, receipts) against root, the
// checkpoint key's public key, and requires a signed checkpoint of every lane that has events
// (but a lane of legacy events only, all older than LegacyUntil, and the lanes of a reader
// that keeps no checkpoints: Lane.NoCheckpoints).
func WithKey(root crypto.PublicKey) Option { return func(o *options) { o.root = root } }

// WithAnchors compares each lane with every one of its anchors outside the table (needs
// WithKey).
func WithAnchors(a AnchorReader) Option { return func(o *options) { o.anchors = a } }

// WithReceipts checks that the events the receipts name are where the receipts say.
func WithReceipts(rs []Seal) Option { return func(o *options) { o.receipts = rs } }

// LegacyUntil is the day hash version HashJCS was introduced (it is a variable only because a
// time cannot be a constant). Nothing writes a HashLegacy event from then on, and a HashLegacy
// event has no seal to ask for: so, with WithKey, a lane needs a signed checkpoint unless all
// its events are HashLegacy and dated before LegacyUntil (a lane of an old deployment that
// nothing has written to since, which must not turn into a false alarm), and a HashLegacy
// event dated from LegacyUntil on, or after a HashJCS event of its lane, is reported altered:
// a lane rewritten with the legacy hash to do without the seal.
var LegacyUntil = time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)

// Verify walks every lane of deployment dep's event log (lanes 0..lanes-1) and reports every
// problem (VerifyLane), and how many events it checked. With options it also checks the seals,
// anchors and receipts.
func Verify(ctx context.Context, r LaneReader, dep string, lanes int, opts ...Option) ([]Problem, int, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	var problems []Problem
	total := 0
	read := make([]Lane, lanes)
	for n := 0; n < lanes; n++ {
		lane, err := r.ReadLane(ctx, dep, n)
		if err != nil {
			return nil, 0, err
		}
		lane.Number = n
		read[n] = lane
		total += len(lane.Events)
		found, c := verifyLane(dep, lane, o)
		problems = append(problems, found...)
		if o.anchors != nil && o.root != nil {
			found, err := checkAnchors(ctx, dep, lane, c, o)
			if err != nil {
				return nil, 0, err
			}
			problems = append(problems, found...)
		}
	}
	problems = append(problems, crossCheck(read)...)
	problems = append(problems, checkReceipts(dep, read, o)...)
	return problems, total, nil
}

// VerifyLane reports the problems of one lane of deployment dep (see Verify).
func VerifyLane(dep string, l Lane, opts ...Option) []Problem {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	out, _ := verifyLane(dep, l, o)
	return out
}

// chain is what verifyLane found of a lane, for checkAnchors.
type chain struct {
	bySeq  map[int64]Event
	maxSeq int64
	// from is where the check began (the zero Resume: the lane's start); more, that the lane
	// goes on after maxSeq (Lane.More).
	from Resume
	more bool
	// sealed is the position of the lane's genuine signed checkpoint (nil if none);
	// unsealed is set when a signed checkpoint was required and missing (reported).
	sealed   *Position
	unsealed bool
	// last is the event the next page of the lane goes on from.
	last Resume
}

// hashAt is the hash of the event at seq as the check knows it (From's hash for From's
// event; "" for one missing), and whether seq is in the part of the lane the check covers.
func (c chain) hashAt(seq int64) (string, bool) {
	switch {
	case seq == c.from.Seq && seq > 0:
		return c.from.Hash, true
	case seq < c.from.Seq:
		return "", false
	}
	return c.bySeq[seq].Hash, true
}

func verifyLane(dep string, l Lane, o options) ([]Problem, chain) {
	var out []Problem
	add := func(kind string, seq int64, format string, args ...any) {
		out = append(out, Problem{Kind: kind, Lane: l.Number, Seq: seq, Detail: fmt.Sprintf(format, args...)})
	}
	for _, why := range l.Undecodable {
		add(ProblemUndecodable, 0, "an event does not decode: %s", why)
	}
	var from Resume
	if l.After != nil {
		from = *l.After
	}
	bySeq := make(map[int64]Event, len(l.Events))
	maxSeq := from.Seq
	needSeal := from.Sealed // an event that a signed checkpoint must cover is in the lane
	for i, e := range l.Events {
		if e.Seq <= maxSeq {
			add(ProblemReordered, e.Seq, "is out of order: it is stored after event %d", maxSeq)
		}
		if _, dup := bySeq[e.Seq]; dup {
			add(ProblemReordered, e.Seq, "is in the lane twice")
		}
		bySeq[e.Seq] = e
		maxSeq = max(maxSeq, e.Seq)
		needSeal = needSeal || e.V != HashLegacy || !e.At.Before(LegacyUntil)
		switch want := hashOf(l, i); {
		case want == "":
			add(ProblemAltered, e.Seq, "has hash version %d, which this verifier does not know", e.V)
		case want != e.Hash:
			add(ProblemAltered, e.Seq, "was altered: its hash does not match its content")
		}
	}
	// The sequence numbers in order (not every number up to the highest: an event's number
	// is whatever the table says).
	seqs := make([]int64, 0, len(bySeq))
	for seq := range bySeq {
		if seq > from.Seq {
			seqs = append(seqs, seq)
		}
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	last := from.Seq
	for _, seq := range seqs {
		switch from, to := last+1, seq-1; {
		case from == to:
			add(ProblemDeleted, from, "event %d is missing", from)
		case from < to:
			add(ProblemDeleted, from, "events %d to %d are missing", from, to)
		}
		last = seq
	}
	jcs := from.JCS // a HashJCS event came before in the lane
	for _, seq := range seqs {
		e := bySeq[seq]
		prev := Genesis
		switch {
		case seq-1 == from.Seq && seq > 1:
			prev = from.Hash
		case seq > 1:
			prev = bySeq[seq-1].Hash // "" when it is missing (reported)
		}
		if prev != "" && e.PrevHash != prev {
			add(ProblemAltered, seq, "does not link to the event before it: one of them was changed")
		}
		if e.V == HashLegacy && (jcs || !e.At.Before(LegacyUntil)) {
			add(ProblemAltered, seq, "has the legacy hash version, which nothing writes after a version %d event nor since %s: the lane was rewritten with the legacy hash", HashJCS, LegacyUntil.Format(time.DateOnly))
		}
		jcs = jcs || e.V >= HashJCS
	}
	c := chain{bySeq: bySeq, maxSeq: maxSeq, from: from, more: l.More, last: from}
	if maxSeq > from.Seq {
		c.last = Resume{Seq: maxSeq, Hash: bySeq[maxSeq].Hash, JCS: jcs}
	}
	// The plain checkpoint: it reveals events removed from the end by someone who did not
	// move it too.
	switch hash, covered := c.hashAt(l.HeadSeq); {
	case l.HeadSeq == 0:
	case maxSeq < l.HeadSeq:
		if !l.More {
			add(ProblemDeleted, l.HeadSeq, "the chain's checkpoint is at %d but the last event is %d: events were removed", l.HeadSeq, maxSeq)
		}
	case !covered:
		if from.Sealed {
			add(ProblemRollback, l.HeadSeq, "the chain's checkpoint is at %d, behind event %d, at which a signed checkpoint recorded the lane and an earlier check found it intact: the checkpoint was moved back", l.HeadSeq, from.Seq)
		}
	case hash != l.HeadHash:
		add(ProblemAltered, l.HeadSeq, "is not the event the chain's checkpoint recorded")
	}
	if o.root == nil {
		return out, c
	}
	// The signed checkpoint: someone who can write the table cannot make one.
	switch {
	case l.SealError != "":
		add(ProblemSeal, 0, "the lane's signed checkpoint does not decode: %s", l.SealError)
	case l.Seal == nil:
		if needSeal && !l.NoCheckpoints {
			add(ProblemSeal, 0, "the lane's checkpoint is not signed: it was written by someone who cannot use the checkpoint key")
			c.unsealed = true
		}
	default:
		p, err := checkpointOf(*l.Seal, o.root, dep, l.Number)
		if err != nil {
			add(ProblemSeal, 0, "the lane's signed checkpoint is not genuine: %v", err)
			break
		}
		c.sealed = &p
		c.checkAt(add, p, ProblemDeleted, "the signed checkpoint", from.Sealed)
	}
	return out, c
}

// checkAnchors compares lane l with every one of its anchors outside the table. Each anchor's
// name gives the sequence number and hash of the event it recorded (AnchorName), and only the
// signer can create names where anchors are kept: a name that agrees with the chain needs no
// reading. The newest anchor, every anchor whose name disagrees with the chain (read for the
// evidence: its seal) and every anchor whose name has no hash (written before names had one)
// are read and their seals checked. An older anchor the chain contradicts is a lane rewritten
// under the anchors, even when the signer has since sealed and anchored on top of it.
//
// A check that covers only part of the lane (Lane.After, Lane.More) compares the anchors of
// that part: listed alone when the reader can (AnchorRangeReader).
func checkAnchors(ctx context.Context, dep string, l Lane, c chain, o options) ([]Problem, error) {
	var names []string
	var err error
	if rr, ok := o.anchors.(AnchorRangeReader); ok && (l.After != nil || l.More) {
		lo, hi := int64(0), int64(math.MaxInt64)
		if l.After != nil {
			lo = l.After.Seq + 1
		}
		if l.More {
			hi = c.maxSeq
		}
		names, err = rr.AnchorNamesBetween(ctx, dep, l.Number, lo, hi)
	} else {
		names, err = o.anchors.AnchorNames(ctx, dep, l.Number)
	}
	if err != nil {
		return nil, fmt.Errorf("list anchors: %w", err)
	}
	var out []Problem
	add := func(kind string, seq int64, format string, args ...any) {
		out = append(out, Problem{Kind: kind, Lane: l.Number, Seq: seq, Detail: fmt.Sprintf(format, args...)})
	}
	if len(names) > 0 && l.Seal == nil && l.SealError == "" && !l.NoCheckpoints && !c.unsealed {
		add(ProblemSeal, 0, "the lane's checkpoint is not signed, but the lane has anchors outside the table: it was written by someone who cannot use the checkpoint key")
	}
	newest := true // no genuine anchor read yet
	for i, name := range names {
		seq, hash, ok := parseAnchorName(name)
		if !ok {
			add(ProblemSeal, 0, "%s is not the name of an anchor", name)
			continue
		}
		if h, covered := c.hashAt(seq); i > 0 && hash != "" && covered && seq <= c.maxSeq && h == hash {
			continue // the chain has the event the anchor recorded
		}
		raw, err := o.anchors.ReadAnchor(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("read anchor %s: %w", name, err)
		}
		var s Seal
		if err := json.Unmarshal(raw, &s); err != nil {
			add(ProblemSeal, seq, "the anchor %s outside the table does not decode: %v", name, err)
			continue
		}
		p, err := checkpointOf(s, o.root, dep, l.Number)
		if err != nil {
			add(ProblemSeal, seq, "the anchor %s outside the table is not genuine: %v", name, err)
			continue
		}
		if p.Seq != seq || (hash != "" && p.Hash != hash) {
			add(ProblemSeal, seq, "the anchor %s outside the table is not the checkpoint its name says", name)
			continue
		}
		when := s.Statement.At.UTC().Format(time.RFC3339)
		if newest && c.sealed != nil && c.sealed.Seq < p.Seq {
			add(ProblemRollback, p.Seq, "the lane's signed checkpoint is at %d, behind the anchor made outside the table at %s for event %d: the checkpoint was moved back", c.sealed.Seq, when, p.Seq)
		}
		newest = false
		c.checkAt(add, p, ProblemRollback, "the anchor made outside the table at "+when, false)
	}
	return out, nil
}

// checkAt reports whether the event at p is the one that what (a checkpoint, an anchor, a
// receipt) recorded; a lane that ends before p is a problem of kind short. A position before
// the part of the lane c covers was compared by the check that covered it; but when behind is
// set (what must not be behind where an earlier check found the lane intact under a seal: the
// lane's signed checkpoint), it is a rollback.
func (c chain) checkAt(add func(string, int64, string, ...any), p Position, short, what string, behind bool) {
	e, ok := c.bySeq[p.Seq]
	switch {
	case p.Seq > c.maxSeq:
		if !c.more {
			add(short, p.Seq, "%s recorded event %d, but the lane ends at %d: events were removed", what, p.Seq, c.maxSeq)
		}
	case p.Seq < c.from.Seq:
		if behind {
			add(ProblemRollback, p.Seq, "%s recorded event %d, behind event %d, at which a signed checkpoint recorded the lane and an earlier check found it intact: it was moved back", what, p.Seq, c.from.Seq)
		}
	case p.Seq == c.from.Seq && p.Seq > 0:
		if p.Hash != c.from.Hash {
			add(ProblemAltered, p.Seq, "is not the event %s recorded: the lane was rewritten", what)
		}
	case !ok:
		// reported missing
	case e.Hash != p.Hash || (p.ID != "" && e.ID != p.ID):
		add(ProblemAltered, p.Seq, "is not the event %s recorded: the lane was rewritten", what)
	}
}

// hashOf is the hash event i of l should have: from its JSON as read when the lane has it.
func hashOf(l Lane, i int) string {
	e := l.Events[i]
	if e.V == HashJCS && i < len(l.Raw) {
		h, err := HashJSON(l.Raw[i])
		if err != nil {
			return "-" // never a hash: reported altered
		}
		return h
	}
	return e.ComputeHash()
}

// checkpointOf checks that s is a genuine checkpoint of lane of dep and returns its position.
func checkpointOf(s Seal, root crypto.PublicKey, dep string, lane int) (Position, error) {
	if err := s.Verify(root); err != nil {
		return Position{}, err
	}
	p, err := anchorOf(s)
	if err != nil {
		return Position{}, err
	}
	if s.Statement.DeploymentID != dep || p.Lane != lane {
		return Position{}, fmt.Errorf("it is the checkpoint of lane %d of %s", p.Lane, s.Statement.DeploymentID)
	}
	return p, nil
}

// crossCheck reports signed completions that name decisions no lane holds: a decision
// deleted with its lane rewritten, its completion kept in another lane.
func crossCheck(lanes []Lane) []Problem {
	ids := map[string]bool{}
	for _, l := range lanes {
		for _, e := range l.Events {
			ids[e.ID] = true
		}
	}
	var out []Problem
	for _, l := range lanes {
		for _, e := range l.Events {
			if e.Kind != KindCompletion || e.Outcome != Signed {
				continue
			}
			for _, id := range strings.Split(e.Of, ",") {
				if id != "" && !ids[id] {
					out = append(out, Problem{Kind: ProblemDeleted, Lane: l.Number, Seq: e.Seq,
						Detail: fmt.Sprintf("completes decision %s, which is not in the log", id)})
				}
			}
		}
	}
	return out
}

// checkReceipts reports receipts that do not verify and events not where a receipt says.
func checkReceipts(dep string, lanes []Lane, o options) []Problem {
	var out []Problem
	index := make([]map[int64]Event, len(lanes))
	maxSeq := make([]int64, len(lanes))
	for i, l := range lanes {
		index[i] = map[int64]Event{}
		for _, e := range l.Events {
			index[i][e.Seq] = e
			maxSeq[i] = max(maxSeq[i], e.Seq)
		}
	}
	for _, r := range o.receipts {
		when := r.Statement.At.UTC().Format(time.RFC3339)
		if r.Statement.DeploymentID != dep {
			continue // another deployment's receipt
		}
		if o.root != nil {
			if err := r.Verify(o.root); err != nil || r.Statement.Type != TypeReceipt {
				out = append(out, Problem{Kind: ProblemSeal, Detail: fmt.Sprintf("the receipt made at %s is not genuine: %v", when, err)})
				continue
			}
		}
		for _, p := range r.Statement.Events {
			if p.Lane < 0 || p.Lane >= len(lanes) {
				out = append(out, Problem{Kind: ProblemSeal, Lane: p.Lane, Seq: p.Seq, Detail: "a receipt names a lane the log does not have"})
				continue
			}
			add := func(kind string, seq int64, format string, args ...any) {
				out = append(out, Problem{Kind: kind, Lane: p.Lane, Seq: seq, Detail: fmt.Sprintf(format, args...)})
			}
			chain{bySeq: index[p.Lane], maxSeq: maxSeq[p.Lane]}.checkAt(add, p, ProblemRollback, "the receipt made at "+when, false)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Lane < out[j].Lane })
	return out
}
