// Package events is the console's HTTP face of the signing-event log (lib/audit): a filtered,
// paginated listing with CSV and JSON-lines export, and a verification of the log's hash
// chains.
package events

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/opensignum/signum/lib/access"
	"github.com/opensignum/signum/lib/audit"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/eventcheck"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/function/messaging"
	"github.com/opensignum/signum/lib/roles"
	"github.com/opensignum/signum/lib/store"
)

type api struct {
	*function.Parts
	checks *eventcheck.Checker
}

// Build is the console-events function.
func Build(ctx context.Context, env function.Env) (http.Handler, error) {
	p := function.NewParts(env)
	checks, err := messaging.EventChecker(ctx, env, p)
	if err != nil {
		return nil, err
	}
	a := api{Parts: p, checks: checks}
	m := access.NewMux(env.Log, a.Guard)
	read := access.Area(roles.Events, roles.Read)
	// GET /console/events — console admins and viewers: ?from&to (RFC 3339), userId,
	// certificateId, decision, limit, cursor, format=json|jsonl|csv.
	m.Handle("GET /console/events", read, a.list)
	// GET /console/events/verify — console admins and viewers: checks every hash chain from
	// where each was last found intact.
	m.Handle("GET /console/events/verify", read, a.verify)
	// POST /console/events/full-check — console admins and viewers: starts a check of every
	// event in the background (or returns the one running).
	m.Handle("POST /console/events/full-check", read, a.startFullCheck)
	// GET /console/events/full-check — console admins and viewers: the full check's progress,
	// or the last one's result.
	m.Handle("GET /console/events/full-check", read, a.fullCheck)
	return m, nil
}

// Page is a page of events.
type Page struct {
	Items []audit.Event `json:"items"`
	Next  string        `json:"next,omitempty"`
}

func (a api) list(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	q := r.URL.Query()
	var bad fault.Fields
	var f store.EventFilter
	for name, dst := range map[string]*time.Time{"from": &f.From, "to": &f.To} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				bad.Add(name, "is an RFC 3339 time like 2026-11-28T12:00:00Z")
			}
			*dst = t
		}
	}
	f.UserID, f.CertificateID, f.Decision = q.Get("userId"), q.Get("certificateId"), q.Get("decision")
	if f.Decision != "" && f.Decision != audit.Allow && f.Decision != audit.Deny && f.Decision != audit.Pending {
		bad.Add("decision", "is allow, deny or pending")
	}
	format := q.Get("format")
	if format == "" {
		format = audit.FormatJSON
	}
	if format != audit.FormatJSON && format != audit.FormatJSONL && format != audit.FormatCSV {
		bad.Add("format", "is json, jsonl or csv")
	}
	limit, cursor, err := edge.PageParams(r, store.MaxPageSize)
	if err != nil {
		return err
	}
	if err := bad.Err(); err != nil {
		return err
	}
	page, err := a.Store.ListEvents(r.Context(), req.Deployment.ID, f, store.PageRequest{Limit: limit, Cursor: cursor})
	if err != nil {
		return err
	}
	if page.Items, err = a.visible(r.Context(), req, page.Items); err != nil {
		return err
	}
	if page.Next != "" {
		w.Header().Set("X-Next-Cursor", page.Next)
	}
	switch format {
	case audit.FormatJSONL:
		w.Header().Set("Content-Type", "application/jsonl")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		_ = audit.WriteJSONL(w, page.Items)
	case audit.FormatCSV:
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		_ = audit.WriteCSV(w, page.Items)
	default:
		if page.Items == nil {
			page.Items = []audit.Event{}
		}
		edge.WriteJSON(w, http.StatusOK, Page{Items: page.Items, Next: page.Next})
	}
	return nil
}

// Verification is the result of checking the log.
type Verification struct {
	Intact   bool            `json:"intact"`
	Events   int             `json:"eventsChecked"`
	Problems []audit.Problem `json:"problems"`
	// CheckpointKey is the key seals were checked against (absent when none is configured):
	// what an auditor gives "signum events verify --key".
	CheckpointKey *CheckpointKey `json:"checkpointKey,omitempty"`
	// AnchorsChecked tells whether the lanes were compared with their anchors outside the
	// table.
	AnchorsChecked bool `json:"anchorsChecked"`
	// CheckedAfter is, per lane, the sequence number the check read after: where an earlier
	// check found the lane intact under a signed checkpoint (0: the lane was read whole).
	CheckedAfter []int64 `json:"checkedAfter"`
}

// FullCheck is a full check of the log, running or done (state none: there was none).
type FullCheck struct {
	ID            string          `json:"id,omitempty"`
	State         string          `json:"state"`
	Lanes         int             `json:"lanes"`
	LanesDone     int             `json:"lanesDone"`
	EventsChecked int             `json:"eventsChecked"`
	Problems      []audit.Problem `json:"problems"`
	ProblemCount  int             `json:"problemCount"`
	// Intact is set when the check is done: whether it found no problem.
	Intact      *bool      `json:"intact,omitempty"`
	RequestedBy string     `json:"requestedBy,omitempty"`
	StartedAt   *time.Time `json:"startedAt,omitempty"`
	UpdatedAt   *time.Time `json:"updatedAt,omitempty"`
	FinishedAt  *time.Time `json:"finishedAt,omitempty"`
}

func fullCheckJSON(c audit.FullCheck) FullCheck {
	out := FullCheck{ID: c.ID, State: c.State, Lanes: c.Lanes, LanesDone: c.LanesDone, EventsChecked: c.Events, Problems: c.Problems,
		ProblemCount: c.ProblemCount, RequestedBy: c.RequestedBy, StartedAt: &c.StartedAt, UpdatedAt: &c.UpdatedAt}
	if out.Problems == nil {
		out.Problems = []audit.Problem{}
	}
	if c.State == audit.CheckDone {
		intact, at := c.ProblemCount == 0, c.FinishedAt
		out.Intact, out.FinishedAt = &intact, &at
	}
	return out
}

// CheckpointKey is the checkpoint key as verifiers know it.
type CheckpointKey struct {
	KeyID        string `json:"keyId"`
	PublicKeyPEM string `json:"publicKeyPem"`
}

// visible leaves out, for a caller whose role sees only some certificate groups, the events of
// certificates outside them (a page may then be short; its cursor still continues).
func (a api) visible(ctx context.Context, req *access.Request, evs []audit.Event) ([]audit.Event, error) {
	s := req.Principal.Scope
	if s.Unscoped(roles.View) {
		return evs, nil
	}
	seen := map[string]bool{}
	out := evs[:0]
	for _, e := range evs {
		ok, known := seen[e.CertificateID]
		if !known {
			c, err := a.Store.GetCertificate(ctx, req.Deployment.ID, e.CertificateID)
			if err != nil && !errors.Is(err, fault.ErrNotFound) {
				return nil, err
			}
			ok = err == nil && s.Any(c.Groups, roles.View)
			seen[e.CertificateID] = ok
		}
		if ok {
			out = append(out, e)
		}
	}
	return out, nil
}

// wholeLog refuses a caller whose role sees only some certificate groups: a check reads and
// counts every certificate's events.
func wholeLog(req *access.Request) error {
	if !req.Principal.Scope.Unscoped(roles.View) {
		return fault.Newf(fault.ErrForbidden, "Verifying the signing event log checks every certificate's events; your role sees only some certificate groups.")
	}
	return nil
}

func (a api) verify(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	if err := wholeLog(req); err != nil {
		return err
	}
	var key *CheckpointKey
	if a.Notary != nil {
		pub, uri, err := a.Notary.Root(r.Context())
		if err != nil {
			return fault.Wrap(fault.ErrUnavailable, err, "The checkpoint key cannot be read; retry.")
		}
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return err
		}
		key = &CheckpointKey{KeyID: strings.TrimPrefix(uri, "awskms:///"), PublicKeyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}
	}
	res, err := a.checks.Since(r.Context(), req.Deployment.ID)
	if err != nil {
		return err
	}
	problems := res.Problems
	if problems == nil {
		problems = []audit.Problem{}
	}
	edge.WriteJSON(w, http.StatusOK, Verification{Intact: len(problems) == 0, Events: res.Events, Problems: problems, CheckpointKey: key,
		AnchorsChecked: key != nil && a.Anchors != nil, CheckedAfter: res.After})
	return nil
}

func (a api) startFullCheck(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	if err := wholeLog(req); err != nil {
		return err
	}
	c, err := a.checks.Start(r.Context(), req.Deployment.ID, req.Principal.Actor())
	if err != nil {
		return err
	}
	edge.WriteJSON(w, http.StatusAccepted, fullCheckJSON(c))
	return nil
}

func (a api) fullCheck(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	if err := wholeLog(req); err != nil {
		return err
	}
	c, err := a.checks.Current(r.Context(), req.Deployment.ID)
	if errors.Is(err, fault.ErrNotFound) {
		edge.WriteJSON(w, http.StatusOK, FullCheck{State: stateNone, Lanes: audit.Lanes, Problems: []audit.Problem{}})
		return nil
	}
	if err != nil {
		return err
	}
	edge.WriteJSON(w, http.StatusOK, fullCheckJSON(c))
	return nil
}

// stateNone is a full check's state when the log was never checked in full.
const stateNone = "none"
