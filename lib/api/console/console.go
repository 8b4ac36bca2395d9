// Package console is the deployment side's Admin console API so far: login to the Local users
// domain, the caller's session, console users, the Local users domain's password and lockout
// policies, and the system log. Every route finds its deployment by the host the request was
// sent to, and the deployment's IP allowlist applies.
package console

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/opensignum/signum/lib/access"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/login"
	"github.com/opensignum/signum/lib/password"
	"github.com/opensignum/signum/lib/roles"
	"github.com/opensignum/signum/lib/store"
)

type api struct {
	*function.Parts
	users *identity.ConsoleUsers
}

func newAPI(env function.Env) api {
	p := function.NewParts(env)
	return api{Parts: p, users: identity.NewConsoleUsers(p.Store, p.Now)}
}

// BuildAuth is the console-auth function: login and session.
func BuildAuth(_ context.Context, env function.Env) (http.Handler, error) {
	a := newAPI(env)
	m := access.NewMux(env.Log, a.Guard)
	// POST /console/login — anyone the deployment's allowlist admits; a login, so it works
	// while the subscription is suspended (the console is then read-only).
	m.Handle("POST /console/login", access.PublicOnTenant().Login(), a.login)
	// GET /console/session — any console caller of the deployment: who am I.
	m.Handle("GET /console/session", access.ConsoleSession(), a.session)
	a.registerSSO(m, DomainAdmin(env, a.Parts))
	a.registerWorkload(m)
	return m, nil
}

// BuildUsers is the console-users function.
func BuildUsers(_ context.Context, env function.Env) (http.Handler, error) {
	a := newAPI(env)
	m := access.NewMux(env.Log, a.Guard)
	// GET /console/users — console admins and viewers.
	m.Handle("GET /console/users", access.Area(roles.Users, roles.Read), a.listUsers)
	// POST /console/users — console admins.
	m.Handle("POST /console/users", access.Area(roles.Users, roles.Manage), a.createUser)
	// GET /console/users/{userId} — console admins and viewers.
	m.Handle("GET /console/users/{userId}", access.Area(roles.Users, roles.Read), a.getUser)
	// PATCH /console/users/{userId} — console admins.
	m.Handle("PATCH /console/users/{userId}", access.Area(roles.Users, roles.Manage), a.patchUser)
	// DELETE /console/users/{userId} — console admins.
	m.Handle("DELETE /console/users/{userId}", access.Area(roles.Users, roles.Manage), a.deleteUser)
	a.registerClientCertificates(m)
	a.registerRoles(m)
	return m, nil
}

// BuildSettings is the console-settings function: domains, the system log and the
// time-stamping authorities.
func BuildSettings(_ context.Context, env function.Env) (http.Handler, error) {
	a := newAPI(env)
	m := access.NewMux(env.Log, a.Guard)
	// GET /console/domains/local — domains read.
	m.Handle("GET /console/domains/local", access.Area(roles.Domains, roles.Read), a.getDomain)
	a.registerDomains(m, DomainAdmin(env, a.Parts))
	// PATCH /console/domains/local — the Signum Administrator only.
	m.Handle("PATCH /console/domains/local", access.SignumAdministrator(), a.patchDomain)
	// GET /console/system-log — those who may read the system log (console admins, the
	// Signum Administrator): ?from&to (RFC 3339; from included, to not), actor, action,
	// section, limit, cursor.
	m.Handle("GET /console/system-log", access.SystemLogReaders(), a.systemLog)
	// GET /console/system-log/export — the same readers: ?format=csv|jsonl and the same
	// filters, as one file of at most 10,000 entries.
	m.Handle("GET /console/system-log/export", access.SystemLogReaders(), a.exportSystemLog)
	a.registerTimestamping(m)
	return m, nil
}

// LoginRequest is the body of POST /console/login.
type LoginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

func (a api) login(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	var body LoginRequest
	if err := edge.DecodeJSON(r, &body, 0); err != nil {
		return err
	}
	from, err := edge.SourceIP(r)
	if err != nil {
		return err
	}
	limits := login.Limits{PerAccount: a.Limits.LoginPerAccount, PerAddress: a.Limits.LoginPerAddress}
	tok, claims, err := login.Password(r.Context(), login.Console(a.Store, req.Deployment.ID, limits), a.Issuer, a.Now(), body.Username, body.Password, from)
	if err != nil {
		return err
	}
	edge.WriteJSON(w, http.StatusOK, login.Respond(tok, claims))
	return nil
}

// Session is the caller as the console sees it.
type Session struct {
	UserID       string   `json:"userId"`
	Name         string   `json:"name"`
	DeploymentID string   `json:"deploymentId"`
	Roles        []string `json:"roles"`
	// CustomRole is the custom role's id, when the caller holds one.
	CustomRole string `json:"customRole,omitempty"`
	// Areas and Groups are what the caller's roles let it do, joined: the console's pages
	// show what they allow (the routes enforce it).
	Areas  map[roles.Area]roles.Level `json:"areas"`
	Groups []RightsOn                 `json:"groups"`
}

// RightsOn are a caller's or a role's rights on one certificate group ("*": every group).
type RightsOn struct {
	GroupID string `json:"groupId"`
	roles.GroupRights
}

// rightsList lists rights by group id, "*" first, then in id order.
func rightsList(m map[string]roles.GroupRights) []RightsOn {
	out := []RightsOn{}
	for id, g := range m {
		out = append(out, RightsOn{GroupID: id, GroupRights: g})
	}
	slices.SortFunc(out, func(a, b RightsOn) int {
		if (a.GroupID == roles.EveryGroup) != (b.GroupID == roles.EveryGroup) {
			if a.GroupID == roles.EveryGroup {
				return -1
			}
			return 1
		}
		return strings.Compare(a.GroupID, b.GroupID)
	})
	return out
}

func (a api) session(w http.ResponseWriter, _ *http.Request, req *access.Request) error {
	p := req.Principal
	edge.WriteJSON(w, http.StatusOK, Session{UserID: p.UserID, Name: p.Name, DeploymentID: p.DeploymentID, Roles: identity.ConsoleRoleNames(p.ConsoleRoles),
		CustomRole: p.CustomRole, Areas: p.Scope.Areas(), Groups: rightsList(p.Scope.AllRights())})
	return nil
}

// User is the JSON form of a console user. It never carries the password hash.
type User struct {
	ID       string   `json:"id"`
	Username string   `json:"username"`
	Name     string   `json:"name"`
	Email    string   `json:"email,omitempty"`
	Roles    []string `json:"roles"`
	// Role is the id of the user's custom role, "" for none.
	Role string `json:"role"`
	// DomainID is the user's OIDC or SAML domain, "" for the Local users domain; RoleSource
	// says whether a console admin gave the roles ("direct") or the domain's IdP groups did
	// at the last login ("idp-groups", worked out again at every login).
	DomainID   string `json:"domainId"`
	RoleSource string `json:"roleSource"`
	Status     string `json:"status"`
	Locked     bool   `json:"locked"`
	// HasPassword is false for certificate users, who log in only with client certificates.
	HasPassword bool      `json:"hasPassword"`
	Version     int64     `json:"version"`
	CreatedAt   time.Time `json:"createdAt"`
}

func userJSON(u identity.ConsoleUser, lock password.Lockout, now time.Time) User {
	source := "direct"
	if u.RoleSource == identity.RoleFromGroups {
		source = string(u.RoleSource)
	}
	return User{ID: u.ID, Username: u.Username, Name: u.Name, Email: u.Email, Roles: identity.ConsoleRoleNames(u.Roles), Role: u.Role,
		DomainID: u.DomainID, RoleSource: source, Status: string(u.Status), Locked: lock.Locked(u.LockState(), now), HasPassword: u.PasswordHash != "", Version: u.Version, CreatedAt: u.CreatedAt}
}

func (a api) listUsers(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	dom, err := a.Store.GetLocalDomain(r.Context(), req.Deployment.ID)
	if err != nil {
		return err
	}
	return access.ServeList(w, r, func(ctx context.Context, pr store.PageRequest) (store.Page[identity.ConsoleUser], error) {
		return a.Store.ListConsoleUsers(ctx, req.Deployment.ID, pr)
	}, func(u identity.ConsoleUser) User { return userJSON(u, dom.Lockout, a.Now()) })
}

// CreateUserRequest is the body of POST /console/users.
type CreateUserRequest struct {
	Username string   `json:"username"`
	Name     string   `json:"name"`
	Email    string   `json:"email"`
	Password string   `json:"password"`
	Roles    []string `json:"roles"`
	// Role is a custom role's id (the Signum Administrator only).
	Role string `json:"role"`
	// DomainID makes the user one of an OIDC or SAML domain ("" or "local": the Local users
	// domain); its user name gets @<alias> when it lacks it.
	DomainID string `json:"domainId"`
}

func (a api) createUser(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	var body CreateUserRequest
	if err := edge.DecodeJSON(r, &body, 0); err != nil {
		return err
	}
	if err := customRole(req, body.Role, body.Role != ""); err != nil {
		return err
	}
	if err := mayGive(req, body.Roles); err != nil {
		return err
	}
	domainID, username, err := a.domainUser(r.Context(), req.Deployment.ID, body.DomainID, body.Username)
	if err != nil {
		return err
	}
	if domainID != "" {
		if !req.Principal.Scope.ManagesDomain(domainID) {
			return notManaged(domainID)
		}
	} else if err := managesNew(req, body.Password); err != nil {
		return err
	}
	u, dom, err := a.users.Create(r.Context(), req.Deployment, req.Principal.Actor(), identity.NewConsoleUser{
		Username: username, Name: body.Name, Email: body.Email, Password: body.Password, Roles: body.Roles, Role: body.Role, DomainID: domainID,
	})
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/console/users/"+u.ID)
	edge.WriteJSON(w, http.StatusCreated, userJSON(u, dom.Lockout, a.Now()))
	return nil
}

func (a api) getUser(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	u, err := a.Store.GetConsoleUser(r.Context(), req.Deployment.ID, r.PathValue("userId"))
	if err != nil {
		return err
	}
	dom, err := a.Store.GetLocalDomain(r.Context(), req.Deployment.ID)
	if err != nil {
		return err
	}
	edge.WriteJSON(w, http.StatusOK, userJSON(u, dom.Lockout, a.Now()))
	return nil
}

// PatchUserRequest is the body of PATCH /console/users/{userId}; absent fields stay.
type PatchUserRequest struct {
	Name     *string   `json:"name"`
	Email    *string   `json:"email"`
	Roles    *[]string `json:"roles"`
	Status   *string   `json:"status"`
	Password *string   `json:"password"`
	Unlock   bool      `json:"unlock"`
	// Role is a custom role's id, "" for none (the Signum Administrator only).
	Role *string `json:"role"`
}

func (a api) patchUser(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	var body PatchUserRequest
	if err := edge.DecodeJSON(r, &body, 0); err != nil {
		return err
	}
	if body.Role != nil {
		if err := customRole(req, *body.Role, true); err != nil {
			return err
		}
	}
	if body.Roles != nil {
		if err := mayGive(req, *body.Roles); err != nil {
			return err
		}
	}
	if err := a.manages(r.Context(), req, r.PathValue("userId")); err != nil {
		return err
	}
	u, dom, err := a.users.Update(r.Context(), req.Deployment.ID, r.PathValue("userId"), req.Principal.Actor(), identity.ConsoleUserPatch{
		Name: body.Name, Email: body.Email, Roles: body.Roles, Status: body.Status, Password: body.Password, Unlock: body.Unlock, Role: body.Role,
	})
	if err != nil {
		return err
	}
	edge.WriteJSON(w, http.StatusOK, userJSON(u, dom.Lockout, a.Now()))
	return nil
}

func (a api) deleteUser(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	if err := a.manages(r.Context(), req, r.PathValue("userId")); err != nil {
		return err
	}
	if err := a.users.Remove(r.Context(), req.Deployment.ID, r.PathValue("userId"), req.Principal.Actor()); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Domain is the JSON form of the Local users domain.
type Domain struct {
	Type      string           `json:"type"`
	Password  password.Policy  `json:"passwordPolicy"`
	Lockout   password.Lockout `json:"lockoutPolicy"`
	Version   int64            `json:"version"`
	UpdatedAt time.Time        `json:"updatedAt"`
}

func domainJSON(d identity.LocalDomain) Domain {
	return Domain{Type: "local-users", Password: d.Password, Lockout: d.Lockout, Version: d.Version, UpdatedAt: d.UpdatedAt}
}

func (a api) getDomain(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	d, err := a.Store.GetLocalDomain(r.Context(), req.Deployment.ID)
	if err != nil {
		return err
	}
	edge.WriteJSON(w, http.StatusOK, domainJSON(d))
	return nil
}

// PatchDomainRequest is the body of PATCH /console/domains/local: whole policies replace.
type PatchDomainRequest struct {
	Password *password.Policy  `json:"passwordPolicy"`
	Lockout  *password.Lockout `json:"lockoutPolicy"`
}

func (a api) patchDomain(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	var body PatchDomainRequest
	if err := edge.DecodeJSON(r, &body, 0); err != nil {
		return err
	}
	updated, err := a.users.UpdateDomain(r.Context(), req.Deployment.ID, req.Principal.Actor(), identity.LocalDomainPatch{Password: body.Password, Lockout: body.Lockout})
	if err != nil {
		return err
	}
	edge.WriteJSON(w, http.StatusOK, domainJSON(updated))
	return nil
}
