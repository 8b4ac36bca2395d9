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
	CertificatePage(ctx context.Context, dep, cursor string, limit int) ([]Certificate, string, error)
	GetCertificate(ctx context.Context, dep, id string) (Certificate, error)
	UpdateCertificate(ctx context.Context, current, next Certificate, log tenant.LogEntry) (Certificate, error)
	CreateCertificateGroup(ctx context.Context, g Group, log tenant.LogEntry) (Group, error)
	CertificateGroupByName(ctx context.Context, dep, name string) (Group, error)
	PolicyPage(ctx context.Context, dep, cursor string, limit int) ([]policy.Policy, string, error)
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
// It is MigrateGroupsStep run to the end: the updater runs the same steps in bounded batches
// as release 0.2.0's migration, and the console's certificates API runs them all on a
// deployment's first request (see lib/api/certificates), whichever comes first; the other
// finds the work done.
func MigrateGroups(ctx context.Context, st MigrationStore, dep string) error {
	cursor := ""
	for {
		next, _, done, err := MigrateGroupsStep(ctx, st, dep, cursor, 100)
		if err != nil || done {
			return err
		}
		cursor = next
	}
}

// The phases of the groups migration, in order, as its cursor names them.
const (
	phaseBeside  = "policies-beside"
	phaseCerts   = "certificates"
	phaseInstead = "policies-instead"
)

// MigrateGroupsStep does one bounded batch of the groups migration: at most limit policies or
// certificates from cursor ("" at the start), and returns the cursor to go on from. Signing
// does not stop meanwhile: first every policy names each label's group beside the label,
// then the certificates move from labels to group ids, then the policies drop the labels,
// and then the deployment is marked migrated, so that a policy matches a certificate before,
// during and after. Every write is conditional on the version read and changes nothing when
// the item is migrated already, so a batch done again after a crash (the same cursor) is a
// no-op for the items it did before.
func MigrateGroupsStep(ctx context.Context, st MigrationStore, dep, cursor string, limit int) (next string, processed int, done bool, err error) {
	migrated, err := st.GroupsMigrated(ctx, dep)
	if err != nil || migrated {
		return "", 0, migrated, err
	}
	if cursor == "" {
		cursor = phaseBeside + ":"
	}
	phase, page, _ := strings.Cut(cursor, ":")
	var after string
	switch phase {
	case phaseBeside, phaseInstead:
		var ps []policy.Policy
		if ps, page, err = st.PolicyPage(ctx, dep, page, limit); err != nil {
			return "", 0, false, err
		}
		for _, p := range ps {
			if err := retryPolicy(ctx, st, dep, p.ID, phase == phaseBeside); err != nil {
				return "", 0, false, err
			}
		}
		processed, after = len(ps), phaseCerts
		if phase == phaseInstead {
			after = ""
		}
	case phaseCerts:
		var cs []Certificate
		if cs, page, err = st.CertificatePage(ctx, dep, page, limit); err != nil {
			return "", 0, false, err
		}
		for _, c := range cs {
			if err := retryCertificate(ctx, st, dep, c.ID); err != nil {
				return "", 0, false, err
			}
		}
		processed, after = len(cs), phaseInstead
	default:
		return "", 0, false, fault.Newf(fault.ErrInvalid, "The groups migration's cursor %q names no phase; start it again from the beginning.", fault.Clip(cursor, 40))
	}
	switch {
	case page != "":
		return phase + ":" + page, processed, false, nil
	case after != "":
		return after + ":", processed, false, nil
	}
	err = st.MarkGroupsMigrated(ctx, dep, tenant.LogEntry{Actor: MigrationActor, Action: "certificateGroups.migrated",
		Detail: "the free-text certificate labels became certificate groups"})
	return "", processed, err == nil, err
}

// relabel is gs with each label replaced by its group's id (ids: lower-case label → id), or
// with the id added beside the label (keep).
func relabel(ids map[string]string, gs []string, keep bool) []string {
	var out []string
	for _, g := range gs {
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

// groupIDs finds (or makes) the group of each label among gs.
func groupIDs(ctx context.Context, st MigrationStore, dep string, gs []string) (map[string]string, error) {
	ids := map[string]string{}
	for _, l := range gs {
		if !isLabel(l) || ids[strings.ToLower(l)] != "" {
			continue
		}
		g, err := st.CertificateGroupByName(ctx, dep, l)
		switch {
		case err == nil:
			ids[strings.ToLower(l)] = g.ID
		case errors.Is(err, fault.ErrNotFound):
			if ids[strings.ToLower(l)], err = groupFor(ctx, st, dep, l); err != nil {
				return nil, err
			}
		default:
			return nil, err
		}
	}
	return ids, nil
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
func retryCertificate(ctx context.Context, st MigrationStore, dep, id string) error {
	for range attempts {
		c, err := st.GetCertificate(ctx, dep, id)
		if err != nil {
			return err
		}
		ids, err := groupIDs(ctx, st, dep, c.Groups)
		if err != nil {
			return err
		}
		next := c
		next.Groups = relabel(ids, c.Groups, false)
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
func retryPolicy(ctx context.Context, st MigrationStore, dep, id string, keep bool) error {
	for range attempts {
		p, err := st.GetPolicy(ctx, dep, id)
		if errors.Is(err, fault.ErrNotFound) {
			return nil // deleted meanwhile
		}
		if err != nil {
			return err
		}
		ids, err := groupIDs(ctx, st, dep, p.What.Groups)
		if err != nil {
			return err
		}
		next := p
		next.What.Groups = relabel(ids, p.What.Groups, keep)
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
