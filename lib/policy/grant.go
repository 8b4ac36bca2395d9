package policy

// Grants: a count of signatures in a time window. An allow policy may carry one (Policy.Grant:
// what it allows is bounded), and an administrator may give one to a user for a certificate
// without any policy (a UserGrant). The engine stays pure: it says which grant a decision
// rests on and whether the grant's window is open at the request's instant; the count itself
// is kept in the table and taken by the signer, exactly, under concurrency.

import (
	"strconv"
	"time"

	"github.com/opensignum/signum/lib/fault"
)

// Grant bounds what it allows to MaxSignatures signatures (one per digest) from From
// (inclusive) to To (exclusive). A zero From or To leaves that side of the window open. The
// window is fixed: a policy that should allow N signatures a month gets a new window each
// month, and a new window (another From) starts a new count.
type Grant struct {
	MaxSignatures int
	From, To      time.Time
}

// MaxGrantSignatures is the most signatures one grant may allow.
const MaxGrantSignatures = 100_000_000

// Open reports whether at lies in g's window.
func (g *Grant) Open(at time.Time) bool {
	return (g.From.IsZero() || !at.Before(g.From)) && (g.To.IsZero() || at.Before(g.To))
}

// Window describes g's window for people ("from … to …", "any time").
func (g *Grant) Window() string {
	switch {
	case g.From.IsZero() && g.To.IsZero():
		return "any time"
	case g.From.IsZero():
		return "until " + g.To.UTC().Format(time.RFC3339)
	case g.To.IsZero():
		return "from " + g.From.UTC().Format(time.RFC3339)
	}
	return "from " + g.From.UTC().Format(time.RFC3339) + " to " + g.To.UTC().Format(time.RFC3339)
}

// Check adds what is wrong with g to f, under field ("grant", "maxSignatures", ...): prefix is
// put before each of its own field names ("grant." for a policy's, "" for a user's grant).
func (g *Grant) Check(f *fault.Fields, prefix string) {
	if g.MaxSignatures < 1 || g.MaxSignatures > MaxGrantSignatures {
		f.Add(prefix+"maxSignatures", "must be between 1 and %d", MaxGrantSignatures)
	}
	if !g.From.IsZero() && !g.To.IsZero() && !g.To.After(g.From) {
		f.Add(prefix+"to", "must be after from")
	}
}

// checkGrant is Validate's check of p's grant: only an allow policy carries one.
func checkGrant(f *fault.Fields, p *Policy) {
	if p.Grant == nil {
		return
	}
	if p.Action != Allow {
		f.Add("grant", "only an allow policy can carry a grant")
	}
	p.Grant.Check(f, "grant.")
}

// UserGrant is a one-off grant: it lets UserID sign with CertificateID up to MaxSignatures
// times in its window, even when no policy allows it. It stands where the owner exception
// stands: only when no enabled policy matches the request, so that a matching Deny still
// refuses (and a matching Allow decides with its own terms).
type UserGrant struct {
	ID            string
	UserID        string
	CertificateID string
	Grant
	// Used is the count taken so far, as last read (the table's item is the truth).
	Used      int
	CreatedBy string
	CreatedAt time.Time
	// RevokedAt, when set, is when an administrator revoked it: it allows nothing since.
	RevokedAt time.Time
	Version   int64
}

// Validate checks a new user grant; errors are fault.Fields.
func (g *UserGrant) Validate() error {
	var f fault.Fields
	if g.UserID == "" {
		f.Add("userId", "is required")
	} else if len(g.UserID) > MaxIDLen {
		f.Add("userId", "is longer than %d bytes", MaxIDLen)
	}
	if g.CertificateID == "" {
		f.Add("certificateId", "is required")
	} else if len(g.CertificateID) > MaxIDLen {
		f.Add("certificateId", "is longer than %d bytes", MaxIDLen)
	}
	g.Grant.Check(&f, "")
	return f.Err()
}

// Kinds of denial a grant makes (Decision.Code).
const (
	CodeGrantClosed  = "grant-window-closed"
	CodeGrantRevoked = "grant-revoked"
	CodeGrantUsedUp  = "grant-used-up"
)

// WithGrants is d, the decision on req, with the grants applied: an allowing policy whose
// grant's window is not open at req.At denies, naming the grant; a request no policy matched
// (denied for want of a policy, the owner without the signing role included) is allowed by a
// user grant of req's user for req's certificate whose window is open. Of several, the one
// whose window ends first is used (then the lowest id), so that none is left to lapse unused
// when another would do. A matching grant that is revoked or outside its window denies,
// naming it. The count is not the engine's: the signer takes it (Decision.Grant says what
// from).
func WithGrants(d Decision, grants []UserGrant, req Request) Decision {
	if d.Allowed && d.Grant != nil && !d.Grant.Open(req.At) {
		name := "the grant of policy " + strconv.Quote(d.PolicyID)
		return Decision{PolicyID: d.PolicyID, Code: CodeGrantClosed, Grant: d.Grant,
			Reason:       name + " is not open now: it allows signing " + d.Grant.Window(),
			CallerReason: "the grant of policy " + d.PolicyID + " is not open now: it allows signing " + d.Grant.Window()}
	}
	if d.Allowed || (d.Code != CodeNoMatch && d.Code != CodeOwnerNoRole) {
		return d
	}
	var open, closed, revoked *UserGrant
	for i := range grants {
		g := &grants[i]
		if g.UserID != req.UserID || g.CertificateID != req.Certificate.ID || req.UserID == "" {
			continue
		}
		switch {
		case !g.RevokedAt.IsZero():
			revoked = g
		case g.Open(req.At):
			if open == nil || endsFirst(g, open) {
				open = g
			}
		default:
			closed = g
		}
	}
	switch {
	case open != nil:
		return Decision{Allowed: true, PolicyID: open.ID, Grant: &open.Grant, CallerReason: "a grant allows this request",
			Reason: sentence("no enabled policy matches, and grant ", open.ID, " allows user ", req.UserID,
				" to sign with certificate "+strconv.Quote(req.Certificate.ID)+" "+open.Window())}
	case closed != nil:
		return Decision{PolicyID: closed.ID, Code: CodeGrantClosed, Grant: &closed.Grant,
			Reason:       sentence("grant ", closed.ID, " is not open now: it allows signing "+closed.Window(), "", ""),
			CallerReason: "grant " + closed.ID + " is not open now: it allows signing " + closed.Window()}
	case revoked != nil:
		return Decision{PolicyID: revoked.ID, Code: CodeGrantRevoked,
			Reason:       sentence("grant ", revoked.ID, " was revoked", "", ""),
			CallerReason: "grant " + revoked.ID + " was revoked"}
	}
	return d
}

// endsFirst reports whether a's window ends before b's (an open end last), then by id.
func endsFirst(a, b *UserGrant) bool {
	switch {
	case a.To.Equal(b.To):
		return a.ID < b.ID
	case a.To.IsZero():
		return false
	case b.To.IsZero():
		return true
	}
	return a.To.Before(b.To)
}
