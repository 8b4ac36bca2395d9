package roles

import (
	"slices"
	"sort"

	"github.com/opensignum/signum/lib/identity"
)

// Scope is what a caller may do, joined from every role it holds: the highest level per area,
// the union of group rights and of domains.
type Scope struct {
	areas   map[Area]Level
	every   GroupRights
	groups  map[string]GroupRights
	domains []string
}

// ScopeOf joins the built-in roles held and the custom role, if any.
func ScopeOf(builtIn []identity.ConsoleRole, custom *Role) Scope {
	s := Scope{areas: map[Area]Level{}, groups: map[string]GroupRights{}}
	add := func(r Role) {
		for a, l := range r.Areas {
			if l.rank() > s.areas[a].rank() {
				s.areas[a] = l
			}
		}
		for id, g := range r.Groups {
			if id == EveryGroup {
				s.every = s.every.or(g)
			} else {
				s.groups[id] = s.groups[id].or(g)
			}
		}
		for _, d := range r.Domains {
			if !slices.Contains(s.domains, d) {
				s.domains = append(s.domains, d)
			}
		}
	}
	for _, b := range builtIn {
		if r, ok := BuiltIn[b]; ok {
			add(r)
		}
	}
	if custom != nil {
		add(*custom)
	}
	return s
}

// Level is the caller's level in area a.
func (s Scope) Level(a Area) Level {
	if l, ok := s.areas[a]; ok {
		return l
	}
	return None
}

// Rights are the caller's rights on group id.
func (s Scope) Rights(id string) GroupRights { return s.every.or(s.groups[id]) }

// Unscoped reports whether right holds on every group, also groups made later: such a
// caller needs no filter on listings.
func (s Scope) Unscoped(right func(GroupRights) bool) bool { return right(s.every) }

// GroupsWith are the group ids on which right holds (not counting the every-group rights;
// ask Unscoped first), sorted.
func (s Scope) GroupsWith(right func(GroupRights) bool) []string {
	var out []string
	for id, g := range s.groups {
		if right(g) {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// Any reports whether right holds on at least one of groups (a certificate's groups).
func (s Scope) Any(groups []string, right func(GroupRights) bool) bool {
	if right(s.every) {
		return true
	}
	for _, g := range groups {
		if right(s.groups[g]) {
			return true
		}
	}
	return false
}

// ManagesDomain reports whether the caller may manage the users of domain id.
func (s Scope) ManagesDomain(id string) bool {
	return s.Level(Users).AtLeast(Manage) && (slices.Contains(s.domains, EveryGroup) || slices.Contains(s.domains, id))
}

// The rights, as functions for Any, GroupsWith and Unscoped.
func View(g GroupRights) bool   { return g.View }
func Add(g GroupRights) bool    { return g.Add }
func Remove(g GroupRights) bool { return g.Remove }
func Assign(g GroupRights) bool { return g.Assign }

// Areas is the caller's level in every area.
func (s Scope) Areas() map[Area]Level {
	out := make(map[Area]Level, len(Areas))
	for _, a := range Areas {
		out[a] = s.Level(a)
	}
	return out
}

// AllRights are the caller's rights per group, EveryGroup for those on every group.
func (s Scope) AllRights() map[string]GroupRights {
	out := map[string]GroupRights{}
	if s.every != (GroupRights{}) {
		out[EveryGroup] = s.every
	}
	for id, g := range s.groups {
		if g != (GroupRights{}) {
			out[id] = g
		}
	}
	return out
}

// All reports whether right holds on every one of groups (a certificate's groups), as deleting
// or replacing a certificate acts on it in all of them.
func (s Scope) All(groups []string, right func(GroupRights) bool) bool {
	if right(s.every) {
		return true
	}
	for _, g := range groups {
		if !right(s.groups[g]) {
			return false
		}
	}
	return len(groups) > 0
}
