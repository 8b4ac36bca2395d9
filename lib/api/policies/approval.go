package policies

import "github.com/opensignum/signum/lib/policy"

// Approval is the JSON form of what a policy requires before it signs (policy.Approval).
type Approval struct {
	Required     int       `json:"required"`
	Approvers    Approvers `json:"approvers"`
	ExpiresAfter string    `json:"expiresAfter,omitempty"`
}

// Approvers name who may approve: console users and roles.
type Approvers struct {
	Users []string `json:"users"`
	Roles []string `json:"roles"`
}

func approvalJSON(a *policy.Approval) *Approval {
	if a == nil {
		return nil
	}
	exp := a.ExpiresAfter
	if exp == "" {
		exp = policy.DefaultApprovalExpiry.String()
	}
	return &Approval{Required: a.Required, Approvers: Approvers{Users: nonNil(a.Users), Roles: nonNil(a.Roles)}, ExpiresAfter: exp}
}

func approvalDraft(a *Approval) *policy.Approval {
	if a == nil {
		return nil
	}
	return &policy.Approval{Required: a.Required, Users: a.Approvers.Users, Roles: a.Approvers.Roles, ExpiresAfter: a.ExpiresAfter}
}
