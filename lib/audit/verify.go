package audit

import "context"

// Lane is one lane of a deployment's event log as read for verification: its events in
// sequence order, the items that did not decode, and its checkpoint.
type Lane struct {
	Number      int
	Events      []Event
	Undecodable []string // why each undecodable item did not decode
	HeadSeq     int64
	HeadHash    string
}

// LaneReader reads a lane of a deployment's log (store.Store).
type LaneReader interface {
	ReadLane(ctx context.Context, dep string, lane int) (Lane, error)
}

// Verify walks every lane of deployment dep's event log (lanes 0..lanes-1) and reports every
// break in the chains (VerifyLane), and how many events it checked.
func Verify(ctx context.Context, r LaneReader, dep string, lanes int) ([]Problem, int, error) {
	var problems []Problem
	total := 0
	for n := 0; n < lanes; n++ {
		lane, err := r.ReadLane(ctx, dep, n)
		if err != nil {
			return nil, 0, err
		}
		for _, why := range lane.Undecodable {
			problems = append(problems, Problem{Lane: n, Detail: "an event does not decode: " + why})
		}
		total += len(lane.Events)
		problems = append(problems, VerifyLane(n, lane.Events, lane.HeadSeq, lane.HeadHash)...)
	}
	return problems, total, nil
}
