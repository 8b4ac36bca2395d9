package console

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/opensignum/signum/lib/access"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/roles"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
	"github.com/opensignum/signum/lib/timestamping"
)

// registerTimestamping adds the deployment's time-stamping authorities: the RFC 3161 TSAs the
// signer asks for the tokens of policies that require timestamps.
func (a api) registerTimestamping(m *access.Mux) {
	// GET /console/timestamping — those who may read the settings (console admins, viewers,
	// the Signum Administrator).
	m.Handle("GET /console/timestamping", access.Area(roles.Settings, roles.Read), a.getTimestamping)
	// PUT /console/timestamping — those who manage the settings (console admins, the Signum
	// Administrator): replace them over the version read.
	m.Handle("PUT /console/timestamping", access.Area(roles.Settings, roles.Manage), a.putTimestamping)
}

// Timestamping is the JSON form of a deployment's time-stamping authorities.
type Timestamping struct {
	// URLs are the authorities' RFC 3161 endpoints, tried in this order.
	URLs []string `json:"urls"`
	// CAPEM holds the PEM certificates the authorities' tokens must chain to; "" for the
	// system's trust roots.
	CAPEM string `json:"caPem"`
	// Version is the version read (0 while none were set); a PUT sends it back.
	Version   int64      `json:"version"`
	UpdatedAt *time.Time `json:"updatedAt,omitempty"`
	UpdatedBy string     `json:"updatedBy,omitempty"`
}

func timestampingJSON(s timestamping.Settings) Timestamping {
	out := Timestamping{URLs: s.URLs, CAPEM: s.CAPEM, Version: s.Version, UpdatedAt: optTime(s.UpdatedAt), UpdatedBy: s.UpdatedBy}
	if out.URLs == nil {
		out.URLs = []string{}
	}
	return out
}

func (a api) getTimestamping(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	s, err := a.Store.GetTimestamping(r.Context(), req.Deployment.ID)
	if err != nil {
		return err
	}
	edge.WriteJSON(w, http.StatusOK, timestampingJSON(s))
	return nil
}

func (a api) putTimestamping(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	var body Timestamping
	if err := edge.DecodeJSON(r, &body, 0); err != nil {
		return err
	}
	next, err := timestamping.Validate(timestamping.Settings{URLs: body.URLs, CAPEM: body.CAPEM, UpdatedBy: req.Principal.Actor()})
	if err != nil {
		return err
	}
	cur, err := a.Store.GetTimestamping(r.Context(), req.Deployment.ID)
	if err != nil {
		return err
	}
	if cur.Version != body.Version {
		return fault.Newf(store.ErrStale, "The time-stamping authorities were changed by someone else (version %d, you read %d); read them again.", cur.Version, body.Version)
	}
	detail := "no authority"
	if len(next.URLs) > 0 {
		detail = strings.Join(next.URLs, ", ")
	}
	if next.CAPEM != "" {
		detail += "; own trust roots"
	}
	saved, err := a.Store.PutTimestamping(r.Context(), req.Deployment.ID, cur.Version, next, tenant.LogEntry{Actor: req.Principal.Actor(),
		Action: "settings.timestamping.updated", Detail: fault.Clip(fmt.Sprintf("time-stamping authorities: %s", detail), 1000)})
	if err != nil {
		return err
	}
	edge.WriteJSON(w, http.StatusOK, timestampingJSON(saved))
	return nil
}
