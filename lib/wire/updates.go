package wire

import (
	"time"

	"github.com/opensignum/signum/lib/updates"
)

// The JSON forms of software updates (lib/updates), shared by the portal's updates API and
// the operator's.

// Release is the JSON form of a release.
type Release struct {
	Version     string    `json:"version"`
	Notes       string    `json:"notes"`
	MinFrom     string    `json:"minFrom"`
	DataVersion int       `json:"dataVersion"`
	Migrations  []string  `json:"migrations"`
	PublishedAt time.Time `json:"publishedAt"`
}

// ReleaseJSON is r's JSON form.
func ReleaseJSON(r updates.Release) Release {
	return Release{Version: r.Version, Notes: r.Notes, MinFrom: r.MinFrom, DataVersion: r.DataVersion,
		Migrations: nonNil(r.Migrations), PublishedAt: r.PublishedAt}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// UpdateStep is one migration of a run and its progress.
type UpdateStep struct {
	Name       string     `json:"name"`
	State      string     `json:"state"`
	Processed  int64      `json:"processed"`
	Cursor     string     `json:"cursor,omitempty"`
	Error      string     `json:"error,omitempty"`
	StartedAt  *time.Time `json:"startedAt,omitempty"`
	UpdatedAt  *time.Time `json:"updatedAt,omitempty"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
}

// UpdateRun is the JSON form of an update run.
type UpdateRun struct {
	ID          string       `json:"id"`
	Version     string       `json:"version"`
	FromVersion string       `json:"fromVersion"`
	DataVersion int          `json:"dataVersion"`
	State       string       `json:"state"`
	At          *time.Time   `json:"at,omitempty"`
	Steps       []UpdateStep `json:"steps"`
	Error       string       `json:"error,omitempty"`
	RolloutID   string       `json:"rolloutId,omitempty"`
	RequestedBy string       `json:"requestedBy,omitempty"`
	CreatedAt   time.Time    `json:"createdAt"`
	StartedAt   *time.Time   `json:"startedAt,omitempty"`
	UpdatedAt   time.Time    `json:"updatedAt"`
	FinishedAt  *time.Time   `json:"finishedAt,omitempty"`
}

func opt(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// RunJSON is r's JSON form. The cursor is shown as where the migration stands (an opaque
// position; it names no data).
func RunJSON(r updates.Run) UpdateRun {
	out := UpdateRun{ID: r.ID, Version: r.Version, FromVersion: r.FromVersion, DataVersion: r.DataVersion, State: string(r.State), At: opt(r.At),
		Steps: []UpdateStep{}, Error: r.Error, RolloutID: r.RolloutID, RequestedBy: r.RequestedBy, CreatedAt: r.CreatedAt, StartedAt: opt(r.StartedAt),
		UpdatedAt: r.UpdatedAt, FinishedAt: opt(r.FinishedAt)}
	for _, st := range r.Steps {
		out.Steps = append(out.Steps, UpdateStep{Name: st.Name, State: string(st.State), Processed: st.Processed, Cursor: cursorPosition(st.Cursor),
			Error: st.Error, StartedAt: opt(st.StartedAt), UpdatedAt: opt(st.UpdatedAt), FinishedAt: opt(st.FinishedAt)})
	}
	return out
}

// cursorPosition is what a person may see of a cursor: its phase (the part before ":"),
// not the sealed page key after it.
func cursorPosition(c string) string {
	for i := 0; i < len(c); i++ {
		if c[i] == ':' {
			if i+1 < len(c) {
				return c[:i] + " (in progress)"
			}
			return c[:i]
		}
	}
	if c != "" {
		return "in progress"
	}
	return ""
}
