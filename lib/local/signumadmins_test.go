package local_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// TestSignumAdministrators grants, lists, revokes and moves the Signum Administrator role
// through the operator API, with every refusal, the system log entries, and the change
// reaching a holder's console at the next request. (Who may call the routes at all is
// TestAuthorizationMatrix's: the operator only, never a portal user, the Signum
// Administrator included.)
func TestSignumAdministrators(t *testing.T) {
	srv := startLocal(t)
	ctx := context.Background()
	parts := function.NewParts(envFor(srv))
	st := parts.Store

	var d, o struct{ ID string }
	signed(t, srv, "POST", "/operator/deployments", `{"name":"Roles","domainName":"roles.localhost"}`).must(t, 201, "provision").json(t, &d)
	signed(t, srv, "POST", "/operator/deployments", `{"name":"Other","domainName":"roles-other.localhost"}`).must(t, 201, "provision other").json(t, &o)
	register := func(dep string, role identity.PortalRole, sa bool) identity.PortalUser {
		t.Helper()
		_, hash := identity.NewInviteToken()
		if err := st.CreateInvite(ctx, hash, identity.Invite{DeploymentID: dep, Role: role, SignumAdmin: sa, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		u, err := st.Register(ctx, hash, identity.PortalUser{ID: identity.NewPortalUserID(), DeploymentID: dep,
			Email: strings.ToLower(tenant.NewID("u")) + "@example.com", Role: role, Status: identity.StatusActive, SignumAdmin: sa})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	first := register(d.ID, identity.RoleAdmin, true)
	admin := register(d.ID, identity.RoleAdmin, false)
	viewer := register(d.ID, identity.RoleViewer, false)
	off := register(d.ID, identity.RoleAdmin, false)
	disabled := off
	disabled.Status = identity.StatusDisabled
	if _, err := st.UpdatePortalUser(ctx, off, disabled, tenant.LogEntry{Actor: "test", Action: "fixture"}); err != nil {
		t.Fatal(err)
	}
	stranger := register(o.ID, identity.RoleAdmin, false)

	base := "/operator/deployments/" + d.ID + "/signum-administrators"
	body := func(id string) string { return fmt.Sprintf(`{"userId":%q}`, id) }
	holders := func(want ...identity.PortalUser) {
		t.Helper()
		var got struct {
			Items []struct{ UserID, Email string }
		}
		signed(t, srv, "GET", base, "").must(t, 200, "list").json(t, &got)
		var ids, wantIDs []string
		for _, h := range got.Items {
			ids = append(ids, h.UserID+" "+h.Email)
		}
		for _, u := range want {
			wantIDs = append(wantIDs, u.ID+" "+u.Email)
		}
		slices.Sort(ids)
		slices.Sort(wantIDs)
		if fmt.Sprint(ids) != fmt.Sprint(wantIDs) {
			t.Fatalf("holders %v, want %v", ids, wantIDs)
		}
	}
	refused := func(r resp, status int, problem, detail string) {
		t.Helper()
		var p struct{ Detail string }
		r.json(t, &p)
		if r.status != status || r.problemType() != problem || !strings.Contains(p.Detail, detail) {
			t.Fatalf("answered %d %s, want %d %s saying %q", r.status, r.body, status, problem, detail)
		}
	}
	log := func() []tenant.LogEntry {
		t.Helper()
		entries, err := store.All(ctx, func(ctx context.Context, pr store.PageRequest) (store.Page[tenant.LogEntry], error) {
			return st.ListLog(ctx, d.ID, pr)
		})
		if err != nil {
			t.Fatal(err)
		}
		return entries
	}
	logged := func(action string, mentions ...identity.PortalUser) {
		t.Helper()
		e := log()[0]
		if e.Action != action || e.Actor != "operator" {
			t.Fatalf("newest log entry %+v, want %s by operator", e, action)
		}
		for _, u := range mentions {
			if !strings.Contains(e.Detail, u.Email) || !strings.Contains(e.Detail, u.ID) {
				t.Fatalf("log entry %q does not name %s (%s)", e.Detail, u.Email, u.ID)
			}
		}
	}

	// A console token of admin's, issued before any change: the guard reads the roles as
	// stored at each request, so a grant or revoke applies to its next request.
	tok, _, err := parts.Issuer.Issue(ctx, claims("console", admin.ID, d.ID, []string{"console-admin", "signer"}))
	if err != nil {
		t.Fatal(err)
	}
	console := client{t: t, srv: srv, host: "roles.localhost", token: tok}
	// PATCH /console/domains/local is the Signum Administrator's only; an empty body is
	// admitted and changes nothing.
	saRoute := func(want int) {
		t.Helper()
		console.do("PATCH", "/console/domains/local", `{}`).must(t, want, "the Signum Administrator's route")
	}
	saRoute(403)

	holders(first)

	// Grant.
	r := signed(t, srv, "POST", base, body(admin.ID)).must(t, 201, "grant")
	if loc := r.header.Get("Location"); loc != base+"/"+admin.ID {
		t.Fatalf("Location %q", loc)
	}
	var granted struct{ UserID, Email string }
	r.json(t, &granted)
	if granted.UserID != admin.ID || granted.Email != admin.Email {
		t.Fatalf("granted %s", r.body)
	}
	holders(first, admin)
	logged("signumAdministrator.granted", admin)
	saRoute(200)
	entries := len(log())
	signed(t, srv, "POST", base, body(admin.ID)).must(t, 200, "grant again")
	if len(log()) != entries {
		t.Fatal("a grant that changed nothing was logged")
	}

	// Refused grants: nothing written.
	refused(signed(t, srv, "POST", base, body(viewer.ID)), 409, "conflict", "Only an active Admin")
	refused(signed(t, srv, "POST", base, body(off.ID)), 409, "conflict", "is disabled")
	refused(signed(t, srv, "POST", base, body(identity.NewPortalUserID())), 404, "not-found", "No portal user")
	refused(signed(t, srv, "POST", base, body(stranger.ID)), 404, "not-found", "No portal user")
	refused(signed(t, srv, "POST", base, body(identity.NewConsoleUserID())), 400, "invalid-request", "userId")
	refused(signed(t, srv, "POST", base, `{"userId":"`+admin.ID+`","role":"Admin"}`), 400, "invalid-request", "role")
	refused(signed(t, srv, "POST", "/operator/deployments/"+tenant.NewID("dep_")+"/signum-administrators", body(admin.ID)), 404, "not-found", "No deployment")
	holders(first, admin)
	if len(log()) != entries {
		t.Fatal("a refused grant was logged")
	}

	// Revoke.
	signed(t, srv, "DELETE", base+"/"+first.ID, "").must(t, 204, "revoke")
	holders(admin)
	logged("signumAdministrator.revoked", first)
	if u, err := st.GetPortalUser(ctx, d.ID, first.ID); err != nil || u.Role != identity.RoleAdmin || u.Status != identity.StatusActive {
		t.Fatalf("the revoked holder stays an active Admin: %+v, %v", u, err)
	}
	refused(signed(t, srv, "DELETE", base+"/"+admin.ID, ""), 409, "conflict", "only Signum Administrator")
	refused(signed(t, srv, "DELETE", base+"/"+first.ID, ""), 404, "not-found", "No Signum Administrator")
	refused(signed(t, srv, "DELETE", base+"/"+stranger.ID, ""), 404, "not-found", "No Signum Administrator")
	holders(admin)

	// Move: the role goes from admin to first in one write; admin's console loses it.
	var moved struct {
		Items []struct{ UserID string }
	}
	signed(t, srv, "PUT", base, body(first.ID)).must(t, 200, "move").json(t, &moved)
	if len(moved.Items) != 1 || moved.Items[0].UserID != first.ID {
		t.Fatalf("moved: %+v", moved)
	}
	holders(first)
	logged("signumAdministrator.moved", first, admin)
	if d := log()[0].Detail; !strings.HasPrefix(d, "to "+first.Email) {
		t.Fatalf("the move's entry %q does not say to whom first", d)
	}
	saRoute(403)
	entries = len(log())
	signed(t, srv, "PUT", base, body(first.ID)).must(t, 200, "move to the only holder")
	if len(log()) != entries {
		t.Fatal("a move that changed nothing was logged")
	}
	refused(signed(t, srv, "PUT", base, body(viewer.ID)), 409, "conflict", "Only an active Admin")
	refused(signed(t, srv, "PUT", base, body(stranger.ID)), 404, "not-found", "No portal user")
	holders(first)

	// A move from several holders leaves one.
	signed(t, srv, "POST", base, body(admin.ID)).must(t, 201, "grant again")
	third := register(d.ID, identity.RoleAdmin, false)
	signed(t, srv, "PUT", base, body(third.ID)).must(t, 200, "move from two")
	holders(third)
	logged("signumAdministrator.moved", third, first, admin)

	// The customer's side still cannot move it, and its refusal says where it is done.
	if _, err := identity.NewPortalUsers(st, time.Now).Update(ctx, d.ID, third.ID, "portal:"+admin.ID,
		identity.PortalUserPatch{Role: ptr("Viewer")}, func(identity.PortalUser) error { return nil }); err == nil ||
		!strings.Contains(detailOf(err), "/operator/deployments/{id}/signum-administrators") {
		t.Fatalf("demoting the Signum Administrator in the portal: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

// detailOf is the caller-safe detail of err, as its problem would carry it.
func detailOf(err error) string { d, _ := fault.DetailOf(err); return d }
