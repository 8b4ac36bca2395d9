// Package domains is how groups of console users authenticate. A deployment has the built-in
// Local users domain (passwords, identity.LocalDomain) and Certificate users domain (client
// certificates registered for users), and any number of domains the Signum Administrator
// makes: OIDC and SAML for people, whose users log in at the customer's identity provider, and
// CI workload identity, whose jobs exchange their CI system's short-lived OIDC token for a
// short signing session. Users of a domain log in as user@alias.
package domains

import (
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/roles"
	"github.com/opensignum/signum/lib/tenant"
)

// IDPrefix begins the id of every domain the Signum Administrator makes.
const IDPrefix = "dom_"

// NewID is a new domain id.
func NewID() string { return tenant.NewID(IDPrefix) }

// Kind is how a domain's users authenticate.
type Kind string

// Kinds of domain.
const (
	Local       Kind = "local"
	Certificate Kind = "certificate"
	OIDC        Kind = "oidc"
	SAML        Kind = "saml"
	CI          Kind = "ci"
)

// The built-in domains' ids: they exist in every deployment and are not stored as domains.
const (
	LocalID       = "local"
	CertificateID = "certificate"
)

// Made are the kinds the Signum Administrator creates.
var Made = []Kind{OIDC, SAML, CI}

// Limits of a domain.
const (
	MaxGroupRoles = 50
	MaxUserLimit  = 100000
	MaxAgents     = 1000
)

// RoleMapping gives the users of an OIDC or SAML domain who are in IdP group Group the role
// Role (a built-in console role or a custom role's id). Of several mappings that match, the
// highest Priority wins; a role given to the user directly beats every mapping.
type RoleMapping struct {
	Group    string `json:"group"`
	Role     string `json:"role"`
	Priority int    `json:"priority"`
}

// OIDCSettings are an OIDC domain's identity provider and claim mapping. The redirect URL is
// the deployment's own (the console's callback), not a setting.
type OIDCSettings struct {
	Issuer   string   `json:"issuer"`
	ClientID string   `json:"clientId"`
	Scopes   []string `json:"scopes,omitempty"`
	// ClientSecret is set for confidential clients; it is stored sealed and never answered.
	ClientSecret  string `json:"-"`
	UsernameClaim string `json:"usernameClaim,omitempty"`
	EmailClaim    string `json:"emailClaim,omitempty"`
	GroupsClaim   string `json:"groupsClaim,omitempty"`
}

// SAMLSettings are a SAML domain's identity provider and attribute mapping. The service
// provider's entity ID and assertion consumer URL are the deployment's own.
type SAMLSettings struct {
	IdPMetadataXML string `json:"idpMetadataXml"`
	UsernameAttr   string `json:"usernameAttribute,omitempty"`
	EmailAttr      string `json:"emailAttribute,omitempty"`
	NameAttr       string `json:"nameAttribute,omitempty"`
	GroupsAttr     string `json:"groupsAttribute,omitempty"`
	// SPKeyPEM is the domain's service-provider key, made with the domain, stored sealed and
	// never answered; SPCertPEM is its certificate, published in the SP metadata.
	SPKeyPEM  []byte `json:"-"`
	SPCertPEM []byte `json:"-"`
}

// CISettings are a CI workload identity domain's trusted issuer and audience, and the claim
// rules that decide which console user a job acts as (lib/workload verifies them).
type CISettings struct {
	Issuer   string   `json:"issuer"`
	Audience string   `json:"audience"`
	Rules    []CIRule `json:"rules"`
}

// CIRule maps the jobs whose claims match (each pattern matching the whole claim value) to a
// console user.
type CIRule struct {
	Name   string            `json:"name"`
	Claims map[string]string `json:"claims"`
	User   string            `json:"user"`
}

// Domain is a way a deployment's console users authenticate.
type Domain struct {
	ID           string
	DeploymentID string
	Kind         Kind
	Name         string
	// Alias is what the domain's users write after @ when they log in (user@alias); unique
	// in the deployment.
	Alias string
	// UserLimit is the most users the domain may hold (0: no limit).
	UserLimit int
	// AgentConcurrency is the most signing requests one user of the domain may have in
	// flight at once (0: no limit).
	AgentConcurrency int
	// JIT creates a user at its first successful login (OIDC, SAML).
	JIT bool
	// DefaultRole is the role of users whose IdP groups map to no role; "" refuses them.
	DefaultRole string
	// GroupRoles map IdP groups to roles (OIDC, SAML).
	GroupRoles []RoleMapping
	OIDC       *OIDCSettings
	SAML       *SAMLSettings
	CI         *CISettings
	// Users counts the domain's users; the store keeps it exact in the users' writes, so that
	// a domain with users is never deleted and never grows over its limit.
	Users     int
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

var aliasPattern = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$`)

// NormalizeAlias lower-cases and checks an alias.
func NormalizeAlias(a string) (string, bool) {
	a = strings.ToLower(strings.TrimSpace(a))
	return a, aliasPattern.MatchString(a) && a != LocalID && a != CertificateID
}

// RoleFor picks the role of a person of an OIDC or SAML domain: the role given directly
// (direct, "" for none) beats the mappings; of the mappings whose group the person is in, the
// highest priority wins (the first listed among equals); with none, the domain's default
// role; "" means the person is refused.
func (d Domain) RoleFor(direct string, groups []string) string {
	if direct != "" {
		return direct
	}
	best, found := RoleMapping{}, false
	for _, m := range d.GroupRoles {
		if slices.Contains(groups, m.Group) && (!found || m.Priority > best.Priority) {
			best, found = m, true
		}
	}
	if found {
		return best.Role
	}
	return d.DefaultRole
}

// RoleExists reports whether name is a built-in console role or one of the custom role ids
// in custom.
func RoleExists(name string, custom func(id string) bool) bool {
	if _, ok := roles.BuiltIn[identity.ConsoleRole(name)]; ok {
		return name != string(identity.SignumAdministrator)
	}
	return roles.IsID(name) && custom(name)
}
