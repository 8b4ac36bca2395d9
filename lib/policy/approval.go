package policy

import (
	"slices"
	"time"

	"github.com/opensignum/signum/lib/fault"
)

// Approval is what an allowing policy may require before it signs: M of a named set of
// console users (directly or by role) approve each request, within ExpiresAfter of it. The
// request is held until then (lib/signing's approvals); the policy still decides alone
// whether the requester may ask.
type Approval struct {
	// Required is M: how many different approvers must approve.
	Required int
	// Users and Roles name who may approve (roles as in Who: console roles, or portal
	// roles spelled with PortalRole). The requester never approves its own request.
	Users, Roles []string
	// ExpiresAfter is how long a request waits for its approvals, as a Go duration ("24h");
	// "" is DefaultApprovalExpiry.
	ExpiresAfter string
}

// Limits of an approval.
const (
	MaxApprovalsRequired = 10
	MinApprovalExpiry    = time.Minute
	MaxApprovalExpiry    = 30 * 24 * time.Hour
	// DefaultApprovalExpiry is how long a request waits when the policy does not say.
	DefaultApprovalExpiry = 24 * time.Hour
)

// Expiry is how long a request held for approval waits (DefaultApprovalExpiry when
// ExpiresAfter is empty or, on a policy that was not validated, unreadable).
func (a *Approval) Expiry() time.Duration {
	d, err := time.ParseDuration(a.ExpiresAfter)
	if err != nil || d <= 0 {
		return DefaultApprovalExpiry
	}
	return d
}

// MayApprove reports whether a user with roles is one of the approvers a names.
func (a *Approval) MayApprove(user string, roles []string) bool {
	if slices.Contains(a.Users, user) {
		return true
	}
	for _, r := range roles {
		if slices.Contains(a.Roles, r) {
			return true
		}
	}
	return false
}

// validateApproval adds what is wrong with p's approval to f: only an allowing policy may
// require one, of 1 to MaxApprovalsRequired approvers, who must be named, waiting
// MinApprovalExpiry to MaxApprovalExpiry.
func validateApproval(f *fault.Fields, p *Policy) {
	a := p.Approval
	if a == nil {
		return
	}
	if p.Action != Allow {
		f.Add("approval", "only a policy that allows can require approval")
	}
	if a.Required < 1 || a.Required > MaxApprovalsRequired {
		f.Add("approval.required", "must be between 1 and %d", MaxApprovalsRequired)
	}
	if len(a.Users) == 0 && len(a.Roles) == 0 {
		f.Add("approval.approvers", "name at least one user or role who may approve")
	} else if len(a.Roles) == 0 && a.Required > len(a.Users) {
		f.Add("approval.required", "is more than the %d users named to approve", len(a.Users))
	}
	checkNames(f, "approval.approvers.users", a.Users, false)
	checkNames(f, "approval.approvers.roles", a.Roles, true)
	if a.ExpiresAfter != "" {
		d, err := time.ParseDuration(a.ExpiresAfter)
		if err != nil || d < MinApprovalExpiry || d > MaxApprovalExpiry {
			f.Add("approval.expiresAfter", "%q is not a duration from 1m to 720h (e.g. 24h)", truncate(a.ExpiresAfter, 40))
		}
	}
}

// ApprovalOf is the approval that policy id of the set requires (nil: none, or no such
// enabled policy). The signer asks it of the policy that allowed a request.
func (s *Set) ApprovalOf(id string) *Approval {
	if id == "" {
		return nil
	}
	for i := range s.policies {
		if s.policies[i].ID == id {
			return s.policies[i].Approval
		}
	}
	return nil
}
