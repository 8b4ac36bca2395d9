// Package roles is what a console user may do: built-in roles, and custom roles that the
// Signum Administrator makes with a level per area of the console (none, read, manage), rights
// per certificate group (view, add, remove, assign to policies) and the domains whose users
// the role manages. A caller's Scope joins the rights of every role it holds; the access
// guard checks areas with it, and the handlers of certificates and policies check groups.
package roles

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/tenant"
)

// IDPrefix begins the id of every custom role.
const IDPrefix = "role_"

// NewID is a new custom role id.
func NewID() string { return tenant.NewID(IDPrefix) }

// IsID reports whether s has the form of a custom role id.
func IsID(s string) bool { return tenant.ValidID(IDPrefix, s) }

// Area is a part of the console a role has a level in.
type Area string

// The areas of the console.
const (
	Certificates Area = "certificates"
	Users        Area = "users"
	Domains      Area = "domains"
	Policies     Area = "policies"
	Events       Area = "events"
	SystemLog    Area = "systemLog"
	Settings     Area = "settings"
)

// Areas are every area, in the order the console shows them.
var Areas = []Area{Certificates, Users, Domains, Policies, Events, SystemLog, Settings}

// Level is what a role may do in an area.
type Level string

// Levels, each including the one before.
const (
	None   Level = "none"
	Read   Level = "read"
	Manage Level = "manage"
)

func (l Level) rank() int {
	switch l {
	case Read:
		return 1
	case Manage:
		return 2
	}
	return 0
}

// AtLeast reports whether l includes want.
func (l Level) AtLeast(want Level) bool { return l.rank() >= want.rank() }

// GroupRights are what a role may do with the certificates of one certificate group.
type GroupRights struct {
	// View sees the group's certificates (listed, read, counted).
	View bool `json:"view"`
	// Add creates certificates in the group and moves certificates into it.
	Add bool `json:"add"`
	// Remove changes, disables, renews, deletes the group's certificates and moves them out.
	Remove bool `json:"remove"`
	// Assign names the group, or its certificates, in signing policies.
	Assign bool `json:"assign"`
}

func (r GroupRights) or(o GroupRights) GroupRights {
	return GroupRights{View: r.View || o.View, Add: r.Add || o.Add, Remove: r.Remove || o.Remove, Assign: r.Assign || o.Assign}
}

// EveryGroup, as a key of Role.Groups, gives its rights on every certificate group, also
// groups made later; as an entry of Role.Domains, every domain.
const EveryGroup = "*"

// MaxGroups and MaxDomains bound a custom role's lists, so that a role stays one small item
// and a listing filtered to its groups stays within DynamoDB's 4 KB expression limit.
const (
	MaxGroups  = 100
	MaxDomains = 50
)

// Role is a built-in or custom console role.
type Role struct {
	ID           string
	DeploymentID string
	Name         string
	Description  string
	// BuiltIn roles are the product's own (console-admin, console-viewer, signer,
	// signum-administrator); they cannot be changed.
	BuiltIn bool
	Areas   map[Area]Level
	// Groups are the rights per certificate group id (EveryGroup: on every group).
	Groups map[string]GroupRights
	// Domains are the ids of the domains whose users the role manages (EveryGroup: all);
	// managing users also needs users at manage.
	Domains []string
	// Members counts the users who hold the role; the store keeps it exact in the users'
	// writes, so that a role is deleted only when nobody holds it.
	Members   int
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Level is the role's level in area a.
func (r Role) Level(a Area) Level {
	if l, ok := r.Areas[a]; ok {
		return l
	}
	return None
}

func all(l Level, except map[Area]Level) map[Area]Level {
	m := make(map[Area]Level, len(Areas))
	for _, a := range Areas {
		m[a] = l
		if x, ok := except[a]; ok {
			m[a] = x
		}
	}
	return m
}

var (
	allRights = GroupRights{View: true, Add: true, Remove: true, Assign: true}
	viewOnly  = GroupRights{View: true}
)

// BuiltIn are the product's roles, as rights. The console admin manages everything but the
// directory (domains are read; roles, groups and domains belong to the Signum Administrator,
// whose routes say so themselves); the viewer reads everything but the system log.
var BuiltIn = map[identity.ConsoleRole]Role{
	identity.ConsoleAdmin: {ID: string(identity.ConsoleAdmin), Name: "Console admin", BuiltIn: true,
		Description: "Administers the console: certificates, users, policies and settings in every group and domain.",
		Areas:       all(Manage, map[Area]Level{Domains: Read}), Groups: map[string]GroupRights{EveryGroup: allRights}, Domains: []string{EveryGroup}},
	identity.ConsoleViewer: {ID: string(identity.ConsoleViewer), Name: "Console viewer", BuiltIn: true,
		Description: "Reads the console (not the system log) and changes nothing.",
		Areas:       all(Read, map[Area]Level{SystemLog: None}), Groups: map[string]GroupRights{EveryGroup: viewOnly}},
	identity.Signer: {ID: string(identity.Signer), Name: "Signer", BuiltIn: true,
		Description: "Signs where a policy lets it; no console pages.", Areas: all(None, nil)},
	identity.SignumAdministrator: {ID: string(identity.SignumAdministrator), Name: "Signum Administrator", BuiltIn: true,
		Description: "Alone creates and changes domains, roles and certificate groups; granted by the operator.",
		Areas:       all(Manage, nil), Groups: map[string]GroupRights{EveryGroup: allRights}, Domains: []string{EveryGroup}},
}

// BuiltInList is BuiltIn in a fixed order, for listings.
func BuiltInList() []Role {
	out := make([]Role, 0, len(BuiltIn))
	for _, r := range []identity.ConsoleRole{identity.ConsoleAdmin, identity.ConsoleViewer, identity.Signer, identity.SignumAdministrator} {
		out = append(out, BuiltIn[r])
	}
	return out
}

// Validate checks a custom role as a caller sent it (groups and domains are checked for
// existence by the caller, who can read them) and returns it normalised: name trimmed, every
// area present, groups without rights dropped, domains sorted without duplicates. Every
// problem is reported at once as field problems.
func Validate(r Role) (Role, error) {
	var bad fault.Fields
	r.Name = strings.TrimSpace(r.Name)
	if r.Name == "" || len(r.Name) > 64 || strings.IndexFunc(r.Name, func(c rune) bool { return c < 0x20 || c == 0x7f }) >= 0 {
		bad.Add("name", "a role name is 1 to 64 printable characters")
	}
	if _, ok := BuiltIn[identity.ConsoleRole(strings.ToLower(r.Name))]; ok {
		bad.Add("name", "is the name of a built-in role")
	}
	r.Description = strings.TrimSpace(r.Description)
	if len(r.Description) > 500 {
		bad.Add("description", "is at most 500 bytes")
	}
	areas := map[Area]Level{}
	for a, l := range r.Areas {
		if !slices.Contains(Areas, a) {
			bad.Add(fmt.Sprintf("areas.%s", a), "is not an area: use %s", areaNames())
			continue
		}
		if l != None && l != Read && l != Manage {
			bad.Add(fmt.Sprintf("areas.%s", a), "is none, read or manage")
			continue
		}
		areas[a] = l
	}
	for _, a := range Areas {
		if _, ok := areas[a]; !ok {
			areas[a] = None
		}
	}
	r.Areas = areas
	if len(r.Groups) > MaxGroups {
		bad.Add("groups", "at most %d groups", MaxGroups)
	}
	groups := map[string]GroupRights{}
	for id, g := range r.Groups {
		if id != EveryGroup && !strings.HasPrefix(id, "grp_") {
			bad.Add(fmt.Sprintf("groups.%s", fault.Clip(id, 40)), "is not a certificate group id (grp_…) or *")
			continue
		}
		if g.Add || g.Remove || g.Assign {
			// Rights on certificates one cannot see would act blind.
			g.View = true
		}
		if g != (GroupRights{}) {
			groups[id] = g
		}
	}
	r.Groups = groups
	if len(r.Domains) > MaxDomains {
		bad.Add("domains", "at most %d domains", MaxDomains)
	}
	var domains []string
	for i, d := range r.Domains {
		d = strings.TrimSpace(d)
		if d == "" || len(d) > 64 {
			bad.Add(fmt.Sprintf("domains[%d]", i), "is a domain id or *")
			continue
		}
		if !slices.Contains(domains, d) {
			domains = append(domains, d)
		}
	}
	slices.Sort(domains)
	r.Domains = domains
	return r, bad.Err()
}

func areaNames() string {
	s := make([]string, len(Areas))
	for i, a := range Areas {
		s[i] = string(a)
	}
	return strings.Join(s, ", ")
}
