package policies

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/opensignum/signum/lib/access"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/policy"
	"github.com/opensignum/signum/lib/roles"
)

// A caller whose role is scoped to some certificate groups may name in a policy only the
// groups, and the certificates of groups, it may assign to policies; it changes or deletes
// only policies whose every certificate and group it may assign (else it could give itself
// signing rights on certificates it does not administer); and it reads policies with the
// certificates and groups it cannot see left out, as if they did not exist.

// assignable checks that the caller may assign every certificate and group of w.
func (a api) assignable(ctx context.Context, req *access.Request, w policy.What, doing string) error {
	s := req.Principal.Scope
	if s.Unscoped(roles.Assign) {
		return nil
	}
	var cannot []string
	for _, g := range w.Groups {
		if g == policy.AllCertificates || !s.Rights(g).Assign {
			cannot = append(cannot, g)
		}
	}
	for _, id := range w.Certificates {
		c, err := a.Store.GetCertificate(ctx, req.Deployment.ID, id)
		if err != nil && !errors.Is(err, fault.ErrNotFound) {
			return err
		}
		if err != nil || !s.Any(c.Groups, roles.Assign) {
			cannot = append(cannot, id)
		}
	}
	if len(cannot) > 0 {
		return fault.Newf(fault.ErrForbidden, "Your role may not %s a policy naming %s: it may assign only the certificate groups it was given, and their certificates, to policies.",
			doing, strings.Join(cannot, ", "))
	}
	return nil
}

// mayChange checks a stored policy before a scoped caller replaces or deletes it.
func (a api) mayChange(ctx context.Context, req *access.Request, id, doing string) error {
	if req.Principal.Scope.Unscoped(roles.Assign) {
		return nil
	}
	p, err := a.Store.GetPolicy(ctx, req.Deployment.ID, id)
	if err != nil {
		return err
	}
	return a.assignable(ctx, req, p.What, doing)
}

// redact leaves out of p's What the groups and certificates the caller cannot see. Certificate
// visibility needs the certificates' groups: certs maps ids to their groups as read.
func redact(s roles.Scope, p policy.Policy, certs map[string][]string) policy.Policy {
	if s.Unscoped(roles.View) {
		return p
	}
	p.What.Groups = slices.DeleteFunc(slices.Clone(p.What.Groups), func(g string) bool { return g == policy.AllCertificates || !s.Rights(g).View })
	p.What.Certificates = slices.DeleteFunc(slices.Clone(p.What.Certificates), func(id string) bool { return !s.Any(certs[id], roles.View) })
	return p
}

// certificateGroups reads the groups of the certificates ps name, for redact; nothing for a
// caller who sees every group.
func (a api) certificateGroups(ctx context.Context, req *access.Request, ps []policy.Policy) (map[string][]string, error) {
	out := map[string][]string{}
	if req.Principal.Scope.Unscoped(roles.View) {
		return out, nil
	}
	for _, p := range ps {
		for _, id := range p.What.Certificates {
			if _, ok := out[id]; ok {
				continue
			}
			c, err := a.Store.GetCertificate(ctx, req.Deployment.ID, id)
			if err != nil && !errors.Is(err, fault.ErrNotFound) {
				return nil, err
			}
			out[id] = c.Groups
		}
	}
	return out, nil
}
