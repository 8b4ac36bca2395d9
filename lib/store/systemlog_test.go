package store_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// logBase is the time of the first test entry: before the deployment's own provisioning
// entry, so that a range ending before now leaves that out.
var logBase = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// logFixture writes a deployment's log for the filters: one entry an hour from logBase, in
// the order below, and one entry (the fourth hour) as items were written before sections,
// objects and source addresses were stored.
func logFixture(t *testing.T, f *fixture) tenant.Deployment {
	t.Helper()
	d := f.deployment()
	ctx := context.Background()
	for i, e := range []tenant.LogEntry{
		{Actor: "console:cu_alice", Action: "certificate.created", Detail: "crt_aaaaaaaaaaaaaaaaaaaaaaaaaa (release, EC_P256 in awskms)"},
		{Actor: "console:cu_bob", Action: "policy.updated", Detail: "pol_default \"Default\"", SourceIP: "203.0.113.7"},
		{Actor: "portal:pu_carol", Action: "deployment.settings.updated", Detail: "IP allowlist [10.0.0.0/8]"},
		{}, // the old entry
		{Actor: "unknown:mallory", Action: "login.console.failed", Object: "mallory", Detail: "unknown user", SourceIP: "198.51.100.9"},
		{Actor: "console:cu_alice", Action: "consoleUser.updated", Detail: "dave: roles console-viewer"},
		{Actor: "system", Action: "fixture.other", Detail: "no section claims it"},
	} {
		at := logBase.Add(time.Duration(i) * time.Hour)
		if i == 3 {
			oldLogEntry(t, f, d.ID, at, "console:cu_bob", "certificate.deleted", "crt_bbbbbbbbbbbbbbbbbbbbbbbbbb: key scheduled for deletion")
			continue
		}
		e.ID, e.At = fmt.Sprintf("log_%02d", i), at
		must(t, f.s.AppendLog(ctx, d.ID, e))
	}
	return d
}

// oldLogEntry writes an entry as the store wrote them before sections existed.
func oldLogEntry(t *testing.T, f *fixture, dep string, at time.Time, actor, action, detail string) {
	t.Helper()
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	_, err := f.tg.Clients.DynamoDB.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: &f.tg.Table, Item: map[string]types.AttributeValue{
		"PK": s("DEP#" + dep), "SK": s("LOG#" + at.UTC().Format("2006-01-02T15:04:05.000000000Z") + "#log_old"),
		"type": s("systemLog"), "id": s("log_old"), "at": s(at.UTC().Format(time.RFC3339Nano)),
		"actor": s(actor), "action": s(action), "detail": s(detail),
		"expiresAt": &types.AttributeValueMemberN{Value: fmt.Sprint(at.Add(400 * 24 * time.Hour).Unix())},
	}})
	must(t, err)
}

// actions are the actions of entries, in order.
func actions(es []tenant.LogEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Action
	}
	return out
}

func wantActions(want ...string) func(*testing.T, store.Page[tenant.LogEntry]) {
	return func(t *testing.T, p store.Page[tenant.LogEntry]) {
		t.Helper()
		if got := actions(p.Items); !slices.Equal(got, want) || p.Next != "" {
			t.Fatalf("entries %v (next %q), want %v and no next page", got, p.Next, want)
		}
	}
}

// Pattern 7: the system log, filtered by time range (the sort key), actor, action and
// section; entries written before sections existed decode and are found by section.
func TestSearchLog(t *testing.T) {
	f := newFixture(t)
	d := logFixture(t, f)
	hour := func(n int) time.Time { return logBase.Add(time.Duration(n) * time.Hour) }
	search := func(lf store.LogFilter, pr store.PageRequest) func(context.Context) (store.Page[tenant.LogEntry], error) {
		return func(ctx context.Context) (store.Page[tenant.LogEntry], error) {
			return f.s.SearchLog(ctx, d.ID, lf, pr)
		}
	}
	all := store.LogFilter{To: hour(7)}
	run(t, f, []contract[store.Page[tenant.LogEntry]]{
		{name: "ok/range-newest-first", call: search(all, store.PageRequest{}),
			want: wantActions("fixture.other", "consoleUser.updated", "login.console.failed", "certificate.deleted", "deployment.settings.updated", "policy.updated", "certificate.created")},
		// From is inclusive, To exclusive: [hour 1, hour 3).
		{name: "ok/from-inclusive-to-exclusive", call: search(store.LogFilter{From: hour(1), To: hour(3)}, store.PageRequest{}),
			want: wantActions("deployment.settings.updated", "policy.updated")},
		{name: "ok/open-range-ends-with-provisioning", call: search(store.LogFilter{From: hour(6)}, store.PageRequest{}),
			want: wantActions("deployment.provisioned", "fixture.other")},
		{name: "ok/actor-contains", call: search(store.LogFilter{To: hour(7), Actor: "cu_alice"}, store.PageRequest{}),
			want: wantActions("consoleUser.updated", "certificate.created")},
		{name: "ok/action-prefix", call: search(store.LogFilter{To: hour(7), Action: "certificate."}, store.PageRequest{}),
			want: wantActions("certificate.deleted", "certificate.created")},
		{name: "ok/action-whole", call: search(store.LogFilter{To: hour(7), Action: "login.console.failed"}, store.PageRequest{}),
			want: wantActions("login.console.failed")},
		// The old entry has no section stored; its action says certificates.
		{name: "ok/section-finds-old-entries", call: search(store.LogFilter{To: hour(7), Section: tenant.SectionCertificates}, store.PageRequest{}),
			want: wantActions("certificate.deleted", "certificate.created")},
		{name: "ok/section-settings", call: search(store.LogFilter{Section: tenant.SectionSettings}, store.PageRequest{}),
			want: wantActions("deployment.settings.updated")},
		{name: "ok/section-deployment", call: search(store.LogFilter{Section: tenant.SectionDeployment}, store.PageRequest{}),
			want: wantActions("deployment.provisioned")},
		{name: "ok/section-login", call: search(store.LogFilter{Section: tenant.SectionLogin}, store.PageRequest{}),
			want: wantActions("login.console.failed")},
		{name: "ok/section-other", call: search(store.LogFilter{Section: tenant.SectionOther}, store.PageRequest{}),
			want: wantActions("fixture.other")},
		{name: "ok/filters-combine", call: search(store.LogFilter{To: hour(7), Actor: "cu_bob", Section: tenant.SectionCertificates}, store.PageRequest{}),
			want: wantActions("certificate.deleted")},
		{name: "ok/nothing-matches", call: search(store.LogFilter{Actor: "nobody"}, store.PageRequest{}), want: wantActions()},
		// What each entry carries: the section, the object (given, or derived from the
		// detail), the source address; the old entry decodes with derived ones and none.
		{name: "ok/entries-carry-section-object-source", call: search(all, store.PageRequest{}), want: func(t *testing.T, p store.Page[tenant.LogEntry]) {
			got := map[string]tenant.LogEntry{}
			for _, e := range p.Items {
				got[e.Action] = e
			}
			for action, want := range map[string][3]string{
				"certificate.created":         {tenant.SectionCertificates, "crt_aaaaaaaaaaaaaaaaaaaaaaaaaa", ""},
				"policy.updated":              {tenant.SectionPolicies, "pol_default", "203.0.113.7"},
				"deployment.settings.updated": {tenant.SectionSettings, "", ""},
				"certificate.deleted":         {tenant.SectionCertificates, "crt_bbbbbbbbbbbbbbbbbbbbbbbbbb", ""},
				"login.console.failed":        {tenant.SectionLogin, "mallory", "198.51.100.9"},
				"consoleUser.updated":         {tenant.SectionUsers, "dave", ""},
				"fixture.other":               {tenant.SectionOther, "", ""},
			} {
				e := got[action]
				if [3]string{e.Section, e.Object, e.SourceIP} != want {
					t.Errorf("%s: section %q object %q source %q, want %q", action, e.Section, e.Object, e.SourceIP, want)
				}
			}
			if old := got["certificate.deleted"]; old.ID != "log_old" || old.Actor != "console:cu_bob" || !old.At.Equal(hour(3)) {
				t.Errorf("old entry decoded as %+v", old)
			}
		}},
		{name: "fail/limit", call: search(all, store.PageRequest{Limit: store.MaxPageSize + 1}), wantErr: fault.ErrInvalid},
	})
}

// Pattern 7: a filtered listing reads a bounded number of entries per page: a page may be
// short, even empty, while its cursor continues, and walking the cursors finds every match
// once; a cursor belongs to its filters.
func TestSearchLogPaging(t *testing.T) {
	defer store.SetLogPaging(4, 2)()
	f := newFixture(t)
	d := f.deployment()
	ctx := context.Background()
	// 20 entries; every fifth is a login (4 matches), the rest policy changes.
	var wantLogins []string
	for i := range 20 {
		e := tenant.LogEntry{ID: fmt.Sprintf("log_%02d", i), At: logBase.Add(time.Duration(i) * time.Minute), Actor: "t", Action: "policy.updated"}
		if i%5 == 0 {
			e.Action = "login.portal.succeeded"
			wantLogins = append([]string{e.ID}, wantLogins...)
		}
		must(t, f.s.AppendLog(ctx, d.ID, e))
	}
	walk := func(lf store.LogFilter, limit int) (ids []string, pages []int, err error) {
		pr := store.PageRequest{Limit: limit}
		for range 100 {
			p, err := f.s.SearchLog(ctx, d.ID, lf, pr)
			if err != nil {
				return ids, pages, err
			}
			pages = append(pages, len(p.Items))
			for _, e := range p.Items {
				ids = append(ids, e.ID)
			}
			if p.Next == "" {
				return ids, pages, nil
			}
			pr.Cursor = p.Next
		}
		return ids, pages, errors.New("no last page")
	}
	logins := store.LogFilter{Section: tenant.SectionLogin, To: logBase.Add(time.Hour)}
	run(t, f, []contract[struct{}]{
		// 2 queries of 4 entries a page: 8 read, of which 1 or 2 logins; pages short of the
		// limit (3) keep a cursor until the range is read.
		{name: "ok/filtered-pages-short-but-complete", call: only(func(context.Context) error {
			ids, pages, err := walk(logins, 3)
			if err != nil {
				return err
			}
			if !slices.Equal(ids, wantLogins) {
				return fmt.Errorf("walked %v, want %v", ids, wantLogins)
			}
			if len(pages) < 3 || slices.Max(pages) >= 3 {
				return fmt.Errorf("page sizes %v: want several short pages", pages)
			}
			return nil
		}), after: func(*testing.T) {}},
		// Unfiltered pages are full: 20 entries in pages of 7.
		{name: "ok/unfiltered-pages-full", call: only(func(context.Context) error {
			ids, pages, err := walk(store.LogFilter{To: logBase.Add(time.Hour)}, 7)
			if err != nil {
				return err
			}
			if len(ids) != 20 || !slices.Equal(pages, []int{7, 7, 6}) {
				return fmt.Errorf("walked %d entries in pages %v", len(ids), pages)
			}
			return nil
		}), after: func(*testing.T) {}},
		{name: "fail/cursor-of-other-filters", call: only(func(ctx context.Context) error {
			p, err := f.s.SearchLog(ctx, d.ID, logins, store.PageRequest{Limit: 1})
			if err != nil || p.Next == "" {
				return fmt.Errorf("first page: %v, next %q", err, p.Next)
			}
			_, err = f.s.SearchLog(ctx, d.ID, store.LogFilter{Section: tenant.SectionPolicies}, store.PageRequest{Limit: 1, Cursor: p.Next})
			return err
		}), wantErr: store.ErrInvalidCursor},
	})
}

// Pattern 7: EachLog walks a range for an export, within a bound on what it reads.
func TestEachLog(t *testing.T) {
	f := newFixture(t)
	d := logFixture(t, f)
	stop := errors.New("stop")
	each := func(lf store.LogFilter, maxRead int, stopAt int) func(context.Context) ([]string, error) {
		return func(ctx context.Context) ([]string, error) {
			var got []string
			err := f.s.EachLog(ctx, d.ID, lf, maxRead, func(e tenant.LogEntry) error {
				got = append(got, e.Action)
				if len(got) == stopAt {
					return stop
				}
				return nil
			})
			return got, err
		}
	}
	want := func(actions ...string) func(*testing.T, []string) {
		return func(t *testing.T, got []string) {
			if !slices.Equal(got, actions) {
				t.Fatalf("walked %v, want %v", got, actions)
			}
		}
	}
	to := logBase.Add(7 * time.Hour)
	run(t, f, []contract[[]string]{
		{name: "ok/filtered", call: each(store.LogFilter{To: to, Section: tenant.SectionCertificates}, 100, 0), want: want("certificate.deleted", "certificate.created")},
		{name: "ok/all-of-a-range", call: each(store.LogFilter{From: logBase.Add(5 * time.Hour), To: to}, 100, 0), want: want("fixture.other", "consoleUser.updated")},
		{name: "fail/read-limit", call: each(store.LogFilter{To: to}, 3, 0), wantErr: store.ErrLogScanLimit},
		{name: "fail/each-stops", call: each(store.LogFilter{To: to}, 100, 2), wantErr: stop},
	})
}

// Pattern 6: a log entry records the request's source address from the context, whether it
// is appended alone or written in a change's transaction; an address given wins.
func TestLogSourceAddress(t *testing.T) {
	f := newFixture(t)
	d := f.deployment()
	ctx := tenant.WithSourceIP(context.Background(), netip.MustParseAddr("192.0.2.44"))
	sourceOf := func(action string) func(*testing.T) {
		return func(t *testing.T) {
			p, err := f.s.SearchLog(context.Background(), d.ID, store.LogFilter{Action: action}, store.PageRequest{})
			if err != nil || len(p.Items) != 1 {
				t.Fatalf("%s: %v %+v", action, err, p.Items)
			}
			if e := p.Items[0]; e.SourceIP != "192.0.2.44" && !strings.HasPrefix(action, "given") || strings.HasPrefix(action, "given") && e.SourceIP != "198.51.100.1" {
				t.Fatalf("%s recorded source %q", action, e.SourceIP)
			}
		}
	}
	run(t, f, []contract[struct{}]{
		{name: "ok/append", call: only(func(context.Context) error {
			return f.s.AppendLog(ctx, d.ID, tenant.LogEntry{Actor: "t", Action: "appended.alone"})
		}), after: sourceOf("appended.alone")},
		{name: "ok/given-wins", call: only(func(context.Context) error {
			return f.s.AppendLog(ctx, d.ID, tenant.LogEntry{Actor: "t", Action: "given.address", SourceIP: "198.51.100.1"})
		}), after: sourceOf("given.address")},
		{name: "ok/in-a-transaction", call: only(func(context.Context) error {
			_, err := f.s.CreateConsoleUser(ctx, identity.ConsoleUser{ID: tenant.NewID("cu_"), DeploymentID: d.ID, Username: "erin",
				Roles: []identity.ConsoleRole{identity.Signer}, Status: identity.StatusActive}, tenant.LogEntry{Actor: "t", Action: "consoleUser.created", Detail: "erin"})
			return err
		}), after: func(t *testing.T) {
			sourceOf("consoleUser.created")(t)
		}},
	})
}
