// Package updates is the portal's software updates API: a deployment's version, the releases
// it may take with their notes, applying one now or in the maintenance window, cancelling a
// scheduled update, retrying a paused one, and the maintenance window; and the updater
// function, which runs the updates' data migrations from its queue and its schedule.
package updates

import (
	"context"
	"net/http"
	"time"

	"github.com/opensignum/signum/lib/access"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/function/messaging"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/updates"
	"github.com/opensignum/signum/lib/wire"
)

type api struct {
	svc *updates.Service
}

// Build is the portal-updates function.
func Build(ctx context.Context, env function.Env) (http.Handler, error) {
	p := function.NewParts(env)
	svc, err := messaging.UpdatesWithQueue(ctx, env, p)
	if err != nil {
		return nil, err
	}
	a := api{svc: svc}
	m := access.NewMux(env.Log, p.Guard)
	anyRole := access.PortalRoles(identity.RoleAdmin, identity.RoleUser, identity.RoleViewer)
	admin := access.PortalRoles(identity.RoleAdmin)
	// GET /portal/deployments/{id}/updates — portal users, any role: the version, the
	// releases newer than it (whether each can be taken, else the path), the current or
	// last run with each migration's progress, and the maintenance window.
	m.Handle("GET /portal/deployments/{id}/updates", anyRole, a.overview)
	// POST /portal/deployments/{id}/updates — portal Admins: take a release now, or at a
	// time in the maintenance window ({"version", "at"?}).
	m.Handle("POST /portal/deployments/{id}/updates", admin, a.apply)
	// DELETE /portal/deployments/{id}/updates/current — portal Admins: cancel a scheduled
	// update that has not started.
	m.Handle("DELETE /portal/deployments/{id}/updates/current", admin, a.cancel)
	// POST /portal/deployments/{id}/updates/current/retry — portal Admins: resume a paused
	// update where it stopped.
	m.Handle("POST /portal/deployments/{id}/updates/current/retry", admin, a.retry)
	// GET /portal/deployments/{id}/maintenance-window — portal users, any role.
	m.Handle("GET /portal/deployments/{id}/maintenance-window", anyRole, a.getWindow)
	// PUT /portal/deployments/{id}/maintenance-window — portal Admins: the weekly window
	// (UTC) in which scheduled updates run.
	m.Handle("PUT /portal/deployments/{id}/maintenance-window", admin, a.putWindow)
	return m, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func opt(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// Available is a release newer than the deployment's version.
type Available struct {
	wire.Release
	CanTake bool     `json:"canTake"`
	Path    []string `json:"path"`
	Reason  string   `json:"reason,omitempty"`
}

// Window is the JSON form of a maintenance window.
type Window struct {
	Days            []string   `json:"days"`
	Start           string     `json:"start"`
	DurationMinutes int        `json:"durationMinutes"`
	Default         bool       `json:"default"`
	NextOpening     time.Time  `json:"nextOpening"`
	UpdatedAt       *time.Time `json:"updatedAt,omitempty"`
}

func (a api) windowJSON(w updates.Window) Window {
	return Window{Days: nonNil(w.Days), Start: w.Start, DurationMinutes: int(w.Duration / time.Minute), Default: w.UpdatedAt.IsZero(),
		NextOpening: w.Next(a.svc.Now().UTC()), UpdatedAt: opt(w.UpdatedAt)}
}

// Overview is the answer of GET /portal/deployments/{id}/updates.
type Overview struct {
	Version     string          `json:"version"`
	DataVersion int             `json:"dataVersion"`
	CodeVersion string          `json:"codeVersion"`
	CodeServes  []int           `json:"codeServes"`
	Available   []Available     `json:"available"`
	Current     *wire.UpdateRun `json:"current"`
	Window      Window          `json:"maintenanceWindow"`
}

func (a api) overview(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	o, err := a.svc.Overview(r.Context(), req.Deployment)
	if err != nil {
		return err
	}
	out := Overview{Version: o.Version, DataVersion: o.DataVersion, CodeVersion: o.Code.Version, CodeServes: o.Code.Serves,
		Available: []Available{}, Window: a.windowJSON(o.Window)}
	for _, av := range o.Available {
		out.Available = append(out.Available, Available{Release: wire.ReleaseJSON(av.Release), CanTake: av.CanTake, Path: nonNil(av.Path), Reason: av.Reason})
	}
	if o.Run != nil {
		run := wire.RunJSON(*o.Run)
		out.Current = &run
	}
	w.Header().Set("Cache-Control", "no-store")
	edge.WriteJSON(w, http.StatusOK, out)
	return nil
}

// ApplyRequest is the body of POST /portal/deployments/{id}/updates.
type ApplyRequest struct {
	Version string `json:"version"`
	// At is an RFC 3339 time in the maintenance window; absent: now.
	At string `json:"at,omitempty"`
}

func (a api) apply(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	var body ApplyRequest
	if err := edge.DecodeJSON(r, &body, 0); err != nil {
		return err
	}
	var bad fault.Fields
	if body.Version == "" {
		bad.Add("version", "name the release to take")
	}
	var at time.Time
	if body.At != "" {
		var err error
		if at, err = time.Parse(time.RFC3339, body.At); err != nil {
			bad.Add("at", "must be an RFC 3339 time, e.g. 2026-12-04T02:00:00Z")
		}
	}
	if err := bad.Err(); err != nil {
		return err
	}
	run, err := a.svc.Apply(r.Context(), req.Deployment, updates.ApplyRequest{Version: body.Version, At: at, Actor: req.Principal.Actor()})
	if err != nil {
		return err
	}
	status := http.StatusAccepted
	if run.State == updates.StateScheduled {
		status = http.StatusCreated
	}
	w.Header().Set("Location", "/portal/deployments/"+req.Deployment.ID+"/updates")
	edge.WriteJSON(w, status, wire.RunJSON(run))
	return nil
}

func (a api) cancel(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	run, err := a.svc.Cancel(r.Context(), req.Deployment.ID, req.Principal.Actor())
	if err != nil {
		return err
	}
	edge.WriteJSON(w, http.StatusOK, wire.RunJSON(run))
	return nil
}

func (a api) retry(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	run, err := a.svc.Retry(r.Context(), req.Deployment.ID, req.Principal.Actor())
	if err != nil {
		return err
	}
	edge.WriteJSON(w, http.StatusAccepted, wire.RunJSON(run))
	return nil
}

func (a api) getWindow(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	win, err := a.svc.Window(r.Context(), req.Deployment.ID)
	if err != nil {
		return err
	}
	edge.WriteJSON(w, http.StatusOK, a.windowJSON(win))
	return nil
}

// WindowRequest is the body of PUT /portal/deployments/{id}/maintenance-window.
type WindowRequest struct {
	Days            []string `json:"days"`
	Start           string   `json:"start"`
	DurationMinutes int      `json:"durationMinutes"`
}

func (a api) putWindow(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	var body WindowRequest
	if err := edge.DecodeJSON(r, &body, 0); err != nil {
		return err
	}
	win, err := a.svc.SetWindow(r.Context(), req.Deployment.ID, updates.Window{Days: body.Days, Start: body.Start,
		Duration: time.Duration(body.DurationMinutes) * time.Minute}, req.Principal.Actor())
	if err != nil {
		return err
	}
	edge.WriteJSON(w, http.StatusOK, a.windowJSON(win))
	return nil
}
