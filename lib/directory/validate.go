package directory

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/opensignum/signum/lib/domains"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/oidclogin"
	"github.com/opensignum/signum/lib/samlsso"
	"github.com/opensignum/signum/lib/workload"
)

// Validate checks a domain as the Signum Administrator sent it and returns it normalised.
// roleExists says whether a role named in a mapping exists (a built-in role's name or a custom
// role's id). Every problem is reported at once as field problems.
func Validate(d domains.Domain, roleExists func(string) bool) (domains.Domain, error) {
	var bad fault.Fields
	d.Name = strings.TrimSpace(d.Name)
	if d.Name == "" || len(d.Name) > 64 || strings.IndexFunc(d.Name, func(c rune) bool { return c < 0x20 || c == 0x7f }) >= 0 {
		bad.Add("name", "a domain name is 1 to 64 printable characters")
	}
	alias, ok := domains.NormalizeAlias(d.Alias)
	if !ok {
		bad.Add("alias", "is 1 to 32 lower-case letters, digits or '-', not starting or ending with '-' (and not local or certificate)")
	}
	d.Alias = alias
	if !slices.Contains(domains.Made, d.Kind) {
		bad.Add("kind", "is oidc, saml or ci (the Local users and Certificate users domains are built in)")
	}
	if d.UserLimit < 0 || d.UserLimit > domains.MaxUserLimit {
		bad.Add("userLimit", "is from 0 (no limit) to %d", domains.MaxUserLimit)
	}
	if d.AgentConcurrency < 0 || d.AgentConcurrency > domains.MaxAgents {
		bad.Add("agentConcurrency", "is from 0 (no limit) to %d", domains.MaxAgents)
	}
	people := d.Kind == domains.OIDC || d.Kind == domains.SAML
	if !people && (d.JIT || d.DefaultRole != "" || len(d.GroupRoles) > 0) {
		bad.Add("kind", "only OIDC and SAML domains provision users or map IdP groups to roles; a CI domain's rules name its users")
	}
	if d.DefaultRole != "" && !roleExists(d.DefaultRole) {
		bad.Add("defaultRole", "is not a role of this deployment (a built-in role's name or a custom role's id)")
	}
	if len(d.GroupRoles) > domains.MaxGroupRoles {
		bad.Add("groupRoles", "at most %d mappings", domains.MaxGroupRoles)
	}
	for i, m := range d.GroupRoles {
		m.Group = strings.TrimSpace(m.Group)
		d.GroupRoles[i] = m
		if m.Group == "" || len(m.Group) > 256 {
			bad.Add(fmt.Sprintf("groupRoles[%d].group", i), "is the IdP group's name, 1 to 256 bytes")
		}
		if !roleExists(m.Role) {
			bad.Add(fmt.Sprintf("groupRoles[%d].role", i), "is not a role of this deployment")
		}
	}
	settings := 0
	if d.OIDC != nil {
		settings++
	}
	if d.SAML != nil {
		settings++
	}
	if d.CI != nil {
		settings++
	}
	switch {
	case d.Kind == domains.OIDC && (d.OIDC == nil || settings != 1):
		bad.Add("oidc", "an OIDC domain has its oidc settings and no others")
	case d.Kind == domains.SAML && (d.SAML == nil || settings != 1):
		bad.Add("saml", "a SAML domain has its saml settings and no others")
	case d.Kind == domains.CI && (d.CI == nil || settings != 1):
		bad.Add("ci", "a CI domain has its ci settings and no others")
	}
	if d.Kind == domains.OIDC && d.OIDC != nil {
		o := d.OIDC
		cfg := oidclogin.Config{Issuer: o.Issuer, ClientID: o.ClientID, ClientSecret: o.ClientSecret, RedirectURL: "https://console.example/callback",
			Scopes: o.Scopes, UsernameClaim: o.UsernameClaim, EmailClaim: o.EmailClaim, GroupsClaim: o.GroupsClaim}
		prefixed(&bad, "oidc.", cfg.Validate())
	}
	if d.Kind == domains.SAML && d.SAML != nil {
		if _, err := samlsso.ParseIdPMetadata([]byte(d.SAML.IdPMetadataXML)); err != nil {
			bad.Add("saml.idpMetadataXml", "is not an identity provider's SAML metadata: %s", fault.Clip(err.Error(), 200))
		}
	}
	if d.Kind == domains.CI && d.CI != nil {
		prefixed(&bad, "ci.", WorkloadDomain(*d.CI).Validate())
	}
	return d, bad.Err()
}

// prefixed adds err's field problems under prefix, or err as one problem of the prefix.
func prefixed(bad *fault.Fields, prefix string, err error) {
	if err == nil {
		return
	}
	var fs fault.Fields
	if errors.As(err, &fs) {
		for _, f := range fs {
			bad.Add(prefix+f.Name, "%s", f.Reason)
		}
		return
	}
	bad.Add(strings.TrimSuffix(prefix, "."), "%s", err.Error())
}

// WorkloadDomain is a CI domain's settings as lib/workload verifies them.
func WorkloadDomain(c domains.CISettings) workload.Domain {
	w := workload.Domain{Issuer: c.Issuer, Audience: c.Audience}
	for _, r := range c.Rules {
		w.Rules = append(w.Rules, workload.Rule{Name: r.Name, Claims: r.Claims, User: r.User})
	}
	return w
}
