package updates

import (
	"fmt"
	"strings"
	"time"

	"github.com/opensignum/signum/lib/tenant"
)

// State is where a run is.
type State string

// The states of a run. Scheduled and running runs are unfinished (a deployment has at most
// one); paused is unfinished too, and says why (Error) until an Admin retries it; done and
// cancelled are finished.
const (
	StateScheduled State = "scheduled"
	StateRunning   State = "running"
	StatePaused    State = "paused"
	StateDone      State = "done"
	StateCancelled State = "cancelled"
)

// Finished reports whether s is a final state.
func (s State) Finished() bool { return s == StateDone || s == StateCancelled }

// StepState is where one migration of a run is.
type StepState string

// The states of a migration within a run.
const (
	StepPending StepState = "pending"
	StepRunning StepState = "running"
	StepDone    StepState = "done"
	StepFailed  StepState = "failed"
)

// Step is one migration of a run and its progress.
type Step struct {
	Name  string
	State StepState
	// Cursor is where the migration resumes: saved after every batch, with Processed.
	Cursor                           string
	Processed                        int64
	Error                            string
	StartedAt, UpdatedAt, FinishedAt time.Time
}

// Run takes a deployment from FromVersion to Version: its release's migrations, in order.
// A deployment has one run item, the current or last one; a new run replaces it only once
// it is finished.
type Run struct {
	ID           string
	DeploymentID string
	Version      string
	FromVersion  string
	DataVersion  int
	FromData     int
	State        State
	// At is when a scheduled run starts (zero for one applied now).
	At        time.Time
	Steps     []Step
	Error     string
	RolloutID string
	// RequestedBy is the actor that applied or scheduled it.
	RequestedBy                                 string
	CreatedAt, StartedAt, UpdatedAt, FinishedAt time.Time
	// Revision counts the run's writes: every write names the one it read.
	Revision int64
}

// NewRunID is a new run id.
func NewRunID() string { return tenant.NewID("upd_") }

// Summary says a run in a sentence: "0.2.0 (running)".
func (r Run) Summary() string {
	s := fmt.Sprintf("%s (%s", r.Version, r.State)
	if r.State == StateScheduled {
		s += " for " + r.At.UTC().Format(time.RFC3339)
	}
	return s + ")"
}

// current is the first step not done, or nil when all are.
func (r *Run) current() *Step {
	for i := range r.Steps {
		if r.Steps[i].State != StepDone {
			return &r.Steps[i]
		}
	}
	return nil
}

// Message is what the updater's queue carries: a run to advance, or (Check set instead of
// RunID) a full check of the deployment's event log (lib/eventcheck), which the updater
// advances the same way.
type Message struct {
	DeploymentID string `json:"deploymentId"`
	RunID        string `json:"runId,omitempty"`
	Check        string `json:"check,omitempty"`
}

// Rollout is the operator's rollout of a release to many deployments in waves.
type Rollout struct {
	ID           string
	Version      string
	WaveSize     int
	WaveInterval time.Duration
	Entries      []RolloutEntry
	// Remaining is how many more deployments on older versions a rollout of every such
	// deployment left for the next request (one request schedules at most
	// MaxRolloutDeployments).
	Remaining int
	CreatedBy string
	CreatedAt time.Time
}

// RolloutEntry is one deployment of a rollout: its wave, the run scheduled for it, or why
// none was; neither while the rollout request is scheduling its runs (pending), and so for
// good when that request died midway (its runs, if any, name the rollout).
type RolloutEntry struct {
	DeploymentID string
	Wave         int
	At           time.Time
	RunID        string
	Skipped      string
}

// NewRolloutID is a new rollout id.
func NewRolloutID() string { return tenant.NewID("rol_") }

// ValidRolloutID reports whether id has the form of a rollout id.
func ValidRolloutID(id string) bool { return tenant.ValidID("rol_", id) }

// clean trims an error text for a run's record.
func clean(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 500 {
		s = s[:500]
	}
	return s
}
