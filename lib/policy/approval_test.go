package policy_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/policy"
)

func TestApprovalValidation(t *testing.T) {
	base := func(a *policy.Approval) policy.Policy {
		return policy.Policy{ID: "p", Name: "release", Enabled: true, Action: policy.Allow, What: policy.What{Certificates: []string{"c"}},
			Who: policy.Who{Users: []string{"ci"}}, Approval: a}
	}
	for _, c := range []struct {
		name  string
		p     policy.Policy
		field string // "" when valid
	}{
		{"ok/two-of-users", base(&policy.Approval{Required: 2, Users: []string{"a", "b"}, ExpiresAfter: "24h"}), ""},
		{"ok/role-default-expiry", base(&policy.Approval{Required: 3, Roles: []string{"console-admin"}}), ""},
		{"fail/none-required", base(&policy.Approval{Required: 0, Users: []string{"a"}}), "approval.required"},
		{"fail/more-than-named", base(&policy.Approval{Required: 3, Users: []string{"a", "b"}}), "approval.required"},
		{"fail/no-approvers", base(&policy.Approval{Required: 1}), "approval.approvers"},
		{"fail/expiry-unreadable", base(&policy.Approval{Required: 1, Users: []string{"a"}, ExpiresAfter: "a day"}), "approval.expiresAfter"},
		{"fail/expiry-too-long", base(&policy.Approval{Required: 1, Users: []string{"a"}, ExpiresAfter: "800h"}), "approval.expiresAfter"},
		{"fail/bad-portal-role", base(&policy.Approval{Required: 1, Roles: []string{"portal:Boss"}}), "approval.approvers.roles[0]"},
		{"fail/deny-with-approval", func() policy.Policy {
			p := base(&policy.Approval{Required: 1, Users: []string{"a"}})
			p.Action = policy.Deny
			return p
		}(), "approval"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.p.Validate()
			if c.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var f fault.Fields
			if !errors.As(err, &f) || !strings.Contains(err.Error(), c.field) {
				t.Fatalf("want a problem with %s, got %v", c.field, err)
			}
		})
	}
	a := policy.Approval{Users: []string{"a"}, Roles: []string{"console-admin"}}
	if !a.MayApprove("a", nil) || !a.MayApprove("x", []string{"signer", "console-admin"}) || a.MayApprove("x", []string{"signer"}) {
		t.Fatal("MayApprove")
	}
	if a.Expiry() != policy.DefaultApprovalExpiry || (&policy.Approval{ExpiresAfter: "90m"}).Expiry() != 90*time.Minute {
		t.Fatal("Expiry")
	}
	set := policy.NewSet([]policy.Policy{base(&a)})
	if set.ApprovalOf("p") == nil || set.ApprovalOf("q") != nil || set.ApprovalOf("") != nil {
		t.Fatal("ApprovalOf")
	}
}
