// Package portal is the vendor portal's API: first-time registration from a deployment link,
// login, a deployment's settings (domain name, IP allowlist), its portal users and their
// product roles, and opening the Admin console with one's portal identity.
package portal

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/opensignum/signum/lib/access"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/login"
	"github.com/opensignum/signum/lib/provisioning"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
	"github.com/opensignum/signum/lib/wire"
)

type api struct {
	*function.Parts
	users    *identity.PortalUsers
	settings *provisioning.Settings
}

func newAPI(env function.Env) api {
	p := function.NewParts(env)
	return api{Parts: p, users: identity.NewPortalUsers(p.Store, p.Now), settings: provisioning.NewSettings(p.Store, p.DomainSuffix)}
}

// BuildAuth is the portal-auth function: registration and login.
func BuildAuth(_ context.Context, env function.Env) (http.Handler, error) {
	a := newAPI(env)
	m := access.NewMux(env.Log, a.Guard)
	// POST /portal/register — anyone holding a deployment link.
	m.Handle("POST /portal/register", access.Public(), a.register)
	// POST /portal/login — anyone.
	m.Handle("POST /portal/login", access.Public(), a.login)
	return m, nil
}

// BuildDeployments is the portal-deployments function: settings and console access.
func BuildDeployments(_ context.Context, env function.Env) (http.Handler, error) {
	a := newAPI(env)
	m := access.NewMux(env.Log, a.Guard)
	// GET /portal/deployments/{id} — portal users of the deployment, any role.
	m.Handle("GET /portal/deployments/{id}", access.PortalRoles(identity.RoleAdmin, identity.RoleUser, identity.RoleViewer), a.getDeployment)
	// PATCH /portal/deployments/{id} — portal Admins: domain name, IP allowlist, name.
	m.Handle("PATCH /portal/deployments/{id}", access.PortalRoles(identity.RoleAdmin), a.patchDeployment)
	// POST /portal/deployments/{id}/console-token — portal users, any role: a console
	// token with the console roles of their portal role. A login to the console: it works
	// while the console does (a suspended subscription's read-only, a cancelled one's not).
	m.Handle("POST /portal/deployments/{id}/console-token", access.PortalRoles(identity.RoleAdmin, identity.RoleUser, identity.RoleViewer).Login(), a.consoleToken)
	return m, nil
}

// BuildUsers is the portal-users function: the deployment's portal users.
func BuildUsers(_ context.Context, env function.Env) (http.Handler, error) {
	a := newAPI(env)
	m := access.NewMux(env.Log, a.Guard)
	// GET /portal/deployments/{id}/users — portal Admins and Viewers.
	m.Handle("GET /portal/deployments/{id}/users", access.PortalRoles(identity.RoleAdmin, identity.RoleViewer), a.listUsers)
	// POST /portal/deployments/{id}/users — portal Admins: invite (a deployment link).
	m.Handle("POST /portal/deployments/{id}/users", access.PortalRoles(identity.RoleAdmin), a.inviteUser)
	// PATCH /portal/deployments/{id}/users/{userId} — portal Admins: role, status.
	m.Handle("PATCH /portal/deployments/{id}/users/{userId}", access.PortalRoles(identity.RoleAdmin), a.patchUser)
	// DELETE /portal/deployments/{id}/users/{userId} — portal Admins.
	m.Handle("DELETE /portal/deployments/{id}/users/{userId}", access.PortalRoles(identity.RoleAdmin), a.deleteUser)
	return m, nil
}

// User is the JSON form of a portal user. It never carries the password hash.
type User struct {
	ID           string    `json:"id"`
	DeploymentID string    `json:"deploymentId"`
	Email        string    `json:"email"`
	Name         string    `json:"name"`
	Role         string    `json:"role"`
	Status       string    `json:"status"`
	SignumAdmin  bool      `json:"signumAdministrator"`
	Locked       bool      `json:"locked"`
	Version      int64     `json:"version"`
	CreatedAt    time.Time `json:"createdAt"`
}

func (a api) userJSON(u identity.PortalUser) User {
	return User{ID: u.ID, DeploymentID: u.DeploymentID, Email: u.Email, Name: u.Name, Role: string(u.Role), Status: string(u.Status),
		SignumAdmin: u.SignumAdmin, Locked: identity.PortalLockout().Locked(u.LockState(), a.Now()),
		Version: u.Version, CreatedAt: u.CreatedAt}
}

// RegisterRequest is the body of POST /portal/register.
type RegisterRequest struct {
	Token    string `json:"token"`
	Email    string `json:"email"`
	Name     string `json:"name"`
	Password string `json:"password"`
}

func (a api) register(w http.ResponseWriter, r *http.Request, _ *access.Request) error {
	var body RegisterRequest
	if err := edge.DecodeJSON(r, &body, 0); err != nil {
		return err
	}
	u, err := a.users.Register(r.Context(), identity.Registration{Token: body.Token, Email: body.Email, Name: body.Name, Password: body.Password})
	if err != nil {
		return err
	}
	edge.WriteJSON(w, http.StatusCreated, a.userJSON(u))
	return nil
}

// LoginRequest is the body of POST /portal/login.
type LoginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (a api) login(w http.ResponseWriter, r *http.Request, _ *access.Request) error {
	var body LoginRequest
	if err := edge.DecodeJSON(r, &body, 0); err != nil {
		return err
	}
	from, err := edge.SourceIP(r)
	if err != nil {
		return err
	}
	limits := login.Limits{PerAccount: a.Limits.LoginPerAccount, PerAddress: a.Limits.LoginPerAddress}
	tok, claims, err := login.Password(r.Context(), login.Portal(a.Store, limits), a.Issuer, a.Now(), body.Email, body.Password, from)
	if err != nil {
		return err
	}
	edge.WriteJSON(w, http.StatusOK, login.Respond(tok, claims))
	return nil
}

func (a api) getDeployment(w http.ResponseWriter, _ *http.Request, req *access.Request) error {
	w.Header().Set("ETag", wire.DeploymentETag(req.Deployment))
	edge.WriteJSON(w, http.StatusOK, wire.DeploymentJSON(req.Deployment).WithSigner(a.Guard.SignerEndpoint))
	return nil
}

// PatchDeploymentRequest is the body of PATCH /portal/deployments/{id}; absent fields stay.
type PatchDeploymentRequest struct {
	Name        *string   `json:"name"`
	DomainName  *string   `json:"domainName"`
	IPAllowlist *[]string `json:"ipAllowlist"`
}

func (a api) patchDeployment(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	var body PatchDeploymentRequest
	if err := edge.DecodeJSON(r, &body, 0); err != nil {
		return err
	}
	cur := req.Deployment
	if err := ifMatch(r, wire.DeploymentETag(cur)); err != nil {
		return err
	}
	updated, err := a.settings.Update(r.Context(), cur, provisioning.SettingsPatch{Name: body.Name, DomainName: body.DomainName, IPAllowlist: body.IPAllowlist}, req.Principal.Actor())
	if err != nil {
		return err
	}
	w.Header().Set("ETag", wire.DeploymentETag(updated))
	edge.WriteJSON(w, http.StatusOK, wire.DeploymentJSON(updated).WithSigner(a.Guard.SignerEndpoint))
	return nil
}

// ifMatch applies an If-Match header: a write based on an older read is refused (412).
func ifMatch(r *http.Request, etag string) error {
	if m := r.Header.Get("If-Match"); m != "" && m != "*" && m != etag {
		return fault.Newf(fault.ErrPrecondition, "The object changed since you read it (If-Match %s, now %s); read it again.", m, etag)
	}
	return nil
}

// ConsoleTokenResponse is a console token for a portal user.
type ConsoleTokenResponse struct {
	wire.Token
	ConsoleDomain string `json:"consoleDomain,omitempty"`
}

func (a api) consoleToken(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	// The web portal sends the token to the deployment's domain name, which a portal Admin
	// sets: only a name under the stack's console domain can be vouched for. Anywhere else,
	// another user's token (the Signum Administrator's) would go to a host the Admin picked.
	// The name is checked again here, not only when it was saved: the suffix may have changed.
	if d := req.Deployment.DomainName; d != "" {
		if a.DomainSuffix == "" {
			return fault.Newf(fault.ErrConflict, "This stack has no console domain (the ConsoleDomain parameter), so no deployment's console can be reached.")
		}
		if err := tenant.CheckDomainSuffix(d, a.DomainSuffix); err != nil {
			return fault.Newf(fault.ErrConflict, "The deployment's domain name %q is not one label under the console domain %s; an Admin must set it again in the settings.", d, a.DomainSuffix)
		}
	}
	tok, claims, err := login.ConsoleToken(r.Context(), a.Store, a.Issuer, req.Deployment.ID, req.Principal.UserID)
	if err != nil {
		return err
	}
	// Opening the console from the portal is a console login: recorded as one, and the token
	// is not given out without its record.
	if err := a.Store.AppendLog(r.Context(), req.Deployment.ID, tenant.LogEntry{Actor: req.Principal.Actor(), Action: "login.console.succeeded",
		Object: claims.Name, Detail: fmt.Sprintf("opened from the portal, roles %v", claims.Roles)}); err != nil {
		return err
	}
	edge.WriteJSON(w, http.StatusOK, ConsoleTokenResponse{
		Token:         login.Respond(tok, claims),
		ConsoleDomain: req.Deployment.DomainName,
	})
	return nil
}

func (a api) listUsers(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	return access.ServeList(w, r, func(ctx context.Context, pr store.PageRequest) (store.Page[identity.PortalUser], error) {
		return a.Store.ListPortalUsers(ctx, req.Deployment.ID, pr)
	}, a.userJSON)
}

// InviteRequest is the body of POST /portal/deployments/{id}/users.
type InviteRequest struct {
	Email string `json:"email"`
	Role  string `json:"role"`
}

// InviteResponse is a deployment link: its token is shown this once.
type InviteResponse struct {
	Token     string    `json:"token"`
	Email     string    `json:"email,omitempty"`
	Role      string    `json:"role"`
	ExpiresAt time.Time `json:"expiresAt"`
}

func (a api) inviteUser(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	var body InviteRequest
	if err := edge.DecodeJSON(r, &body, 0); err != nil {
		return err
	}
	// Portal Admins never grant the Signum Administrator role: false, always.
	inv, tok, err := provisioning.Invite(r.Context(), a.Store, a.Now(), req.Deployment.ID, req.Principal.Actor(), body.Email, identity.PortalRole(body.Role), false)
	if err != nil {
		return err
	}
	edge.WriteJSON(w, http.StatusCreated, InviteResponse{Token: tok, Email: inv.Email, Role: string(inv.Role), ExpiresAt: inv.ExpiresAt})
	return nil
}

// PatchUserRequest is the body of PATCH /portal/deployments/{id}/users/{userId}.
type PatchUserRequest struct {
	Role   *string `json:"role"`
	Status *string `json:"status"`
	// Unlock lifts a lockout.
	Unlock bool `json:"unlock"`
}

func (a api) patchUser(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	var body PatchUserRequest
	if err := edge.DecodeJSON(r, &body, 0); err != nil {
		return err
	}
	u, err := a.users.Update(r.Context(), req.Deployment.ID, r.PathValue("userId"), req.Principal.Actor(),
		identity.PortalUserPatch{Role: body.Role, Status: body.Status, Unlock: body.Unlock},
		func(cur identity.PortalUser) error { return ifMatch(r, fmt.Sprintf(`"%d"`, cur.Version)) })
	if err != nil {
		return err
	}
	edge.WriteJSON(w, http.StatusOK, a.userJSON(u))
	return nil
}
func (a api) deleteUser(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	if err := a.users.Remove(r.Context(), req.Deployment.ID, r.PathValue("userId"), req.Principal.Actor()); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
