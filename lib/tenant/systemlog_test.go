package tenant_test

import (
	"context"
	"net/netip"
	"slices"
	"testing"

	"github.com/opensignum/signum/lib/tenant"
)

func TestSectionOf(t *testing.T) {
	for action, want := range map[string]string{
		"certificate.created":         tenant.SectionCertificates,
		"certificate.chainImported":   tenant.SectionCertificates,
		"certificateGroup.created":    tenant.SectionGroups,
		"certificateGroups.migrated":  tenant.SectionGroups,
		"policy.deleted":              tenant.SectionPolicies,
		"consoleUser.updated":         tenant.SectionUsers,
		"clientCertificate.revoked":   tenant.SectionUsers,
		"localDomain.updated":         tenant.SectionDomains,
		"signumAdministrator.moved":   tenant.SectionRoles,
		"deployment.settings.updated": tenant.SectionSettings,
		"deployment.provisioned":      tenant.SectionDeployment,
		"portalUser.registered":       tenant.SectionPortal,
		"deploymentLink.created":      tenant.SectionPortal,
		"login.console.failed":        tenant.SectionLogin,
		"login.portal.succeeded":      tenant.SectionLogin,
		"fixture":                     tenant.SectionOther,
		"something.new":               tenant.SectionOther,
		"":                            tenant.SectionOther,
	} {
		if got := tenant.SectionOf(action); got != want {
			t.Errorf("SectionOf(%q) = %q, want %q", action, got, want)
		}
		if !tenant.IsLogSection(want) {
			t.Errorf("%q is not in LogSections", want)
		}
	}
	if tenant.IsLogSection("Certificates") || tenant.IsLogSection("") {
		t.Error("IsLogSection accepts what is not a section")
	}
}

// The prefixes of a section match exactly the actions SectionOf puts in it.
func TestSectionActionPrefixes(t *testing.T) {
	in, out := tenant.SectionActionPrefixes(tenant.SectionDeployment)
	if !slices.Equal(in, []string{"deployment."}) || !slices.Equal(out, []string{"deployment.settings."}) {
		t.Fatalf("deployment: in %v, out %v", in, out)
	}
	in, out = tenant.SectionActionPrefixes(tenant.SectionSettings)
	if !slices.Equal(in, []string{"deployment.settings.", "settings."}) || len(out) != 0 {
		t.Fatalf("settings: in %v, out %v", in, out)
	}
	if in, _ := tenant.SectionActionPrefixes(tenant.SectionOther); len(in) != 0 {
		t.Fatalf("other claims %v", in)
	}
}

func TestDerived(t *testing.T) {
	for name, c := range map[string]struct {
		e               tenant.LogEntry
		section, object string
	}{
		"ok/id-first":            {tenant.LogEntry{Action: "certificate.updated", Detail: "crt_amwxddvkaddx6vfdog7oqayjki: enabled"}, "certificates", "crt_amwxddvkaddx6vfdog7oqayjki"},
		"ok/fixed-id":            {tenant.LogEntry{Action: "policy.updated", Detail: `pol_default "Default signing policy"`}, "policies", "pol_default"},
		"ok/user-name":           {tenant.LogEntry{Action: "consoleUser.created", Detail: "ada with roles [console-admin]"}, "users", "ada"},
		"ok/portal-email":        {tenant.LogEntry{Action: "portalUser.registered", Detail: "ada@example.com as Admin"}, "portal", "ada@example.com"},
		"ok/given-wins":          {tenant.LogEntry{Action: "login.console.failed", Object: "mallory", Section: "login", Detail: "unknown user"}, "login", "mallory"},
		"ok/no-object-in-prose":  {tenant.LogEntry{Action: "deployment.settings.updated", Detail: "IP allowlist [10.0.0.0/8]"}, "settings", ""},
		"ok/no-object-in-policy": {tenant.LogEntry{Action: "localDomain.updated", Detail: "password policy {...}"}, "domains", ""},
		"ok/empty":               {tenant.LogEntry{Action: "x.y"}, "other", ""},
	} {
		got := c.e.Derived()
		if got.Section != c.section || got.Object != c.object {
			t.Errorf("%s: section %q object %q, want %q %q", name, got.Section, got.Object, c.section, c.object)
		}
	}
}

func TestSourceIPContext(t *testing.T) {
	if got := tenant.SourceIPFrom(context.Background()); got != "" {
		t.Fatalf("no address: %q", got)
	}
	ctx := tenant.WithSourceIP(context.Background(), netip.MustParseAddr("2001:db8::1"))
	if got := tenant.SourceIPFrom(ctx); got != "2001:db8::1" {
		t.Fatalf("address: %q", got)
	}
}
