package login_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/login"
	"github.com/opensignum/signum/lib/ratelimit"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// logins are the login entries of the fixture's deployment, oldest first.
func (f fixture) logins(t *testing.T) []tenant.LogEntry {
	t.Helper()
	p, err := f.st.SearchLog(context.Background(), f.dep, store.LogFilter{Section: tenant.SectionLogin}, store.PageRequest{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]tenant.LogEntry, len(p.Items))
	for i, e := range p.Items {
		out[len(out)-1-i] = e
	}
	return out
}

func describe(es []tenant.LogEntry) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "\n  %s %s obj=%s ip=%s %q", e.Action, e.Actor, e.Object, e.SourceIP, e.Detail)
	}
	return b.String()
}

// Every console and portal login attempt, right or wrong, is in the deployment's system log
// with its outcome, reason, user and source address; an unknown console name is recorded as
// the name tried, marked unknown; no entry holds the password.
func TestLoginsAreRecorded(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	now := time.Now()
	// Each attempt a millisecond after the one before, so that the log's order is theirs.
	tick := func() time.Time { now = now.Add(time.Millisecond); return now }
	addr := netip.MustParseAddr("203.0.113.5")
	console := func(name, p string) error {
		_, _, err := login.Password(ctx, login.Console(f.st, f.dep, login.Limits{}), issuer{}, tick(), name, p, addr)
		return err
	}
	portal := func(email, p string) error {
		_, _, err := login.Password(ctx, login.Portal(f.st, login.Limits{}), issuer{}, tick(), email, p, addr)
		return err
	}
	const wrong = "Wrong-Horse-9-Battery"
	if err := console("carol", pw); err != nil {
		t.Fatal(err)
	}
	if err := console("Carol", wrong); !errors.Is(err, login.ErrFailed) {
		t.Fatal(err)
	}
	if err := console("mallory\x00\n", wrong); !errors.Is(err, login.ErrFailed) {
		t.Fatal(err)
	}
	if err := portal("ada@example.com", pw); err != nil {
		t.Fatal(err)
	}
	if err := portal("Ada@Example.com", wrong); !errors.Is(err, login.ErrFailed) {
		t.Fatal(err)
	}
	// An address no portal user has belongs to no deployment: nothing to record it in.
	if err := portal("nobody@example.com", wrong); !errors.Is(err, login.ErrFailed) {
		t.Fatal(err)
	}
	got := f.logins(t)
	type want struct{ action, actor, object, detail string }
	wants := []want{
		{"login.console.succeeded", "console:" + f.console.ID, "carol", ""},
		{"login.console.failed", "console:" + f.console.ID, "carol", "wrong password (1 in a row)"},
		{"login.console.failed", "unknown:mallory", "mallory", "unknown user"},
		{"login.portal.succeeded", "portal:" + f.portal.ID, "ada@example.com", ""},
		{"login.portal.failed", "portal:" + f.portal.ID, "ada@example.com", "wrong password (1 in a row)"},
	}
	if len(got) != len(wants) {
		t.Fatalf("login entries:%s", describe(got))
	}
	for i, w := range wants {
		e := got[i]
		if e.Action != w.action || e.Actor != w.actor || e.Object != w.object || e.Detail != w.detail || e.SourceIP != "203.0.113.5" || e.Section != tenant.SectionLogin {
			t.Errorf("entry %d: %s %s obj=%s ip=%s %q, want %+v", i, e.Action, e.Actor, e.Object, e.SourceIP, e.Detail, w)
		}
		if strings.Contains(fmt.Sprintf("%+v", e), "Horse") {
			t.Errorf("entry %d holds a password: %+v", i, e)
		}
	}
}

// The reasons of refused attempts: a disabled user, a locked one, an expired password.
func TestLoginFailureReasons(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	now := time.Now()
	console := func(p string) error {
		now = now.Add(time.Millisecond)
		_, _, err := login.Password(ctx, login.Console(f.st, f.dep, login.Limits{}), issuer{}, now, "carol", p, from)
		return err
	}
	dom, err := f.st.GetLocalDomain(ctx, f.dep)
	if err != nil {
		t.Fatal(err)
	}
	// Lock after the default number of failures.
	for range dom.Lockout.MaxFailures {
		if err := console("Wrong-Horse-9-Battery"); !errors.Is(err, login.ErrFailed) {
			t.Fatal(err)
		}
	}
	if err := console(pw); !errors.Is(err, login.ErrFailed) {
		t.Fatalf("locked: %v", err)
	}
	got := f.logins(t)
	if last := got[len(got)-1]; last.Detail != "locked after too many failed attempts" {
		t.Fatalf("locked:%s", describe(got))
	}
	u, err := f.st.GetConsoleUser(ctx, f.dep, f.console.ID)
	if err != nil {
		t.Fatal(err)
	}
	next := u
	next.Status = identity.StatusDisabled
	next.Credentials.Unlock()
	if _, err := f.st.UpdateConsoleUser(ctx, u, next, tenant.LogEntry{Actor: "test", Action: "consoleUser.updated"}); err != nil {
		t.Fatal(err)
	}
	if err := console(pw); !errors.Is(err, login.ErrFailed) {
		t.Fatalf("disabled: %v", err)
	}
	got = f.logins(t)
	if last := got[len(got)-1]; last.Detail != "disabled" || last.Actor != "console:"+f.console.ID {
		t.Fatalf("disabled:%s", describe(got))
	}
}

// failingLog is a store whose system log cannot be written.
type failingLog struct{ *store.Store }

func (failingLog) AppendLog(context.Context, string, tenant.LogEntry) error {
	return fault.Wrap(store.ErrUnavailable, errors.New("log table down"), "The database is unavailable; retry later.")
}

// A login whose record cannot be written fails closed: no token for the right password, and
// the write's error (not a plain 401) for a wrong one.
func TestLoginRecordFailsClosed(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, p := range []string{pw, "Wrong-Horse-9-Battery"} {
		tok, _, err := login.Password(ctx, login.Console(failingLog{f.st}, f.dep, login.Limits{}), issuer{}, time.Now(), "carol", p, from)
		if tok != "" || !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("password %q: token %q, error %v", p[:5], tok, err)
		}
		tok, _, err = login.Password(ctx, login.Portal(failingLog{f.st}, login.Limits{}), issuer{}, time.Now(), "ada@example.com", p, from)
		if tok != "" || !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("portal, password %q: token %q, error %v", p[:5], tok, err)
		}
	}
	if got := f.logins(t); len(got) != 0 {
		t.Fatalf("entries written:%s", describe(got))
	}
}

// Rate-limited refusals are recorded, but a flood of them is not: once per account and
// window, and once per address and window, however many names the address tries.
func TestRefusalsAreRecordedOncePerWindow(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	limits := login.Limits{PerAccount: ratelimit.Limit{N: 2, Per: time.Minute}, PerAddress: ratelimit.Limit{N: 4, Per: time.Minute}}
	now := time.Date(2026, 12, 3, 12, 0, 10, 0, time.UTC)
	console := func(name, addr string) error {
		now = now.Add(time.Millisecond)
		_, _, err := login.Password(ctx, login.Console(f.st, f.dep, limits), issuer{}, now, name, "Wrong-Horse-9-Battery", netip.MustParseAddr(addr))
		return err
	}
	refusals := func() []tenant.LogEntry {
		var out []tenant.LogEntry
		for _, e := range f.logins(t) {
			if e.Action == "login.console.refused" {
				out = append(out, e)
			}
		}
		return out
	}
	// Account carol from many addresses: two attempts, then twenty refusals, one recorded.
	for i := range 22 {
		if err := console("carol", fmt.Sprintf("192.0.2.%d", 10+i)); err != nil && !errors.Is(err, login.ErrFailed) && !errors.Is(err, fault.ErrTooManyRequests) {
			t.Fatal(err)
		}
	}
	r := refusals()
	if len(r) != 1 || r[0].Actor != "console:"+f.console.ID || r[0].SourceIP != "192.0.2.12" || !strings.Contains(r[0].Detail, "rate limited: Too many requests: logins to this account") {
		t.Fatalf("account flood:%s", describe(r))
	}
	// One address cycling through names: four attempts, then refusals, one recorded.
	for i := range 30 {
		if err := console(fmt.Sprintf("spray-%d", i), "198.51.100.7"); err != nil && !errors.Is(err, login.ErrFailed) && !errors.Is(err, fault.ErrTooManyRequests) {
			t.Fatal(err)
		}
	}
	r = refusals()
	if len(r) != 2 || r[1].Actor != "unknown:spray-4" || r[1].SourceIP != "198.51.100.7" {
		t.Fatalf("address flood:%s", describe(r))
	}
	// The next window records the next first refusal.
	now = now.Add(time.Minute)
	for range 3 {
		_ = console("carol", "192.0.2.200")
	}
	if r = refusals(); len(r) != 3 {
		t.Fatalf("next window:%s", describe(r))
	}
}
