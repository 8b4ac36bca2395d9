package certificates_test

import (
	"context"
	"errors"
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
