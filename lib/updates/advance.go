package updates

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/tenant"
)

// Advance does the work of one message: batches of m's run until the run is done, paused,
// or budget is spent. It saves the run (cursor, processed count, state) after every batch,
// over the revision it read, so that a crash loses at most the batch in flight, which the
// next delivery does again (the migrations are idempotent), and so that two deliveries at
// once cannot both record progress: the one whose save fails stops. more says that work
// remains and the caller must send m again; an error means the message should be delivered
// again as it is (nothing of the failed batch was recorded).
func (s *Service) Advance(ctx context.Context, m Message, budget time.Duration) (more bool, err error) {
	deadline := s.Now().Add(budget)
	run, err := s.Store.GetRun(ctx, m.DeploymentID)
	if errors.Is(err, fault.ErrNotFound) {
		return false, nil // a message for a run that is not there: nothing to do
	}
	if err != nil {
		return false, err
	}
	if run.ID != m.RunID || run.State != StateRunning {
		return false, nil // an old message, or one for a run that stopped: dropped
	}
	for {
		st := run.current()
		if st == nil {
			_, err := s.Store.CompleteRun(ctx, s.finished(run), tenant.LogEntry{Actor: Actor, Action: "deployment.update.done",
				Detail: fmt.Sprintf("updated from %s to %s (data version %d)", run.FromVersion, run.Version, run.DataVersion), Object: run.ID})
			if errors.Is(err, fault.ErrPrecondition) {
				return false, nil // another delivery finished it
			}
			if errors.Is(err, ErrVersionChanged) {
				// Another run moved the deployment meanwhile: completing this one would move
				// it backwards, so it stops, visibly, with the reason.
				why, _ := fault.DetailOf(err)
				now := s.Now().UTC()
				run.State, run.Error, run.UpdatedAt = StatePaused, clean(why), now
				_, err = s.Store.SaveRun(ctx, run, tenant.LogEntry{Actor: Actor, Action: "deployment.update.paused", Detail: run.Error, Object: run.ID})
				if errors.Is(err, fault.ErrPrecondition) {
					return false, nil
				}
			}
			return false, err
		}
		if st.State == StepFailed {
			return false, nil
		}
		if run, err = s.step(ctx, run); err != nil {
			if errors.Is(err, fault.ErrPrecondition) {
				return false, nil // another delivery is ahead: it goes on
			}
			return false, err
		}
		if run.State != StateRunning {
			return false, nil
		}
		if !s.Now().Before(deadline) {
			return true, nil
		}
	}
}

// finished is run marked done.
func (s *Service) finished(run Run) Run {
	now := s.Now().UTC()
	run.State, run.FinishedAt, run.UpdatedAt, run.Error = StateDone, now, now, ""
	return run
}

// step runs one batch of run's current migration and saves what it did. A failure of the
// migration itself pauses the run with its reason; a failure to reach the store, or a
// cancelled context (the invocation dying), saves nothing and is returned.
func (s *Service) step(ctx context.Context, run Run) (Run, error) {
	st := run.current()
	now := s.Now().UTC()
	mig, ok := s.Migrations[st.Name]
	var b Batch
	var err error
	switch {
	case !s.Code.CanServe(run.DataVersion):
		err = fault.Newf(fault.ErrConflict, "the running code (%s) does not serve data version %d: deploy the code first", s.Code.Version, run.DataVersion)
	case !ok:
		err = fault.Newf(fault.ErrConflict, "this code has no migration named %q: deploy the code that has it", st.Name)
	default:
		b, err = mig(ctx, run.DeploymentID, st.Cursor, s.batch())
	}
	if err != nil && (ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, fault.ErrUnavailable)) {
		return run, fmt.Errorf("migration %s of %s: %w", st.Name, run.DeploymentID, err)
	}
	if st.StartedAt.IsZero() {
		st.StartedAt = now
	}
	st.UpdatedAt, run.UpdatedAt = now, now
	if err != nil {
		why, ok := fault.DetailOf(err)
		if !ok {
			why = "an internal error (see the updater's log)"
		}
		s.Log.ErrorContext(ctx, "migration failed", slog.String("deployment", run.DeploymentID), slog.String("run", run.ID),
			slog.String("migration", st.Name), slog.String("error", err.Error()))
		st.State, st.Error = StepFailed, clean(why)
		run.State, run.Error = StatePaused, clean(fmt.Sprintf("The migration %s failed: %s. Retry resumes it where it stopped.", st.Name, why))
		return s.Store.SaveRun(ctx, run, tenant.LogEntry{Actor: Actor, Action: "deployment.update.paused", Detail: run.Error, Object: run.ID})
	}
	st.State, st.Cursor = StepRunning, b.Cursor
	st.Processed += int64(b.Processed)
	if b.Done {
		st.State, st.FinishedAt, st.Cursor = StepDone, now, ""
	}
	return s.Store.SaveRun(ctx, run, tenant.LogEntry{})
}

// TickReport is what a tick did.
type TickReport struct {
	Started  []string `json:"started"`
	Rekicked []string `json:"rekicked"`
}

// Tick starts the scheduled runs that are due, while their deployment's maintenance window
// is open (a due run whose window closed before a tick reached it waits for the window's
// next opening: a run never starts outside the window), and sends again the running runs
// that have gone quiet (their updater crashed and their message was lost). It reads only the
// active runs.
func (s *Service) Tick(ctx context.Context) (TickReport, error) {
	rep := TickReport{Started: []string{}, Rekicked: []string{}}
	deps, err := s.Store.ActiveRuns(ctx)
	if err != nil {
		return rep, err
	}
	now := s.Now().UTC()
	var errs []error
	for _, dep := range deps {
		run, err := s.Store.GetRun(ctx, dep)
		if errors.Is(err, fault.ErrNotFound) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if run.State == StateScheduled && !run.At.After(now) {
			w, err := s.Store.GetWindow(ctx, dep)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if !w.Contains(now) {
				continue
			}
		}
		switch {
		case run.State == StateScheduled && !run.At.After(now):
			run.State, run.StartedAt, run.UpdatedAt = StateRunning, now, now
			run, err = s.Store.SaveRun(ctx, run, tenant.LogEntry{Actor: Actor, Action: "deployment.update.started",
				Detail: fmt.Sprintf("scheduled update to %s started", run.Version), Object: run.ID})
			if errors.Is(err, fault.ErrPrecondition) {
				continue // cancelled or started meanwhile
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
			s.kick(ctx, run)
			rep.Started = append(rep.Started, dep)
		case run.State == StateRunning && now.Sub(run.UpdatedAt) >= s.quiet():
			s.kick(ctx, run)
			rep.Rekicked = append(rep.Rekicked, dep)
		}
	}
	return rep, errors.Join(errs...)
}
