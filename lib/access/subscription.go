package access

import (
	"net/http"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/tenant"
)

// What a deployment's subscription state (tenant.Status, set by the marketplace) lets through,
// decided here for every route from its rule, so that no handler repeats it:
//
//	              active   suspended    cancelled
//	signer        yes      no           no
//	console read  yes      yes          no
//	console write yes      no           no
//	portal read   yes      yes          yes
//	portal write  yes      no           no
//
// A route belongs to the signer when its rule is a signing rule (Signer), to the portal when
// it finds its deployment in the path (PathTenant: the portal's routes), and to the console
// otherwise. It reads when its method is GET or HEAD, or when its rule asks only for read
// rights (an Area rule at Read: a caller who may only read cannot change anything through it,
// such as the policies' dry run). Logins read (Rule.Login): they issue a session and change
// nothing of the deployment's but their own bookkeeping (attempts, the system log), so people
// can log in to a suspended deployment's console and look at it. A CI job's session can only
// sign (Rule.SigningLogin), so it is refused while the deployment cannot sign, with the reason,
// instead of being issued for nothing. Opening the console from the portal is a console login.
// The operator's routes are never refused: the operator looks after deployments in every state.
//
// The state is checked after the caller is identified and found to be of the deployment and
// allowed by the rule, so another tenant's caller still gets the answer for a deployment that
// does not exist, and an unidentified caller learns nothing from a route that needs a token.
// Only the console's public routes (its logins) answer anyone the IP allowlist admits with the
// state, as every console route did before for any address.

// part is the part of the service a route belongs to, for the subscription state.
type part int

const (
	// partOfRule: the part the rule's tenancy and kind say (partFor).
	partOfRule part = iota
	partPortal
	partConsole
	partSigner
)

// Login marks r's route as a login to the console: a password, an identity provider's answer,
// a portal user opening the console. It changes nothing of the deployment's whatever its
// method, and works wherever the console can be read: while the subscription is active or
// suspended.
func (r Rule) Login() Rule {
	r.part, r.reads = partConsole, true
	return r
}

// SigningLogin marks r's route as a login whose session can only sign (a CI job's): it works
// only while the deployment signs.
func (r Rule) SigningLogin() Rule {
	r.part, r.reads = partSigner, true
	return r
}

// partFor is the part of the service rule's route belongs to.
func (r Rule) partFor() part {
	switch {
	case r.part != partOfRule:
		return r.part
	case r.signing:
		return partSigner
	case r.Tenancy == PathTenant:
		return partPortal
	}
	return partConsole
}

// readsWith reports whether a request of method to r's route changes nothing.
func (r Rule) readsWith(method string) bool {
	return r.reads || method == http.MethodGet || method == http.MethodHead
}

// inState refuses a request of method to rule's route when deployment d's subscription state
// closes that part of the service (the table above).
func inState(rule Rule, method string, d tenant.Deployment) error {
	if d.Status == tenant.StatusActive {
		return nil
	}
	p, reads := rule.partFor(), rule.readsWith(method)
	switch {
	case p == partPortal && reads:
		return nil
	case p == partConsole && reads && d.Status == tenant.StatusSuspended:
		return nil
	}
	return inactive(p, d.Status)
}

// ConsoleChange is what the guard answers a change to deployment d's console: nil while its
// subscription is active, else the refusal. A route that reads (a login) and must change
// something on its own, such as the first login of a person an identity provider vouches for,
// which makes their console user, asks it before the change.
func ConsoleChange(d tenant.Deployment) error {
	return inState(Rule{part: partConsole}, http.MethodPost, d)
}

// inactive is the refusal of part p of a deployment whose subscription is in state s: what
// is closed, until when, and who can change that.
func inactive(p part, s tenant.Status) error {
	if s == tenant.StatusSuspended {
		switch p {
		case partSigner:
			return fault.Newf(fault.ErrSubscriptionInactive, "This deployment's subscription is suspended; signing resumes when the marketplace reinstates it. A portal Admin can settle it in the marketplace.")
		case partConsole:
			return fault.Newf(fault.ErrSubscriptionInactive, "This deployment's subscription is suspended, so its console is read-only; changes can be made again when the marketplace reinstates it. A portal Admin can settle it in the marketplace.")
		default:
			return fault.Newf(fault.ErrSubscriptionInactive, "This deployment's subscription is suspended, so its settings and portal users cannot be changed until the marketplace reinstates it. A portal Admin can settle it in the marketplace.")
		}
	}
	if p == partPortal {
		return fault.Newf(fault.ErrSubscriptionInactive, "This deployment's subscription is %s, so the deployment cannot be changed; the portal shows it read-only.", fault.Clip(string(s), 20))
	}
	return fault.Newf(fault.ErrSubscriptionInactive, "This deployment's subscription is %s, so its console and signer are closed; its data is kept. A portal Admin can see the subscription's state in the portal.", fault.Clip(string(s), 20))
}
