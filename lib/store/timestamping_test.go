package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
	"github.com/opensignum/signum/lib/timestamping"
)

// TestTimestamping: a deployment has no authorities until they are put; a put over the
// version read replaces them (with a log entry), a put over an old version is stale and
// writes nothing, and another deployment's are its own.
func TestTimestamping(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	d, other := f.deployment(), f.deployment()
	got, err := f.s.GetTimestamping(ctx, d.ID)
	if err != nil || got.Version != 0 || len(got.URLs) != 0 {
		t.Fatalf("unset: %+v, %v", got, err)
	}
	log := tenant.LogEntry{Actor: "test", Action: "timestamping.updated"}
	first, err := f.s.PutTimestamping(ctx, d.ID, 0, timestamping.Settings{URLs: []string{"http://tsa.example/a"}, CAPEM: "pem"}, log)
	if err != nil || first.Version != 1 {
		t.Fatalf("first put: %+v, %v", first, err)
	}
	// A second first put (another admin who read nothing set) is stale.
	if _, err := f.s.PutTimestamping(ctx, d.ID, 0, timestamping.Settings{URLs: []string{"http://lost"}}, log); !errors.Is(err, store.ErrStale) {
		t.Fatalf("second first put: %v", err)
	}
	next, err := f.s.PutTimestamping(ctx, d.ID, 1, timestamping.Settings{URLs: []string{"http://tsa.example/b", "https://tsa.example/c"}, UpdatedBy: "usr_1"}, log)
	if err != nil || next.Version != 2 {
		t.Fatalf("replace: %+v, %v", next, err)
	}
	if _, err := f.s.PutTimestamping(ctx, d.ID, 1, timestamping.Settings{URLs: []string{"http://lost"}}, log); !errors.Is(err, store.ErrStale) {
		t.Fatalf("put over version 1: %v", err)
	}
	got, err = f.s.GetTimestamping(ctx, d.ID)
	if err != nil || got.Version != 2 || !slices.Equal(got.URLs, next.URLs) || got.CAPEM != "" || got.UpdatedBy != "usr_1" || got.UpdatedAt.IsZero() {
		t.Fatalf("read back: %+v, %v", got, err)
	}
	if o, err := f.s.GetTimestamping(ctx, other.ID); err != nil || o.Version != 0 {
		t.Fatalf("other deployment: %+v, %v", o, err)
	}
}
