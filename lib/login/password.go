package login

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/password"
	"github.com/opensignum/signum/lib/ratelimit"
	"github.com/opensignum/signum/lib/token"
)

// Users is one of the two user systems as a password login sees it: everything that differs
// between a portal and a console login. PortalUsers and ConsoleUsers are the two; the flow
// itself is Password.
type Users[U any] interface {
	// Attempts counts attempts on, and clears failures from, the system's users.
	Attempts
	// Rules are the policies the system's logins are checked under.
	Rules(ctx context.Context) (Rules, error)
	// Find reads the user who logs in as name. No such user is a fault.ErrNotFound error,
	// returned after the same reads a known user costs; a name that no user can have (not an
	// e-mail address, not a user name) is one too, and costs no read.
	Find(ctx context.Context, name string) (U, error)
	// User is what the flow reads of u.
	User(u U) User
	// AccountKey is the rate-limit key of the account name logs in to, whether it exists or
	// not (the same name spelled another way is the same account).
	AccountKey(name string) string
	// Counter counts rate-limited logins (store.Store).
	ratelimit.Counter
	// Record writes an attempt to the system log of the user's deployment. An error fails
	// the login (see Password).
	Record(ctx context.Context, a Attempt) error
	// Rehash stores creds, the same password hashed anew (and no failures), over u as read
	// and then changed only by the login's own attempt, which left it at version: one
	// versioned write, refused if the user changed since.
	Rehash(ctx context.Context, u U, version int64, creds identity.Credentials) error
}

// Rules are the policies a user system's logins are checked under.
type Rules struct {
	// Password is the password policy; at login only its maximum age applies.
	Password password.Policy
	Lockout  password.Lockout
	// Expired is the answer to the right password past Password's maximum age.
	Expired error
	// Limits are the rate limits of the system's logins.
	Limits Limits
}

// Limits are the rate limits of password logins (function.Limits): how many may be tried on
// one account, whether it exists or not, and how many from one source address. The zero
// Limits limit nothing.
type Limits struct {
	PerAccount, PerAddress ratelimit.Limit
}

// limit takes one login of the account key account from address from under l, before
// anything else is looked at: a refusal is a 429 (fault.ErrTooManyRequests) with
// Retry-After, the same for accounts that exist and accounts that do not, and no password is
// checked. An IPv6 address counts as its /64, the least a client is given.
func limit(ctx context.Context, c ratelimit.Counter, l Limits, now time.Time, account string, from netip.Addr) error {
	return ratelimit.Check(ctx, c, now,
		ratelimit.Take{Key: account, N: 1, Limit: l.PerAccount, What: "logins to this account"},
		ratelimit.Take{Key: ratelimit.Key("login", "address", addressKey(from)), N: 1, Limit: l.PerAddress, What: "logins from your address"})
}

// addressKey is what a source address counts as: itself, or an IPv6 address's /64.
func addressKey(from netip.Addr) string {
	if from.Is6() && !from.Is4In6() {
		return netip.PrefixFrom(from, 64).Masked().String()
	}
	return from.String()
}

// User is a user of either system, as the flow reads it.
type User struct {
	ID           string
	DeploymentID string
	Version      int64
	Status       identity.Status
	identity.Credentials
	// Claims are what the token the user gets at login says (the issuer sets the times).
	Claims token.Claims
}

// Issuer issues tokens (token.Issuer).
type Issuer interface {
	Issue(ctx context.Context, c token.Claims) (string, token.Claims, error)
}

// Password logs in the user of users who logs in as name with password pw, from address
// from, at now, and returns a token issued by iss: take the login from the rate limits of
// the account and the address (Rules.Limits; a refusal is a 429), look the user up, count the attempt as a failure (one
// conditional write that the lockout policy and the user's state decide: Attempts.Reserve),
// check the password, clear the failures if it is right, check its age, and issue the
// token. Counting before checking is what keeps a burst of parallel guesses within the
// lockout policy: each guess must win a place under the limit before its password is looked
// at. Every failed login is ErrFailed, whatever the reason, after one hash and one write (an
// unknown, disabled or locked user's attempt makes the same write, to an item that does not
// exist); a right password past its maximum age is the system's Rules.Expired.
//
// Every attempt is recorded in the deployment's system log (Users.Record) with its outcome,
// its reason and its source address, and fails closed: a success whose record cannot be
// written issues no token, and a failure whose record cannot be written answers the write's
// error. Rate-limited refusals are recorded once per account and address and window
// (recordRefusal), and never change the 429.
//
// A hash made with parameters other than password.DefaultParams is replaced at a successful
// login, while the plain password is at hand (password.NeedsRehash). That is best effort: it
// never fails the login, and a hash it could not replace still verifies, so the next login
// tries again.
func Password[U any](ctx context.Context, users Users[U], iss Issuer, now time.Time, name, pw string, from netip.Addr) (string, token.Claims, error) {
	rules, err := users.Rules(ctx)
	if err != nil {
		return "", token.Claims{}, err
	}
	if err := limit(ctx, users, rules.Limits, now, users.AccountKey(name), from); err != nil {
		if errors.Is(err, fault.ErrTooManyRequests) {
			recordRefusal(ctx, users, rules.Limits, now, name, from, err)
		}
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
	// fail records a failed attempt and answers answer (or the record's error).
	fail := func(reason string, answer error) (string, token.Claims, error) {
		a := Attempt{Name: name, Outcome: Failed, Reason: reason, From: from, At: now}
		if acc.Exists {
			a.User = &who
		}
		if err := users.Record(ctx, a); err != nil {
			return "", token.Claims{}, err
		}
		return "", token.Claims{}, answer
	}
	lock := rules.Lockout
	if !Admits(acc, lock, now) {
		_, _, _ = users.Reserve(ctx, "dep_none", "none", password.Reservation{}, now)
		password.VerifyDummy(pw)
		return fail(reasonRefused(acc, acc.Exists && lock.Locked(acc.LockState(), now)), ErrFailed)
	}
	failures, version, err := users.Reserve(ctx, who.DeploymentID, who.ID, lock.Reserve(acc.LockState(), now), now)
	if errors.Is(err, identity.ErrNoAttempt) {
		// Locked (or disabled) since it was read: parallel attempts used up the budget.
		password.VerifyDummy(pw)
		return fail(reasonRaced, ErrFailed)
	}
	if err != nil {
		return "", token.Claims{}, err
	}
	if ok, err := verify(who.PasswordHash, pw); err != nil || !ok {
		reason := fmt.Sprintf("%s (%d in a row)", reasonWrong, failures)
		if lock.Permanent(failures) {
			reason += "; locked until an administrator unlocks it"
			if err := users.LockForever(ctx, who.DeploymentID, who.ID); err != nil && !errors.Is(err, fault.ErrNotFound) {
				return "", token.Claims{}, err
			}
		}
		return fail(reason, ErrFailed)
	}
	expired := rules.Password.Expired(who.PasswordSetAt, now)
	// The rehash clears the failures too; it is tried only when nothing but this attempt
	// wrote the user since it was read.
	cleared := !expired && version == who.Version+1 && password.NeedsRehash(who.PasswordHash, password.DefaultParams) &&
		rehash(ctx, users, u, version, who.Credentials, pw)
	if !cleared {
		if err := users.ResetFailures(ctx, who.DeploymentID, who.ID); err != nil && !errors.Is(err, fault.ErrNotFound) {
			return "", token.Claims{}, err
		}
	}
	if expired {
		return fail(reasonExpired, rules.Expired)
	}
	tok, claims, err := iss.Issue(ctx, who.Claims)
	if err != nil {
		return "", token.Claims{}, err
	}
	// The token is issued but not yet given out: without its record, it never is.
	if err := users.Record(ctx, Attempt{Name: name, User: &who, Outcome: Succeeded, From: from, At: now}); err != nil {
		return "", token.Claims{}, err
	}
	return tok, claims, nil
}

// rehash stores pw, hashed with the current parameters, over u, whose credentials as read
// are creds and which the login's attempt left at version, and clears its failures. It
// reports whether that was stored; errors are dropped: the old hash stays, and still
// verifies.
func rehash[U any](ctx context.Context, users Users[U], u U, version int64, creds identity.Credentials, pw string) bool {
	h, err := password.Hash(pw, password.DefaultParams)
	if err != nil {
		return false
	}
	creds.PasswordHash = h // PasswordSetAt stays: the password is the same, and so is its age
	creds.Unlock()         // Admits saw no lock: this clears the failures, as ResetFailures would
	return users.Rehash(ctx, u, version, creds) == nil
}
