package function

import (
	"context"

	"github.com/opensignum/signum/lib/certificates"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/updates"
)

// Migrations are the data migrations releases may name, on st. Tests add their own to the
// registry it returns.
func Migrations(st *store.Store) updates.Registry {
	return updates.Registry{
		updates.GroupsMigration: func(ctx context.Context, dep, cursor string, limit int) (updates.Batch, error) {
			next, n, done, err := certificates.MigrateGroupsStep(ctx, st, dep, cursor, limit)
			return updates.Batch{Cursor: next, Processed: n, Done: done}, err
		},
		updates.EventIndexMigration: func(ctx context.Context, dep, cursor string, limit int) (updates.Batch, error) {
			next, n, done, err := st.IndexEventsStep(ctx, dep, cursor, limit)
			return updates.Batch{Cursor: next, Processed: n, Done: done}, err
		},
	}
}

// Updates is the software updates service of env: the running code and the migrations. It
// sends nothing to the updater's queue (messaging.UpdatesWithQueue does): health, notices
// and the operator's rollouts only read and schedule.
func Updates(env Env, p *Parts) *updates.Service {
	return &updates.Service{Store: p.Store, Migrations: Migrations(p.Store), Code: updates.Running, Now: p.Now, Log: env.Log}
}
