// Package console is the deployment side's Admin console API so far: login to the Local users
// domain, the caller's session, console users, the Local users domain's password and lockout
// policies, and the system log. Every route finds its deployment by the host the request was
// sent to, and the deployment's IP allowlist applies.
package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/opensignum/signum/lib/access"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/login"
	"github.com/opensignum/signum/lib/password"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

type api struct {
	*function.Parts
}

// BuildAuth is the console-auth function: login and session.
func BuildAuth(_ context.Context, env function.Env) (http.Handler, error) {
	a := api{function.NewParts(env)}
	m := access.NewMux(env.Log, a.Guard)
	// POST /console/login — anyone the deployment's allowlist admits.
	m.Handle("POST /console/login", access.PublicOnTenant(), a.login)
	// GET /console/session — any console caller of the deployment: who am I.
	m.Handle("GET /console/session", access.AnyConsoleCaller(), a.session)
	return m, nil
}

// BuildUsers is the console-users function.
func BuildUsers(_ context.Context, env function.Env) (http.Handler, error) {
	a := api{function.NewParts(env)}
	m := access.NewMux(env.Log, a.Guard)
	// GET /console/users — console admins and viewers.
	m.Handle("GET /console/users", access.ConsoleReaders(), a.listUsers)
	// POST /console/users — console admins.
	m.Handle("POST /console/users", access.ConsoleAdmins(), a.createUser)
	// GET /console/users/{userId} — console admins and viewers.
	m.Handle("GET /console/users/{userId}", access.ConsoleReaders(), a.getUser)
	// PATCH /console/users/{userId} — console admins.
	m.Handle("PATCH /console/users/{userId}", access.ConsoleAdmins(), a.patchUser)
	// DELETE /console/users/{userId} — console admins.
	m.Handle("DELETE /console/users/{userId}", access.ConsoleAdmins(), a.deleteUser)
	a.registerClientCertificates(m)
	return m, nil
}

// BuildSettings is the console-settings function: domains and the system log.
func BuildSettings(_ context.Context, env function.Env) (http.Handler, error) {
	a := api{function.NewParts(env)}
	m := access.NewMux(env.Log, a.Guard)
	// GET /console/domains/local — console admins and viewers.
	m.Handle("GET /console/domains/local", access.ConsoleReaders(), a.getDomain)
	// PATCH /console/domains/local — the Signum Administrator only.
	m.Handle("PATCH /console/domains/local", access.SignumAdministrator(), a.patchDomain)
	// GET /console/system-log — console admins and viewers.
	m.Handle("GET /console/system-log", access.ConsoleReaders(), a.systemLog)
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
	tok, claims, err := login.Password(r.Context(), login.Console(a.Store, req.Deployment.ID), a.Issuer, a.Now(), body.Username, body.Password)
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
}

func (a api) session(w http.ResponseWriter, _ *http.Request, req *access.Request) error {
	p := req.Principal
	edge.WriteJSON(w, http.StatusOK, Session{UserID: p.UserID, Name: p.Name, DeploymentID: p.DeploymentID, Roles: identity.ConsoleRoleNames(p.ConsoleRoles)})
	return nil
}

// User is the JSON form of a console user. It never carries the password hash.
type User struct {
	ID       string   `json:"id"`
	Username string   `json:"username"`
	Name     string   `json:"name"`
	Email    string   `json:"email,omitempty"`
	Roles    []string `json:"roles"`
	Status   string   `json:"status"`
	Locked   bool     `json:"locked"`
	// HasPassword is false for certificate users, who log in only with client certificates.
	HasPassword bool      `json:"hasPassword"`
	Version     int64     `json:"version"`
	CreatedAt   time.Time `json:"createdAt"`
}

func userJSON(u identity.ConsoleUser, lock password.Lockout, now time.Time) User {
	return User{ID: u.ID, Username: u.Username, Name: u.Name, Email: u.Email, Roles: identity.ConsoleRoleNames(u.Roles), Status: string(u.Status),
		Locked: lock.Locked(u.Failures, u.LockedUntil, u.LockedForever, now), HasPassword: u.PasswordHash != "", Version: u.Version, CreatedAt: u.CreatedAt}
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
}

// parseRoles accepts only roles a console admin may assign.
func parseRoles(names []string, bad *fault.Fields) []identity.ConsoleRole {
	var out []identity.ConsoleRole
	for _, n := range names {
		r := identity.ConsoleRole(n)
		if !slices.Contains(identity.AssignableConsoleRoles, r) {
			bad.Add("roles", "%q is not a role you can assign (console-admin, console-viewer, signer)", fault.Clip(n, 40))
			continue
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

func (a api) createUser(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	var body CreateUserRequest
	if err := edge.DecodeJSON(r, &body, 0); err != nil {
		return err
	}
	var bad fault.Fields
	username, err := identity.NormalizeUsername(body.Username)
	if err != nil {
		bad.Add("username", "is 3 to 64 letters, digits, '.', '_', '-' or '@'")
	}
	name, _ := identity.OptionalName(body.Name, "name", &bad)
	email := ""
	if body.Email != "" {
		if email, err = identity.NormalizeEmail(body.Email); err != nil {
			bad.Add("email", "is not an e-mail address")
		}
	}
	roles := parseRoles(body.Roles, &bad)
	if len(body.Roles) == 0 {
		bad.Add("roles", "at least one of console-admin, console-viewer, signer")
	}
	if err := bad.Err(); err != nil {
		return err
	}
	dom, err := a.Store.GetLocalDomain(r.Context(), req.Deployment.ID)
	if err != nil {
		return err
	}
	// A user without a password is a certificate user: it authenticates only with the client
	// certificates registered for it.
	var creds identity.Credentials
	if body.Password != "" {
		if creds, err = login.SetPassword(body.Password, username, dom.Password, a.Now()); err != nil {
			return err
		}
	}
	u, err := a.Store.CreateConsoleUser(r.Context(), identity.ConsoleUser{
		ID: identity.NewConsoleUserID(), DeploymentID: req.Deployment.ID, Username: username, Name: name, Email: email,
		Roles: roles, Status: identity.StatusActive, Credentials: creds,
	}, tenant.LogEntry{Actor: req.Principal.Actor(), Action: "consoleUser.created", Detail: fmt.Sprintf("%s with roles %v", username, identity.ConsoleRoleNames(roles))})
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
}

func (a api) patchUser(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	var body PatchUserRequest
	if err := edge.DecodeJSON(r, &body, 0); err != nil {
		return err
	}
	cur, err := a.Store.GetConsoleUser(r.Context(), req.Deployment.ID, r.PathValue("userId"))
	if err != nil {
		return err
	}
	dom, err := a.Store.GetLocalDomain(r.Context(), req.Deployment.ID)
	if err != nil {
		return err
	}
	next := cur
	var bad fault.Fields
	var changes []string
	if body.Name != nil {
		next.Name, _ = identity.OptionalName(*body.Name, "name", &bad)
		changes = append(changes, "name")
	}
	if body.Email != nil {
		next.Email = ""
		if *body.Email != "" {
			if next.Email, err = identity.NormalizeEmail(*body.Email); err != nil {
				bad.Add("email", "is not an e-mail address")
			}
		}
		changes = append(changes, "e-mail")
	}
	if body.Roles != nil {
		next.Roles = parseRoles(*body.Roles, &bad)
		if len(*body.Roles) == 0 {
			bad.Add("roles", "at least one of console-admin, console-viewer, signer")
		}
		changes = append(changes, fmt.Sprintf("roles %v", identity.ConsoleRoleNames(next.Roles)))
	}
	if body.Status != nil {
		if st := identity.Status(*body.Status); st != identity.StatusActive && st != identity.StatusDisabled {
			bad.Add("status", "must be active or disabled")
		} else {
			next.Status = st
			changes = append(changes, "status "+string(st))
		}
	}
	if err := bad.Err(); err != nil {
		return err
	}
	if body.Password != nil {
		creds, err := login.SetPassword(*body.Password, cur.Username, dom.Password, a.Now())
		if err != nil {
			return err
		}
		next.Credentials = creds
		changes = append(changes, "password reset")
	}
	if body.Unlock {
		next.Failures, next.LockedUntil, next.LockedForever = 0, time.Time{}, false
		changes = append(changes, "unlocked")
	}
	if len(changes) > 0 {
		if cur, err = a.Store.UpdateConsoleUser(r.Context(), cur, next, tenant.LogEntry{
			Actor: req.Principal.Actor(), Action: "consoleUser.updated", Detail: cur.Username + ": " + strings.Join(changes, "; "),
		}); err != nil {
			return err
		}
	}
	edge.WriteJSON(w, http.StatusOK, userJSON(cur, dom.Lockout, a.Now()))
	return nil
}

func (a api) deleteUser(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	u, err := a.Store.GetConsoleUser(r.Context(), req.Deployment.ID, r.PathValue("userId"))
	if err != nil {
		return err
	}
	if err := a.Store.DeleteConsoleUser(r.Context(), u, tenant.LogEntry{Actor: req.Principal.Actor(), Action: "consoleUser.removed", Detail: u.Username}); err != nil {
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
	cur, err := a.Store.GetLocalDomain(r.Context(), req.Deployment.ID)
	if err != nil {
		return err
	}
	next := cur
	var bad fault.Fields
	if body.Password != nil {
		if err := body.Password.Validate(); err != nil {
			bad = append(bad, prefixed("passwordPolicy.", err)...)
		}
		next.Password = *body.Password
	}
	if body.Lockout != nil {
		if err := body.Lockout.Validate(); err != nil {
			bad = append(bad, prefixed("lockoutPolicy.", err)...)
		}
		next.Lockout = *body.Lockout
	}
	if err := bad.Err(); err != nil {
		return err
	}
	updated, err := a.Store.UpdateLocalDomain(r.Context(), cur, next, tenant.LogEntry{
		Actor: req.Principal.Actor(), Action: "localDomain.updated",
		Detail: "password policy " + compact(next.Password) + "; lockout policy " + compact(next.Lockout),
	})
	if err != nil {
		return err
	}
	edge.WriteJSON(w, http.StatusOK, domainJSON(updated))
	return nil
}

func prefixed(prefix string, err error) fault.Fields {
	var fs fault.Fields
	if errors.As(err, &fs) {
		out := make(fault.Fields, len(fs))
		for i, f := range fs {
			out[i] = fault.FieldError{Name: prefix + f.Name, Reason: f.Reason}
		}
		return out
	}
	d, _ := fault.DetailOf(err)
	return fault.Fields{{Name: strings.TrimSuffix(prefix, "."), Reason: d}}
}

// LogEntry is the JSON form of a system log entry.
type LogEntry struct {
	ID     string    `json:"id"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Detail string    `json:"detail,omitempty"`
}

func (a api) systemLog(w http.ResponseWriter, r *http.Request, req *access.Request) error {
	return access.ServeList(w, r, func(ctx context.Context, pr store.PageRequest) (store.Page[tenant.LogEntry], error) {
		return a.Store.ListLog(ctx, req.Deployment.ID, pr) // newest first
	}, func(e tenant.LogEntry) LogEntry {
		return LogEntry{ID: e.ID, At: e.At, Actor: e.Actor, Action: e.Action, Detail: e.Detail}
	})
}

// compact is v as JSON, the form customers see policies in.
func compact(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
