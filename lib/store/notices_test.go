package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// Pattern 55: a deployment's notices are stored whole over the version read; of two writers
// that read the same version exactly one stores.
func TestNotices(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	dep, other := tenant.NewID("dep_"), tenant.NewID("dep_")
	if _, err := s.GetNotices(ctx, dep); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("fail/none-stored: %v", err)
	}
	since := time.Date(2026, 12, 3, 21, 0, 0, 0, time.UTC)
	n := store.StoredNotice{ID: "certificate-expiring:crt_1", Severity: "warning", Title: "Certificate release expires on 2026-12-23",
		Detail: "Renew it.", Link: "/app/console/certificates/crt_1", Since: since}
	set, err := s.PutNotices(ctx, store.NoticeSet{DeploymentID: dep, Notices: []store.StoredNotice{n},
		Unpublished: []store.NoticeChange{{Change: "raised", Notice: n, At: since}}})
	if err != nil || set.Version != 1 {
		t.Fatalf("ok/first: %+v, %v", set, err)
	}
	got, err := s.GetNotices(ctx, dep)
	if err != nil || got.Version != 1 || len(got.Notices) != 1 || got.Notices[0] != n || len(got.Unpublished) != 1 ||
		got.Unpublished[0].Change != "raised" || got.Unpublished[0].Notice != n || !got.Unpublished[0].At.Equal(since) || got.UpdatedAt.IsZero() {
		t.Fatalf("ok/read-back: %+v, %v", got, err)
	}
	if _, err := s.PutNotices(ctx, store.NoticeSet{DeploymentID: dep}); !errors.Is(err, store.ErrStale) {
		t.Fatalf("fail/first-again: %v", err)
	}
	if _, err := s.PutNotices(ctx, store.NoticeSet{DeploymentID: dep, Version: 7}); !errors.Is(err, store.ErrStale) {
		t.Fatalf("fail/wrong-version: %v", err)
	}
	if _, err := s.GetNotices(ctx, other); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("fail/other-deployment: %v", err)
	}

	// Two writers of the same version: one stores, the other is stale.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = s.PutNotices(ctx, store.NoticeSet{DeploymentID: dep, Version: got.Version})
		})
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) || !errors.Is(errors.Join(errs...), store.ErrStale) {
		t.Fatalf("fail/concurrent: %v", errs)
	}
	cleared, err := s.GetNotices(ctx, dep)
	if err != nil || cleared.Version != 2 || len(cleared.Notices) != 0 || len(cleared.Unpublished) != 0 {
		t.Fatalf("ok/cleared: %+v, %v", cleared, err)
	}
}
