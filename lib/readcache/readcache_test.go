package readcache_test

import (
	"context"
	"testing"

	"github.com/opensignum/signum/lib/readcache"
)

// A request without a record may not use the cache; a fresh record may not be served from
// it; a served read is pending until Unconfirmed hands it over, once; a key served two
// different items is mixed (the request must decide again).
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
	r.Served("DEP#d", "META", 1) // the same key, the same item: nothing new
	if !r.Pending() || r.Mixed() {
		t.Fatal("served reads are not pending, or one key served twice the same is mixed")
	}
	r.Served("DEP#d", "META", 3) // the same key, another item: the request saw both
	if !r.Mixed() {
		t.Fatal("a key served two different items is not mixed")
	}
	got := map[string]any{}
	for _, rd := range r.Unconfirmed() {
		got[rd.PK+"|"+rd.SK] = rd.Item
	}
	if len(got) != 2 || got["DEP#d|META"] != 1 || got["DEP#d|CUSER#u"] != 2 || r.Mixed() {
		t.Fatalf("unconfirmed: %v", got)
	}
	if r.Pending() || len(r.Unconfirmed()) != 0 {
		t.Fatal("confirmed reads are still pending")
	}
}
