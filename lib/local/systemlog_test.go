package local_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/local"
	"github.com/opensignum/signum/lib/ratelimit"
	"github.com/opensignum/signum/lib/tenant"
)

// logEntry is an entry of GET /console/system-log as a client reads it.
type logEntry struct {
	ID, Actor, Action, Section, Object, SourceIP, Detail string
	At                                                   time.Time
}

// systemLog reads the first page of the system log with query q.
func systemLog(t *testing.T, c client, q url.Values) []logEntry {
	t.Helper()
	var p struct {
		Items []logEntry
		Next  string
	}
	c.do("GET", "/console/system-log?"+q.Encode(), nil).must(t, 200, "system log "+q.Encode()).json(t, &p)
	return p.Items
}

// find is the first entry of es with action and actor ("" for any).
func find(es []logEntry, action, actor string) (logEntry, bool) {
	i := slices.IndexFunc(es, func(e logEntry) bool { return e.Action == action && (actor == "" || e.Actor == actor) })
	if i < 0 {
		return logEntry{}, false
	}
	return es[i], true
}

// fieldsOf are the invalid-params names of a problem.
func fieldsOf(t *testing.T, r resp) []string {
	t.Helper()
	var p struct {
		Params []struct{ Name string } `json:"invalid-params"`
	}
	r.json(t, &p)
	var out []string
	for _, f := range p.Params {
		out = append(out, f.Name)
	}
	slices.Sort(out)
	return out
}

// TestSystemLogOverHTTP: console and portal logins (right, wrong, unknown user) and
// administrative changes are in the system log with their section, object and the source
// address the gateway saw; the filters narrow it and refuse bad values with 400s that name
// them; the export is CSV (quoted, formulas defused) or JSON lines, as an attachment; console
// viewers get 403.
func TestSystemLogOverHTTP(t *testing.T) {
	srv := startLocal(t)
	c := client{t: t, srv: srv}
	adminTok, adminID := register(t, c, srv.DemoAdminInvite, "ada@example.com")
	var ct struct{ Token string }
	c.as(adminTok).do("POST", "/portal/deployments/"+srv.Demo.ID+"/console-token", nil).must(t, 200, "console token").json(t, &ct)
	con := c.at(local.DemoDomain)
	admin := con.as(ct.Token)
	var sam, vera struct{ ID string }
	admin.do("POST", "/console/users", map[string]any{"username": "sam", "name": "Sam", "password": strongPassword, "roles": []string{"signer"}}).must(t, 201, "sam").json(t, &sam)
	admin.do("POST", "/console/users", map[string]any{"username": "vera", "name": "Vera", "password": strongPassword, "roles": []string{"console-viewer"}}).must(t, 201, "vera").json(t, &vera)

	login := func(username, pw string, status int) resp {
		return con.do("POST", "/console/login", map[string]string{"username": username, "password": pw}).must(t, status, "console login "+username)
	}
	login("sam", strongPassword, 200)
	login("sam", "Wrong-Horse-9-Battery", 401)
	login("ghost", "Wrong-Horse-9-Battery", 401)
	login("=HYPERLINK(\"http://x\",\"a,b\")", "Wrong-Horse-9-Battery", 401)
	c.do("POST", "/portal/login", map[string]string{"email": "ada@example.com", "password": "Wrong-Horse-9-Battery"}).must(t, 401, "portal, wrong")

	// Logins, each with its outcome, reason, actor, object and source address.
	logins := systemLog(t, admin, url.Values{"section": {"login"}})
	for _, w := range []struct{ action, actor, object, detail string }{
		{"login.console.succeeded", "console:" + sam.ID, "sam", ""},
		{"login.console.failed", "console:" + sam.ID, "sam", "wrong password (1 in a row)"},
		{"login.console.failed", "unknown:ghost", "ghost", "unknown user"},
		{"login.portal.succeeded", "portal:" + adminID, "ada@example.com", ""},
		{"login.portal.failed", "portal:" + adminID, "ada@example.com", "wrong password (1 in a row)"},
		{"login.console.succeeded", "portal:" + adminID, "ada@example.com", "opened from the portal, roles [console-admin"},
	} {
		i := slices.IndexFunc(logins, func(e logEntry) bool {
			return e.Action == w.action && e.Actor == w.actor && strings.HasPrefix(e.Detail, w.detail) && (w.detail != "" || e.Detail == "")
		})
		if i < 0 {
			t.Errorf("no %s by %s (%q) in %+v", w.action, w.actor, w.detail, logins)
			continue
		}
		if e := logins[i]; e.Object != w.object || e.SourceIP != "127.0.0.1" || e.Section != "login" {
			t.Errorf("%s by %s: object %q, source %q, section %q", w.action, w.actor, e.Object, e.SourceIP, e.Section)
		}
	}
	for _, e := range logins {
		if strings.Contains(e.Detail+e.Object+e.Actor, "Horse") {
			t.Errorf("an entry holds a password: %+v", e)
		}
	}
	// An administrative change, with the source address the store took from the request.
	changes := systemLog(t, admin, url.Values{"section": {"users"}})
	if e, ok := find(changes, "consoleUser.created", ""); !ok || e.SourceIP != "127.0.0.1" || e.Object != "vera" && e.Object != "sam" {
		t.Errorf("console user created: %+v", changes)
	}

	// Filters: actor, action prefix, time range; nothing else comes back.
	for name, c := range map[string]struct {
		q    url.Values
		keep func(logEntry) bool
	}{
		"actor":  {url.Values{"actor": {sam.ID}}, func(e logEntry) bool { return strings.Contains(e.Actor, sam.ID) }},
		"action": {url.Values{"action": {"login.console.f"}}, func(e logEntry) bool { return e.Action == "login.console.failed" }},
		"section+actor": {url.Values{"section": {"login"}, "actor": {"unknown:"}}, func(e logEntry) bool {
			return e.Section == "login" && strings.HasPrefix(e.Actor, "unknown:")
		}},
	} {
		got := systemLog(t, admin, c.q)
		if len(got) == 0 {
			t.Errorf("%s: nothing found", name)
		}
		for _, e := range got {
			if !c.keep(e) {
				t.Errorf("%s: %+v does not match", name, e)
			}
		}
	}
	all := systemLog(t, admin, url.Values{"limit": {"100"}})
	mid := all[len(all)/2].At
	newer := systemLog(t, admin, url.Values{"from": {mid.Format(time.RFC3339Nano)}, "limit": {"100"}})
	older := systemLog(t, admin, url.Values{"to": {mid.Format(time.RFC3339Nano)}, "limit": {"100"}})
	if len(newer)+len(older) != len(all) || newer[len(newer)-1].At.Before(mid) || !older[0].At.Before(mid) {
		t.Errorf("range split at %v: %d newer, %d older, %d in all", mid, len(newer), len(older), len(all))
	}

	// Bad values: 400s naming each field.
	for q, want := range map[string][]string{
		"section=bogus":  {"section"},
		"from=yesterday": {"from"},
		"from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z": {"to"},
		"action=a%20b":                      {"action"},
		"actor=" + strings.Repeat("x", 201): {"actor"},
		"limit=0&section=nope":              {"limit", "section"},
	} {
		r := admin.do("GET", "/console/system-log?"+q, nil).must(t, 400, q)
		if got := fieldsOf(t, r); !slices.Equal(got, want) || r.problemType() != "invalid-request" {
			t.Errorf("%s: fields %v (%s), want %v", q, got, r.problemType(), want)
		}
	}
	admin.do("GET", "/console/system-log/export?format=xml", nil).must(t, 400, "export format")

	// CSV export: an attachment, encoding/csv's quoting, formulas defused.
	r := admin.do("GET", "/console/system-log/export?format=csv&section=login", nil).must(t, 200, "csv export")
	if cd := r.header.Get("Content-Disposition"); !strings.HasPrefix(cd, `attachment; filename="system-log-`+srv.Demo.ID+"-") || !strings.HasSuffix(cd, `.csv"`) {
		t.Errorf("Content-Disposition %q", cd)
	}
	if ctype := r.header.Get("Content-Type"); ctype != "text/csv; charset=utf-8" {
		t.Errorf("Content-Type %q", ctype)
	}
	rows, err := csv.NewReader(strings.NewReader(r.body)).ReadAll()
	if err != nil {
		t.Fatalf("csv: %v\n%s", err, r.body)
	}
	if strings.Join(rows[0], ",") != "id,at,section,action,actor,object,sourceIp,detail" || len(rows) != len(logins)+1 {
		t.Fatalf("csv has %d rows for %d entries, header %v", len(rows), len(logins), rows[0])
	}
	if !slices.ContainsFunc(rows, func(row []string) bool { return row[5] == `'=HYPERLINK("http://x","a,b")` }) {
		t.Errorf("the formula is not defused in its cell:\n%s", r.body)
	}
	if !strings.Contains(r.body, `"'=HYPERLINK(""http://x"",""a,b"")"`) {
		t.Errorf("the cell is not quoted as RFC 4180 says:\n%s", r.body)
	}
	// JSON lines: one entry a line, all fields.
	r = admin.do("GET", "/console/system-log/export?format=jsonl&section=login&actor=unknown:", nil).must(t, 200, "jsonl export")
	lines := strings.Split(strings.TrimSuffix(r.body, "\n"), "\n")
	if len(lines) != 2 || r.header.Get("Content-Type") != "application/jsonl" || r.header.Get("X-Export-Entries") != "2" {
		t.Fatalf("jsonl: %s %q", r.header, r.body)
	}
	for _, l := range lines {
		var e logEntry
		if err := json.Unmarshal([]byte(l), &e); err != nil || e.Section != "login" || e.SourceIP != "127.0.0.1" || !strings.HasPrefix(e.Actor, "unknown:") {
			t.Errorf("jsonl line %q: %+v %v", l, e, err)
		}
	}

	// A console viewer, and a signer, may not read it.
	var vt struct{ Token string }
	login("vera", strongPassword, 200).json(t, &vt)
	viewer := con.as(vt.Token)
	for _, path := range []string{"/console/system-log", "/console/system-log/export?format=csv"} {
		if r := viewer.do("GET", path, nil).must(t, 403, "viewer "+path); r.problemType() != "forbidden" {
			t.Errorf("viewer %s: %s", path, r.body)
		}
	}
}

// TestSystemLogExportLimit: an export larger than an answer can carry is a 400 that names the
// range to narrow, not a cut file.
func TestSystemLogExportLimit(t *testing.T) {
	srv := startLocal(t)
	st := function.NewParts(envFor(srv)).Store
	ctx := context.Background()
	at := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	big := strings.Repeat("x", 100<<10)
	for i := range 60 { // 6 MB of details
		if err := st.AppendLog(ctx, srv.Demo.ID, tenant.LogEntry{At: at.Add(time.Duration(i) * time.Second), Actor: "test", Action: "fixture.big", Detail: big}); err != nil {
			t.Fatal(err)
		}
	}
	c := client{t: t, srv: srv}
	adminTok, _ := register(t, c, srv.DemoAdminInvite, "ada@example.com")
	var ct struct{ Token string }
	c.as(adminTok).do("POST", "/portal/deployments/"+srv.Demo.ID+"/console-token", nil).must(t, 200, "console token").json(t, &ct)
	admin := c.at(local.DemoDomain).as(ct.Token)
	r := admin.do("GET", "/console/system-log/export?format=jsonl&action=fixture.", nil).must(t, 400, "too large")
	if got := fieldsOf(t, r); !slices.Equal(got, []string{"from", "to"}) || !strings.Contains(r.body, "narrow the range") {
		t.Fatalf("too large: %s", r.body)
	}
	// Half the range fits.
	r = admin.do("GET", "/console/system-log/export?format=jsonl&to="+at.Add(30*time.Second).Format(time.RFC3339), nil).must(t, 200, "half")
	if r.header.Get("X-Export-Entries") != "30" {
		t.Fatalf("half the range: %s entries", r.header.Get("X-Export-Entries"))
	}
}

// TestLoginRefusalsRecordedOnce: a flood of rate-limited console logins leaves one refusal
// in the system log, not one per request.
func TestLoginRefusalsRecordedOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := local.Start(ctx, local.Options{Addr: "127.0.0.1:0", TLSAddr: "127.0.0.1:0", Log: function.NewLogger(os.Stderr, "error"),
		Limits: function.Limits{LoginPerAccount: ratelimit.Limit{N: 2, Per: time.Hour}, LoginPerAddress: ratelimit.Limit{N: 40, Per: time.Hour}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	c := client{t: t, srv: srv}
	adminTok, _ := register(t, c, srv.DemoAdminInvite, "ada@example.com")
	var ct struct{ Token string }
	c.as(adminTok).do("POST", "/portal/deployments/"+srv.Demo.ID+"/console-token", nil).must(t, 200, "console token").json(t, &ct)
	con := c.at(local.DemoDomain)
	for i := range 12 {
		want := 401
		if i >= 2 {
			want = 429
		}
		con.do("POST", "/console/login", map[string]string{"username": "ghost", "password": "Wrong-Horse-9-Battery"}).must(t, want, "flood")
	}
	got := systemLog(t, con.as(ct.Token), url.Values{"action": {"login.console."}, "actor": {"unknown:ghost"}})
	var refused, failed int
	for _, e := range got {
		switch e.Action {
		case "login.console.refused":
			refused++
			if !strings.Contains(e.Detail, "rate limited") || e.SourceIP != "127.0.0.1" {
				t.Errorf("refusal: %+v", e)
			}
		case "login.console.failed":
			failed++
		}
	}
	if refused != 1 || failed != 2 {
		t.Fatalf("%d refusals and %d failures recorded, want 1 and 2: %+v", refused, failed, got)
	}
}
