package certificates

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/opensignum/signum/lib/access"
	"github.com/opensignum/signum/lib/certificates"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/roles"
	"github.com/opensignum/signum/lib/store"
)

// The certificate-group routes. Only the Signum Administrator changes groups (they decide
// which certificates a role's users may see); every console admin and viewer reads them,
// because the certificates they read name their groups by id and a page must show names.
func (a api) groupRoutes(m *access.Mux) {
	read, sa := access.Area(roles.Certificates, roles.Read), access.SignumAdministrator()
	// GET /console/certificate-groups — console admins and viewers.
	m.Handle("GET /console/certificate-groups", read, a.migrating(a.listGroups))
	// POST /console/certificate-groups — the Signum Administrator only.
	m.Handle("POST /console/certificate-groups", sa, a.migrating(a.createGroup))
	// GET /console/certificate-groups/{groupId} — console admins and viewers.
	m.Handle("GET /console/certificate-groups/{groupId}", read, a.migrating(a.getGroup))
	// PATCH /console/certificate-groups/{groupId} — the Signum Administrator only: rename, limit.
	m.Handle("PATCH /console/certificate-groups/{groupId}", sa, a.migrating(a.patchGroup))
	// DELETE /console/certificate-groups/{groupId} — the Signum Administrator only: an empty group.
	m.Handle("DELETE /console/certificate-groups/{groupId}", sa, a.migrating(a.deleteGroup))
}

// Group is the JSON form of a certificate group.
type Group struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// CertificateLimit is null when the group has no limit.
	CertificateLimit *int `json:"certificateLimit"`
	// CertificateCount is the certificates in the group that are not deleted.
	CertificateCount int       `json:"certificateCount"`
	Version          int64     `json:"version"`
	CreatedAt        time.Time `json:"createdAt"`
}

func groupJSON(g certificates.Group) Group {
	out := Group{ID: g.ID, Name: g.Name, CertificateCount: g.Members, Version: g.Version, CreatedAt: g.CreatedAt}
	if g.Limit > 0 {
		out.CertificateLimit = &g.Limit
	}
	return out
}

func groupETag(g certificates.Group) string { return `"` + strconv.FormatInt(g.Version, 10) + `"` }

// GroupRequest is the body of POST /console/certificate-groups.
type GroupRequest struct {
	Name string `json:"name"`
	// CertificateLimit absent, null or 0 is no limit.
	CertificateLimit *int `json:"certificateLimit"`
}

// GroupPatch is the body of PATCH /console/certificate-groups/{groupId}; an absent field is
// left as it is, a certificateLimit of 0 removes the limit.
type GroupPatch struct {
	Name             *string `json:"name"`
	CertificateLimit *int    `json:"certificateLimit"`
}

func (a api) createGroup(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	var body GroupRequest
	if err := edge.DecodeJSON(r, &body, 0); err != nil {
		return err
	}
	limit := 0
	if body.CertificateLimit != nil {
		limit = *body.CertificateLimit
	}
	g, err := a.groups.Create(r.Context(), req.Deployment.ID, req.Principal.Actor(), body.Name, limit)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/console/certificate-groups/"+g.ID)
	w.Header().Set("ETag", groupETag(g))
	edge.WriteJSON(w, http.StatusCreated, groupJSON(g))
	return nil
}

func (a api) listGroups(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	return access.ServeList(w, r, func(ctx context.Context, pr store.PageRequest) (store.Page[certificates.Group], error) {
		if s := req.Principal.Scope; !s.Unscoped(roles.View) {
			return a.parts.Store.ListCertificateGroupsIn(ctx, req.Deployment.ID, s.GroupsWith(roles.View), pr)
		}
		return a.parts.Store.ListCertificateGroups(ctx, req.Deployment.ID, pr)
	}, groupJSON)
}

func (a api) getGroup(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	id := r.PathValue("groupId")
	if !req.Principal.Scope.Rights(id).View {
		// A group the caller's role does not see answers as one that does not exist.
		return fault.Newf(store.ErrNotFound, "No certificate group has the id %q.", fault.Clip(id, 40))
	}
	g, err := a.parts.Store.GetCertificateGroup(r.Context(), req.Deployment.ID, id)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", groupETag(g))
	edge.WriteJSON(w, http.StatusOK, groupJSON(g))
	return nil
}

func (a api) patchGroup(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	var body GroupPatch
	if err := edge.DecodeJSON(r, &body, 0); err != nil {
		return err
	}
	read, err := edge.IfMatchVersion(r, "certificate group")
	if err != nil {
		return err
	}
	g, err := a.groups.Update(r.Context(), req.Deployment.ID, r.PathValue("groupId"), req.Principal.Actor(), read,
		certificates.GroupChanges{Name: body.Name, Limit: body.CertificateLimit})
	if err != nil {
		return err
	}
	w.Header().Set("ETag", groupETag(g))
	edge.WriteJSON(w, http.StatusOK, groupJSON(g))
	return nil
}

func (a api) deleteGroup(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	read, err := edge.IfMatchVersion(r, "certificate group")
	if err != nil {
		return err
	}
	if err := a.groups.Delete(r.Context(), req.Deployment.ID, r.PathValue("groupId"), req.Principal.Actor(), read); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
