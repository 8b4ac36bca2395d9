package console

import (
	"context"

	"github.com/opensignum/signum/lib/access"
	"github.com/opensignum/signum/lib/domains"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/roles"
)

// A role manages the users of the domains it names (roles.Role.Domains); users at manage alone
// is not enough. A user's domain is its OIDC or SAML domain, else the Certificate users domain
// for a user without a password, else the Local users domain.

func userDomain(u identity.ConsoleUser) string {
	switch {
	case u.DomainID != "":
		return u.DomainID
	case u.PasswordHash == "":
		return domains.CertificateID
	}
	return domains.LocalID
}

func notManaged(domain string) error {
	return fault.Newf(fault.ErrForbidden, "Your role does not manage the users of the domain %s.", domain)
}

// A caller that manages users through a custom role only (neither a console admin nor the
// Signum Administrator) must not raise anyone, itself included, above a signer: it gives only
// the signer role, and changes, resets or removes only users who hold nothing more (no other
// built-in role, no custom role). Else a role that manages the Local users domain could make
// itself, or a new user it controls, a console admin.
func limited(p access.Principal) bool {
	return !p.HasConsoleRole(identity.ConsoleAdmin) && !p.HasConsoleRole(identity.SignumAdministrator)
}

func onlySigner(roles []identity.ConsoleRole) bool {
	for _, r := range roles {
		if r != identity.Signer {
			return false
		}
	}
	return true
}

// mayGive checks the built-in roles a caller gives (nil: none given).
func mayGive(req *access.Request, given []string) error {
	if !limited(req.Principal) {
		return nil
	}
	for _, r := range given {
		if identity.ConsoleRole(r) != identity.Signer {
			return fault.Newf(fault.ErrForbidden, "Your role may give only the signer role; a console admin gives %s.", fault.Clip(r, 40))
		}
	}
	return nil
}

// manages reads user id and checks that the caller's role manages its domain and, for a
// limited caller, that the user holds no more than the signer role.
func (a api) manages(ctx context.Context, req *access.Request, id string) error {
	p := req.Principal
	if !limited(p) && p.Scope.ManagesDomain(roles.EveryGroup) {
		return nil // every domain and every user: no read needed
	}
	u, err := a.Store.GetConsoleUser(ctx, req.Deployment.ID, id)
	if err != nil {
		return err
	}
	if d := userDomain(u); !p.Scope.ManagesDomain(d) {
		return notManaged(d)
	}
	if limited(p) && (!onlySigner(u.Roles) || u.Role != "") {
		return fault.Newf(fault.ErrForbidden, "Your role manages only users who hold no more than the signer role; %s has more: a console admin changes it.", u.Username)
	}
	return nil
}

// managesNew checks that the caller's role manages the domain a new user goes in: the Local
// users domain with a password, the Certificate users domain without.
func managesNew(req *access.Request, password string) error {
	d := domains.LocalID
	if password == "" {
		d = domains.CertificateID
	}
	if !req.Principal.Scope.ManagesDomain(d) {
		return notManaged(d)
	}
	return nil
}
