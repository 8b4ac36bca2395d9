package updates

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/tenant"
)

// MaxRolloutDeployments bounds one rollout request: each deployment costs a window read and
// a run's transaction, and the request must end well inside the API function's timeout.
// A rollout of every deployment on an older version takes the first ones and says how many
// remain, for the operator to send the request again.
const MaxRolloutDeployments = 100

// RolloutRequest is the operator's request to roll a release out in waves.
type RolloutRequest struct {
	Version string
	// Deployments are the deployments in wave order; none means every deployment on an
	// older version, oldest first (the first MaxRolloutDeployments of them).
	Deployments  []string
	WaveSize     int
	WaveInterval time.Duration
	Actor        string
}

// StartRollout schedules each deployment's update to req.Version: deployment i is in wave
// i/WaveSize, whose time is now + wave × WaveInterval, and its run starts at the first
// moment of its own maintenance window at or after that time. A deployment that cannot take
// the release, or has an unfinished update, is skipped with the reason. The rollout is
// stored first, its entries pending, and written once more with their outcomes at the end:
// a request that dies midway leaves a rollout that its runs name, never runs naming a
// rollout that does not exist.
func (s *Service) StartRollout(ctx context.Context, req RolloutRequest) (Rollout, error) {
	var bad fault.Fields
	if req.WaveSize < 1 || req.WaveSize > MaxRolloutDeployments {
		bad.Add("waveSize", "must be between 1 and %d", MaxRolloutDeployments)
	}
	if req.WaveInterval < 0 || req.WaveInterval > 30*24*time.Hour {
		bad.Add("waveIntervalMinutes", "must be between 0 and 43200")
	}
	if len(req.Deployments) > MaxRolloutDeployments {
		bad.Add("deployments", "at most %d in one rollout; send the others in another", MaxRolloutDeployments)
	}
	if err := bad.Err(); err != nil {
		return Rollout{}, err
	}
	// The releases are read once for the whole rollout.
	rs, err := s.Releases(ctx)
	if err != nil {
		return Rollout{}, err
	}
	if !slices.ContainsFunc(rs, func(r Release) bool { return r.Version == req.Version }) {
		return Rollout{}, fault.Newf(fault.ErrNotFound, "No release has the version %q.", fault.Clip(req.Version, 40))
	}
	deps, remaining, err := s.rolloutDeployments(ctx, req)
	if err != nil {
		return Rollout{}, err
	}
	now := s.Now().UTC()
	ro := Rollout{ID: NewRolloutID(), Version: req.Version, WaveSize: req.WaveSize, WaveInterval: req.WaveInterval, Remaining: remaining,
		CreatedBy: req.Actor, CreatedAt: now}
	for i, d := range deps {
		ro.Entries = append(ro.Entries, RolloutEntry{DeploymentID: d.ID, Wave: i / req.WaveSize})
	}
	if err := s.Store.CreateRollout(ctx, ro); err != nil {
		return Rollout{}, err
	}
	for i, d := range deps {
		e := &ro.Entries[i]
		waveAt := now.Add(time.Duration(e.Wave) * req.WaveInterval)
		w, err := s.Store.GetWindow(ctx, d.ID)
		if err != nil {
			return Rollout{}, err
		}
		// A minute's grace: a wave due now must not be refused as "in the past".
		e.At = w.Next(waveAt.Add(time.Minute))
		run, err := s.apply(ctx, d, ApplyRequest{Version: req.Version, At: e.At, Actor: req.Actor, RolloutID: ro.ID}, rs, &w)
		switch {
		case err == nil:
			e.RunID = run.ID
		case errors.Is(err, fault.ErrConflict) || errors.Is(err, fault.ErrInvalid) || errors.Is(err, fault.ErrNotFound):
			e.Skipped, _ = fault.DetailOf(err)
			if e.Skipped == "" {
				e.Skipped = err.Error()
			}
			if fe := fieldReasons(err); fe != "" {
				e.Skipped = fe
			}
		default:
			return Rollout{}, err
		}
	}
	if err := s.Store.SaveRollout(ctx, ro); err != nil {
		return Rollout{}, err
	}
	return ro, nil
}

// fieldReasons says a field problem's reasons ("" for another error).
func fieldReasons(err error) string {
	var fs fault.Fields
	if !errors.As(err, &fs) {
		return ""
	}
	var out []string
	for _, f := range fs {
		out = append(out, f.Name+": "+f.Reason)
	}
	return strings.Join(out, "; ")
}

// rolloutDeployments are the deployments req names (each must exist), or the first
// MaxRolloutDeployments deployments on a version older than req.Version with no unfinished
// update, and how many more there are: a deployment a previous request scheduled is not
// taken again, so that the operator's next request reaches the remaining ones.
func (s *Service) rolloutDeployments(ctx context.Context, req RolloutRequest) (out []tenant.Deployment, remaining int, err error) {
	if len(req.Deployments) > 0 {
		seen := map[string]bool{}
		for _, id := range req.Deployments {
			if seen[id] {
				return nil, 0, fault.Fields{{Name: "deployments", Reason: fmt.Sprintf("%q is named twice", fault.Clip(id, 40))}}
			}
			seen[id] = true
			d, err := s.Store.GetDeployment(ctx, id)
			if errors.Is(err, fault.ErrNotFound) {
				return nil, 0, fault.Fields{{Name: "deployments", Reason: fmt.Sprintf("no deployment has the id %q", fault.Clip(id, 40))}}
			}
			if err != nil {
				return nil, 0, err
			}
			out = append(out, d)
		}
		return out, 0, nil
	}
	active, err := s.Store.ActiveRuns(ctx)
	if err != nil {
		return nil, 0, err
	}
	err = s.Store.EachDeployment(ctx, func(d tenant.Deployment) error {
		if !Older(d.SoftwareVersion, req.Version) || d.Status == tenant.StatusCancelled || slices.Contains(active, d.ID) {
			return nil
		}
		if len(out) == MaxRolloutDeployments {
			remaining++
			return nil
		}
		out = append(out, d)
		return nil
	})
	return out, remaining, err
}

// RolloutStatus is a rollout with each deployment's run as it is now.
type RolloutStatus struct {
	Rollout
	// Runs are the deployments' current runs by deployment id (absent: none, or one that
	// replaced the rollout's).
	Runs map[string]Run
}

// Rollout reads a rollout and each of its deployments' runs.
func (s *Service) Rollout(ctx context.Context, id string) (RolloutStatus, error) {
	ro, err := s.Store.GetRollout(ctx, id)
	if err != nil {
		return RolloutStatus{}, err
	}
	st := RolloutStatus{Rollout: ro, Runs: map[string]Run{}}
	for _, e := range ro.Entries {
		if e.Skipped != "" {
			continue
		}
		run, err := s.Store.GetRun(ctx, e.DeploymentID)
		if errors.Is(err, fault.ErrNotFound) {
			continue
		}
		if err != nil {
			return RolloutStatus{}, err
		}
		// A pending entry (its request died midway) shows the run that names the rollout.
		if run.ID == e.RunID || (e.RunID == "" && run.RolloutID == ro.ID) {
			st.Runs[e.DeploymentID] = run
		}
	}
	return st, nil
}
