package roles

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/tenant"
)

// Store is what the administration of custom roles reads and writes (store.Store).
type Store interface {
	CreateRole(ctx context.Context, r Role, log tenant.LogEntry) (Role, error)
	GetRole(ctx context.Context, dep, id string) (Role, error)
	UpdateRole(ctx context.Context, current, next Role, log tenant.LogEntry) (Role, error)
	DeleteRole(ctx context.Context, r Role, log tenant.LogEntry) error
}

// GroupExists reports nil when certificate group id of deployment dep exists, an error of
// kind fault.ErrNotFound when it does not (the store's GetCertificateGroup, without the
// group: this package does not depend on certificates, which check groups with Scope).
type GroupExists func(ctx context.Context, dep, id string) error

// Admin creates, changes and deletes a deployment's custom roles. Who may call it is the
// caller's check (the Signum Administrator only, at the API).
type Admin struct {
	st     Store
	groups GroupExists
}

// NewAdmin is the role administration over st, checking named groups with groups.
func NewAdmin(st Store, groups GroupExists) *Admin { return &Admin{st: st, groups: groups} }

// Local is the id of the deployment's Local users domain, as a role's Domains name it.
const Local = "local"

// Certificate names the built-in Certificate users domain (users without a password, who
// authenticate with client certificates).
const Certificate = "certificate"

// domainID is the form of a domain's id. Domains as objects come later (#15 item 3): until
// then a role names "*", Local or a domain id as given, which is checked for form only.
var domainID = regexp.MustCompile(`^dom_[a-z0-9_-]{1,60}$`)

// ErrBuiltIn is the refusal to change or delete a built-in role.
var ErrBuiltIn = fmt.Errorf("roles: built-in: %w", fault.ErrConflict)

// Changes are what Update changes; a nil field is left as it is, a field sent replaces the
// role's whole field (areas not named in Areas are none).
type Changes struct {
	Name        *string
	Description *string
	Areas       *map[Area]Level
	Groups      *map[string]GroupRights
	Domains     *[]string
}

// Get returns role id of deployment dep: a built-in role by its id, else a custom role.
func (a *Admin) Get(ctx context.Context, dep, id string) (Role, error) {
	if r, ok := BuiltIn[identity.ConsoleRole(id)]; ok {
		r.DeploymentID = dep
		return r, nil
	}
	return a.st.GetRole(ctx, dep, id)
}

// Create checks r (Validate, the groups it names exist, the domains' form) and stores it as a
// new custom role of dep in actor's name.
func (a *Admin) Create(ctx context.Context, dep, actor string, r Role) (Role, error) {
	r.ID, r.DeploymentID = NewID(), dep
	r, err := a.check(ctx, r, nil)
	if err != nil {
		return Role{}, err
	}
	return a.st.CreateRole(ctx, r, tenant.LogEntry{Actor: actor, Action: "role.created", Detail: Detail(r)})
}

// Update applies ch to custom role id of dep in actor's name, on condition that read (when
// not 0) is the version stored; the store refuses a change that lands between the read and
// the write. Groups the role named already are not checked again (a group deleted since only
// leaves rights on nothing), so that an unrelated change does not fail on them.
func (a *Admin) Update(ctx context.Context, dep, id, actor string, read int64, ch Changes) (Role, error) {
	cur, err := a.current(ctx, dep, id, read)
	if err != nil {
		return Role{}, err
	}
	next := cur
	if ch.Name != nil {
		next.Name = *ch.Name
	}
	if ch.Description != nil {
		next.Description = *ch.Description
	}
	if ch.Areas != nil {
		next.Areas = *ch.Areas
	}
	if ch.Groups != nil {
		next.Groups = *ch.Groups
	}
	if ch.Domains != nil {
		next.Domains = *ch.Domains
	}
	if next, err = a.check(ctx, next, cur.Groups); err != nil {
		return Role{}, err
	}
	return a.st.UpdateRole(ctx, cur, next, tenant.LogEntry{Actor: actor, Action: "role.updated",
		Detail: fmt.Sprintf("%s (was %q)", Detail(next), fault.Clip(cur.Name, 64))})
}

// Delete removes custom role id of dep in actor's name, if read (when not 0) is the version
// stored and no user holds it when the write lands (409 saying how many do).
func (a *Admin) Delete(ctx context.Context, dep, id, actor string, read int64) error {
	cur, err := a.current(ctx, dep, id, read)
	if err != nil {
		return err
	}
	return a.st.DeleteRole(ctx, cur, tenant.LogEntry{Actor: actor, Action: "role.deleted", Detail: Detail(cur)})
}

// current reads custom role id of dep and checks it against read, the version the caller read
// (0: none sent). A built-in role is ErrBuiltIn.
func (a *Admin) current(ctx context.Context, dep, id string, read int64) (Role, error) {
	if _, ok := BuiltIn[identity.ConsoleRole(id)]; ok {
		return Role{}, fault.Newf(ErrBuiltIn, "Built-in roles cannot be changed: %s is one. Create a custom role instead.", id)
	}
	cur, err := a.st.GetRole(ctx, dep, id)
	if err != nil {
		return Role{}, err
	}
	if read != 0 && read != cur.Version {
		return Role{}, fault.Newf(fault.ErrPrecondition, "Role %s was changed by someone else (version %d, you read %d); read it again.", cur.ID, cur.Version, read)
	}
	return cur, nil
}

// check validates r and returns it normalised, with every problem at once as field problems:
// Validate's, a name of a built-in role, groups that do not exist in r's deployment (except
// those in had), domains that are not "*", Local or of a domain id's form.
func (a *Admin) check(ctx context.Context, r Role, had map[string]GroupRights) (Role, error) {
	r, err := Validate(r)
	var bad fault.Fields
	if err != nil && !errors.As(err, &bad) {
		return Role{}, err
	}
	for _, b := range BuiltIn {
		if strings.EqualFold(r.Name, b.Name) {
			bad.Add("name", "is the name of a built-in role")
		}
	}
	var missing []string
	for id := range r.Groups {
		if _, ok := had[id]; ok || id == EveryGroup {
			continue
		}
		switch err := a.groups(ctx, r.DeploymentID, id); {
		case errors.Is(err, fault.ErrNotFound):
			missing = append(missing, id)
		case err != nil:
			return Role{}, err
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		bad.Add("groups", "no certificate group has the id %s", strings.Join(missing, ", "))
	}
	for _, d := range r.Domains {
		if d != EveryGroup && d != Local && d != Certificate && !domainID.MatchString(d) {
			bad.Add("domains", "%q is not a domain: name * (every domain), local (the Local users domain), certificate (the Certificate users domain) or a domain id (dom_…)", fault.Clip(d, 64))
		}
	}
	return r, bad.Err()
}

// Detail is role r for the system log: its id, name, areas above none, groups and domains.
func Detail(r Role) string {
	var areas []string
	for _, ar := range Areas {
		if l := r.Level(ar); l != None {
			areas = append(areas, fmt.Sprintf("%s %s", ar, l))
		}
	}
	var groups []string
	for id, g := range r.Groups {
		var rights []string
		for _, x := range []struct {
			on   bool
			name string
		}{{g.View, "view"}, {g.Add, "add"}, {g.Remove, "remove"}, {g.Assign, "assign"}} {
			if x.on {
				rights = append(rights, x.name)
			}
		}
		groups = append(groups, fmt.Sprintf("%s (%s)", id, strings.Join(rights, " ")))
	}
	slices.Sort(groups)
	return fmt.Sprintf("%s %q: areas %s; groups %s; domains %s", r.ID, fault.Clip(r.Name, 64),
		orNone(strings.Join(areas, ", ")), orNone(strings.Join(groups, ", ")), orNone(strings.Join(r.Domains, ", ")))
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
