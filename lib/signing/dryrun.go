package signing

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/opensignum/signum/lib/certificates"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/policy"
	"github.com/opensignum/signum/lib/wire"
)

// decide is the policy decision on set for c's request from application app with cert at
// now. Sign, Certificates and DryRun all decide through it, so that a dry run answers what
// signing would.
func decide(set *policy.Set, c Caller, app wire.Context, cert certificates.Certificate, now time.Time) policy.Decision {
	return set.Evaluate(policy.Request{UserID: c.UserID, Roles: c.Roles, Process: app.Process, CommandLine: app.CommandLine, At: now,
		Certificate: cert.ForPolicy(now)})
}

// Trial is a signing request to decide without signing: who would ask, with which
// certificate, from which application, when.
type Trial struct {
	DeploymentID string
	// UserID is the user to decide for; its roles are read from the directory, unless Roles
	// gives them.
	UserID string
	// Roles, when not nil, are UserID's policy roles as its own request's guard read them (a
	// caller's dry run of its own request, POST /sign/evaluate): they are what its signing
	// request would be decided with, also for callers the directory cannot answer for as the
	// signer does (a CI job's session), and the directory is not read again.
	Roles         []string
	CertificateID string
	// App is the application the agent would report (Process and CommandLine count).
	App wire.Context
	// At is the instant to decide at; nil is now.
	At *time.Time
}

// TrialStore is what a dry run needs of the table (store.Store): the user's roles, the
// certificate and the policies, read afresh.
type TrialStore interface {
	identity.Directory
	policy.Lister
	GetCertificate(ctx context.Context, dep, id string) (certificates.Certificate, error)
	AllGrants(ctx context.Context, dep string) ([]policy.UserGrant, error)
}

// Verdict is a dry run's decision and the name of the policy that made it ("" when none did).
type Verdict struct {
	policy.Decision
	PolicyName string
	// Approvals is how many approvals the deciding policy holds an allowed request for (0:
	// signed at once); RequiresTimestamp says its signatures carry a time-stamping
	// authority's token or are withheld.
	Approvals         int
	RequiresTimestamp bool
}

// DryRun answers "would t be allowed, and by which policy?" the way Sign would decide it,
// without recording or signing anything; now is the clock. A user id that is no active user
// of the deployment is a field error on "userId" (when the directory is asked: t.Roles nil).
func DryRun(ctx context.Context, st TrialStore, now func() time.Time, t Trial) (Verdict, error) {
	dep := t.DeploymentID
	roles := t.Roles
	if roles == nil {
		stored, err := identity.ActiveRoles(ctx, st, dep, t.UserID)
		if err != nil {
			return Verdict{}, userIDError(err, t.UserID)
		}
		roles = policy.RolesFor(stored)
	}
	cert, err := st.GetCertificate(ctx, dep, t.CertificateID)
	if err != nil {
		return Verdict{}, err
	}
	at := now()
	if t.At != nil {
		at = *t.At
	}
	ps, err := policy.Load(ctx, st, dep)
	if err != nil {
		return Verdict{}, err
	}
	grants, err := st.AllGrants(ctx, dep)
	if err != nil {
		return Verdict{}, err
	}
	c := Caller{DeploymentID: dep, UserID: t.UserID, Roles: roles}
	set := policy.NewSet(ps)
	v := Verdict{Decision: withGrants(decide(set, c, t.App, cert, at), grants, c, cert, at)}
	if v.Allowed {
		if a := set.ApprovalOf(v.PolicyID); a != nil {
			v.Approvals = a.Required
		}
		v.RequiresTimestamp = set.RequiresTimestamp(v.PolicyID)
	}
	for _, p := range ps {
		if p.ID == v.PolicyID {
			v.PolicyName = p.Name
		}
	}
	return v, nil
}

// userIDError is the answer to a dry run for a user whose roles could not be read (err, from
// identity.ActiveRoles): the field userId names what is wrong with it.
func userIDError(err error, id string) error {
	switch {
	case errors.Is(err, identity.ErrNotUserID):
		return fault.Fields{{Name: "userId", Reason: "is not a user of this deployment"}}
	case errors.Is(err, identity.ErrInactive):
		return fault.Fields{{Name: "userId", Reason: fmt.Sprintf("%s is not an active user of this deployment", fault.Clip(id, 40))}}
	}
	return err
}
