package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/opensignum/signum/lib/domains"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

var domainLog = tenant.LogEntry{Actor: "test", Action: "domain.changed"}

func ciDomain(dep, alias string) domains.Domain {
	return domains.Domain{ID: domains.NewID(), DeploymentID: dep, Kind: domains.CI, Name: "CI " + alias, Alias: alias,
		CI: &domains.CISettings{Issuer: "https://token.actions.githubusercontent.com", Audience: "signum",
			Rules: []domains.CIRule{{Name: "main", Claims: map[string]string{"ref": "refs/heads/main"}, User: "ci"}}}}
}

// TestLoginDomains: aliases are unique per deployment and find their domain; changes are
// versioned and move the alias; a domain with users is not deleted; settings and secrets come
// back as stored.
func TestLoginDomains(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	dep, other := f.deployment(), f.deployment()

	d, err := f.s.CreateDomain(ctx, ciDomain(dep.ID, "gha"), domainLog)
	must(t, err)
	if _, err := f.s.CreateDomain(ctx, ciDomain(dep.ID, "gha"), domainLog); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a taken alias: %v", err)
	}
	_, err = f.s.CreateDomain(ctx, ciDomain(other.ID, "gha"), domainLog)
	must(t, err) // another deployment's alias is its own

	o := domains.Domain{ID: domains.NewID(), DeploymentID: dep.ID, Kind: domains.OIDC, Name: "Acme", Alias: "acme", JIT: true, DefaultRole: "signer",
		GroupRoles: []domains.RoleMapping{{Group: "admins", Role: "console-admin", Priority: 2}},
		OIDC:       &domains.OIDCSettings{Issuer: "https://idp.example", ClientID: "signum", ClientSecret: "sealed:v1:abc"}}
	_, err = f.s.CreateDomain(ctx, o, domainLog)
	must(t, err)
	got, err := f.s.DomainByAlias(ctx, dep.ID, "acme")
	must(t, err)
	if got.ID != o.ID || got.OIDC == nil || got.OIDC.ClientSecret != "sealed:v1:abc" || !got.JIT || len(got.GroupRoles) != 1 || got.Version != 1 {
		t.Fatalf("by alias %+v", got)
	}
	if _, err := f.s.DomainByAlias(ctx, dep.ID, "nothing"); !errors.Is(err, fault.ErrNotFound) {
		t.Fatalf("unknown alias: %v", err)
	}
	page, err := f.s.ListDomains(ctx, dep.ID, store.PageRequest{Limit: 10})
	must(t, err)
	if len(page.Items) != 2 {
		t.Fatalf("listed %d", len(page.Items))
	}

	// A change moves the alias; the old one is free, a stale version is refused.
	next := d
	next.Alias, next.Name = "github", "GitHub"
	d2, err := f.s.UpdateDomain(ctx, d, next, domainLog)
	must(t, err)
	if d2.Version != 2 || d2.Alias != "github" {
		t.Fatalf("updated %+v", d2)
	}
	if _, err := f.s.UpdateDomain(ctx, d, next, domainLog); !errors.Is(err, store.ErrStale) {
		t.Fatalf("stale update: %v", err)
	}
	if _, err := f.s.DomainByAlias(ctx, dep.ID, "gha"); !errors.Is(err, fault.ErrNotFound) {
		t.Fatalf("the old alias still finds it: %v", err)
	}
	_, err = f.s.CreateDomain(ctx, ciDomain(dep.ID, "gha"), domainLog)
	must(t, err)

	// A user of the domain keeps it; without users it goes.
	u := identity.ConsoleUser{ID: identity.NewConsoleUserID(), DeploymentID: dep.ID, Username: "alice@acme", DomainID: o.ID,
		Roles: []identity.ConsoleRole{identity.Signer}, Status: identity.StatusActive}
	u, err = f.s.CreateConsoleUser(ctx, u, tenant.LogEntry{Actor: "test", Action: "consoleUser.created"})
	must(t, err)
	oNow, err := f.s.GetDomain(ctx, dep.ID, o.ID)
	must(t, err)
	if oNow.Users != 1 {
		t.Fatalf("users %d", oNow.Users)
	}
	if err := f.s.DeleteDomain(ctx, oNow, domainLog); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("delete with a user: %v", err)
	}
	must(t, f.s.DeleteConsoleUser(ctx, u, tenant.LogEntry{Actor: "test", Action: "consoleUser.deleted"}))
	oNow, err = f.s.GetDomain(ctx, dep.ID, o.ID)
	must(t, err)
	must(t, f.s.DeleteDomain(ctx, oNow, domainLog))
	if _, err := f.s.GetDomain(ctx, dep.ID, o.ID); !errors.Is(err, fault.ErrNotFound) {
		t.Fatalf("deleted: %v", err)
	}
	if _, err := f.s.DomainByAlias(ctx, dep.ID, "acme"); !errors.Is(err, fault.ErrNotFound) {
		t.Fatalf("deleted alias: %v", err)
	}
}
