package certificates

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/policy"
	"github.com/opensignum/signum/lib/tenant"
)

// MigrationStore is what turning labels into groups needs of the store.
type MigrationStore interface {
	GroupsMigrated(ctx context.Context, dep string) (bool, error)
	MarkGroupsMigrated(ctx context.Context, dep string, log tenant.LogEntry) error
	AllCertificates(ctx context.Context, dep string) ([]Certificate, error)
	GetCertificate(ctx context.Context, dep, id string) (Certificate, error)
	UpdateCertificate(ctx context.Context, current, next Certificate, log tenant.LogEntry) (Certificate, error)
	CreateCertificateGroup(ctx context.Context, g Group, log tenant.LogEntry) (Group, error)
	CertificateGroupByName(ctx context.Context, dep, name string) (Group, error)
	AllPolicies(ctx context.Context, dep string) ([]policy.Policy, error)
	GetPolicy(ctx context.Context, dep, id string) (policy.Policy, error)
	UpdatePolicy(ctx context.Context, dep string, current, next policy.Policy, log tenant.LogEntry) (policy.Policy, error)
}

// MigrationActor is the actor of the migration's system log entries.
const MigrationActor = "system:certificate-groups-migration"

// MigrateGroups turns dep's free-text certificate labels into certificate groups, once: each
// distinct label (compared ignoring case, as group names are) becomes a group named as the
// label, or the group of that name where one exists; certificates then name the groups' ids
// instead of the labels, and so do the policies' what.groups ("*" stays). A marker item
// records that it is done; until then it may run any number of times, also at once in several
// instances: every write is versioned, a lost race reads again and finds the work done.
//
// Signing does not stop meanwhile: policies first name each group beside its label, then the
// certificates move to ids, then the policies drop the labels, so that a policy matches a
// certificate before, during and after.
func MigrateGroups(ctx context.Context, st MigrationStore, dep string) error {
	done, err := st.GroupsMigrated(ctx, dep)
	if err != nil || done {
		return err
	}
	certs, err := st.AllCertificates(ctx, dep)
	if err != nil {
		return err
	}
	policies, err := st.AllPolicies(ctx, dep)
	if err != nil {
		return err
	}
	ids := map[string]string{} // lower-case label → group id
	var labels []string
	for _, c := range certs {
		labels = append(labels, c.Groups...)
	}
	for _, p := range policies {
		labels = append(labels, p.What.Groups...)
	}
	for _, l := range labels {
		if !isLabel(l) || ids[strings.ToLower(l)] != "" {
			continue
		}
		if ids[strings.ToLower(l)], err = groupFor(ctx, st, dep, l); err != nil {
			return err
		}
	}
	relabel := func(gs []string, keep bool) []string {
		var out []string
		for _, g := range gs {
			// A label written after the listing (none can be, by this API) stays for the next run.
			if id := ids[strings.ToLower(g)]; isLabel(g) && id != "" {
				if keep && !slices.Contains(out, g) {
					out = append(out, g)
				}
				g = id
			}
			if !slices.Contains(out, g) {
				out = append(out, g)
			}
		}
		return out
	}
	for _, keep := range []bool{true, false} {
		for _, p := range policies {
			if err := retryPolicy(ctx, st, dep, p.ID, relabel, keep); err != nil {
				return err
			}
		}
		if !keep {
			break
		}
		for _, c := range certs {
			if err := retryCertificate(ctx, st, dep, c.ID, relabel); err != nil {
				return err
			}
		}
	}
	return st.MarkGroupsMigrated(ctx, dep, tenant.LogEntry{Actor: MigrationActor, Action: "certificateGroups.migrated",
		Detail: fmt.Sprintf("%d labels became groups", len(ids))})
}

// isLabel reports whether g is a free-text label to migrate: not a group id, not the policy
// wildcard "*".
func isLabel(g string) bool { return g != "*" && !IsGroupID(g) }

// groupFor is the id of the group named label: a new one, or the one a concurrent run or an
// administrator made.
func groupFor(ctx context.Context, st MigrationStore, dep, label string) (string, error) {
	g, err := st.CreateCertificateGroup(ctx, Group{ID: NewGroupID(), DeploymentID: dep, Name: label},
		tenant.LogEntry{Actor: MigrationActor, Action: "certificateGroup.created", Detail: fmt.Sprintf("from the label %q", fault.Clip(label, 64))})
	if errors.Is(err, fault.ErrConflict) {
		g, err = st.CertificateGroupByName(ctx, dep, label)
	}
	return g.ID, err
}

// attempts bounds the retries of one object's write that keeps losing to other writers.
const attempts = 5

// retryCertificate moves certificate id from its labels to their groups, reading it again when
// another write lands first.
func retryCertificate(ctx context.Context, st MigrationStore, dep, id string, relabel func([]string, bool) []string) error {
	for range attempts {
		c, err := st.GetCertificate(ctx, dep, id)
		if err != nil {
			return err
		}
		next := c
		next.Groups = relabel(c.Groups, false)
		if slices.Equal(next.Groups, c.Groups) {
			return nil
		}
		_, err = st.UpdateCertificate(ctx, c, next, tenant.LogEntry{Actor: MigrationActor, Action: "certificate.updated",
			Detail: fmt.Sprintf("%s: groups %v (were labels %v)", c.ID, next.Groups, c.Groups)})
		if !errors.Is(err, fault.ErrPrecondition) {
			return err
		}
	}
	return fault.Newf(fault.ErrConflict, "Certificate %s kept changing while its labels became groups; retry.", id)
}

// retryPolicy names the groups in policy id's what.groups, beside the labels (keep) or
// instead of them.
func retryPolicy(ctx context.Context, st MigrationStore, dep, id string, relabel func([]string, bool) []string, keep bool) error {
	for range attempts {
		p, err := st.GetPolicy(ctx, dep, id)
		if errors.Is(err, fault.ErrNotFound) {
			return nil // deleted meanwhile
		}
		if err != nil {
			return err
		}
		next := p
		next.What.Groups = relabel(p.What.Groups, keep)
		if slices.Equal(next.What.Groups, p.What.Groups) {
			return nil
		}
		_, err = st.UpdatePolicy(ctx, dep, p, next, tenant.LogEntry{Actor: MigrationActor, Action: "policy.updated",
			Detail: fmt.Sprintf("%s: what.groups %v (were %v)", p.ID, next.What.Groups, p.What.Groups)})
		if !errors.Is(err, fault.ErrPrecondition) {
			return err
		}
	}
	return fault.Newf(fault.ErrConflict, "Policy %s kept changing while its labels became groups; retry.", id)
}
