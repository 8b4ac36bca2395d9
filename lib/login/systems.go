package login

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/password"
	"github.com/opensignum/signum/lib/ratelimit"
	"github.com/opensignum/signum/lib/tenant"
	"github.com/opensignum/signum/lib/token"
)

// errNoSuchName is a login name that no user can have; it is answered as an unknown user.
var errNoSuchName = fmt.Errorf("login: not a login name: %w", fault.ErrNotFound)

// errConsoleExpired answers a console user's right password past the domain's maximum age.
var errConsoleExpired = fault.Newf(fault.ErrUnauthenticated, "Your password has expired; ask a console admin to set a new one.")

// errPortalExpired answers a portal user's right password past its maximum age. Portal
// passwords do not expire today (identity.PortalPasswordPolicy has no maximum age).
var errPortalExpired = fault.Newf(fault.ErrUnauthenticated, "Your password has expired.")

// outcomes counts and settles login attempts on the users of either system, and records
// them in the system log (store.Store).
type outcomes interface {
	ReserveLogin(ctx context.Context, deploymentID string, portal bool, userID string, r password.Reservation, now time.Time) (int, int64, error)
	LockForever(ctx context.Context, deploymentID string, portal bool, userID string) error
	ResetFailures(ctx context.Context, deploymentID string, portal bool, userID string) error
	AppendLog(ctx context.Context, deploymentID string, e tenant.LogEntry) error
}

// PortalStore is what a portal login reads and writes (store.Store).
type PortalStore interface {
	outcomes
	ratelimit.Counter
	PortalUserByEmail(ctx context.Context, email string) (identity.PortalUser, error)
	GetPortalUser(ctx context.Context, deploymentID, id string) (identity.PortalUser, error)
	UpdatePortalUser(ctx context.Context, current, next identity.PortalUser, log tenant.LogEntry) (identity.PortalUser, error)
}

// PortalUsers are the portal users, who log in with their e-mail address (unique across
// deployments, so it also finds the deployment) under the one portal lockout policy.
type PortalUsers struct {
	st     PortalStore
	limits Limits
}

// Portal is the portal users of st, whose logins are rate-limited by limits.
func Portal(st PortalStore, limits Limits) PortalUsers { return PortalUsers{st: st, limits: limits} }

// Rules are the portal's policies: the same for every portal user.
func (p PortalUsers) Rules(context.Context) (Rules, error) {
	return Rules{Password: identity.PortalPasswordPolicy(), Lockout: identity.PortalLockout(), Expired: errPortalExpired, Limits: p.limits}, nil
}

// TakeRate counts a rate-limited portal login.
func (p PortalUsers) TakeRate(ctx context.Context, key string, n int, l ratelimit.Limit, now time.Time) (ratelimit.Verdict, error) {
	return p.st.TakeRate(ctx, key, n, l, now)
}

// AccountKey is the rate-limit key of the portal account email.
func (PortalUsers) AccountKey(email string) string {
	return ratelimit.Key("login", "portal", strings.ToLower(strings.TrimSpace(email)))
}

// Find reads the portal user whose e-mail address is email.
func (p PortalUsers) Find(ctx context.Context, email string) (identity.PortalUser, error) {
	email, err := identity.NormalizeEmail(email)
	if err != nil {
		return identity.PortalUser{}, errNoSuchName
	}
	u, err := p.st.PortalUserByEmail(ctx, email)
	if errors.Is(err, fault.ErrNotFound) {
		// The same reads as for a known user: an unknown one takes as long.
		_, _ = p.st.GetPortalUser(ctx, "dep_none", "none")
	}
	return u, err
}

// User is u as the flow reads it; its token is a portal token with its product role.
func (PortalUsers) User(u identity.PortalUser) User {
	return User{ID: u.ID, DeploymentID: u.DeploymentID, Version: u.Version, Status: u.Status, Credentials: u.Credentials,
		Claims: token.Claims{Subject: u.ID, System: token.Portal, Deployment: u.DeploymentID, Roles: []string{string(u.Role)}, Name: u.Email,
			Generation: u.TokenGeneration}}
}

// Rehash stores creds over u as read and left at version by the login's attempt, and
// notes it in the deployment's system log.
func (p PortalUsers) Rehash(ctx context.Context, u identity.PortalUser, version int64, creds identity.Credentials) error {
	cur := u
	cur.Version = version
	next := cur
	next.Credentials = creds
	_, err := p.st.UpdatePortalUser(ctx, cur, next, rehashed("portal:"+u.ID, "portalUser.updated", u.Email))
	return err
}

// Record writes a portal login attempt to the system log of the user's deployment. A name
// that no portal user has belongs to no deployment, so its attempts are recorded nowhere;
// such an attempt makes a write that changes nothing instead (a reservation on no user), so
// that it takes as long as a known user's and the time does not tell which addresses exist.
func (p PortalUsers) Record(ctx context.Context, a Attempt) error {
	if a.User == nil {
		_, _, _ = p.st.ReserveLogin(ctx, "dep_none", true, "none", password.Reservation{}, a.At)
		return nil
	}
	return p.st.AppendLog(ctx, a.User.DeploymentID, logEntry("portal", a))
}

// Reserve counts a login attempt on portal user id before its password is checked.
func (p PortalUsers) Reserve(ctx context.Context, deploymentID, id string, r password.Reservation, now time.Time) (int, int64, error) {
	return p.st.ReserveLogin(ctx, deploymentID, true, id, r, now)
}

// LockForever sets the permanent lock flag of portal user id.
func (p PortalUsers) LockForever(ctx context.Context, deploymentID, id string) error {
	return p.st.LockForever(ctx, deploymentID, true, id)
}

// ResetFailures clears the failures of portal user id.
func (p PortalUsers) ResetFailures(ctx context.Context, deploymentID, id string) error {
	return p.st.ResetFailures(ctx, deploymentID, true, id)
}

// ConsoleStore is what a console login reads and writes (store.Store).
type ConsoleStore interface {
	outcomes
	ratelimit.Counter
	GetLocalDomain(ctx context.Context, deploymentID string) (identity.LocalDomain, error)
	ConsoleUserByUsername(ctx context.Context, deploymentID, username string) (identity.ConsoleUser, error)
	GetConsoleUser(ctx context.Context, deploymentID, id string) (identity.ConsoleUser, error)
	UpdateConsoleUser(ctx context.Context, current, next identity.ConsoleUser, log tenant.LogEntry) (identity.ConsoleUser, error)
}

// ConsoleUsers are the console users of one deployment (its Local users domain), who log in
// with their user name under the domain's password and lockout policies.
type ConsoleUsers struct {
	st         ConsoleStore
	deployment string
	limits     Limits
}

// Console is the console users of deployment in st, whose logins are rate-limited by limits.
func Console(st ConsoleStore, deployment string, limits Limits) ConsoleUsers {
	return ConsoleUsers{st: st, deployment: deployment, limits: limits}
}

// TakeRate counts a rate-limited console login.
func (c ConsoleUsers) TakeRate(ctx context.Context, key string, n int, l ratelimit.Limit, now time.Time) (ratelimit.Verdict, error) {
	return c.st.TakeRate(ctx, key, n, l, now)
}

// AccountKey is the rate-limit key of the deployment's console account username.
func (c ConsoleUsers) AccountKey(username string) string {
	return ratelimit.Key("login", "console", c.deployment, strings.ToLower(strings.TrimSpace(username)))
}

// Rules are the policies of the deployment's Local users domain.
func (c ConsoleUsers) Rules(ctx context.Context) (Rules, error) {
	dom, err := c.st.GetLocalDomain(ctx, c.deployment)
	if err != nil {
		return Rules{}, err
	}
	return Rules{Password: dom.Password, Lockout: dom.Lockout, Expired: errConsoleExpired, Limits: c.limits}, nil
}

// Find reads the console user whose user name is username.
func (c ConsoleUsers) Find(ctx context.Context, username string) (identity.ConsoleUser, error) {
	username, err := identity.NormalizeUsername(username)
	if err != nil {
		return identity.ConsoleUser{}, errNoSuchName
	}
	u, err := c.st.ConsoleUserByUsername(ctx, c.deployment, username)
	if errors.Is(err, fault.ErrNotFound) {
		// The same reads as for a known user: an unknown one takes as long.
		_, _ = c.st.GetConsoleUser(ctx, "dep_none", "none")
	}
	return u, err
}

// User is u as the flow reads it; its token is a console token with its roles.
func (c ConsoleUsers) User(u identity.ConsoleUser) User {
	return User{ID: u.ID, DeploymentID: c.deployment, Version: u.Version, Status: u.Status, Credentials: u.Credentials,
		Claims: token.Claims{Subject: u.ID, System: token.Console, Deployment: c.deployment, Roles: identity.ConsoleRoleNames(u.Roles), Name: u.Username,
			Generation: u.TokenGeneration}}
}

// Rehash stores creds over u as read and left at version by the login's attempt, and
// notes it in the deployment's system log.
func (c ConsoleUsers) Rehash(ctx context.Context, u identity.ConsoleUser, version int64, creds identity.Credentials) error {
	cur := u
	cur.Version = version
	next := cur
	next.Credentials = creds
	_, err := c.st.UpdateConsoleUser(ctx, cur, next, rehashed("console:"+u.ID, "consoleUser.updated", u.Username))
	return err
}

// Record writes a console login attempt to the deployment's system log, attempts on names
// that no user has included.
func (c ConsoleUsers) Record(ctx context.Context, a Attempt) error {
	return c.st.AppendLog(ctx, c.deployment, logEntry("console", a))
}

// Reserve counts a login attempt on console user id before its password is checked.
func (c ConsoleUsers) Reserve(ctx context.Context, deploymentID, id string, r password.Reservation, now time.Time) (int, int64, error) {
	return c.st.ReserveLogin(ctx, deploymentID, false, id, r, now)
}

// LockForever sets the permanent lock flag of console user id.
func (c ConsoleUsers) LockForever(ctx context.Context, deploymentID, id string) error {
	return c.st.LockForever(ctx, deploymentID, false, id)
}

// ResetFailures clears the failures of console user id.
func (c ConsoleUsers) ResetFailures(ctx context.Context, deploymentID, id string) error {
	return c.st.ResetFailures(ctx, deploymentID, false, id)
}

// rehashed is the system log entry of a rehash: the user did it, by logging in. The actor is
// spelled as access.Principal.Actor spells a user of the system.
func rehashed(actor, action, who string) tenant.LogEntry {
	return tenant.LogEntry{Actor: actor, Action: action, Detail: who + ": password hash renewed with the current parameters at login"}
}
