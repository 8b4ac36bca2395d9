package local_test

import (
	"strings"
	"testing"

	"github.com/opensignum/signum/lib/local"
)

type roleJSON struct {
	ID, Name, Description string
	BuiltIn               bool
	Areas                 map[string]string
	Groups                []struct {
		GroupID                   string
		View, Add, Remove, Assign bool
	}
	Domains   []string
	UserCount *int
	Version   int64
}

// TestRoles: the Signum Administrator creates, reads, changes and deletes custom roles through
// the API and gives them to console users; console admins and viewers read them and change
// nothing; each refusal is its own problem.
func TestRoles(t *testing.T) {
	srv := startLocal(t)
	sa := consoleAdmin(t, srv)
	detail := func(r resp) string {
		var p struct{ Detail string }
		r.json(t, &p)
		return p.Detail
	}
	// A console admin and a console viewer, logged in with passwords.
	login := func(username, role string) client {
		sa.do("POST", "/console/users", map[string]any{"username": username, "password": strongPassword, "roles": []string{role}}).must(t, 201, "create "+username)
		var lg struct{ Token string }
		c := client{t: t, srv: srv}.at(local.DemoDomain)
		c.do("POST", "/console/login", map[string]string{"username": username, "password": strongPassword}).must(t, 200, username+" logs in").json(t, &lg)
		return c.as(lg.Token)
	}
	admin, viewer := login("cadmin", "console-admin"), login("cviewer", "console-viewer")
	var release groupJSON
	sa.do("POST", "/console/certificate-groups", map[string]any{"name": "Release"}).must(t, 201, "group").json(t, &release)

	// Create: the body as the console's form sends it.
	body := map[string]any{"name": " Release managers ", "description": "Ship releases",
		"areas":   map[string]string{"certificates": "manage", "policies": "read"},
		"groups":  []map[string]any{{"groupId": release.ID, "add": true, "assign": true}, {"groupId": "*", "view": true}},
		"domains": []string{"local"}}
	admin.do("POST", "/console/roles", body).must(t, 403, "console admin creates")
	viewer.do("POST", "/console/roles", body).must(t, 403, "console viewer creates")
	var role roleJSON
	r := sa.do("POST", "/console/roles", body).must(t, 201, "create")
	r.json(t, &role)
	if role.Name != "Release managers" || role.BuiltIn || role.Version != 1 || role.UserCount == nil || *role.UserCount != 0 ||
		role.Areas["certificates"] != "manage" || role.Areas["policies"] != "read" || role.Areas["systemLog"] != "none" || len(role.Areas) != 7 ||
		len(role.Groups) != 2 || role.Groups[0].GroupID != "*" || !role.Groups[0].View || role.Groups[0].Add ||
		role.Groups[1].GroupID != release.ID || !role.Groups[1].View || !role.Groups[1].Add || !role.Groups[1].Assign || role.Groups[1].Remove ||
		strings.Join(role.Domains, ",") != "local" || r.header.Get("ETag") != `"1"` || r.header.Get("Location") != "/console/roles/"+role.ID {
		t.Fatalf("created %+v %v", role, r.header)
	}
	path := "/console/roles/" + role.ID

	// Refusals of a create: a taken name in any case, a built-in role's name, bad fields all
	// at once, a group that does not exist, a group named twice.
	if d := detail(sa.do("POST", "/console/roles", map[string]any{"name": "RELEASE MANAGERS"}).must(t, 409, "name taken")); !strings.Contains(d, "exists") {
		t.Fatalf("taken name: %s", d)
	}
	sa.do("POST", "/console/roles", map[string]any{"name": "Console viewer"}).must(t, 400, "built-in name")
	bad := sa.do("POST", "/console/roles", map[string]any{"name": "", "areas": map[string]string{"billing": "read", "events": "all"},
		"groups":  []map[string]any{{"groupId": "grp_missing0000000000000000000", "view": true}, {"groupId": "Release", "view": true}},
		"domains": []string{"ldap"}}).must(t, 400, "bad fields")
	for _, field := range []string{`"name"`, `"areas.billing"`, `"areas.events"`, `"groups"`, `"groups.Release"`, `"domains"`} {
		if !strings.Contains(bad.body, field) {
			t.Fatalf("no problem for %s: %s", field, bad.body)
		}
	}
	twice := sa.do("POST", "/console/roles", map[string]any{"name": "Twice", "groups": []map[string]any{{"groupId": "*", "view": true}, {"groupId": "*", "add": true}}}).must(t, 400, "group twice")
	if !strings.Contains(twice.body, "named twice") {
		t.Fatalf("group twice: %s", twice.body)
	}
	sa.do("POST", "/console/roles", `{"name":"x","matrixProbe":1}`).must(t, 400, "unknown field")

	// Reads: built-in roles first, marked, then the custom ones; every reader.
	for _, c := range []client{sa, admin, viewer} {
		var list struct{ Items []roleJSON }
		c.do("GET", "/console/roles", nil).must(t, 200, "list").json(t, &list)
		if len(list.Items) != 5 || !list.Items[0].BuiltIn || list.Items[0].ID != "console-admin" || list.Items[3].ID != "signum-administrator" ||
			list.Items[4].ID != role.ID || list.Items[4].BuiltIn || list.Items[0].UserCount != nil {
			t.Fatalf("listed %+v", list.Items)
		}
	}
	var limited struct {
		Items []roleJSON
		Next  string
	}
	sa.do("POST", "/console/roles", map[string]any{"name": "Second"}).must(t, 201, "second role")
	sa.do("GET", "/console/roles?limit=1", nil).must(t, 200, "first page").json(t, &limited)
	if len(limited.Items) != 5 || limited.Next == "" {
		t.Fatalf("first page %+v", limited)
	}
	// Custom roles come in the order of their ids: the other one is on the second page.
	first, next := limited.Items[4].Name, limited.Next
	limited.Items, limited.Next = nil, ""
	sa.do("GET", "/console/roles?limit=1&cursor="+next, nil).must(t, 200, "second page").json(t, &limited)
	if len(limited.Items) != 1 || limited.Items[0].BuiltIn || limited.Items[0].Name == first || limited.Next != "" {
		t.Fatalf("second page %+v after %s", limited, first)
	}
	var viewerRole roleJSON
	g := viewer.do("GET", "/console/roles/console-viewer", nil).must(t, 200, "built-in role")
	g.json(t, &viewerRole)
	if !viewerRole.BuiltIn || viewerRole.Areas["systemLog"] != "none" || viewerRole.Areas["events"] != "read" || g.header.Get("ETag") != "" {
		t.Fatalf("built-in %+v", viewerRole)
	}
	if g := admin.do("GET", path, nil).must(t, 200, "get"); g.header.Get("ETag") != `"1"` {
		t.Fatalf("no ETag: %v", g.header)
	}
	sa.do("GET", "/console/roles/role_nothing", nil).must(t, 404, "unknown role")

	// Changes: only the Signum Administrator; built-in roles never; If-Match stale or
	// malformed is 412.
	admin.do("PATCH", path, map[string]any{"name": "Mine"}).must(t, 403, "console admin changes")
	viewer.do("DELETE", path, nil).must(t, 403, "console viewer deletes")
	if d := detail(sa.do("PATCH", "/console/roles/console-admin", map[string]any{"name": "Mine"}).must(t, 409, "change built-in")); !strings.Contains(d, "Built-in roles cannot be changed") {
		t.Fatalf("built-in change: %s", d)
	}
	sa.do("DELETE", "/console/roles/signum-administrator", nil).must(t, 409, "delete built-in")
	sa.do("PATCH", path, map[string]any{"name": "Releasers"}, "If-Match", `"7"`).must(t, 412, "stale If-Match")
	sa.do("PATCH", path, map[string]any{"name": "Releasers"}, "If-Match", `W/"1"`).must(t, 412, "weak If-Match")
	sa.do("PATCH", path, map[string]any{"areas": map[string]string{"events": "write"}}).must(t, 400, "bad level")
	sa.do("PATCH", path, map[string]any{"name": "second"}).must(t, 409, "rename to a taken name")
	sa.do("PATCH", path, map[string]any{"name": "Releasers", "groups": []map[string]any{{"groupId": release.ID, "view": true, "remove": true}}},
		"If-Match", `"1"`).must(t, 200, "change").json(t, &role)
	if role.Name != "Releasers" || role.Version != 2 || len(role.Groups) != 1 || !role.Groups[0].Remove || role.Areas["certificates"] != "manage" ||
		role.Description != "Ship releases" || len(role.Domains) != 1 {
		t.Fatalf("changed %+v", role)
	}

	// Users: only the Signum Administrator gives a custom role; an unknown id is a problem of
	// the field role; the role counts its users.
	admin.do("POST", "/console/users", map[string]any{"username": "rita", "password": strongPassword, "roles": []string{"signer"}, "role": role.ID}).must(t, 403, "console admin gives a role")
	for _, id := range []string{"console-admin", "role_doesnotexist000000000000000", "nonsense"} {
		if b := sa.do("POST", "/console/users", map[string]any{"username": "rita", "password": strongPassword, "roles": []string{"signer"}, "role": id}).must(t, 400, "unknown role "+id).body; !strings.Contains(b, `"role"`) {
			t.Fatalf("unknown role %s: %s", id, b)
		}
	}
	var rita struct{ ID, Role string }
	sa.do("POST", "/console/users", map[string]any{"username": "rita", "password": strongPassword, "roles": []string{"signer"}, "role": role.ID}).must(t, 201, "user with role").json(t, &rita)
	if rita.Role != role.ID {
		t.Fatalf("user %+v", rita)
	}
	var sam struct{ ID, Role string }
	admin.do("POST", "/console/users", map[string]any{"username": "sam", "password": strongPassword, "roles": []string{"signer"}}).must(t, 201, "user without role").json(t, &sam)
	admin.do("PATCH", "/console/users/"+sam.ID, map[string]any{"role": role.ID}).must(t, 403, "console admin changes a role")
	admin.do("PATCH", "/console/users/"+sam.ID, map[string]any{"name": "Sam"}).must(t, 200, "console admin changes a name")
	sa.do("PATCH", "/console/users/"+sam.ID, map[string]any{"role": "role_doesnotexist000000000000000"}).must(t, 400, "patch unknown role")
	sa.do("PATCH", "/console/users/"+sam.ID, map[string]any{"role": role.ID}).must(t, 200, "give role").json(t, &sam)
	viewer.do("GET", "/console/users/"+sam.ID, nil).must(t, 200, "user").json(t, &sam)
	if sam.Role != role.ID {
		t.Fatalf("user %+v", sam)
	}
	count := func(want int) {
		t.Helper()
		var got roleJSON
		viewer.do("GET", path, nil).must(t, 200, "count").json(t, &got)
		if got.UserCount == nil || *got.UserCount != want {
			t.Fatalf("userCount %v, want %d", got.UserCount, want)
		}
	}
	count(2)

	// Not while users hold it: the problem says how many and what to do first.
	if d := detail(sa.do("DELETE", path, nil).must(t, 409, "delete held")); !strings.Contains(d, "held by 2 users") || !strings.Contains(d, "give its 2 users another role first") {
		t.Fatalf("held delete: %s", d)
	}
	sa.do("PATCH", "/console/users/"+sam.ID, map[string]any{"role": ""}).must(t, 200, "clear role").json(t, &sam)
	if sam.Role != "" {
		t.Fatalf("cleared %+v", sam)
	}
	count(1)
	admin.do("DELETE", "/console/users/"+rita.ID, nil).must(t, 204, "remove holder")
	count(0)
	sa.do("DELETE", path, nil, "If-Match", `"1"`).must(t, 412, "stale delete")
	sa.do("DELETE", path, nil, "If-Match", `"2"`).must(t, 204, "delete")
	sa.do("GET", path, nil).must(t, 404, "deleted")
	sa.do("PATCH", "/console/users/"+sam.ID, map[string]any{"role": role.ID}).must(t, 400, "give a deleted role")
	sa.do("POST", "/console/roles", map[string]any{"name": "releasers"}).must(t, 201, "name free again")
}
