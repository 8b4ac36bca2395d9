package console

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/opensignum/signum/lib/access"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/roles"
	"github.com/opensignum/signum/lib/store"
)

// roleAPI serves the console's roles: the built-in ones, read-only, and the custom roles the
// Signum Administrator makes.
type roleAPI struct {
	api
	admin *roles.Admin
}

// registerRoles adds the role routes to m. Only the Signum Administrator changes roles (they
// are the directory: who may do what); console admins and viewers read them, because users
// name their custom role by id and a page must show its name.
func (a api) registerRoles(m *access.Mux) {
	h := roleAPI{api: a, admin: roles.NewAdmin(a.Store, func(ctx context.Context, dep, id string) error {
		_, err := a.Store.GetCertificateGroup(ctx, dep, id)
		return err
	})}
	read, sa := access.Area(roles.Users, roles.Read), access.SignumAdministrator()
	// GET /console/roles — console admins and viewers: the built-in roles, then the custom ones.
	m.Handle("GET /console/roles", read, h.listRoles)
	// POST /console/roles — the Signum Administrator only.
	m.Handle("POST /console/roles", sa, h.createRole)
	// GET /console/roles/{roleId} — console admins and viewers; built-in ids too.
	m.Handle("GET /console/roles/{roleId}", read, h.getRole)
	// PATCH /console/roles/{roleId} — the Signum Administrator only; built-in roles are 409.
	m.Handle("PATCH /console/roles/{roleId}", sa, h.patchRole)
	// DELETE /console/roles/{roleId} — the Signum Administrator only: a role nobody holds.
	m.Handle("DELETE /console/roles/{roleId}", sa, h.deleteRole)
}

// RoleGroupRights are a role's rights on one certificate group ("*": every group).
type RoleGroupRights struct {
	GroupID string `json:"groupId"`
	View    bool   `json:"view"`
	Add     bool   `json:"add"`
	Remove  bool   `json:"remove"`
	Assign  bool   `json:"assign"`
}

// Role is the JSON form of a built-in or custom role. Built-in roles have no user count,
// version or times.
type Role struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	BuiltIn     bool              `json:"builtIn"`
	Areas       map[string]string `json:"areas"`
	// Groups are in id order, "*" first.
	Groups  []RoleGroupRights `json:"groups"`
	Domains []string          `json:"domains"`
	// UserCount is the console users who hold the custom role.
	UserCount *int       `json:"userCount,omitempty"`
	Version   int64      `json:"version,omitempty"`
	CreatedAt *time.Time `json:"createdAt,omitempty"`
	UpdatedAt *time.Time `json:"updatedAt,omitempty"`
}

func roleJSON(r roles.Role) Role {
	out := Role{ID: r.ID, Name: r.Name, Description: r.Description, BuiltIn: r.BuiltIn, Areas: map[string]string{},
		Groups: []RoleGroupRights{}, Domains: []string{}}
	for _, a := range roles.Areas {
		out.Areas[string(a)] = string(r.Level(a))
	}
	for id, g := range r.Groups {
		out.Groups = append(out.Groups, RoleGroupRights{GroupID: id, View: g.View, Add: g.Add, Remove: g.Remove, Assign: g.Assign})
	}
	slices.SortFunc(out.Groups, func(a, b RoleGroupRights) int {
		if (a.GroupID == roles.EveryGroup) != (b.GroupID == roles.EveryGroup) {
			if a.GroupID == roles.EveryGroup {
				return -1
			}
			return 1
		}
		return strings.Compare(a.GroupID, b.GroupID)
	})
	out.Domains = append(out.Domains, r.Domains...)
	if !r.BuiltIn {
		n, created, updated := r.Members, r.CreatedAt, r.UpdatedAt
		out.UserCount, out.Version, out.CreatedAt, out.UpdatedAt = &n, r.Version, &created, &updated
	}
	return out
}

func roleETag(r roles.Role) string { return `"` + strconv.FormatInt(r.Version, 10) + `"` }

// RoleRequest is the body of POST /console/roles. Areas not named are none.
type RoleRequest struct {
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Areas       map[string]string `json:"areas"`
	Groups      []RoleGroupRights `json:"groups"`
	Domains     []string          `json:"domains"`
}

// RolePatch is the body of PATCH /console/roles/{roleId}: a field sent replaces the role's
// whole field (areas not named are none), an absent one is left as it is.
type RolePatch struct {
	Name        *string            `json:"name"`
	Description *string            `json:"description"`
	Areas       *map[string]string `json:"areas"`
	Groups      *[]RoleGroupRights `json:"groups"`
	Domains     *[]string          `json:"domains"`
}

func areasOf(in map[string]string) map[roles.Area]roles.Level {
	out := make(map[roles.Area]roles.Level, len(in))
	for a, l := range in {
		out[roles.Area(a)] = roles.Level(l)
	}
	return out
}

// groupsOf is the groups array as rights by group id; a group named twice is a problem of
// the field groups.
func groupsOf(in []RoleGroupRights) (map[string]roles.GroupRights, error) {
	out := make(map[string]roles.GroupRights, len(in))
	var bad fault.Fields
	for _, g := range in {
		if _, twice := out[g.GroupID]; twice {
			bad.Add("groups", "%q is named twice", fault.Clip(g.GroupID, 40))
			continue
		}
		out[g.GroupID] = roles.GroupRights{View: g.View, Add: g.Add, Remove: g.Remove, Assign: g.Assign}
	}
	return out, bad.Err()
}

func (h roleAPI) listRoles(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	return access.ServeList(w, r, func(ctx context.Context, pr store.PageRequest) (store.Page[roles.Role], error) {
		page, err := h.Store.ListRoles(ctx, req.Deployment.ID, pr)
		if err != nil || pr.Cursor != "" {
			return page, err
		}
		// The first page begins with the built-in roles; they do not count against the limit.
		page.Items = append(roles.BuiltInList(), page.Items...)
		return page, nil
	}, roleJSON)
}

func (h roleAPI) getRole(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	role, err := h.admin.Get(r.Context(), req.Deployment.ID, r.PathValue("roleId"))
	if err != nil {
		return err
	}
	if !role.BuiltIn {
		w.Header().Set("ETag", roleETag(role))
	}
	edge.WriteJSON(w, http.StatusOK, roleJSON(role))
	return nil
}

func (h roleAPI) createRole(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	var body RoleRequest
	if err := edge.DecodeJSON(r, &body, 0); err != nil {
		return err
	}
	groups, err := groupsOf(body.Groups)
	if err != nil {
		return err
	}
	role, err := h.admin.Create(r.Context(), req.Deployment.ID, req.Principal.Actor(), roles.Role{Name: body.Name,
		Description: body.Description, Areas: areasOf(body.Areas), Groups: groups, Domains: body.Domains})
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/console/roles/"+role.ID)
	w.Header().Set("ETag", roleETag(role))
	edge.WriteJSON(w, http.StatusCreated, roleJSON(role))
	return nil
}

func (h roleAPI) patchRole(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	var body RolePatch
	if err := edge.DecodeJSON(r, &body, 0); err != nil {
		return err
	}
	read, err := edge.IfMatchVersion(r, "role")
	if err != nil {
		return err
	}
	ch := roles.Changes{Name: body.Name, Description: body.Description, Domains: body.Domains}
	if body.Areas != nil {
		areas := areasOf(*body.Areas)
		ch.Areas = &areas
	}
	if body.Groups != nil {
		groups, err := groupsOf(*body.Groups)
		if err != nil {
			return err
		}
		ch.Groups = &groups
	}
	role, err := h.admin.Update(r.Context(), req.Deployment.ID, r.PathValue("roleId"), req.Principal.Actor(), read, ch)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", roleETag(role))
	edge.WriteJSON(w, http.StatusOK, roleJSON(role))
	return nil
}

func (h roleAPI) deleteRole(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	read, err := edge.IfMatchVersion(r, "role")
	if err != nil {
		return err
	}
	if err := h.admin.Delete(r.Context(), req.Deployment.ID, r.PathValue("roleId"), req.Principal.Actor(), read); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// customRole checks the custom role a console user write sends (the field role; sent is
// false when the field is absent): only the Signum Administrator gives or changes a user's
// custom role, since roles are the directory; a value is "" (none) or a custom role's id,
// whose existence the write itself checks.
func customRole(req *access.Request, role string, sent bool) error {
	if !sent {
		return nil
	}
	if !req.Principal.HasConsoleRole(identity.SignumAdministrator) {
		return fault.Newf(fault.ErrForbidden, "Only the Signum Administrator gives console users custom roles; leave out the field role.")
	}
	if role != "" && !roles.IsID(role) {
		return fault.Fields{{Name: "role", Reason: "is the id of a custom role (role_…), or \"\" for none; built-in roles go in roles"}}
	}
	return nil
}
