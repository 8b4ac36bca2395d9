package updates

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/tenant"
)

// MaxRolloutDeployments bounds one rollout (its record is one item).
const MaxRolloutDeployments = 1000

// RolloutRequest is the operator's request to roll a release out in waves.
type RolloutRequest struct {
	Version string
	// Deployments are the deployments in wave order; none means every deployment on an
	// older version, oldest first.
	Deployments  []string
	WaveSize     int
	WaveInterval time.Duration
	Actor        string
}

// StartRollout schedules each deployment's update to req.Version: deployment i is in wave
// i/WaveSize, whose time is now + wave × WaveInterval, and its run starts at the first
// moment of its own maintenance window at or after that time. A deployment that cannot take
// the release, or has an unfinished update, is skipped with the reason.
func (s *Service) StartRollout(ctx context.Context, req RolloutRequest) (Rollout, error) {
	var bad fault.Fields
	if req.WaveSize < 1 || req.WaveSize > MaxRolloutDeployments {
		bad.Add("waveSize", "must be between 1 and %d", MaxRolloutDeployments)
	}
	if req.WaveInterval < 0 || req.WaveInterval > 30*24*time.Hour {
		bad.Add("waveIntervalMinutes", "must be between 0 and 43200")
	}
	if len(req.Deployments) > MaxRolloutDeployments {
		bad.Add("deployments", "at most %d", MaxRolloutDeployments)
	}
	if err := bad.Err(); err != nil {
		return Rollout{}, err
	}
	if _, err := s.Store.GetRelease(ctx, req.Version); err != nil {
		return Rollout{}, err
	}
	deps, err := s.rolloutDeployments(ctx, req)
	if err != nil {
		return Rollout{}, err
	}
	now := s.Now().UTC()
	ro := Rollout{ID: NewRolloutID(), Version: req.Version, WaveSize: req.WaveSize, WaveInterval: req.WaveInterval, CreatedBy: req.Actor, CreatedAt: now}
	for i, d := range deps {
		e := RolloutEntry{DeploymentID: d.ID, Wave: i / req.WaveSize}
		waveAt := now.Add(time.Duration(e.Wave) * req.WaveInterval)
		w, err := s.Store.GetWindow(ctx, d.ID)
		if err != nil {
			return Rollout{}, err
		}
		// A minute's grace: a wave due now must not be refused as "in the past".
		e.At = w.Next(waveAt.Add(time.Minute))
		run, err := s.Apply(ctx, d, ApplyRequest{Version: req.Version, At: e.At, Actor: req.Actor, RolloutID: ro.ID})
		switch {
		case err == nil:
			e.RunID = run.ID
		case errors.Is(err, fault.ErrConflict) || errors.Is(err, fault.ErrInvalid) || errors.Is(err, fault.ErrNotFound):
			e.Skipped, _ = fault.DetailOf(err)
			if e.Skipped == "" {
				e.Skipped = err.Error()
			}
		default:
			return Rollout{}, err
		}
		ro.Entries = append(ro.Entries, e)
	}
	if err := s.Store.CreateRollout(ctx, ro); err != nil {
		return Rollout{}, err
	}
	return ro, nil
}

// rolloutDeployments are the deployments req names (each must exist), or every deployment
// on a version older than req.Version.
func (s *Service) rolloutDeployments(ctx context.Context, req RolloutRequest) ([]tenant.Deployment, error) {
	var out []tenant.Deployment
	if len(req.Deployments) > 0 {
		seen := map[string]bool{}
		for _, id := range req.Deployments {
			if seen[id] {
				return nil, fault.Fields{{Name: "deployments", Reason: fmt.Sprintf("%q is named twice", fault.Clip(id, 40))}}
			}
			seen[id] = true
			d, err := s.Store.GetDeployment(ctx, id)
			if errors.Is(err, fault.ErrNotFound) {
				return nil, fault.Fields{{Name: "deployments", Reason: fmt.Sprintf("no deployment has the id %q", fault.Clip(id, 40))}}
			}
			if err != nil {
				return nil, err
			}
			out = append(out, d)
		}
		return out, nil
	}
	err := s.Store.EachDeployment(ctx, func(d tenant.Deployment) error {
		if Older(d.SoftwareVersion, req.Version) && d.Status != tenant.StatusCancelled {
			if len(out) == MaxRolloutDeployments {
				return fault.Newf(fault.ErrInvalid, "More than %d deployments are on older versions: name them in waves of rollouts.", MaxRolloutDeployments)
			}
			out = append(out, d)
		}
		return nil
	})
	return out, err
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
		if e.RunID == "" {
			continue
		}
		run, err := s.Store.GetRun(ctx, e.DeploymentID)
		if errors.Is(err, fault.ErrNotFound) {
			continue
		}
		if err != nil {
			return RolloutStatus{}, err
		}
		if run.ID == e.RunID {
			st.Runs[e.DeploymentID] = run
		}
	}
	return st, nil
}
