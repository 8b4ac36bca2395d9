package tenant

import (
	"context"
	"net/netip"
	"slices"
	"strings"
)

// The system log's sections: the part of the product an entry concerns, for filtering. They
// are derived from the action's prefix here, in one place, so that no call site names one and
// entries written before sections existed get theirs when they are read.
const (
	SectionCertificates = "certificates"
	SectionGroups       = "groups"
	SectionPolicies     = "policies"
	SectionUsers        = "users"
	SectionDomains      = "domains"
	SectionRoles        = "roles"
	SectionSettings     = "settings"
	SectionDeployment   = "deployment"
	SectionPortal       = "portal"
	SectionLogin        = "login"
	// SectionOther is every action whose prefix has no section yet.
	SectionOther = "other"
)

// LogSections are the sections, in the order a filter offers them.
var LogSections = []string{SectionCertificates, SectionGroups, SectionPolicies, SectionUsers, SectionDomains, SectionRoles,
	SectionSettings, SectionDeployment, SectionPortal, SectionLogin, SectionOther}

// sectionPrefixes maps an action's prefix (the action without its last dotted part, or a
// shorter dotted prefix of it) to its section. A new kind of object gets a line here.
var sectionPrefixes = map[string]string{
	"certificate":         SectionCertificates,
	"certificateGroup":    SectionGroups,
	"certificateGroups":   SectionGroups,
	"policy":              SectionPolicies,
	"policies":            SectionPolicies,
	"consoleUser":         SectionUsers,
	"clientCertificate":   SectionUsers,
	"localDomain":         SectionDomains,
	"domain":              SectionDomains,
	"role":                SectionRoles,
	"signumAdministrator": SectionRoles,
	"settings":            SectionSettings,
	"deployment.settings": SectionSettings,
	"deployment":          SectionDeployment,
	"portalUser":          SectionPortal,
	"deploymentLink":      SectionPortal,
	"login":               SectionLogin,
	"workload":            SectionLogin,
}

// SectionOf is the section of an action: that of its longest dotted prefix in the table
// ("deployment.settings.updated" is settings, "deployment.provisioned" deployment), else
// SectionOther.
func SectionOf(action string) string {
	for p := action; ; {
		i := strings.LastIndexByte(p, '.')
		if i < 0 {
			return SectionOther
		}
		p = p[:i]
		if s, ok := sectionPrefixes[p]; ok {
			return s
		}
	}
}

// IsLogSection reports whether s is one of LogSections.
func IsLogSection(s string) bool { return slices.Contains(LogSections, s) }

// SectionActionPrefixes are the action prefixes (each ending in ".") of section's actions:
// in are the prefixes the section claims, out the longer ones among them that another
// section claims ("deployment.settings." inside "deployment."). They match entries written
// before sections were stored. SectionOther has none: it is what no prefix claims.
func SectionActionPrefixes(section string) (in, out []string) {
	for p, s := range sectionPrefixes {
		if s == section {
			in = append(in, p+".")
		}
	}
	for p, s := range sectionPrefixes {
		if s != section && slices.ContainsFunc(in, func(q string) bool { return strings.HasPrefix(p+".", q) }) {
			out = append(out, p+".")
		}
	}
	slices.Sort(in)
	slices.Sort(out)
	return in, out
}

// Derived is e with what the log derives filled in where e leaves it empty: the section from
// the action, and the object from the detail when the detail starts with it (an id such as
// crt_…, or the user name or e-mail address of a user entry). Call sites that know the object
// should set it; the detail is only a fallback for those that do not yet.
func (e LogEntry) Derived() LogEntry {
	if e.Section == "" {
		e.Section = SectionOf(e.Action)
	}
	if e.Object == "" {
		e.Object = objectOf(e.Action, e.Detail)
	}
	return e
}

// objectOf is the object a detail starts with: a service id, or for user entries the name
// the detail starts with ("ada: name …", "ada with roles …", "ada@example.com as Admin").
func objectOf(action, detail string) string {
	head := detail
	if i := strings.IndexAny(detail, " :,("); i >= 0 {
		head = detail[:i]
	}
	if head == "" || len(head) > 254 {
		return ""
	}
	if isServiceID(head) {
		return head
	}
	prefix, _, _ := strings.Cut(action, ".")
	if prefix == "consoleUser" || prefix == "portalUser" {
		return head
	}
	return ""
}

// isServiceID reports whether s has the form of the service's ids: a lower-case prefix of up
// to 8 letters, "_", and lower-case letters and digits (NewID's, or a fixed one such as the
// default policy's "pol_default").
func isServiceID(s string) bool {
	prefix, rest, ok := strings.Cut(s, "_")
	if !ok || len(prefix) < 1 || len(prefix) > 8 || len(rest) < 1 || len(rest) > 40 {
		return false
	}
	for _, c := range prefix {
		if c < 'a' || c > 'z' {
			return false
		}
	}
	for _, c := range rest {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

type sourceKey struct{}

// WithSourceIP returns ctx carrying the source address of the request being served, which
// system log entries written on its behalf record. The edge sets it from API Gateway's
// request context, never from a header.
func WithSourceIP(ctx context.Context, addr netip.Addr) context.Context {
	return context.WithValue(ctx, sourceKey{}, addr)
}

// SourceIPFrom is the source address WithSourceIP put on ctx, "" when none.
func SourceIPFrom(ctx context.Context) string {
	if a, ok := ctx.Value(sourceKey{}).(netip.Addr); ok && a.IsValid() {
		return a.String()
	}
	return ""
}
