// Package identity holds the service's two user systems. Portal users manage a deployment
// (roles Admin, User, Viewer); console users administer signing and sign inside it. The two
// are separate lists: a person can be in one and not the other. The Signum Administrator flag
// is set only by the operator side (the first user of a new deployment gets it); no customer
// API can grant or revoke it.
package identity

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/mail"
	"strings"
	"time"
	"unicode"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/password"
	"github.com/opensignum/signum/lib/tenant"
)

// Kind is which of the two user systems a user belongs to. Every user id carries it, so an
// id alone says which list to find the user in.
type Kind string

// The user systems.
const (
	KindPortal  Kind = "portal"
	KindConsole Kind = "console"
)

// The id prefixes of the two kinds of user; nothing outside this file spells them.
const (
	portalIDPrefix  = "pu_"
	consoleIDPrefix = "cu_"
)

// NewPortalUserID returns a new portal user id.
func NewPortalUserID() string { return tenant.NewID(portalIDPrefix) }

// NewConsoleUserID returns a new console user id.
func NewConsoleUserID() string { return tenant.NewID(consoleIDPrefix) }

// KindOf returns the kind of user id belongs to, or "" when id is not a user id.
func KindOf(id string) Kind {
	switch {
	case strings.HasPrefix(id, portalIDPrefix):
		return KindPortal
	case strings.HasPrefix(id, consoleIDPrefix):
		return KindConsole
	}
	return ""
}

// PortalRole is a portal user's product role.
type PortalRole string

// Portal product roles.
const (
	RoleAdmin  PortalRole = "Admin"
	RoleUser   PortalRole = "User"
	RoleViewer PortalRole = "Viewer"
)

// Valid reports whether r is a portal role.
func (r PortalRole) Valid() bool { return r == RoleAdmin || r == RoleUser || r == RoleViewer }

// ConsoleRole is a built-in role of a console user.
type ConsoleRole string

// Built-in console roles. Custom roles (console RBAC) come with the roles API.
const (
	// ConsoleAdmin administers the console: users, certificates, policies.
	ConsoleAdmin ConsoleRole = "console-admin"
	// ConsoleViewer reads everything in the console and changes nothing.
	ConsoleViewer ConsoleRole = "console-viewer"
	// Signer may sign where a policy lets it; it has no console access.
	Signer ConsoleRole = "signer"
	// SignumAdministrator is the special role that alone creates domains, roles and
	// certificate groups. Only the operator side grants it.
	SignumAdministrator ConsoleRole = "signum-administrator"
)

// AssignableConsoleRoles are the roles a console admin may give a console user. The Signum
// Administrator role is not among them.
var AssignableConsoleRoles = []ConsoleRole{ConsoleAdmin, ConsoleViewer, Signer}

// Status of a user.
type Status string

// User states: a disabled user cannot log in.
const (
	StatusActive   Status = "active"
	StatusDisabled Status = "disabled"
)

// Credentials are a user's password state and lockout counters.
type Credentials struct {
	PasswordHash  string
	PasswordSetAt time.Time
	// Failures are the login attempts counted against the user since its last successful
	// login; every attempt is counted before its password is checked (password.Reservation).
	Failures int
	// FailedAt is when the last of them was counted.
	FailedAt      time.Time
	LockedUntil   time.Time
	LockedForever bool
}

// LockState is the state the lockout policy judges (password.Lockout.Locked).
func (c Credentials) LockState() password.State {
	return password.State{Failures: c.Failures, FailedAt: c.FailedAt, LockedUntil: c.LockedUntil, Permanent: c.LockedForever}
}

// ErrNoAttempt is a login attempt the store did not count, because when it tried the user
// was gone, disabled or locked: the attempt is refused without checking the password.
var ErrNoAttempt = errors.New("identity: login attempt not admitted: the user is gone, disabled or locked")

// PortalUser is a user of the vendor portal, member of one deployment.
type PortalUser struct {
	ID           string
	DeploymentID string
	Email        string
	Name         string
	Role         PortalRole
	Status       Status
	// SignumAdmin makes the user the deployment's Signum Administrator in the console.
	SignumAdmin bool
	Credentials
	// TokenGeneration is carried by the user's tokens, and a token of another generation
	// is refused: changes that must end the user's sessions (a new password, a disable or
	// a re-enable, a change of role) advance it, in the same write as the change.
	TokenGeneration int64
	Version         int64
	CreatedAt       time.Time
}

// ConsoleUser is a user of a deployment's Local users domain.
type ConsoleUser struct {
	ID           string
	DeploymentID string
	Username     string
	Name         string
	Email        string
	Roles        []ConsoleRole
	// Role is the id of the custom role the user holds (lib/roles), "" for none: at most one,
	// beside the built-in Roles.
	Role string
	// DomainID is the login domain the user belongs to: "" for the Local users domain (and
	// its certificate users), else the id of an OIDC or SAML domain (lib/domains), whose users
	// log in at the domain's identity provider as <IdP user name>@<alias> and have no password.
	DomainID string
	// RoleSource says where the user's roles came from; only roles from IdP groups are
	// replaced at the user's next login.
	RoleSource RoleSource
	// IdPSubject is the identity at the domain's identity provider the user is bound to
	// (IdPSubject(issuer, subject)), "" for a user of the Local users domain and for a user a
	// console admin made in an OIDC or SAML domain before its first login, which binds it. A
	// login finds the user by <IdP user name>@<alias>, a name the IdP may let people change;
	// the subject is what keeps someone who renames themselves from logging in as another.
	IdPSubject string
	Status     Status
	Credentials
	// TokenGeneration is as for PortalUser.
	TokenGeneration int64
	Version         int64
	CreatedAt       time.Time
}

// IdPSubject is the identity a console user of an OIDC or SAML domain is bound to: the IdP's
// issuer (an OIDC issuer URL, a SAML entity ID) and its subject there (the ID token's "sub",
// the assertion's persistent NameID), which the IdP never gives another person. The two are
// joined by "|": a domain accepts one issuer only, so the issuer part is fixed and the rest is
// the subject, even if either holds a "|". It is "" when either is empty.
func IdPSubject(issuer, subject string) string {
	if issuer == "" || subject == "" {
		return ""
	}
	return issuer + "|" + subject
}

// RoleSource is where a console user's roles came from.
type RoleSource string

// Role sources. A direct role (the zero value: every user a console admin creates or whose
// roles an admin changes) beats IdP groups, as the domains' group mappings say
// (domains.Domain.RoleFor); a role from groups is what an OIDC or SAML domain's mappings gave
// the user at its last login, and is worked out again at every login.
const (
	RoleDirect     RoleSource = ""
	RoleFromGroups RoleSource = "idp-groups"
)

// Invite is a single-use deployment link: whoever registers with its token becomes a portal
// user of the deployment with its role. Only the token's hash is stored.
type Invite struct {
	DeploymentID string
	Email        string // "" means any address
	Role         PortalRole
	SignumAdmin  bool
	ExpiresAt    time.Time
	CreatedBy    string
	UsedAt       time.Time
	CreatedAt    time.Time
}

// LocalDomain is the settings of a deployment's Local users domain.
type LocalDomain struct {
	DeploymentID string
	Password     password.Policy
	Lockout      password.Lockout
	Version      int64
	UpdatedAt    time.Time
}

// PortalPasswordPolicy is the password policy of every portal user. Portal users have no users
// domain to configure, unlike console users (LocalDomain): they all have the defaults.
func PortalPasswordPolicy() password.Policy { return password.DefaultPolicy() }

// PortalLockout is the lockout policy of every portal user: the default, as for
// PortalPasswordPolicy.
func PortalLockout() password.Lockout { return password.DefaultLockout() }

// SetPassword checks pw against policy (and the user's identity, who) and returns credentials
// holding its hash, with no failures and no lock.
func SetPassword(pw, who string, policy password.Policy, now time.Time) (Credentials, error) {
	if err := policy.Check(pw, who); err != nil {
		return Credentials{}, err
	}
	h, err := password.Hash(pw, password.DefaultParams)
	if err != nil {
		return Credentials{}, err
	}
	return Credentials{PasswordHash: h, PasswordSetAt: now}, nil
}

// Unlock lifts a lockout: no failures counted, no lock.
func (c *Credentials) Unlock() {
	c.Failures, c.FailedAt, c.LockedUntil, c.LockedForever = 0, time.Time{}, time.Time{}, false
}

// StatusField parses s, the status a client asks a user to have: active or disabled. Anything
// else adds field to bad with the reason "must be active or disabled" and is "", false.
func StatusField(s, field string, bad *fault.Fields) (Status, bool) {
	st := Status(s)
	if st != StatusActive && st != StatusDisabled {
		bad.Add(field, "must be active or disabled")
		return "", false
	}
	return st, true
}

// DefaultLocalDomain is what provisioning creates.
func DefaultLocalDomain(deploymentID string) LocalDomain {
	return LocalDomain{DeploymentID: deploymentID, Password: password.DefaultPolicy(), Lockout: password.DefaultLockout()}
}

// NormalizeEmail returns the canonical (lower-case) address or an ErrInvalid error.
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || len(s) > 254 || !strings.Contains(s[strings.LastIndexByte(s, '@'):], ".") {
		return "", fault.Newf(fault.ErrInvalid, "%q is not an e-mail address like name@example.com", fault.Clip(s, 80))
	}
	return strings.ToLower(s), nil
}

// NormalizeUsername returns the canonical (lower-case) user name: 3 to 64 of letters, digits,
// '.', '_', '-' and '@'.
func NormalizeUsername(s string) (string, error) {
	u := strings.ToLower(strings.TrimSpace(s))
	if len(u) < 3 || len(u) > 64 || strings.IndexFunc(u, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("._-@", r))
	}) >= 0 {
		return "", fault.Newf(fault.ErrInvalid, "a user name is 3 to 64 letters, digits, '.', '_', '-' or '@'")
	}
	return u, nil
}

// maxNameLen is the most characters a display name has.
const maxNameLen = 100

// Display names (of users, deployments, certificates, client certificates) and short free
// texts such as a revocation's reason are trimmed, printable and at most 100 characters. Some
// fields may be left empty and some may not, so there are two rules, OptionalName and
// RequiredName, each with one wording.

// OptionalName returns s trimmed: a name that may be empty. If it is longer than 100
// characters or not printable, bad gets field with the reason "is at most 100 printable
// characters", and the result is "", false.
func OptionalName(s, field string, bad *fault.Fields) (string, bool) {
	n, ok := cleanName(s)
	if !ok {
		bad.Add(field, "is at most %d printable characters", maxNameLen)
		return "", false
	}
	return n, true
}

// RequiredName is OptionalName for a name that must not be empty: the reason is "is 1 to
// 100 printable characters".
func RequiredName(s, field string, bad *fault.Fields) (string, bool) {
	n, ok := cleanName(s)
	if !ok || n == "" {
		bad.Add(field, "is 1 to %d printable characters", maxNameLen)
		return "", false
	}
	return n, true
}

// cleanName returns s trimmed, and whether it is printable and at most maxNameLen characters.
func cleanName(s string) (string, bool) {
	n := strings.TrimSpace(s)
	return n, len([]rune(n)) <= maxNameLen && strings.IndexFunc(n, func(r rune) bool { return !unicode.IsPrint(r) }) < 0
}

// InviteTTL is how long a deployment link stays valid.
const InviteTTL = 7 * 24 * time.Hour

// NewInviteToken returns a new invite token (256 random bits, URL-safe) and the hash under
// which it is stored. The token itself is shown once, to whoever creates the invite.
func NewInviteToken() (tok, hash string) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	tok = "inv_" + base64.RawURLEncoding.EncodeToString(b[:])
	return tok, InviteHash(tok)
}

// InviteHash is the stored form of an invite token. A fast hash is right here: the token
// has 256 random bits, so there is nothing to brute-force.
func InviteHash(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// ConsoleRoleNames are rs as strings, the form tokens and the API carry them in.
func ConsoleRoleNames(rs []ConsoleRole) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r)
	}
	return out
}

// ConsoleRolesFor maps a portal user to the console roles they open the console with: Admin
// administers, Viewer reads, User signs; the Signum Administrator flag adds that role.
func ConsoleRolesFor(u PortalUser) []ConsoleRole {
	var roles []ConsoleRole
	switch u.Role {
	case RoleAdmin:
		roles = []ConsoleRole{ConsoleAdmin, Signer}
	case RoleViewer:
		roles = []ConsoleRole{ConsoleViewer}
	case RoleUser:
		roles = []ConsoleRole{Signer}
	}
	if u.SignumAdmin {
		roles = append(roles, SignumAdministrator)
	}
	return roles
}
