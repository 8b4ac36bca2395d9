package policies

// One-off grants (/console/grants): a console admin lets a user sign with a certificate up to
// N times in a window, without a policy (policy.UserGrant); list, read and revoke them. A
// policy's own grant is part of the policy (its grant field); its count is in the policy's GET.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/opensignum/signum/lib/access"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/policy"
	"github.com/opensignum/signum/lib/roles"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// grantRoutes adds the grant routes to m: read for viewers, the rest for administrators.
func (a api) grantRoutes(m *access.Mux, read, admin access.Rule) {
	// GET /console/grants — console admins and viewers: the one-off grants, with their counts.
	m.Handle("GET /console/grants", read, a.listGrants)
	// POST /console/grants — console admins: a one-off grant to a user for a certificate.
	m.Handle("POST /console/grants", admin, a.createGrant)
	// GET /console/grants/{grantId} — console admins and viewers.
	m.Handle("GET /console/grants/{grantId}", read, a.getGrant)
	// POST /console/grants/{grantId}/revoke — console admins: it allows nothing more.
	m.Handle("POST /console/grants/{grantId}/revoke", admin, a.revokeGrant)
}

// Grant is the JSON form of a policy's grant: at most maxSignatures signatures in the window
// [from, to) (either side may be open). used, in answers only, is its count in that window.
type Grant struct {
	MaxSignatures int          `json:"maxSignatures"`
	Window        *GrantWindow `json:"window,omitempty"`
	Used          *int         `json:"used,omitempty"`
}

// GrantWindow is a grant's window: from inclusive, to exclusive.
type GrantWindow struct {
	From *time.Time `json:"from,omitempty"`
	To   *time.Time `json:"to,omitempty"`
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func timeOf(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// grantJSON is g's JSON form (nil: none).
func grantJSON(g *policy.Grant) *Grant {
	if g == nil {
		return nil
	}
	out := &Grant{MaxSignatures: g.MaxSignatures}
	if !g.From.IsZero() || !g.To.IsZero() {
		out.Window = &GrantWindow{From: timeOrNil(g.From), To: timeOrNil(g.To)}
	}
	return out
}

// grantOf is the policy grant of the JSON form (nil: none).
func grantOf(g *Grant) *policy.Grant {
	if g == nil {
		return nil
	}
	out := &policy.Grant{MaxSignatures: g.MaxSignatures}
	if g.Window != nil {
		out.From, out.To = timeOf(g.Window.From), timeOf(g.Window.To)
	}
	return out
}

// withUsage sets the count of p's grant in out (the JSON of p).
func (a api) withUsage(ctx context.Context, dep string, p policy.Policy, out *Policy) error {
	if p.Grant == nil || out.Grant == nil {
		return nil
	}
	used, err := a.Store.PolicyGrantUsed(ctx, dep, p.ID, p.Grant.From)
	if err != nil {
		return err
	}
	out.Grant.Used = &used
	return nil
}

// UserGrant is the JSON form of a one-off grant.
type UserGrant struct {
	ID            string     `json:"id"`
	UserID        string     `json:"userId"`
	CertificateID string     `json:"certificateId"`
	MaxSignatures int        `json:"maxSignatures"`
	From          *time.Time `json:"from,omitempty"`
	To            *time.Time `json:"to,omitempty"`
	Used          int        `json:"used"`
	// State is "active", "scheduled" (not open yet), "ended", "used-up" or "revoked", at the
	// time of the answer.
	State     string     `json:"state"`
	CreatedBy string     `json:"createdBy,omitempty"`
	CreatedAt *time.Time `json:"createdAt,omitempty"`
	RevokedAt *time.Time `json:"revokedAt,omitempty"`
}

func userGrantJSON(g policy.UserGrant, now time.Time) UserGrant {
	state := "active"
	switch {
	case !g.RevokedAt.IsZero():
		state = "revoked"
	case !g.To.IsZero() && !now.Before(g.To):
		state = "ended"
	case g.Used >= g.MaxSignatures:
		state = "used-up"
	case !g.From.IsZero() && now.Before(g.From):
		state = "scheduled"
	}
	return UserGrant{ID: g.ID, UserID: g.UserID, CertificateID: g.CertificateID, MaxSignatures: g.MaxSignatures, From: timeOrNil(g.From), To: timeOrNil(g.To),
		Used: g.Used, State: state, CreatedBy: g.CreatedBy, CreatedAt: timeOrNil(g.CreatedAt), RevokedAt: timeOrNil(g.RevokedAt)}
}

// visibleGrant answers a grant whose certificate a scoped caller cannot see as one that does
// not exist.
func (a api) visibleGrant(ctx context.Context, req *access.Request, g policy.UserGrant) (bool, error) {
	s := req.Principal.Scope
	if s.Unscoped(roles.View) {
		return true, nil
	}
	c, err := a.Store.GetCertificate(ctx, req.Deployment.ID, g.CertificateID)
	if errors.Is(err, fault.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return s.Any(c.Groups, roles.View), nil
}

func (a api) listGrants(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	now := a.Now()
	return access.ServeList(w, r, func(ctx context.Context, pr store.PageRequest) (store.Page[policy.UserGrant], error) {
		page, err := a.Store.ListGrants(ctx, req.Deployment.ID, pr)
		if err != nil {
			return page, err
		}
		var shown []policy.UserGrant
		for _, g := range page.Items {
			ok, err := a.visibleGrant(ctx, req, g)
			if err != nil {
				return page, err
			}
			if ok {
				shown = append(shown, g)
			}
		}
		page.Items = shown
		return page, nil
	}, func(g policy.UserGrant) UserGrant { return userGrantJSON(g, now) })
}

// readGrant is grant id as the caller may see it.
func (a api) readGrant(ctx context.Context, req *access.Request, id string) (policy.UserGrant, error) {
	g, err := a.Store.GetGrant(ctx, req.Deployment.ID, id)
	if err != nil {
		return g, err
	}
	if ok, err := a.visibleGrant(ctx, req, g); err != nil || !ok {
		return policy.UserGrant{}, errors.Join(err, fault.Newf(store.ErrNotFound, "No grant has the id %q.", fault.Clip(id, 40)))
	}
	return g, nil
}

func (a api) getGrant(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	g, err := a.readGrant(r.Context(), req, r.PathValue("grantId"))
	if err != nil {
		return err
	}
	edge.WriteJSON(w, http.StatusOK, userGrantJSON(g, a.Now()))
	return nil
}

// CreateGrantRequest is the body of POST /console/grants.
type CreateGrantRequest struct {
	UserID        string     `json:"userId"`
	CertificateID string     `json:"certificateId"`
	MaxSignatures int        `json:"maxSignatures"`
	From          *time.Time `json:"from"`
	To            *time.Time `json:"to"`
}

func (a api) createGrant(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	var body CreateGrantRequest
	if err := edge.DecodeJSON(r, &body, 0); err != nil {
		return err
	}
	ctx, dep, now := r.Context(), req.Deployment.ID, a.Now()
	g := policy.UserGrant{ID: tenant.NewID("gnt_"), UserID: body.UserID, CertificateID: body.CertificateID, CreatedBy: req.Principal.Actor(), CreatedAt: now,
		Grant: policy.Grant{MaxSignatures: body.MaxSignatures, From: timeOf(body.From), To: timeOf(body.To)}}
	if err := g.Validate(); err != nil {
		return err
	}
	if !g.To.IsZero() && !g.To.After(now) {
		return fault.Fields{{Name: "to", Reason: "is in the past: the grant would allow nothing"}}
	}
	// The user must be an active user of the deployment, the certificate one of its
	// certificates that the caller may assign to policies.
	if _, err := identity.ActiveRoles(ctx, a.Store, dep, g.UserID); err != nil {
		if errors.Is(err, identity.ErrNotUserID) || errors.Is(err, identity.ErrInactive) {
			return fault.Fields{{Name: "userId", Reason: "is not an active user of this deployment"}}
		}
		return err
	}
	if _, err := a.Store.GetCertificate(ctx, dep, g.CertificateID); err != nil {
		if errors.Is(err, fault.ErrNotFound) {
			return fault.Fields{{Name: "certificateId", Reason: "is not a certificate of this deployment"}}
		}
		return err
	}
	if err := a.assignable(ctx, req, policy.What{Certificates: []string{g.CertificateID}}, "grant"); err != nil {
		return err
	}
	created, err := a.Store.CreateGrant(ctx, dep, g, tenant.LogEntry{Actor: req.Principal.Actor(), Action: "grant.created",
		Detail: fmt.Sprintf("%s: user %s may sign with %s %d times %s", g.ID, g.UserID, g.CertificateID, g.MaxSignatures, g.Window())})
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/console/grants/"+created.ID)
	edge.WriteJSON(w, http.StatusCreated, userGrantJSON(created, now))
	return nil
}

func (a api) revokeGrant(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	ctx := r.Context()
	g, err := a.readGrant(ctx, req, r.PathValue("grantId"))
	if err != nil {
		return err
	}
	if err := a.assignable(ctx, req, policy.What{Certificates: []string{g.CertificateID}}, "revoke a grant naming"); err != nil {
		return err
	}
	if !g.RevokedAt.IsZero() {
		return fault.Newf(fault.ErrConflict, "Grant %s was revoked already.", g.ID)
	}
	now := a.Now()
	revoked, err := a.Store.RevokeGrant(ctx, req.Deployment.ID, g, now, tenant.LogEntry{Actor: req.Principal.Actor(), Action: "grant.revoked",
		Detail: fmt.Sprintf("%s: user %s, certificate %s, %d of %d used", g.ID, g.UserID, g.CertificateID, g.Used, g.MaxSignatures)})
	if err != nil {
		return err
	}
	edge.WriteJSON(w, http.StatusOK, userGrantJSON(revoked, now))
	return nil
}
