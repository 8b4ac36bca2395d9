// Package tenant holds the deployment: the tenant of the service. A customer's subscription
// gets one deployment; every console and signer request is resolved to a deployment by the
// host name it was sent to, and is then filtered by the deployment's IP allowlist.
package tenant

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/opensignum/signum/lib/fault"
)

// Status is the life-cycle state of a deployment.
type Status string

// Deployment states. Only an active deployment serves console and signer requests.
const (
	StatusActive    Status = "active"
	StatusSuspended Status = "suspended"
	StatusCancelled Status = "cancelled"
)

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	switch s {
	case StatusActive, StatusSuspended, StatusCancelled:
		return true
	}
	return false
}

// MaxAllowlist is the most CIDRs an IP allowlist holds; it keeps the item far below
// DynamoDB's 400 KB limit and the check cheap.
const MaxAllowlist = 200

// Deployment is a tenant and its settings.
type Deployment struct {
	ID     string
	Name   string
	Status Status
	// Plan is a Plans id; Quantity the seats of a per-seat plan (0: none). Limits says what
	// they allow.
	Plan     string
	Quantity int
	// Region is where the deployment's keys and data live (its plan's region).
	Region          string
	SoftwareVersion string
	// DataVersion is the version of the deployment's data (lib/updates): 0 for data stored
	// before data versions were recorded, which is version 1.
	DataVersion int
	// SubscriptionID is the marketplace subscription that pays for the deployment ("" for
	// one the operator made by hand).
	SubscriptionID string
	// SigningCapped is set while the month's signatures are over a plan that caps them
	// (the metering function sets and clears it each hour): signing is refused.
	SigningCapped bool
	// DomainName is the host the deployment's console and signer answer on ("" until set).
	// It is unique across deployments.
	DomainName string
	// IPAllowlist is the set of networks console and signer requests may come from; empty
	// means open.
	IPAllowlist []netip.Prefix
	// Version counts changes; a write must name the version it read (optimistic concurrency).
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Limits is what the deployment's plan allows (0: no limit).
func (d Deployment) Limits() Limits { return LimitsFor(d.Plan, d.Quantity) }

// Tier is the family of the deployment's plan ("trial", "standard", "enterprise"), or the
// plan itself when the catalogue does not know it.
func (d Deployment) Tier() string {
	if p, ok := PlanByID(d.Plan); ok {
		return p.Tier
	}
	return d.Plan
}

// Allows reports whether a request from addr may reach the deployment's console and signer.
func (d Deployment) Allows(addr netip.Addr) bool {
	if len(d.IPAllowlist) == 0 {
		return true
	}
	addr = addr.Unmap()
	for _, p := range d.IPAllowlist {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// LogEntry is one line of a deployment's system log: who changed what, and when, from where.
type LogEntry struct {
	ID     string
	At     time.Time
	Actor  string
	Action string
	Detail string
	// Section is the part of the product the entry concerns (LogSections); "" means
	// SectionOf(Action), which the store fills in when it writes the entry.
	Section string
	// Object names what changed (an id, a user name), "" when nothing in particular or when
	// the detail does not say (see Derived).
	Object string
	// SourceIP is the address of the request that made the change, "" when no request did
	// (provisioning by an event, a migration). The store takes it from the context
	// (WithSourceIP) when it is not set.
	SourceIP string
}

// NewID returns a new random identifier with the given prefix, e.g. "dep_" + 26 base32 chars
// (130 bits), safe in URLs and key strings.
func NewID(prefix string) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return prefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// ValidID reports whether id is prefix followed by the 26 base32 characters NewID makes.
func ValidID(prefix, id string) bool {
	rest, ok := strings.CutPrefix(id, prefix)
	if !ok || len(rest) != 26 {
		return false
	}
	for _, c := range rest {
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// NormalizeDomainName returns the canonical (lower-case, no trailing dot) form of a host name,
// or an ErrInvalid error naming what is wrong with it.
func NormalizeDomainName(s string) (string, error) {
	d := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
	if d == "" {
		return "", fault.Newf(fault.ErrInvalid, "domain name is empty")
	}
	if len(d) > 253 {
		return "", fault.Newf(fault.ErrInvalid, "domain name is longer than 253 characters")
	}
	if _, err := netip.ParseAddr(d); err == nil {
		return "", fault.Newf(fault.ErrInvalid, "domain name %q is an IP address; a host name is required", s)
	}
	labels := strings.Split(d, ".")
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return "", fault.Newf(fault.ErrInvalid, "domain name %q has an all-numeric top-level label", s)
	}
	if len(labels) < 2 {
		return "", fault.Newf(fault.ErrInvalid, "domain name %q needs at least two labels, like signing.example.com", s)
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return "", fault.Newf(fault.ErrInvalid, "domain name %q has an empty label or one longer than 63 characters", s)
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return "", fault.Newf(fault.ErrInvalid, "domain name %q has a label that starts or ends with '-'", s)
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "", fault.Newf(fault.ErrInvalid, "domain name %q has the character %q; only letters, digits, '-' and '.' are allowed", s, c)
			}
		}
	}
	return d, nil
}

// CheckDomainSuffix refuses a deployment domain name outside the service's console domain:
// in AWS, console and signer requests reach the API through a wildcard custom domain
// (*.<suffix>), so only names under it can work, and a customer cannot claim another
// customer's or the vendor's own host. An empty suffix (local runs) allows any name.
func CheckDomainSuffix(domain, suffix string) error {
	if suffix == "" || domain == "" {
		return nil
	}
	if !strings.HasSuffix(domain, "."+suffix) || strings.Count(strings.TrimSuffix(domain, "."+suffix), ".") != 0 {
		return fault.Newf(fault.ErrInvalid, "domain name %q must be one label under %s, like acme.%s", domain, suffix, suffix)
	}
	if label := strings.TrimSuffix(domain, "."+suffix); slices.Contains(ReservedLabels, label) {
		return fault.Newf(fault.ErrInvalid, "domain name %q is reserved for the service; choose another name under %s", domain, suffix)
	}
	return nil
}

// DomainNameField checks s, a deployment domain name a client sent as the field
// "domainName", and returns its canonical form: "" stays "" (no domain name); a name that is
// not a host name, or not one label under suffix (CheckDomainSuffix), adds the field to bad
// with the reason NormalizeDomainName or CheckDomainSuffix gave. Provisioning and the portal's
// settings both check domain names with it.
func DomainNameField(s, suffix string, bad *fault.Fields) string {
	if s == "" {
		return ""
	}
	d, err := NormalizeDomainName(s)
	if err == nil {
		err = CheckDomainSuffix(d, suffix)
	}
	if err != nil {
		detail, _ := fault.DetailOf(err)
		bad.Add("domainName", "%s", detail)
	}
	return d
}

// AllowlistField is ParseAllowlist for the field "ipAllowlist" a client sent: an entry that
// does not parse adds the field to bad with ParseAllowlist's reason (and the result is nil).
func AllowlistField(entries []string, bad *fault.Fields) []netip.Prefix {
	allow, err := ParseAllowlist(entries)
	if err != nil {
		detail, _ := fault.DetailOf(err)
		bad.Add("ipAllowlist", "%s", detail)
	}
	return allow
}

// ReservedLabels are names under the console domain that no deployment may take: the
// service's own hosts (the API, the portal, the mutual-TLS signer domain when it is
// <label>.<ConsoleDomain>, ...).
var ReservedLabels = []string{"api", "www", "portal", "console", "operator", "admin", "mtls", "signer", "sign", "status", "mail"}

// ParseAllowlist parses CIDRs (IPv4 or IPv6; a bare address means that one address) into
// canonical masked prefixes, removing duplicates. Errors name the entry.
func ParseAllowlist(entries []string) ([]netip.Prefix, error) {
	if len(entries) > MaxAllowlist {
		return nil, fault.Newf(fault.ErrInvalid, "the IP allowlist has %d entries; at most %d are allowed", len(entries), MaxAllowlist)
	}
	out := make([]netip.Prefix, 0, len(entries))
	seen := map[netip.Prefix]bool{}
	for i, e := range entries {
		e = strings.TrimSpace(e)
		var p netip.Prefix
		var err error
		if strings.Contains(e, "/") {
			p, err = netip.ParsePrefix(e)
		} else {
			var a netip.Addr
			if a, err = netip.ParseAddr(e); err == nil {
				if a.Zone() != "" {
					return nil, fault.Newf(fault.ErrInvalid, "IP allowlist entry %d (%q) has a zone", i, e)
				}
				p = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err != nil {
			return nil, fault.Newf(fault.ErrInvalid, "IP allowlist entry %d (%q) is not an IPv4 or IPv6 address or CIDR", i, e)
		}
		if p.Addr().Is4In6() && p.Bits() < 96 {
			return nil, fault.Newf(fault.ErrInvalid, "IP allowlist entry %d (%q) is an IPv4-mapped prefix shorter than /96", i, e)
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-unmapBits(p)).Masked()
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out, nil
}

// unmapBits is how many prefix bits an IPv4-mapped IPv6 prefix loses when unmapped.
func unmapBits(p netip.Prefix) int {
	if p.Addr().Is4In6() {
		return 96
	}
	return 0
}

// FormatAllowlist is the inverse of ParseAllowlist.
func FormatAllowlist(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// String is for logs.
func (d Deployment) String() string { return fmt.Sprintf("deployment %s (%s)", d.ID, d.Name) }
