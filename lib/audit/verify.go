package audit

import (
	"context"
	"crypto"
	"encoding/json"
	"fmt"
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
// of the current hash version.
func WithKey(root crypto.PublicKey) Option { return func(o *options) { o.root = root } }

// WithAnchors compares each lane with its latest anchor outside the table (needs WithKey).
func WithAnchors(a AnchorReader) Option { return func(o *options) { o.anchors = a } }

// WithReceipts checks that the events the receipts name are where the receipts say.
func WithReceipts(rs []Seal) Option { return func(o *options) { o.receipts = rs } }

// anchorsRead is how many of a lane's newest anchors are read: the newest that verifies
// counts, the others that do not are reported.
const anchorsRead = 4

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
		var anchors [][]byte
		if o.anchors != nil {
			if anchors, err = o.anchors.LatestAnchors(ctx, dep, n, anchorsRead); err != nil {
				return nil, 0, fmt.Errorf("read anchors: %w", err)
			}
		}
		problems = append(problems, verifyLane(dep, lane, o, anchors)...)
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
	return verifyLane(dep, l, o, nil)
}

func verifyLane(dep string, l Lane, o options, anchors [][]byte) []Problem {
	var out []Problem
	add := func(kind string, seq int64, format string, args ...any) {
		out = append(out, Problem{Kind: kind, Lane: l.Number, Seq: seq, Detail: fmt.Sprintf(format, args...)})
	}
	for _, why := range l.Undecodable {
		add(ProblemUndecodable, 0, "an event does not decode: %s", why)
	}
	bySeq := make(map[int64]Event, len(l.Events))
	var maxSeq int64
	current := false // an event of the current hash version is in the lane
	for i, e := range l.Events {
		if e.Seq <= maxSeq {
			add(ProblemReordered, e.Seq, "is out of order: it is stored after event %d", maxSeq)
		}
		if _, dup := bySeq[e.Seq]; dup {
			add(ProblemReordered, e.Seq, "is in the lane twice")
		}
		bySeq[e.Seq] = e
		maxSeq = max(maxSeq, e.Seq)
		current = current || e.V >= HashJCS
		switch want := hashOf(l, i); {
		case want == "":
			add(ProblemAltered, e.Seq, "has hash version %d, which this verifier does not know", e.V)
		case want != e.Hash:
			add(ProblemAltered, e.Seq, "was altered: its hash does not match its content")
		}
	}
	for seq := int64(1); seq <= maxSeq; seq++ {
		if _, ok := bySeq[seq]; !ok {
			from := seq
			for seq+1 <= maxSeq && !has(bySeq, seq+1) {
				seq++
			}
			if from == seq {
				add(ProblemDeleted, from, "event %d is missing", from)
			} else {
				add(ProblemDeleted, from, "events %d to %d are missing", from, seq)
			}
		}
	}
	for seq := int64(1); seq <= maxSeq; seq++ {
		e, ok := bySeq[seq]
		if !ok {
			continue
		}
		prev := Genesis
		if seq > 1 {
			p, ok := bySeq[seq-1]
			if !ok {
				continue // reported missing
			}
			prev = p.Hash
		}
		if e.PrevHash != prev {
			add(ProblemAltered, seq, "does not link to the event before it: one of them was changed")
		}
	}
	// The plain checkpoint: it reveals events removed from the end by someone who did not
	// move it too.
	if maxSeq < l.HeadSeq {
		add(ProblemDeleted, l.HeadSeq, "the chain's checkpoint is at %d but the last event is %d: events were removed", l.HeadSeq, maxSeq)
	} else if l.HeadSeq > 0 && bySeq[l.HeadSeq].Hash != l.HeadHash {
		add(ProblemAltered, l.HeadSeq, "is not the event the chain's checkpoint recorded")
	}
	if o.root == nil {
		return out
	}
	// The signed checkpoint: someone who can write the table cannot make one.
	var sealed *Position
	switch {
	case l.SealError != "":
		add(ProblemSeal, 0, "the lane's signed checkpoint does not decode: %s", l.SealError)
	case l.Seal == nil:
		if current || len(anchors) > 0 {
			add(ProblemSeal, 0, "the lane's checkpoint is not signed: it was written by someone who cannot use the checkpoint key")
		}
	default:
		p, err := checkpointOf(*l.Seal, o.root, dep, l.Number)
		if err != nil {
			add(ProblemSeal, 0, "the lane's signed checkpoint is not genuine: %v", err)
			break
		}
		sealed = &p
		checkAt(add, bySeq, maxSeq, p, ProblemDeleted, "the signed checkpoint")
	}
	// The newest anchor outside the table that verifies.
	for _, raw := range anchors {
		var s Seal
		if err := json.Unmarshal(raw, &s); err != nil {
			add(ProblemSeal, 0, "an anchor outside the table does not decode: %v", err)
			continue
		}
		p, err := checkpointOf(s, o.root, dep, l.Number)
		if err != nil {
			add(ProblemSeal, 0, "an anchor outside the table is not genuine: %v", err)
			continue
		}
		when := s.Statement.At.UTC().Format(time.RFC3339)
		if sealed != nil && sealed.Seq < p.Seq {
			add(ProblemRollback, p.Seq, "the lane's signed checkpoint is at %d, behind the anchor made outside the table at %s for event %d: the checkpoint was moved back", sealed.Seq, when, p.Seq)
		}
		checkAt(add, bySeq, maxSeq, p, ProblemRollback, "the anchor made outside the table at "+when)
		break
	}
	return out
}

// checkAt reports whether the event at p is the one that what (a checkpoint, an anchor, a
// receipt) recorded; a lane that ends before p is a problem of kind short.
func checkAt(add func(string, int64, string, ...any), bySeq map[int64]Event, maxSeq int64, p Position, short, what string) {
	e, ok := bySeq[p.Seq]
	switch {
	case p.Seq > maxSeq:
		add(short, p.Seq, "%s recorded event %d, but the lane ends at %d: events were removed", what, p.Seq, maxSeq)
	case !ok:
		// reported missing
	case e.Hash != p.Hash || (p.ID != "" && e.ID != p.ID):
		add(ProblemAltered, p.Seq, "is not the event %s recorded: the lane was rewritten", what)
	}
}

func has(m map[int64]Event, seq int64) bool { _, ok := m[seq]; return ok }

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
			checkAt(add, index[p.Lane], maxSeq[p.Lane], p, ProblemRollback, "the receipt made at "+when)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Lane < out[j].Lane })
	return out
}
