package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/password"
	"github.com/opensignum/signum/lib/tenant"
)

// ConsoleStore is what changes to console users and their Local users domain read and write
// (store.Store).
type ConsoleStore interface {
	GetLocalDomain(ctx context.Context, deploymentID string) (LocalDomain, error)
	UpdateLocalDomain(ctx context.Context, current, next LocalDomain, log tenant.LogEntry) (LocalDomain, error)
	GetConsoleUser(ctx context.Context, deploymentID, id string) (ConsoleUser, error)
	CreateConsoleUser(ctx context.Context, u ConsoleUser, log tenant.LogEntry) (ConsoleUser, error)
	UpdateConsoleUser(ctx context.Context, current, next ConsoleUser, log tenant.LogEntry) (ConsoleUser, error)
	DeleteConsoleUser(ctx context.Context, u ConsoleUser, log tenant.LogEntry) error
	UserCounter
}

// UserCounter counts a deployment's console users, stopping once it has counted upTo of them
// (store.Store).
type UserCounter interface {
	CountConsoleUsers(ctx context.Context, dep string, upTo int) (int, error)
}

// CheckUserLimit refuses one more console user of deployment d when d has as many as its plan
// allows (tenant.Limits.Users; a plan-limit problem saying so); a plan without a limit costs
// no call. Every way a console user is made asks it first: a console admin's create and a
// first login at an identity provider. The count and the create are two calls, so two creates
// at the same moment may land one over the limit (store.CountConsoleUsers says why that is
// accepted); the next one is refused.
func CheckUserLimit(ctx context.Context, c UserCounter, d tenant.Deployment) error {
	limit := d.Limits().Users
	if limit <= 0 {
		return nil
	}
	n, err := c.CountConsoleUsers(ctx, d.ID, limit)
	if err != nil {
		return err
	}
	if n >= limit {
		return tenant.PlanLimitError(d.Plan, "console users", limit, n)
	}
	return nil
}

// ConsoleUsers creates and changes the console users of a deployment's Local users domain,
// and the domain's policies.
type ConsoleUsers struct {
	st  ConsoleStore
	now func() time.Time
}

// NewConsoleUsers returns the console users of st; now is the clock (time.Now in production).
func NewConsoleUsers(st ConsoleStore, now func() time.Time) *ConsoleUsers {
	return &ConsoleUsers{st: st, now: now}
}

// NewConsoleUser is what a console admin sends to create a console user. A user without a
// password is a certificate user: it authenticates only with the client certificates
// registered for it.
type NewConsoleUser struct {
	Username string
	Name     string
	Email    string
	Password string
	Roles    []string
	// Role is the id of a custom role to give the user ("" for none); it must exist when the
	// user is written.
	Role string
	// DomainID makes the user one of an OIDC or SAML domain ("" for the Local users domain):
	// it has no password and logs in at the domain's identity provider, as Username, which
	// the caller has made <IdP user name>@<alias>. Its roles are direct.
	DomainID string
}

// Create validates in and creates the console user in deployment d, on behalf of actor (for
// the system log), unless d has all the console users its plan allows (CheckUserLimit). It
// returns the user as stored and the Local users domain it was checked against (whose lockout
// policy says whether a user is locked).
func (c *ConsoleUsers) Create(ctx context.Context, d tenant.Deployment, actor string, in NewConsoleUser) (ConsoleUser, LocalDomain, error) {
	dep := d.ID
	var bad fault.Fields
	username, err := NormalizeUsername(in.Username)
	if err != nil {
		bad.Add("username", "is 3 to 64 letters, digits, '.', '_', '-' or '@'")
	}
	name, _ := OptionalName(in.Name, "name", &bad)
	email := optionalEmail(in.Email, &bad)
	roles := ConsoleRolesField(in.Roles, &bad)
	if in.DomainID != "" && in.Password != "" {
		bad.Add("password", "a user of an OIDC or SAML domain has no password: it logs in at the domain's identity provider")
	}
	if err := bad.Err(); err != nil {
		return ConsoleUser{}, LocalDomain{}, err
	}
	if err := CheckUserLimit(ctx, c.st, d); err != nil {
		return ConsoleUser{}, LocalDomain{}, err
	}
	dom, err := c.st.GetLocalDomain(ctx, dep)
	if err != nil {
		return ConsoleUser{}, LocalDomain{}, err
	}
	var creds Credentials
	if in.Password != "" {
		if creds, err = SetPassword(in.Password, username, dom.Password, c.now()); err != nil {
			return ConsoleUser{}, LocalDomain{}, err
		}
	}
	detail := fmt.Sprintf("%s with roles %v", username, ConsoleRoleNames(roles))
	if in.Role != "" {
		detail += " and custom role " + in.Role
	}
	u, err := c.st.CreateConsoleUser(ctx, ConsoleUser{
		ID: NewConsoleUserID(), DeploymentID: dep, Username: username, Name: name, Email: email,
		Roles: roles, Role: in.Role, DomainID: in.DomainID, Status: StatusActive, Credentials: creds,
	}, tenant.LogEntry{Actor: actor, Action: "consoleUser.created", Detail: detail})
	if err != nil {
		return ConsoleUser{}, LocalDomain{}, roleGone(err, in.Role != "")
	}
	return u, dom, nil
}

// ConsoleUserPatch is a change to a console user; nil fields stay.
type ConsoleUserPatch struct {
	Name     *string
	Email    *string
	Roles    *[]string
	Status   *string
	Password *string
	// Role is the id of the custom role the user holds, "" for none.
	Role *string
	// Unlock lifts a lockout.
	Unlock bool
}

// Update applies patch to console user id of deployment dep, on behalf of actor, and returns
// the user as stored after it and the Local users domain. The fields are checked first, all at
// once; then a new password against the domain's policy. A field that is sent is written even
// when it is the same; a patch with no field writes nothing.
func (c *ConsoleUsers) Update(ctx context.Context, dep, id, actor string, patch ConsoleUserPatch) (ConsoleUser, LocalDomain, error) {
	cur, err := c.st.GetConsoleUser(ctx, dep, id)
	if err != nil {
		return ConsoleUser{}, LocalDomain{}, err
	}
	dom, err := c.st.GetLocalDomain(ctx, dep)
	if err != nil {
		return ConsoleUser{}, LocalDomain{}, err
	}
	next := cur
	var bad fault.Fields
	var changes []string
	if patch.Name != nil {
		next.Name, _ = OptionalName(*patch.Name, "name", &bad)
		changes = append(changes, "name")
	}
	if patch.Email != nil {
		next.Email = optionalEmail(*patch.Email, &bad)
		changes = append(changes, "e-mail")
	}
	if patch.Roles != nil {
		next.Roles = ConsoleRolesField(*patch.Roles, &bad)
		changes = append(changes, fmt.Sprintf("roles %v", ConsoleRoleNames(next.Roles)))
	}
	if patch.Role != nil {
		next.Role = *patch.Role
		changes = append(changes, "custom role "+orNone(next.Role))
	}
	if patch.Roles != nil || patch.Role != nil {
		// An administrator's choice is a direct role: an OIDC or SAML user's IdP groups no
		// longer change it at login.
		next.RoleSource = RoleDirect
	}
	if patch.Status != nil {
		if st, ok := StatusField(*patch.Status, "status", &bad); ok {
			next.Status = st
			changes = append(changes, "status "+string(st))
		}
	}
	if err := bad.Err(); err != nil {
		return ConsoleUser{}, LocalDomain{}, err
	}
	if patch.Password != nil {
		creds, err := SetPassword(*patch.Password, cur.Username, dom.Password, c.now())
		if err != nil {
			return ConsoleUser{}, LocalDomain{}, err
		}
		next.Credentials = creds
		changes = append(changes, "password reset")
	}
	if patch.Unlock {
		next.Unlock()
		changes = append(changes, "unlocked")
	}
	// A new password, a disable or re-enable and a change of roles end the user's sessions.
	if patch.Password != nil || next.Status != cur.Status || !sameRoles(next.Roles, cur.Roles) {
		next.TokenGeneration = cur.TokenGeneration + 1
	}
	if len(changes) > 0 {
		if cur, err = c.st.UpdateConsoleUser(ctx, cur, next, tenant.LogEntry{
			Actor: actor, Action: "consoleUser.updated", Detail: cur.Username + ": " + strings.Join(changes, "; "),
		}); err != nil {
			return ConsoleUser{}, LocalDomain{}, roleGone(err, next.Role != cur.Role && next.Role != "")
		}
	}
	return cur, dom, nil
}

// Remove deletes console user id of deployment dep, on behalf of actor.
func (c *ConsoleUsers) Remove(ctx context.Context, dep, id, actor string) error {
	u, err := c.st.GetConsoleUser(ctx, dep, id)
	if err != nil {
		return err
	}
	return c.st.DeleteConsoleUser(ctx, u, tenant.LogEntry{Actor: actor, Action: "consoleUser.removed", Detail: u.Username})
}

// LocalDomainPatch is a change to the Local users domain: a policy that is sent replaces the
// whole policy; nil stays.
type LocalDomainPatch struct {
	Password *password.Policy
	Lockout  *password.Lockout
}

// UpdateDomain applies patch to the Local users domain of deployment dep, on behalf of actor,
// and returns the domain as stored after it. It always writes (and logs both policies).
// Invalid policy fields are named "passwordPolicy.<field>" and "lockoutPolicy.<field>".
func (c *ConsoleUsers) UpdateDomain(ctx context.Context, dep, actor string, patch LocalDomainPatch) (LocalDomain, error) {
	cur, err := c.st.GetLocalDomain(ctx, dep)
	if err != nil {
		return LocalDomain{}, err
	}
	next := cur
	var bad fault.Fields
	if patch.Password != nil {
		if err := patch.Password.Validate(); err != nil {
			bad = append(bad, prefixed("passwordPolicy.", err)...)
		}
		next.Password = *patch.Password
	}
	if patch.Lockout != nil {
		if err := patch.Lockout.Validate(); err != nil {
			bad = append(bad, prefixed("lockoutPolicy.", err)...)
		}
		next.Lockout = *patch.Lockout
	}
	if err := bad.Err(); err != nil {
		return LocalDomain{}, err
	}
	return c.st.UpdateLocalDomain(ctx, cur, next, tenant.LogEntry{
		Actor: actor, Action: "localDomain.updated",
		Detail: "password policy " + compact(next.Password) + "; lockout policy " + compact(next.Lockout),
	})
}

// ConsoleRolesField parses the roles a console admin gives a console user (the field
// "roles"): only AssignableConsoleRoles, each once, and at least one.
func ConsoleRolesField(names []string, bad *fault.Fields) []ConsoleRole {
	var out []ConsoleRole
	for _, n := range names {
		r := ConsoleRole(n)
		if !slices.Contains(AssignableConsoleRoles, r) {
			bad.Add("roles", "%q is not a role you can assign (console-admin, console-viewer, signer)", fault.Clip(n, 40))
			continue
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	if len(names) == 0 {
		bad.Add("roles", "at least one of console-admin, console-viewer, signer")
	}
	return out
}

// roleGone is err, except that a custom role the write found missing (joined) is the
// caller's problem of the field role: the store checks that the role exists in the write
// itself, so that nobody is given a role deleted at the same moment.
func roleGone(err error, joined bool) error {
	if joined && errors.Is(err, fault.ErrNotFound) {
		d, _ := fault.DetailOf(err)
		return fault.Fields{{Name: "role", Reason: d}}
	}
	return err
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// sameRoles reports whether a and b hold the same roles, in any order.
func sameRoles(a, b []ConsoleRole) bool {
	return len(a) == len(b) && !slices.ContainsFunc(a, func(r ConsoleRole) bool { return !slices.Contains(b, r) })
}

// optionalEmail is the e-mail address s (the field "email"), "" for none.
func optionalEmail(s string, bad *fault.Fields) string {
	if s == "" {
		return ""
	}
	email, err := NormalizeEmail(s)
	if err != nil {
		bad.Add("email", "is not an e-mail address")
	}
	return email
}

// prefixed names the fields of a policy's validation error under prefix.
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

// compact is v as JSON, the form customers see policies in.
func compact(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
