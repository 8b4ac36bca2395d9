package updates

import (
	"context"
	"slices"
)

// Batch is what one step of a migration did: the cursor to resume from, how many items it
// went over, and whether the migration is finished.
type Batch struct {
	Cursor    string
	Processed int
	Done      bool
}

// Migration is one named data migration of a deployment. Step does at most limit items from
// cursor ("" at the start) and returns where to go on. It must be idempotent and must not
// depend on having been told its own last result: after a crash the same cursor is given
// again, and the items of that batch that were done already must come out unchanged (each
// item's change and the mark that it is done one conditional write).
type Migration func(ctx context.Context, dep, cursor string, limit int) (Batch, error)

// Registry holds the migrations releases may name, by name.
type Registry map[string]Migration

// Has reports whether a migration is registered as name.
func (r Registry) Has(name string) bool { _, ok := r[name]; return ok }

// Names are the registered names, sorted.
func (r Registry) Names() []string {
	out := make([]string, 0, len(r))
	for n := range r {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// GroupsMigration is the name of the certificate-groups migration (free-text certificate
// labels become group items; lib/certificates.MigrateGroupsStep), release 0.2.0's.
const GroupsMigration = "certificate-groups"

// EventIndexMigration is the name of the signing events' index migration: it writes the
// events indexed before the filter indexes into them (store.IndexEventsStep), after which a
// filtered listing reads a bounded number of items. It changes no data a running code reads
// differently (a listing of an unmigrated deployment still finds every event), so a release
// names it with the data version it has.
const EventIndexMigration = "event-index"
