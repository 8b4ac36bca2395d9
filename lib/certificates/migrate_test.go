package certificates_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/opensignum/signum/lib/certificates"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/policy"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// TestMigrateGroups: free-text labels become groups once, whoever runs the migration and
// however many at once; certificates and policies then name the groups' ids.
func TestMigrateGroups(t *testing.T) {
	s := newStand(t)
	ctx := context.Background()
	st := s.st.Store
	entry := tenant.LogEntry{Actor: "test", Action: "fixture"}
	// An administrator's group already has the name of a label (in another case).
	nightly, err := st.CreateCertificateGroup(ctx, certificates.Group{ID: certificates.NewGroupID(), DeploymentID: s.dep, Name: "Nightly"}, entry)
	if err != nil {
		t.Fatal(err)
	}
	legacy := func(status certificates.Status, groups ...string) certificates.Certificate {
		c, err := st.CreateCertificate(ctx, certificates.Certificate{ID: tenant.NewID("crt_"), DeploymentID: s.dep, Name: "legacy", Status: status,
			Backend: "awskms", Algorithm: keys.ECP256, KeyURI: "awskms:///k", Subject: certificates.Subject{CommonName: "x"}, Groups: groups}, entry)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a := legacy(certificates.StatusActive, "release", "nightly")
	b := legacy(certificates.StatusActive, "Release", s.groups[0])
	gone := legacy(certificates.StatusDeleted, "old")
	none := legacy(certificates.StatusActive)
	p := policy.Policy{ID: tenant.NewID("pol_"), Name: "labels", Enabled: true, Priority: 5, Action: policy.Allow,
		What: policy.What{Groups: []string{"release", "*", "policy-only"}}, Who: policy.Who{Roles: []string{"signer"}}}
	if _, err := st.CreatePolicy(ctx, s.dep, p, entry); err != nil {
		t.Fatal(err)
	}

	// Four instances at once.
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- certificates.MigrateGroups(ctx, st, s.dep)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}

	group := func(name string) certificates.Group {
		t.Helper()
		g, err := st.CertificateGroupByName(ctx, s.dep, name)
		if err != nil {
			t.Fatalf("group %q: %v", name, err)
		}
		return g
	}
	release, old, policyOnly := group("release"), group("old"), group("policy-only")
	if group("NIGHTLY").ID != nightly.ID {
		t.Fatal("the label did not join the existing group of its name")
	}
	groups, err := store.All(ctx, func(ctx context.Context, pr store.PageRequest) (store.Page[certificates.Group], error) {
		return st.ListCertificateGroups(ctx, s.dep, pr)
	})
	if err != nil || len(groups) != 2+4 { // the stand's two, Nightly, and release, old, policy-only
		t.Fatalf("groups %+v, %v", groups, err)
	}
	cert := func(c certificates.Certificate) []string {
		t.Helper()
		got, err := st.GetCertificate(ctx, s.dep, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.Groups
	}
	if g := cert(a); !slices.Equal(g, []string{release.ID, nightly.ID}) {
		t.Fatalf("a: %v", g)
	}
	if g := cert(b); !slices.Equal(g, []string{release.ID, s.groups[0]}) {
		t.Fatalf("b: %v", g)
	}
	if g := cert(gone); !slices.Equal(g, []string{old.ID}) {
		t.Fatalf("deleted: %v", g)
	}
	if g := cert(none); len(g) != 0 {
		t.Fatalf("none: %v", g)
	}
	// Counted once each, however many instances ran; a deleted certificate is in no group.
	if release, nightly, old := group("release"), group("nightly"), group("old"); release.Members != 2 || nightly.Members != 1 || old.Members != 0 {
		t.Fatalf("members %d %d %d", release.Members, nightly.Members, old.Members)
	}
	after, err := st.GetPolicy(ctx, s.dep, p.ID)
	if err != nil || !slices.Equal(after.What.Groups, []string{release.ID, "*", policyOnly.ID}) {
		t.Fatalf("policy %+v, %v", after.What, err)
	}

	// Done: another run changes nothing.
	if err := certificates.MigrateGroups(ctx, st, s.dep); err != nil {
		t.Fatal(err)
	}
	again, _ := st.GetPolicy(ctx, s.dep, p.ID)
	if again.Version != after.Version {
		t.Fatal("a second run wrote the policy again")
	}
	log, err := store.All(ctx, func(ctx context.Context, pr store.PageRequest) (store.Page[tenant.LogEntry], error) {
		return st.ListLog(ctx, s.dep, pr)
	})
	if err != nil {
		t.Fatal(err)
	}
	marks := 0
	for _, e := range log {
		if e.Action == "certificateGroups.migrated" {
			marks++
		}
	}
	if marks != 1 {
		t.Fatalf("%d migration entries", marks)
	}
}
