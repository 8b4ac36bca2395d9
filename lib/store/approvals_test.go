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

// Pattern 64: a held request is created once, read back whole, listed (by status), and
// changed only over the version read: of two approvers writing from one state exactly one
// lands.
func TestApprovalRequests(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	dep, other := tenant.NewID("dep_"), tenant.NewID("dep_")
	at := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	r := store.ApprovalRequest{ID: tenant.NewID("evt_"), DeploymentID: dep, UserID: "usr_ci", CertificateID: "crt_rel", PolicyID: "pol_1",
		Scheme: "RSASSA_PKCS1_V1_5", Digests: []store.HeldDigest{{Digest: "AAAA", Algorithm: "SHA256", FileName: "app.exe"}},
		Process: "signum", CI: map[string]string{"job": "7"}, Required: 2, Users: []string{"usr_a", "usr_b"}, Roles: []string{"releasers"},
		CreatedAt: at, Expires: at.Add(24 * time.Hour), Status: "pending", Decision: `{"id":"x"}`}
	held, err := s.CreateApprovalRequest(ctx, r)
	if err != nil || held.Version != 1 {
		t.Fatalf("ok/hold: %+v, %v", held, err)
	}
	if _, err := s.CreateApprovalRequest(ctx, r); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("fail/hold-twice: %v", err)
	}
	got, err := s.GetApprovalRequest(ctx, dep, r.ID)
	if err != nil || got.UserID != "usr_ci" || len(got.Digests) != 1 || got.Digests[0].FileName != "app.exe" || got.CI["job"] != "7" ||
		got.Required != 2 || len(got.Roles) != 1 || !got.Expires.Equal(r.Expires) || got.Status != "pending" || got.Decision != r.Decision {
		t.Fatalf("ok/read-back: %+v, %v", got, err)
	}
	if _, err := s.GetApprovalRequest(ctx, other, r.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("fail/other-deployment: %v", err)
	}

	// Two approvers from the same version: one lands, the other is stale.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, u := range []string{"usr_a", "usr_b"} {
		wg.Go(func() {
			next := got
			next.Votes = append(next.Votes, store.ApprovalVote{UserID: u, Answer: "approve", At: at.Add(time.Minute)})
			_, errs[i] = s.SaveApprovalRequest(ctx, got.Version, next)
		})
	}
	wg.Wait()
	landed := 0
	for _, err := range errs {
		switch {
		case err == nil:
			landed++
		case !errors.Is(err, store.ErrStale):
			t.Fatalf("fail/race: %v", err)
		}
	}
	if landed != 1 {
		t.Fatalf("fail/race: %d writes landed, want 1", landed)
	}
	got, err = s.GetApprovalRequest(ctx, dep, r.ID)
	if err != nil || got.Version != 2 || len(got.Votes) != 1 {
		t.Fatalf("ok/one-vote: %+v, %v", got, err)
	}

	// Listing, with and without a status.
	done := r
	done.ID, done.Status = tenant.NewID("evt_"), "signed"
	if _, err := s.CreateApprovalRequest(ctx, done); err != nil {
		t.Fatal(err)
	}
	all, err := store.All(ctx, func(ctx context.Context, pr store.PageRequest) (store.Page[store.ApprovalRequest], error) {
		return s.ListApprovalRequests(ctx, dep, "", pr)
	})
	if err != nil || len(all) != 2 {
		t.Fatalf("ok/list: %d, %v", len(all), err)
	}
	pending, err := s.ListApprovalRequests(ctx, dep, "pending", store.PageRequest{Limit: 1})
	if err != nil || len(pending.Items) != 1 || pending.Items[0].ID != r.ID || pending.Next != "" {
		t.Fatalf("ok/list-pending: %+v, %v", pending, err)
	}
	none, err := s.ListApprovalRequests(ctx, other, "", store.PageRequest{})
	if err != nil || len(none.Items) != 0 {
		t.Fatalf("ok/list-other: %+v, %v", none, err)
	}
}
