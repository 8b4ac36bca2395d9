package login

import (
	"context"
	"net/netip"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/ratelimit"
	"github.com/opensignum/signum/lib/tenant"
)

// Outcomes of a login attempt, the last part of its system log action
// (login.<system>.<outcome>).
const (
	Succeeded = "succeeded"
	Failed    = "failed"
	// Refused is a login the rate limits turned away before anything was checked.
	Refused = "refused"
)

// Attempt is what the deployment's system log records of one login attempt. It never holds
// the password.
type Attempt struct {
	// Name is the name the attempt tried, as sent.
	Name string
	// User is the user the name found; nil when no user has it.
	User *User
	// Outcome is Succeeded, Failed or Refused; Reason says why it failed or was refused,
	// for the deployment's administrators (the caller is told only ErrFailed).
	Outcome string
	Reason  string
	From    netip.Addr
	At      time.Time
}

// Reasons of failed attempts, as the system log says them.
const (
	reasonUnknown    = "unknown user"
	reasonNoPassword = "no password (a certificate user)"
	reasonDisabled   = "disabled"
	reasonLocked     = "locked after too many failed attempts"
	reasonRaced      = "locked or disabled by the time the attempt was counted"
	reasonWrong      = "wrong password"
	reasonExpired    = "password expired"
)

// reasonRefused is why Admits refused an attempt on acc.
func reasonRefused(acc Account, locked bool) string {
	switch {
	case !acc.Exists:
		return reasonUnknown
	case acc.PasswordHash == "":
		return reasonNoPassword
	case acc.Status != identity.StatusActive:
		return reasonDisabled
	case locked:
		return reasonLocked
	}
	return reasonRaced
}

// maxTried is the longest name tried, in characters, that the log keeps.
const maxTried = 64

// tried is a name as tried, fit for the log: valid UTF-8 without control characters, trimmed,
// at most maxTried characters (cut ones marked).
func tried(name string) string {
	name = strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(name, "\uFFFD")))
	if name == "" {
		return "(empty)"
	}
	if utf8.RuneCountInString(name) > maxTried {
		name = string([]rune(name)[:maxTried]) + "…"
	}
	return name
}

// logEntry is the system log entry of attempt a on system ("console", "portal"). A known user
// is the actor, spelled as access.Principal.Actor spells it, and the object is their login
// name; for a name no user has, the actor is the name tried, marked "unknown:".
func logEntry(system string, a Attempt) tenant.LogEntry {
	e := tenant.LogEntry{At: a.At, Action: "login." + system + "." + a.Outcome, Section: tenant.SectionLogin, Detail: a.Reason}
	if a.From.IsValid() {
		e.SourceIP = a.From.Unmap().String()
	}
	if a.User != nil {
		e.Actor, e.Object = system+":"+a.User.ID, a.User.Claims.Name
	} else {
		n := tried(a.Name)
		e.Actor, e.Object = "unknown:"+n, n
	}
	return e
}

// recordRefusal writes the refusal of a rate-limited login, once per window: a flood of
// refused attempts would otherwise grow the log as fast as it is sent. The rate limiter's own
// counters decide: a refusal is written only when it is the first, in the limits' windows, of
// its account (the name tried) and of its source address on this system, each counted under
// a limit of one. An address cycling through names, or many addresses on one name, write one
// entry a window. Nothing here changes the 429: a refusal grants nothing, so its record is
// written when it can be and dropped when the table refuses it.
func recordRefusal[U any](ctx context.Context, users Users[U], l Limits, now time.Time, name string, from netip.Addr, refusal error) {
	account := users.AccountKey(name)
	// The account key of no name is the system's own (and, for the console, the
	// deployment's): the scope of the address's count.
	scope := users.AccountKey("")
	if err := ratelimit.Check(ctx, users, now,
		ratelimit.Take{Key: ratelimit.Key("loginlog", account), N: 1, Limit: ratelimit.Limit{N: 1, Per: l.PerAccount.Per}, What: "refusal records of this account"},
		ratelimit.Take{Key: ratelimit.Key("loginlog", scope, addressKey(from)), N: 1, Limit: ratelimit.Limit{N: 1, Per: l.PerAddress.Per}, What: "refusal records of this address"},
	); err != nil {
		return
	}
	a := Attempt{Name: name, Outcome: Refused, From: from, At: now, Reason: "rate limited"}
	if d, ok := fault.DetailOf(refusal); ok {
		a.Reason = "rate limited: " + d
	}
	if u, err := users.Find(ctx, name); err == nil {
		who := users.User(u)
		a.User = &who
	}
	_ = users.Record(ctx, a)
}
