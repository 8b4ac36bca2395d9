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
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/roles"
	"github.com/opensignum/signum/lib/store"
)

type api struct{ *function.Parts }

// Build is the console-events function.
func Build(_ context.Context, env function.Env) (http.Handler, error) {
	a := api{function.NewParts(env)}
	m := access.NewMux(env.Log, a.Guard)
	read := access.Area(roles.Events, roles.Read)
	// GET /console/events — console admins and viewers: ?from&to (RFC 3339), userId,
	// certificateId, decision, limit, cursor, format=json|jsonl|csv.
	m.Handle("GET /console/events", read, a.list)
	// GET /console/events/verify — console admins and viewers: checks every hash chain.
	m.Handle("GET /console/events/verify", read, a.verify)
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
	if f.Decision != "" && f.Decision != audit.Allow && f.Decision != audit.Deny {
		bad.Add("decision", "is allow or deny")
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

func (a api) verify(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	if !req.Principal.Scope.Unscoped(roles.View) {
		// The check reads and counts every certificate's events.
		return fault.Newf(fault.ErrForbidden, "Verifying the signing event log checks every certificate's events; your role sees only some certificate groups.")
	}
	var opts []audit.Option
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
		opts = append(opts, audit.WithKey(pub))
		if a.Anchors != nil {
			opts = append(opts, audit.WithAnchors(a.Anchors))
		}
	}
	problems, n, err := audit.Verify(r.Context(), a.Store, req.Deployment.ID, audit.Lanes, opts...)
	if err != nil {
		return err
	}
	if problems == nil {
		problems = []audit.Problem{}
	}
	edge.WriteJSON(w, http.StatusOK, Verification{Intact: len(problems) == 0, Events: n, Problems: problems, CheckpointKey: key,
		AnchorsChecked: key != nil && a.Anchors != nil})
	return nil
}
