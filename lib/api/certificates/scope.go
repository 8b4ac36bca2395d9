package certificates

import (
	"context"
	"slices"
	"strings"

	"github.com/opensignum/signum/lib/access"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/roles"
	"github.com/opensignum/signum/lib/store"
)

// The caller's certificate groups decide which certificates it sees and changes. A certificate
// in none of the groups the caller may view answers exactly as one that does not exist, so
// that a role scoped to group A cannot tell whether group B holds anything.

// absent is the store's answer for a certificate id that does not exist.
func absent(id string) error {
	return fault.Newf(store.ErrNotFound, "No certificate has the id %q.", fault.Clip(id, 40))
}

// scoped reads certificate id for a caller that needs right on one of its groups: absent when
// the caller cannot view it, 403 when it can view it but lacks right. A caller with the right
// on every group needs no read here (the lifecycle reads the certificate itself).
func (a api) scoped(ctx context.Context, req *access.Request, id string, right func(roles.GroupRights) bool, doing string) error {
	s := req.Principal.Scope
	if s.Unscoped(right) {
		return nil
	}
	c, err := a.parts.Store.GetCertificate(ctx, req.Deployment.ID, id)
	if err != nil {
		return err
	}
	if !s.Any(c.Groups, roles.View) {
		return absent(id)
	}
	// The certificate is one object in all its groups: deleting, renewing or replacing its
	// chain acts on it in every one, so the right is needed in every one.
	if !s.All(c.Groups, right) {
		return fault.Newf(fault.ErrForbidden, "Your role may not %s this certificate: it is also in a group where your role lacks that right.", doing)
	}
	return nil
}

// joining checks that the caller may put a certificate in each of groups (Add), and, when
// moving one from current, take it out of each group it leaves (Remove).
func joining(s roles.Scope, current, groups []string) error {
	var cannot []string
	for _, g := range groups {
		if !slices.Contains(current, g) && !s.Rights(g).Add {
			cannot = append(cannot, g)
		}
	}
	if len(cannot) > 0 {
		return fault.Newf(fault.ErrForbidden, "Your role may not add certificates to the group%s %s.", plural(len(cannot)), strings.Join(cannot, ", "))
	}
	for _, g := range current {
		if !slices.Contains(groups, g) && !s.Rights(g).Remove {
			return fault.Newf(fault.ErrForbidden, "Your role may not take certificates out of the group %s.", g)
		}
	}
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// mayPatch checks a change of certificate id against the caller's groups: moving it needs Add
// on the groups it joins and Remove on those it leaves; any other change needs Remove on one
// of its groups.
func (a api) mayPatch(ctx context.Context, req *access.Request, id string, body PatchRequest) error {
	s := req.Principal.Scope
	if s.Unscoped(roles.Add) && s.Unscoped(roles.Remove) && (body.Owner == nil || s.Unscoped(roles.Assign)) {
		return nil
	}
	c, err := a.parts.Store.GetCertificate(ctx, req.Deployment.ID, id)
	if err != nil {
		return err
	}
	if !s.Any(c.Groups, roles.View) {
		return absent(id)
	}
	if body.Name != nil || body.Enabled != nil || body.Owner != nil {
		if !s.All(c.Groups, roles.Remove) {
			return fault.Newf(fault.ErrForbidden, "Your role may not change this certificate: it is also in a group where your role lacks Remove.")
		}
	}
	// The owner signs with the certificate without a policy: naming one is assigning it.
	if body.Owner != nil && !s.All(c.Groups, roles.Assign) {
		return fault.Newf(fault.ErrForbidden, "Your role may not set the owner of this certificate: the owner signs with it without a policy, which needs Assign to policies on its groups.")
	}
	if body.Groups != nil {
		return joining(s, c.Groups, *body.Groups)
	}
	return nil
}

// mayOwn checks the owner of a new certificate: the owner signs without a policy, so naming
// one needs Assign on the groups the certificate goes in.
func mayOwn(s roles.Scope, owner string, groups []string) error {
	if owner == "" || s.All(groups, roles.Assign) {
		return nil
	}
	return fault.Newf(fault.ErrForbidden, "Your role may not give the certificate an owner: the owner signs with it without a policy, which needs Assign to policies on its groups.")
}
