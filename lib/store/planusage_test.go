package store_test

import (
	"context"
	"testing"

	"github.com/opensignum/signum/lib/certificates"
	"github.com/opensignum/signum/lib/tenant"
)

// Pattern 43: what a plan limits, counted when something is added: a deployment's
// certificates that are not deleted, its console users; another deployment's never.
func TestPlanUsage(t *testing.T) {
	f := newFixture(t)
	d, other, empty := seedUsage(t, f)

	certificatesOf := func(dep string, upTo int) func(context.Context) (int, error) {
		return func(ctx context.Context) (int, error) { return f.s.CountCertificates(ctx, dep, upTo) }
	}
	usersOf := func(dep string, upTo int) func(context.Context) (int, error) {
		return func(ctx context.Context) (int, error) { return f.s.CountConsoleUsers(ctx, dep, upTo) }
	}
	is := func(want int) func(*testing.T, int) {
		return func(t *testing.T, got int) {
			if got != want {
				t.Fatalf("counted %d, want %d", got, want)
			}
		}
	}
	atLeast := func(want int) func(*testing.T, int) {
		return func(t *testing.T, got int) {
			if got < want {
				t.Fatalf("counted %d, want at least %d", got, want)
			}
		}
	}
	run(t, f, []contract[int]{
		{name: "ok/certificates-not-deleted", call: certificatesOf(d.ID, 0), want: is(2)},
		{name: "ok/certificates-under-the-bound", call: certificatesOf(d.ID, 5), want: is(2)},
		{name: "ok/certificates-at-the-bound", call: certificatesOf(d.ID, 1), want: atLeast(1)},
		{name: "ok/certificates-none", call: certificatesOf(empty.ID, 0), want: is(0)},
		{name: "ok/console-users-not-removed", call: usersOf(d.ID, 0), want: is(2)},
		{name: "ok/console-users-at-the-bound", call: usersOf(d.ID, 2), want: atLeast(2)},
		{name: "ok/console-users-none", call: usersOf(empty.ID, 10), want: is(0)},
		{name: "ok/other-deployment", call: usersOf(other.ID, 0), want: is(1)},
	})
}

// seedUsage makes three deployments: d with 2 certificates that count and 1 deleted, and 2
// console users (a third removed); other with 1 of each; empty with none.
func seedUsage(t *testing.T, f *fixture) (d, other, empty tenant.Deployment) {
	t.Helper()
	ctx := context.Background()
	d, other, empty = f.deployment(), f.deployment(), f.deployment()
	var certs []certificates.Certificate
	for range 3 {
		certs = append(certs, f.certificate(d.ID))
	}
	deleted := certs[0]
	deleted.Status = certificates.StatusDeleted
	_, err := f.s.UpdateCertificate(ctx, certs[0], deleted, tenant.LogEntry{Actor: "test", Action: "certificate.deleted"})
	must(t, err)
	f.certificate(other.ID)
	gone := f.consoleUser(d.ID)
	f.consoleUser(d.ID)
	f.consoleUser(d.ID)
	must(t, f.s.DeleteConsoleUser(ctx, gone, tenant.LogEntry{Actor: "test", Action: "consoleUser.deleted"}))
	f.consoleUser(other.ID)
	return d, other, empty
}
