package policy

// Administration: creating, replacing and deleting a deployment's policies. The rules that
// hold whatever carries the request: a draft is checked before it is saved, a policy may not
// contradict another at its priority, and a replace names the version it was based on, so that
// a concurrent change is never silently overwritten. Every change writes a system-log entry in
// the same transaction (the store's).

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/tenant"
)

var (
	// ErrContradicts is a policy that could contradict another at its priority (409).
	ErrContradicts = fmt.Errorf("policy: could contradict another: %w", fault.ErrConflict)
	// ErrStale is a change based on a version of the policy that is no longer current (412).
	ErrStale = fmt.Errorf("policy: stale version: %w", fault.ErrPrecondition)
	// ErrLimit is a change that would take the deployment over MaxPolicies or
	// MaxDeploymentProgram (409): the request is well formed, but the deployment holds too
	// much already.
	ErrLimit = fmt.Errorf("policy: deployment limit: %w", fault.ErrConflict)
)

// Lister reads every policy of a deployment (store.Store).
type Lister interface {
	AllPolicies(ctx context.Context, dep string) ([]Policy, error)
}

// Load reads every policy of dep from l and validates each: one that no longer validates
// stays in the list unvalidated and fails closed in the engine (it can never allow).
func Load(ctx context.Context, l Lister, dep string) ([]Policy, error) {
	ps, err := l.AllPolicies(ctx, dep)
	if err != nil {
		return nil, err
	}
	for i := range ps {
		_ = ps[i].Validate()
	}
	return ps, nil
}

// AdminStore is what administration needs of the table (store.Store). The writes are
// conditional: a create fails when the id exists, an update or delete when the policy is no
// longer the version passed as current.
type AdminStore interface {
	Lister
	GetPolicy(ctx context.Context, dep, id string) (Policy, error)
	CreatePolicy(ctx context.Context, dep string, p Policy, log tenant.LogEntry) (Policy, error)
	UpdatePolicy(ctx context.Context, dep string, current, next Policy, log tenant.LogEntry) (Policy, error)
	DeletePolicy(ctx context.Context, dep string, p Policy, log tenant.LogEntry) error
}

// Admin creates, replaces and deletes policies. It is safe for concurrent use.
type Admin struct{ st AdminStore }

// NewAdmin returns the administration of the policies in st.
func NewAdmin(st AdminStore) *Admin { return &Admin{st: st} }

// Draft is a policy as an administrator writes it, before it is checked: week days are
// names ("monday", any case). Draft.Policy turns it into a Policy.
type Draft struct {
	Name     string
	Enabled  bool
	Priority int
	Action   Action
	What     What
	Who      Who
	Where    []Application
	When     DraftSchedule
	// RequireTimestamp is Policy.RequireTimestamp.
	RequireTimestamp bool
	Grant            *Grant
	Approval         *Approval
}

// DraftSchedule is a Schedule whose windows' days are names.
type DraftSchedule struct {
	TimeZone            string
	Windows             []DraftWindow
	NotBefore, NotAfter time.Time
}

// DraftWindow is a Window whose days are names.
type DraftWindow struct {
	Days     []string
	From, To string
}

var weekdays = map[string]time.Weekday{"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday,
	"wednesday": time.Wednesday, "thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday}

// Policy is d as the policy id, validated. Errors are fault.Fields: first the days that are
// no week day ("when.windows[0].days"), and only when the days are right, Validate's.
func (d Draft) Policy(id string) (Policy, error) {
	p := Policy{ID: id, Name: strings.TrimSpace(d.Name), Enabled: d.Enabled, Priority: d.Priority, Action: d.Action,
		What: d.What, Who: d.Who, Where: d.Where, RequireTimestamp: d.RequireTimestamp, Grant: d.Grant, Approval: d.Approval}
	var bad fault.Fields
	p.When = Schedule{TimeZone: d.When.TimeZone, NotBefore: d.When.NotBefore, NotAfter: d.When.NotAfter}
	for i, win := range d.When.Windows {
		pw := Window{From: win.From, To: win.To}
		for _, day := range win.Days {
			wd, ok := weekdays[strings.ToLower(day)]
			if !ok {
				bad.Add(fmt.Sprintf("when.windows[%d].days", i), "%q is not a week day (monday … sunday)", fault.Clip(day, 20))
				continue
			}
			pw.Days = append(pw.Days, wd)
		}
		p.When.Windows = append(p.When.Windows, pw)
	}
	if err := bad.Err(); err != nil {
		return Policy{}, err
	}
	if err := p.Validate(); err != nil {
		return Policy{}, err
	}
	return p, nil
}

// Expected is the version of a policy a change was based on, as the caller sent it.
type Expected struct {
	// Version is the version the caller read; 0 when it sent none.
	Version int64
	// Err, when set, says that what the caller sent is no version. Replace returns it only
	// once the policy is found: an unknown policy is not found, whatever was sent.
	Err error
}

// Create checks d and saves it as a new policy of dep (version 1) in actor's name.
func (a *Admin) Create(ctx context.Context, dep string, d Draft, actor string) (Policy, error) {
	p, err := d.Policy(tenant.NewID("pol_"))
	if err != nil {
		return Policy{}, err
	}
	if err := groupIDs(p); err != nil {
		return Policy{}, err
	}
	if err := a.checkDeployment(ctx, dep, p, true); err != nil {
		return Policy{}, err
	}
	return a.st.CreatePolicy(ctx, dep, p, tenant.LogEntry{Actor: actor, Action: "policy.created",
		Detail: fmt.Sprintf("%s %q: %s at priority %d", p.ID, p.Name, p.Action, p.Priority)})
}

// Replace writes d over policy id of dep in actor's name, on condition that read is the
// version stored. In order: the policy must exist, read must be a version (a field error on
// "version" when none was sent) and the current one (ErrStale), d must be valid and
// contradict no other policy. The store refuses a change that lands between the read and the
// write.
func (a *Admin) Replace(ctx context.Context, dep, id string, read Expected, d Draft, actor string) (Policy, error) {
	cur, err := a.st.GetPolicy(ctx, dep, id)
	if err != nil {
		return Policy{}, err
	}
	if read.Err != nil {
		return Policy{}, read.Err
	}
	if read.Version == 0 {
		return Policy{}, fault.Fields{{Name: "version", Reason: "send the version you read (or If-Match) so that concurrent changes are not lost"}}
	}
	if read.Version != cur.Version {
		return Policy{}, fault.Newf(ErrStale, "Policy %s was changed by someone else (version %d, you read %d); read it again.", cur.ID, cur.Version, read.Version)
	}
	next, err := d.Policy(cur.ID)
	if err != nil {
		return Policy{}, err
	}
	if err := groupIDs(next); err != nil {
		return Policy{}, err
	}
	if err := a.checkDeployment(ctx, dep, next, false); err != nil {
		return Policy{}, err
	}
	return a.st.UpdatePolicy(ctx, dep, cur, next, tenant.LogEntry{Actor: actor, Action: "policy.updated",
		Detail: fmt.Sprintf("%s %q: %s at priority %d, enabled %v", cur.ID, next.Name, next.Action, next.Priority, next.Enabled)})
}

// Delete removes policy id of dep in actor's name. It removes the version it reads: the store
// refuses when the policy changed in between.
func (a *Admin) Delete(ctx context.Context, dep, id, actor string) error {
	p, err := a.st.GetPolicy(ctx, dep, id)
	if err != nil {
		return err
	}
	return a.st.DeletePolicy(ctx, dep, p, tenant.LogEntry{Actor: actor, Action: "policy.deleted", Detail: fmt.Sprintf("%s %q", p.ID, p.Name)})
}

// groupIDs refuses a policy whose what.groups names anything but certificate group ids
// (grp_..., see /console/certificate-groups) or "*": groups are named by id since labels
// became groups. It is checked where administrators write policies, not in Validate, so that
// a stored policy of a deployment whose labels were not migrated yet still decides.
func groupIDs(p Policy) error {
	var wrong []string
	for _, g := range p.What.Groups {
		if g != "*" && !tenant.ValidID("grp_", g) {
			wrong = append(wrong, fmt.Sprintf("%q", fault.Clip(g, 40)))
		}
	}
	if len(wrong) > 0 {
		return fault.Fields{{Name: "what.groups", Reason: strings.Join(wrong, ", ") + `: not a certificate group id (grp_...) or "*"; use the ids of GET /console/certificate-groups`}}
	}
	return nil
}

// checkDeployment refuses p, new or replacing its previous version, when the deployment
// would go over its limits (ErrLimit: MaxPolicies for a new policy, MaxDeploymentProgram),
// or when p could contradict another policy of dep (ErrContradicts): Deny would win such a
// tie, which is safe but rarely what the administrator meant.
//
// The limits are checked on the policies as read here; two administrators creating policies
// at the same instant can each be let through at the last place left, which leaves the
// deployment over by one policy per concurrent write, not unbounded.
func (a *Admin) checkDeployment(ctx context.Context, dep string, p Policy, isNew bool) error {
	existing, err := Load(ctx, a.st, dep)
	if err != nil {
		return err
	}
	if isNew && len(existing) >= MaxPolicies {
		return fault.Newf(ErrLimit, "This deployment has %d policies, the most it may hold (%d): delete or merge some first.", len(existing), MaxPolicies)
	}
	total := program(&p)
	for i := range existing {
		if existing[i].ID != p.ID {
			total += program(&existing[i])
		}
	}
	if total > MaxDeploymentProgram {
		return fault.Newf(ErrLimit, "With this policy the where patterns of the deployment's policies would compile to %d instructions, more than the %d allowed (this policy's: %d): simplify or remove patterns, here or in other policies.",
			total, MaxDeploymentProgram, program(&p))
	}
	if ids := Conflicts(existing, p); len(ids) > 0 {
		return fault.Newf(ErrContradicts, "At priority %d this policy could contradict %s: give one of them another priority or make their certificates or users disjoint.", p.Priority, strings.Join(ids, ", "))
	}
	return nil
}
