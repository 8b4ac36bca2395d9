package certificates

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/tenant"
)

// GroupIDPrefix begins the id of every certificate group.
const GroupIDPrefix = "grp_"

// MaxGroupLimit is the highest certificate limit a group may have.
const MaxGroupLimit = 100000

// Group is a certificate group of a deployment: which certificates a role's users may see
// and assign to policies. A certificate belongs to one or more groups; a group may limit how
// many certificates it holds.
type Group struct {
	ID           string
	DeploymentID string
	// Name is unique in the deployment whatever its case.
	Name string
	// Limit is the most certificates the group may hold; 0 is no limit.
	Limit int
	// Members counts the certificates in the group that are not deleted. The store keeps it
	// in the transaction of every certificate write, so that it is exact: a group is deleted
	// only at 0 and never grows over its limit.
	Members   int
	Version   int64
	CreatedAt time.Time
}

// NewGroupID is a new certificate group id.
func NewGroupID() string { return tenant.NewID(GroupIDPrefix) }

// IsGroupID reports whether s has the form of a group id. Certificates written before groups
// existed carry free-text labels instead; the store counts only group ids as members.
func IsGroupID(s string) bool { return tenant.ValidID(GroupIDPrefix, s) }

// ValidGroup checks a group's name and limit as a caller sent them and returns the name
// trimmed; every problem is reported at once as a field problem (fault.Fields).
func ValidGroup(name string, limit int) (string, error) {
	var bad fault.Fields
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 64 || strings.IndexFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		bad.Add("name", "a group name is 1 to 64 printable characters")
	}
	if limit < 0 || limit > MaxGroupLimit {
		bad.Add("certificateLimit", "must be between 0 (no limit) and %d", MaxGroupLimit)
	}
	return name, bad.Err()
}

// Members is the set of groups certificate c counts in: its group ids, none once it is
// deleted (a deleted certificate's record stays for audit but holds no group).
func (c Certificate) Members() []string {
	if c.Status == StatusDeleted {
		return nil
	}
	var out []string
	for _, g := range c.Groups {
		if IsGroupID(g) {
			out = append(out, g)
		}
	}
	return out
}

// GroupStore is what the group administration needs of the store.
type GroupStore interface {
	CreateCertificateGroup(ctx context.Context, g Group, log tenant.LogEntry) (Group, error)
	GetCertificateGroup(ctx context.Context, dep, id string) (Group, error)
	UpdateCertificateGroup(ctx context.Context, current, next Group, log tenant.LogEntry) (Group, error)
	DeleteCertificateGroup(ctx context.Context, g Group, log tenant.LogEntry) error
}

// Groups administers a deployment's certificate groups. Who may call it is the caller's
// check (the Signum Administrator only, at the API).
type Groups struct{ st GroupStore }

// NewGroups is the group administration over st.
func NewGroups(st GroupStore) *Groups { return &Groups{st: st} }

// GroupChanges are what Update changes; a nil field is left as it is. Limit 0 removes the
// limit.
type GroupChanges struct {
	Name  *string
	Limit *int
}

// Create checks name and limit and stores a new group of dep in actor's name.
func (gs *Groups) Create(ctx context.Context, dep, actor, name string, limit int) (Group, error) {
	name, err := ValidGroup(name, limit)
	if err != nil {
		return Group{}, err
	}
	g := Group{ID: NewGroupID(), DeploymentID: dep, Name: name, Limit: limit}
	return gs.st.CreateCertificateGroup(ctx, g, tenant.LogEntry{Actor: actor, Action: "certificateGroup.created", Detail: groupDetail(g)})
}

// Update renames group id of dep and/or sets its limit in actor's name, on condition that
// read (when not 0) is the version stored; the store refuses a change that lands between the
// read and the write, and a limit under the certificates the group holds.
func (gs *Groups) Update(ctx context.Context, dep, id, actor string, read int64, ch GroupChanges) (Group, error) {
	cur, err := gs.current(ctx, dep, id, read)
	if err != nil {
		return Group{}, err
	}
	next := cur
	if ch.Name != nil {
		next.Name = *ch.Name
	}
	if ch.Limit != nil {
		next.Limit = *ch.Limit
	}
	if next.Name, err = ValidGroup(next.Name, next.Limit); err != nil {
		return Group{}, err
	}
	return gs.st.UpdateCertificateGroup(ctx, cur, next, tenant.LogEntry{Actor: actor, Action: "certificateGroup.updated",
		Detail: fmt.Sprintf("%s (was %q)", groupDetail(next), fault.Clip(cur.Name, 64))})
}

// Delete removes group id of dep in actor's name, if read (when not 0) is the version
// stored and the group holds no certificate when the write lands.
func (gs *Groups) Delete(ctx context.Context, dep, id, actor string, read int64) error {
	cur, err := gs.current(ctx, dep, id, read)
	if err != nil {
		return err
	}
	return gs.st.DeleteCertificateGroup(ctx, cur, tenant.LogEntry{Actor: actor, Action: "certificateGroup.deleted", Detail: groupDetail(cur)})
}

// current reads group id of dep and checks it against read, the version the caller read
// (0: none sent).
func (gs *Groups) current(ctx context.Context, dep, id string, read int64) (Group, error) {
	cur, err := gs.st.GetCertificateGroup(ctx, dep, id)
	if err != nil {
		return Group{}, err
	}
	if read != 0 && read != cur.Version {
		return Group{}, fault.Newf(fault.ErrPrecondition, "Certificate group %s was changed by someone else (version %d, you read %d); read it again.", cur.ID, cur.Version, read)
	}
	return cur, nil
}

func groupDetail(g Group) string {
	if g.Limit > 0 {
		return fmt.Sprintf("%s %q, limit %d", g.ID, fault.Clip(g.Name, 64), g.Limit)
	}
	return fmt.Sprintf("%s %q, no limit", g.ID, fault.Clip(g.Name, 64))
}
