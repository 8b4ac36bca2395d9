package updates

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/tenant"
)

// Store is what updates need of the store.
type Store interface {
	CreateRelease(ctx context.Context, r Release) error
	GetRelease(ctx context.Context, version string) (Release, error)
	AllReleases(ctx context.Context) ([]Release, error)
	GetDeployment(ctx context.Context, id string) (tenant.Deployment, error)
	// GetRun is the deployment's current or last run (ErrNotFound: it never had one).
	GetRun(ctx context.Context, dep string) (Run, error)
	// StartRun writes a new run if the deployment's run is finished or absent (else
	// fault.ErrConflict), and lists it among the active runs.
	StartRun(ctx context.Context, r Run, log tenant.LogEntry) error
	// SaveRun writes r over the revision it was read at (fault.ErrPrecondition when another
	// write came first), with a log entry when log.Action is set; a finished r leaves the
	// active runs.
	SaveRun(ctx context.Context, r Run, log tenant.LogEntry) (Run, error)
	// CompleteRun writes r done and moves the deployment's software and data versions to
	// the run's, in one write, with a log entry.
	CompleteRun(ctx context.Context, r Run, log tenant.LogEntry) (Run, error)
	// ActiveRuns are the deployments whose run is unfinished.
	ActiveRuns(ctx context.Context) ([]string, error)
	GetWindow(ctx context.Context, dep string) (Window, error)
	PutWindow(ctx context.Context, dep string, w Window, log tenant.LogEntry) (Window, error)
	CreateRollout(ctx context.Context, r Rollout) error
	// SaveRollout writes a created rollout over itself.
	SaveRollout(ctx context.Context, r Rollout) error
	GetRollout(ctx context.Context, id string) (Rollout, error)
	// EachDeployment calls f with every deployment, oldest first.
	EachDeployment(ctx context.Context, f func(tenant.Deployment) error) error
}

// Queue sends the updater a run to advance (an SQS queue in AWS).
type Queue interface {
	Send(ctx context.Context, m Message) error
}

// Service runs software updates.
type Service struct {
	Store      Store
	Queue      Queue
	Migrations Registry
	Code       Code
	Now        func() time.Time
	Log        *slog.Logger
	// BatchSize is how many items one migration step does (DefaultBatchSize when 0).
	BatchSize int
	// Quiet is how long a running run may go without a write before the tick sends it
	// again (DefaultQuiet when 0): its updater crashed and its message was lost.
	Quiet time.Duration
}

// DefaultBatchSize bounds one step: a few hundred items of at most a few writes each keep a
// batch to seconds.
const DefaultBatchSize = 50

// DefaultQuiet is how long a running run may go quiet: well over one invocation's budget.
const DefaultQuiet = 3 * time.Minute

// ErrVersionChanged is the conflict of a run whose deployment left the run's from version
// before the run started or completed (another run finished meanwhile): the store refuses
// the write, so that no version moves backwards.
var ErrVersionChanged = fmt.Errorf("the deployment's version changed: %w", fault.ErrConflict)

// MaxScheduleAhead bounds how far ahead a run may be scheduled: a run scheduled for a far
// year would block every other update of its deployment until cancelled.
const MaxScheduleAhead = 90 * 24 * time.Hour

// Actor is the actor of the updater's system log entries.
const Actor = "system:updater"

func (s *Service) batch() int {
	if s.BatchSize > 0 {
		return s.BatchSize
	}
	return DefaultBatchSize
}

func (s *Service) quiet() time.Duration {
	if s.Quiet > 0 {
		return s.Quiet
	}
	return DefaultQuiet
}

// Publish stores a new release (fault.ErrConflict when its version exists). Its data
// version must fit between the published releases' (ValidDataVersion).
func (s *Service) Publish(ctx context.Context, r Release, actor string) (Release, error) {
	if err := ValidRelease(r, s.Migrations); err != nil {
		return Release{}, err
	}
	published, err := s.Store.AllReleases(ctx)
	if err != nil {
		return Release{}, err
	}
	if err := ValidDataVersion(r, published); err != nil {
		return Release{}, err
	}
	r.PublishedAt, r.PublishedBy = s.Now().UTC(), actor
	if err := s.Store.CreateRelease(ctx, r); err != nil {
		return Release{}, err
	}
	return r, nil
}

// Releases are every release, oldest first.
func (s *Service) Releases(ctx context.Context) ([]Release, error) {
	rs, err := s.Store.AllReleases(ctx)
	SortReleases(rs)
	return rs, err
}

// Available is a release newer than a deployment's version, and whether it can take it.
type Available struct {
	Release
	CanTake bool
	// Path is the versions to take, in order, to reach the release (the release last);
	// Reason says why it cannot be taken now, when it cannot.
	Path   []string
	Reason string
}

// Overview is what a deployment's updates page shows.
type Overview struct {
	Version     string
	DataVersion int
	Code        Code
	Available   []Available
	// Run is the current or last run; nil when there has been none.
	Run    *Run
	Window Window
}

// Overview reads what d's updates page shows. The run is read before the deployment (read
// again, whatever the caller read before): a run that completed is then never shown beside
// the version it left, since its completion and the version's move are one write.
func (s *Service) Overview(ctx context.Context, d tenant.Deployment) (Overview, error) {
	var o Overview
	run, err := s.Store.GetRun(ctx, d.ID)
	switch {
	case err == nil:
		o.Run = &run
	case !errors.Is(err, fault.ErrNotFound):
		return Overview{}, err
	}
	if d, err = s.Store.GetDeployment(ctx, d.ID); err != nil {
		return Overview{}, err
	}
	rs, err := s.Releases(ctx)
	if err != nil {
		return Overview{}, err
	}
	o.Version, o.DataVersion, o.Code = d.SoftwareVersion, DataVersionOf(d.DataVersion), s.Code
	for _, r := range rs {
		if !Older(d.SoftwareVersion, r.Version) {
			continue
		}
		a := Available{Release: r, Path: Path(rs, d.SoftwareVersion, r.Version)}
		a.Reason = s.refusal(d.SoftwareVersion, r, a.Path)
		a.CanTake = a.Reason == ""
		o.Available = append(o.Available, a)
	}
	if o.Window, err = s.Store.GetWindow(ctx, d.ID); err != nil {
		return Overview{}, err
	}
	return o, nil
}

// refusal says why a deployment on version from cannot take release r now ("" when it can).
func (s *Service) refusal(from string, r Release, path []string) string {
	switch {
	case !Older(from, r.Version):
		return fmt.Sprintf("The deployment is on %s already, which is not older than %s.", from, r.Version)
	case len(path) == 0:
		return fmt.Sprintf("No release leads from %s to %s (it needs at least %s).", from, r.Version, r.MinFrom)
	case len(path) > 1:
		return fmt.Sprintf("%s cannot be taken from %s: update to %s first (path: %s).", r.Version, from, path[0], strings.Join(path, " → "))
	case !s.Code.CanServe(r.DataVersion):
		return fmt.Sprintf("%s needs data version %d, which the running code (%s) does not serve: deploy the code first.", r.Version, r.DataVersion, s.Code.Version)
	}
	return ""
}

// ApplyRequest is an Admin's (or a rollout's) request to take a release.
type ApplyRequest struct {
	Version string
	// At schedules the run; zero applies it now.
	At        time.Time
	Actor     string
	RolloutID string
}

// Apply starts (or schedules) d's update to req.Version: unknown versions are not found; a
// version d cannot take, or one the running code cannot serve, or an update while another
// is unfinished, is a conflict that says what to do; a time in the past or outside d's
// maintenance window (or more than MaxScheduleAhead ahead) is invalid. The run's steps are
// the migrations of every release after d's version up to req.Version (Steps). A run that
// finished between the caller's read of d and this one's start makes it a conflict
// (ErrVersionChanged).
func (s *Service) Apply(ctx context.Context, d tenant.Deployment, req ApplyRequest) (Run, error) {
	rs, err := s.Releases(ctx)
	if err != nil {
		return Run{}, err
	}
	return s.apply(ctx, d, req, rs, nil)
}

// apply is Apply with the releases (sorted) read already, and d's window when the caller
// read it (nil: read it here if needed): a rollout reads each once.
func (s *Service) apply(ctx context.Context, d tenant.Deployment, req ApplyRequest, rs []Release, win *Window) (Run, error) {
	now := s.Now().UTC()
	if !req.At.IsZero() {
		if err := s.checkAt(ctx, d.ID, req.At, now, win); err != nil {
			return Run{}, err
		}
	}
	var rel *Release
	for i := range rs {
		if rs[i].Version == req.Version {
			rel = &rs[i]
		}
	}
	if rel == nil {
		return Run{}, fault.Newf(fault.ErrNotFound, "No release has the version %q.", fault.Clip(req.Version, 40))
	}
	if why := s.refusal(d.SoftwareVersion, *rel, Path(rs, d.SoftwareVersion, rel.Version)); why != "" {
		return Run{}, fault.Newf(fault.ErrConflict, "%s", why)
	}
	run := Run{ID: NewRunID(), DeploymentID: d.ID, Version: rel.Version, FromVersion: d.SoftwareVersion,
		DataVersion: rel.DataVersion, FromData: DataVersionOf(d.DataVersion), State: StateRunning, RolloutID: req.RolloutID,
		RequestedBy: req.Actor, CreatedAt: now, UpdatedAt: now, StartedAt: now}
	for _, m := range Steps(rs, d.SoftwareVersion, rel.Version) {
		run.Steps = append(run.Steps, Step{Name: m, State: StepPending})
	}
	action, detail := "deployment.update.started", fmt.Sprintf("update to %s started", rel.Version)
	if !req.At.IsZero() {
		run.State, run.At, run.StartedAt = StateScheduled, req.At.UTC(), time.Time{}
		action, detail = "deployment.update.scheduled", fmt.Sprintf("update to %s scheduled for %s", rel.Version, run.At.Format(time.RFC3339))
	}
	err := s.Store.StartRun(ctx, run, tenant.LogEntry{Actor: req.Actor, Action: action, Detail: detail, Object: run.ID})
	if errors.Is(err, fault.ErrConflict) && !errors.Is(err, ErrVersionChanged) {
		if cur, gerr := s.Store.GetRun(ctx, d.ID); gerr == nil && !cur.State.Finished() {
			return Run{}, fault.Newf(fault.ErrConflict, "Another update is unfinished: %s. Wait for it, or cancel it if it has not started.", cur.Summary())
		}
	}
	if err != nil {
		return Run{}, err
	}
	if run.State == StateRunning {
		s.kick(ctx, run)
	}
	return run, nil
}

// checkAt checks a scheduled time: in the future, at most MaxScheduleAhead ahead, and
// inside dep's maintenance window (win when the caller read it).
func (s *Service) checkAt(ctx context.Context, dep string, at, now time.Time, win *Window) error {
	var bad fault.Fields
	if at.Before(now) {
		bad.Add("at", "%s is in the past; give a future time in the maintenance window, or none to apply now", at.UTC().Format(time.RFC3339))
		return bad.Err()
	}
	if at.Sub(now) > MaxScheduleAhead {
		bad.Add("at", "%s is more than %d days ahead; schedule it nearer", at.UTC().Format(time.RFC3339), int(MaxScheduleAhead/(24*time.Hour)))
		return bad.Err()
	}
	if win == nil {
		w, err := s.Store.GetWindow(ctx, dep)
		if err != nil {
			return err
		}
		win = &w
	}
	w := *win
	if !w.Contains(at) {
		bad.Add("at", "%s is outside the maintenance window (%s); the next opening is %s", at.UTC().Format(time.RFC3339), w, w.Next(at).Format(time.RFC3339))
	}
	return bad.Err()
}

// kick sends the updater run's message. A failure is only logged: the run is recorded
// running, and the tick sends it again once it has been quiet for Quiet.
func (s *Service) kick(ctx context.Context, run Run) {
	if s.Queue == nil {
		return
	}
	if err := s.Queue.Send(ctx, Message{DeploymentID: run.DeploymentID, RunID: run.ID}); err != nil {
		s.Log.WarnContext(ctx, "update message not sent; the tick sends it later", slog.String("deployment", run.DeploymentID),
			slog.String("run", run.ID), slog.String("error", err.Error()))
	}
}

// Cancel cancels dep's scheduled run that has not started.
func (s *Service) Cancel(ctx context.Context, dep, actor string) (Run, error) {
	run, err := s.Store.GetRun(ctx, dep)
	if errors.Is(err, fault.ErrNotFound) {
		return Run{}, fault.Newf(fault.ErrNotFound, "The deployment has no update to cancel.")
	}
	if err != nil {
		return Run{}, err
	}
	if run.State != StateScheduled {
		return Run{}, fault.Newf(fault.ErrConflict, "The update %s is not a scheduled one that has yet to start: it cannot be cancelled.", run.Summary())
	}
	now := s.Now().UTC()
	run.State, run.FinishedAt, run.UpdatedAt = StateCancelled, now, now
	return s.Store.SaveRun(ctx, run, tenant.LogEntry{Actor: actor, Action: "deployment.update.cancelled",
		Detail: fmt.Sprintf("scheduled update to %s cancelled", run.Version), Object: run.ID})
}

// Retry resumes dep's paused run from its cursor.
func (s *Service) Retry(ctx context.Context, dep, actor string) (Run, error) {
	run, err := s.Store.GetRun(ctx, dep)
	if errors.Is(err, fault.ErrNotFound) {
		return Run{}, fault.Newf(fault.ErrNotFound, "The deployment has no update to retry.")
	}
	if err != nil {
		return Run{}, err
	}
	if run.State != StatePaused {
		return Run{}, fault.Newf(fault.ErrConflict, "The update %s is not paused: only a paused update can be retried.", run.Summary())
	}
	if !s.Code.CanServe(run.DataVersion) {
		return Run{}, fault.Newf(fault.ErrConflict, "%s needs data version %d, which the running code (%s) does not serve: deploy the code first.", run.Version, run.DataVersion, s.Code.Version)
	}
	now := s.Now().UTC()
	run.State, run.Error, run.UpdatedAt = StateRunning, "", now
	if st := run.current(); st != nil && st.State == StepFailed {
		st.State, st.Error, st.UpdatedAt = StepRunning, "", now
	}
	run, err = s.Store.SaveRun(ctx, run, tenant.LogEntry{Actor: actor, Action: "deployment.update.retried",
		Detail: fmt.Sprintf("update to %s resumed", run.Version), Object: run.ID})
	if err != nil {
		return Run{}, err
	}
	s.kick(ctx, run)
	return run, nil
}

// Window is dep's maintenance window (the default when it set none).
func (s *Service) Window(ctx context.Context, dep string) (Window, error) {
	return s.Store.GetWindow(ctx, dep)
}

// SetWindow replaces dep's maintenance window.
func (s *Service) SetWindow(ctx context.Context, dep string, w Window, actor string) (Window, error) {
	w, err := ValidWindow(w)
	if err != nil {
		return Window{}, err
	}
	return s.Store.PutWindow(ctx, dep, w, tenant.LogEntry{Actor: actor, Action: "deployment.update.window",
		Detail: "maintenance window: " + w.String()})
}

// UpdateState says where deployment dep's software update stands, for its health and notices
// (health.Updates): an unfinished run's state (scheduled, running, paused with its reason);
// "available" when a release newer than the deployment's version can be taken; "idle"
// otherwise.
func (s *Service) UpdateState(ctx context.Context, dep string) (state, reason string, err error) {
	d, err := s.Store.GetDeployment(ctx, dep)
	if err != nil {
		return "", "", err
	}
	o, err := s.Overview(ctx, d)
	if err != nil {
		return "", "", err
	}
	if r := o.Run; r != nil && !r.State.Finished() {
		switch r.State {
		case StatePaused:
			return string(r.State), fmt.Sprintf("The update to %s is paused: %s Retry it on the Updates page once the cause is dealt with.", r.Version, r.Error), nil
		case StateScheduled:
			return string(r.State), fmt.Sprintf("The update to %s is scheduled for %s.", r.Version, r.At.UTC().Format(time.RFC3339)), nil
		}
		return string(r.State), fmt.Sprintf("The update to %s is running; signing goes on meanwhile.", r.Version), nil
	}
	for _, a := range o.Available {
		if a.CanTake {
			return "available", fmt.Sprintf("Release %s can be applied (the deployment runs %s).", a.Version, o.Version), nil
		}
	}
	return "idle", fmt.Sprintf("The deployment runs %s, the latest it can take.", o.Version), nil
}
