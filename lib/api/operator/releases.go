package operator

import (
	"net/http"
	"sort"
	"time"

	"github.com/opensignum/signum/lib/access"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/updates"
	"github.com/opensignum/signum/lib/wire"
)

// updateRoutes are the operator's software updates: releases and rollouts (lib/updates).
func (a api) updateRoutes(m *access.Mux) {
	// POST /operator/releases — operator: publish a release ({version, notes, minFrom,
	// dataVersion, migrations}); unknown migrations are refused, a published version is 409.
	m.Handle("POST /operator/releases", access.OperatorOnly(), a.publishRelease)
	// GET /operator/releases — operator: every release, oldest first.
	m.Handle("GET /operator/releases", access.OperatorOnly(), a.listReleases)
	// GET /operator/releases/{version} — operator.
	m.Handle("GET /operator/releases/{version}", access.OperatorOnly(), a.getRelease)
	// POST /operator/rollouts — operator: schedule a release on many deployments in waves,
	// each in its own maintenance window at or after its wave's time.
	m.Handle("POST /operator/rollouts", access.OperatorOnly(), a.startRollout)
	// GET /operator/rollouts/{rolloutId} — operator: the rollout and each deployment's run.
	m.Handle("GET /operator/rollouts/{rolloutId}", access.OperatorOnly(), a.getRollout)
}

// ReleaseRequest is the body of POST /operator/releases.
type ReleaseRequest struct {
	Version     string   `json:"version"`
	Notes       string   `json:"notes"`
	MinFrom     string   `json:"minFrom"`
	DataVersion int      `json:"dataVersion"`
	Migrations  []string `json:"migrations"`
}

// OperatorRelease is a release as the operator sees it: who published it too.
type OperatorRelease struct {
	wire.Release
	PublishedBy string `json:"publishedBy"`
}

func operatorRelease(r updates.Release) OperatorRelease {
	return OperatorRelease{Release: wire.ReleaseJSON(r), PublishedBy: r.PublishedBy}
}

func (a api) publishRelease(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	var body ReleaseRequest
	if err := edge.DecodeJSON(r, &body, 0); err != nil {
		return err
	}
	rel, err := a.updates.Publish(r.Context(), updates.Release{Version: body.Version, Notes: body.Notes, MinFrom: body.MinFrom,
		DataVersion: body.DataVersion, Migrations: body.Migrations}, req.Principal.Actor())
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/operator/releases/"+rel.Version)
	edge.WriteJSON(w, http.StatusCreated, operatorRelease(rel))
	return nil
}

// Releases is the answer of GET /operator/releases.
type Releases struct {
	Items []OperatorRelease `json:"items"`
	// Code is the running code: its version and the data versions it serves.
	CodeVersion string `json:"codeVersion"`
	CodeServes  []int  `json:"codeServes"`
	// Migrations are the migrations a release may name.
	Migrations []string `json:"migrations"`
}

func (a api) listReleases(w http.ResponseWriter, r *http.Request, _ *access.Request) error {
	rs, err := a.updates.Releases(r.Context())
	if err != nil {
		return err
	}
	out := Releases{Items: []OperatorRelease{}, CodeVersion: a.updates.Code.Version, CodeServes: a.updates.Code.Serves, Migrations: a.updates.Migrations.Names()}
	for _, rel := range rs {
		out.Items = append(out.Items, operatorRelease(rel))
	}
	edge.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (a api) getRelease(w http.ResponseWriter, r *http.Request, _ *access.Request) error {
	rel, err := a.store.GetRelease(r.Context(), r.PathValue("version"))
	if err != nil {
		return err
	}
	edge.WriteJSON(w, http.StatusOK, operatorRelease(rel))
	return nil
}

// RolloutRequest is the body of POST /operator/rollouts.
type RolloutRequest struct {
	Version string `json:"version"`
	// Deployments are the deployments in wave order; absent: every deployment on an older
	// version.
	Deployments         []string `json:"deployments"`
	WaveSize            int      `json:"waveSize"`
	WaveIntervalMinutes int      `json:"waveIntervalMinutes"`
}

// RolloutDeployment is one deployment of a rollout.
type RolloutDeployment struct {
	DeploymentID string          `json:"deploymentId"`
	Wave         int             `json:"wave"`
	At           *time.Time      `json:"at,omitempty"`
	State        string          `json:"state"`
	Skipped      string          `json:"skipped,omitempty"`
	Run          *wire.UpdateRun `json:"run,omitempty"`
}

// Rollout is the answer of POST /operator/rollouts and GET /operator/rollouts/{rolloutId}.
type Rollout struct {
	ID                  string              `json:"id"`
	Version             string              `json:"version"`
	WaveSize            int                 `json:"waveSize"`
	WaveIntervalMinutes int                 `json:"waveIntervalMinutes"`
	CreatedBy           string              `json:"createdBy"`
	CreatedAt           time.Time           `json:"createdAt"`
	Deployments         []RolloutDeployment `json:"deployments"`
	// Remaining is how many more deployments on older versions a rollout of every such
	// deployment left out (one request schedules at most 100): send the request again.
	Remaining int `json:"remaining"`
	// States counts the deployments by state.
	States map[string]int `json:"states"`
}

// rolloutJSON is st's JSON form: each deployment's state is its run's, "skipped" for one
// that got none, "superseded" for one whose run is another now, "pending" for one its
// request did not reach (it died midway).
func rolloutJSON(st updates.RolloutStatus) Rollout {
	out := Rollout{ID: st.ID, Version: st.Version, WaveSize: st.WaveSize, WaveIntervalMinutes: int(st.WaveInterval / time.Minute),
		CreatedBy: st.CreatedBy, CreatedAt: st.CreatedAt, Deployments: []RolloutDeployment{}, Remaining: st.Remaining, States: map[string]int{}}
	for _, e := range st.Entries {
		d := RolloutDeployment{DeploymentID: e.DeploymentID, Wave: e.Wave, Skipped: e.Skipped, State: "skipped"}
		if !e.At.IsZero() && e.RunID != "" {
			at := e.At
			d.At = &at
		}
		switch {
		case e.RunID != "":
			d.State = "superseded"
		case e.Skipped == "":
			d.State = "pending"
		}
		if run, ok := st.Runs[e.DeploymentID]; ok && e.Skipped == "" {
			j := wire.RunJSON(run)
			d.Run, d.State = &j, string(run.State)
		}
		out.States[d.State]++
		out.Deployments = append(out.Deployments, d)
	}
	sort.SliceStable(out.Deployments, func(i, j int) bool { return out.Deployments[i].Wave < out.Deployments[j].Wave })
	return out
}

func (a api) startRollout(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	var body RolloutRequest
	if err := edge.DecodeJSON(r, &body, 0); err != nil {
		return err
	}
	if body.Version == "" {
		return fault.Fields{{Name: "version", Reason: "name the release to roll out"}}
	}
	ro, err := a.updates.StartRollout(r.Context(), updates.RolloutRequest{Version: body.Version, Deployments: body.Deployments,
		WaveSize: body.WaveSize, WaveInterval: time.Duration(body.WaveIntervalMinutes) * time.Minute, Actor: req.Principal.Actor()})
	if err != nil {
		return err
	}
	st, err := a.updates.Rollout(r.Context(), ro.ID)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/operator/rollouts/"+ro.ID)
	edge.WriteJSON(w, http.StatusCreated, rolloutJSON(st))
	return nil
}

func (a api) getRollout(w http.ResponseWriter, r *http.Request, _ *access.Request) error {
	st, err := a.updates.Rollout(r.Context(), r.PathValue("rolloutId"))
	if err != nil {
		return err
	}
	edge.WriteJSON(w, http.StatusOK, rolloutJSON(st))
	return nil
}
