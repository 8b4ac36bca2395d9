package certificates_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/opensignum/signum/lib/certificates"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/store"
)

func TestValidGroup(t *testing.T) {
	for _, c := range []struct {
		name, in string
		limit    int
		want     string
		bad      []string
	}{
		{name: "ok/trimmed", in: "  Release ", want: "Release"},
		{name: "ok/limit", in: "Beta", limit: certificates.MaxGroupLimit, want: "Beta"},
		{name: "fail/empty", in: "  ", bad: []string{"name"}},
		{name: "fail/too-long", in: strings.Repeat("x", 65), bad: []string{"name"}},
		{name: "fail/control", in: "a\tb", bad: []string{"name"}},
		{name: "fail/negative-limit-and-name", in: "", limit: -1, bad: []string{"name", "certificateLimit"}},
		{name: "fail/limit-too-high", in: "x", limit: certificates.MaxGroupLimit + 1, bad: []string{"certificateLimit"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := certificates.ValidGroup(c.in, c.limit)
			var f fault.Fields
			errors.As(err, &f)
			var names []string
			for _, e := range f {
				names = append(names, e.Name)
			}
			if strings.Join(names, ",") != strings.Join(c.bad, ",") || (c.bad == nil && got != c.want) {
				t.Fatalf("got %q, problems %v (%v)", got, names, err)
			}
		})
	}
}

func TestMembersAreGroupIDsOfLiveCertificates(t *testing.T) {
	id := certificates.NewGroupID()
	c := certificates.Certificate{Status: certificates.StatusActive, Groups: []string{"label", id, "grp_short"}}
	if got := c.Members(); len(got) != 1 || got[0] != id {
		t.Fatalf("members %v", got)
	}
	c.Status = certificates.StatusDeleted
	if got := c.Members(); got != nil {
		t.Fatalf("a deleted certificate is in %v", got)
	}
}

func TestGroups(t *testing.T) {
	s := newStand(t)
	ctx := context.Background()
	gs := certificates.NewGroups(s.st.Store)
	g, err := gs.Create(ctx, s.dep, "admin", " Release ", 0)
	if err != nil || g.Name != "Release" || !certificates.IsGroupID(g.ID) {
		t.Fatalf("created %+v, %v", g, err)
	}
	if _, err := gs.Create(ctx, s.dep, "admin", "", -1); !errors.Is(err, fault.ErrInvalid) {
		t.Fatalf("a bad group: %v", err)
	}
	name, limit := "Release builds", 10
	if _, err := gs.Update(ctx, s.dep, g.ID, "admin", 7, certificates.GroupChanges{Name: &name}); !errors.Is(err, fault.ErrPrecondition) {
		t.Fatalf("a stale version: %v", err)
	}
	up, err := gs.Update(ctx, s.dep, g.ID, "admin", 1, certificates.GroupChanges{Name: &name, Limit: &limit})
	if err != nil || up.Name != name || up.Limit != 10 || up.Version != 2 {
		t.Fatalf("updated %+v, %v", up, err)
	}
	// A limit left out stays; a name left out stays.
	none := 0
	up, err = gs.Update(ctx, s.dep, g.ID, "admin", 0, certificates.GroupChanges{Limit: &none})
	if err != nil || up.Name != name || up.Limit != 0 {
		t.Fatalf("updated %+v, %v", up, err)
	}
	if err := gs.Delete(ctx, s.dep, g.ID, "admin", 1); !errors.Is(err, fault.ErrPrecondition) {
		t.Fatalf("a stale delete: %v", err)
	}
	if err := gs.Delete(ctx, s.dep, g.ID, "admin", up.Version); err != nil {
		t.Fatal(err)
	}
	if _, err := s.st.GetCertificateGroup(ctx, s.dep, g.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted group: %v", err)
	}
	entries, err := s.st.ListLog(ctx, s.dep, store.PageRequest{Limit: 3})
	if err != nil || len(entries.Items) != 3 || entries.Items[0].Action != "certificateGroup.deleted" || entries.Items[2].Action != "certificateGroup.updated" {
		t.Fatalf("log %+v, %v", entries, err)
	}
}

// TestCertificatesNameGroups: a certificate is created in and moved between existing groups by
// id; unknown ids and labels are field problems naming them, a full group is a conflict, and
// the member counts follow.
func TestCertificatesNameGroups(t *testing.T) {
	s := newStand(t)
	ctx := context.Background()
	release, ci := s.groups[0], s.groups[1]
	members := func(id string) int {
		g, err := s.st.GetCertificateGroup(ctx, s.dep, id)
		if err != nil {
			t.Fatal(err)
		}
		return g.Members
	}
	c, err := s.life.Create(ctx, s.dep, "cu_admin", certificates.Draft{Algorithm: "EC_P256", Subject: certificates.Subject{CommonName: "Acme"}, Groups: []string{release}})
	if err != nil || members(release) != 1 {
		t.Fatalf("created %+v, %v; members %d", c, err, members(release))
	}
	problem := func(err error, says string) {
		t.Helper()
		var f fault.Fields
		if !errors.As(err, &f) || len(f) != 1 || f[0].Name != "groups" || !strings.Contains(f[0].Reason, says) {
			t.Fatalf("%v, want a problem of groups saying %q", err, says)
		}
	}
	unknown := certificates.NewGroupID()
	_, err = s.life.Update(ctx, s.dep, "cu_admin", c.ID, certificates.Changes{Groups: &[]string{release, unknown}})
	problem(err, unknown)
	_, err = s.life.Update(ctx, s.dep, "cu_admin", c.ID, certificates.Changes{Groups: &[]string{}})
	problem(err, "at least one")
	_, err = s.life.Update(ctx, s.dep, "cu_admin", c.ID, certificates.Changes{Groups: &[]string{"release"}})
	problem(err, `"release": not a certificate group id`)

	moved, err := s.life.Update(ctx, s.dep, "cu_admin", c.ID, certificates.Changes{Groups: &[]string{ci}})
	if err != nil || !slices.Equal(moved.Groups, []string{ci}) || members(release) != 0 || members(ci) != 1 {
		t.Fatalf("moved %+v, %v; members %d %d", moved, err, members(release), members(ci))
	}

	// A full group refuses another certificate, and its key goes.
	gs := certificates.NewGroups(s.st.Store)
	one := 1
	if _, err := gs.Update(ctx, s.dep, ci, "admin", 0, certificates.GroupChanges{Limit: &one}); err != nil {
		t.Fatal(err)
	}
	_, err = s.life.Create(ctx, s.dep, "cu_admin", certificates.Draft{Algorithm: "EC_P256", Subject: certificates.Subject{CommonName: "Acme"}, Groups: []string{ci}})
	if !errors.Is(err, fault.ErrConflict) || !s.deleted(t, s.keys.generated[len(s.keys.generated)-1]) {
		t.Fatalf("over the limit: %v", err)
	}

	// Deleting the certificate empties its group, which may then go.
	if err := s.life.Delete(ctx, s.dep, "cu_admin", c.ID); err != nil || members(ci) != 0 {
		t.Fatalf("delete: %v, members %d", err, members(ci))
	}
	if err := gs.Delete(ctx, s.dep, ci, "admin", 0); err != nil {
		t.Fatal(err)
	}
}
