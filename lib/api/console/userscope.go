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

// manages reads user id and checks that the caller's role manages its domain.
func (a api) manages(ctx context.Context, req *access.Request, id string) error {
	if req.Principal.Scope.ManagesDomain(roles.EveryGroup) {
		return nil // every domain: no read needed
	}
	u, err := a.Store.GetConsoleUser(ctx, req.Deployment.ID, id)
	if err != nil {
		return err
	}
	if d := userDomain(u); !req.Principal.Scope.ManagesDomain(d) {
		return notManaged(d)
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
