package login

import (
	"context"
	"errors"
	"time"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/password"
	"github.com/opensignum/signum/lib/token"
)

// Users is one of the two user systems as a password login sees it: everything that differs
// between a portal and a console login. PortalUsers and ConsoleUsers are the two; the flow
// itself is Password.
type Users[U any] interface {
	// Recorder counts failures on, and clears them from, the system's users.
	Recorder
	// Rules are the policies the system's logins are checked under.
	Rules(ctx context.Context) (Rules, error)
	// Find reads the user who logs in as name. No such user is a fault.ErrNotFound error,
	// returned after the same reads a known user costs; a name that no user can have (not an
	// e-mail address, not a user name) is one too, and costs no read.
	Find(ctx context.Context, name string) (U, error)
	// User is what the flow reads of u.
	User(u U) User
	// Rehash stores creds, the same password hashed anew, over u as read: one versioned write,
	// refused if the user changed since it was read.
	Rehash(ctx context.Context, u U, creds identity.Credentials) error
}

// Rules are the policies a user system's logins are checked under.
type Rules struct {
	// Password is the password policy; at login only its maximum age applies.
	Password password.Policy
	Lockout  password.Lockout
	// Expired is the answer to the right password past Password's maximum age.
	Expired error
}

// User is a user of either system, as the flow reads it.
type User struct {
	ID           string
	DeploymentID string
	Status       identity.Status
	identity.Credentials
	// Claims are what the token the user gets at login says (the issuer sets the times).
	Claims token.Claims
}

// Issuer issues tokens (token.Issuer).
type Issuer interface {
	Issue(ctx context.Context, c token.Claims) (string, token.Claims, error)
}

// Password logs in the user of users who logs in as name with password pw, at now, and
// returns a token issued by iss: look the user up, check the lockout and the password, count
// a failure or clear the failures, check the password's age, and issue the token. Every
// failed login is ErrFailed, whatever the reason (see Attempt); a right password past its
// maximum age is the system's Rules.Expired.
//
// A hash made with parameters other than password.DefaultParams is replaced at a successful
// login, while the plain password is at hand (password.NeedsRehash). That is best effort: it
// never fails the login, and a hash it could not replace still verifies, so the next login
// tries again.
func Password[U any](ctx context.Context, users Users[U], iss Issuer, now time.Time, name, pw string) (string, token.Claims, error) {
	rules, err := users.Rules(ctx)
	if err != nil {
		return "", token.Claims{}, err
	}
	var (
		u   U
		who User
		acc Account
	)
	switch found, err := users.Find(ctx, name); {
	case err == nil:
		u, who = found, users.User(found)
		acc = Account{Exists: true, Status: who.Status, Credentials: who.Credentials}
	case !errors.Is(err, fault.ErrNotFound):
		return "", token.Claims{}, err
	}
	res := Attempt(acc, pw, rules.Lockout, now)
	expired := res.OK() && rules.Password.Expired(who.PasswordSetAt, now)
	if res.OK() && !expired && password.NeedsRehash(who.PasswordHash, password.DefaultParams) {
		// Before record: the rehash is conditional on the version just read, which
		// clearing the failures moves on.
		rehash(ctx, users, u, who.Credentials, pw)
	}
	if err := record(ctx, users, res, who.DeploymentID, who.ID, rules.Lockout, now); err != nil && !errors.Is(err, fault.ErrNotFound) {
		return "", token.Claims{}, err
	}
	if !res.OK() {
		return "", token.Claims{}, ErrFailed
	}
	if expired {
		return "", token.Claims{}, rules.Expired
	}
	return iss.Issue(ctx, who.Claims)
}

// rehash stores pw, hashed with the current parameters, over u, whose credentials as read are
// creds. Errors are dropped: the old hash stays, and still verifies.
func rehash[U any](ctx context.Context, users Users[U], u U, creds identity.Credentials, pw string) {
	h, err := password.Hash(pw, password.DefaultParams)
	if err != nil {
		return
	}
	creds.PasswordHash = h // PasswordSetAt stays: the password is the same, and so is its age
	_ = users.Rehash(ctx, u, creds)
}
