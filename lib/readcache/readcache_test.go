package readcache_test

import (
	"context"
	"testing"

	"github.com/opensignum/signum/lib/readcache"
)

// A request without a record may not use the cache; a fresh record may not be served from
// it; a served read is pending until Unconfirmed hands it over, once.
func TestRecord(t *testing.T) {
	ctx := context.Background()
	if r := readcache.From(ctx); r.MayServe() || r.Pending() || len(r.Unconfirmed()) != 0 {
		t.Fatal("a request without a record uses the cache")
	}
	if readcache.From(readcache.Fresh(ctx)).MayServe() {
		t.Fatal("a fresh record is served from the cache")
	}
	r := readcache.From(readcache.With(ctx))
	if !r.MayServe() || r.Pending() {
		t.Fatal("a new record")
	}
	r.Served("DEP#d", "META", 1)
	r.Served("DEP#d", "CUSER#u", 2)
	r.Served("DEP#d", "META", 3) // the same key again: the latest answer is what must hold
	if !r.Pending() {
		t.Fatal("served reads are not pending")
	}
	got := map[string]any{}
	for _, rd := range r.Unconfirmed() {
		got[rd.PK+"|"+rd.SK] = rd.Item
	}
	if len(got) != 2 || got["DEP#d|META"] != 3 || got["DEP#d|CUSER#u"] != 2 {
		t.Fatalf("unconfirmed: %v", got)
	}
	if r.Pending() || len(r.Unconfirmed()) != 0 {
		t.Fatal("confirmed reads are still pending")
	}
}
