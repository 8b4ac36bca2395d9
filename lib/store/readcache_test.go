package store_test

import (
	"context"
	"crypto/x509"
	"errors"
	"testing"

	"github.com/opensignum/signum/lib/clientauth"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/readcache"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// Pattern 28: confirm the items a request was answered from the cache with.
func TestConfirmReads(t *testing.T) {
	f := newFixture(t)
	d := f.deployment()
	u := f.consoleUser(d.ID)
	c := f.certificate(d.ID)
	f.policy(d.ID) // the policies version item exists (an absent one is not cached)
	ca := newCA(t)
	unpinned, laterPinned := clientCert(t, ca, "agent-1"), clientCert(t, ca, "agent-2")
	// warm is a signer instance: its cache holds what it read for earlier requests. Changes
	// come through f.s, another instance.
	warm := store.New(f.tg.Clients.DynamoDB, f.tg.Table, randomKey())

	// request runs reads as one request that may be answered from the cache, then confirms.
	request := func(reads func(ctx context.Context) error) error {
		ctx := readcache.With(context.Background())
		if err := reads(ctx); err != nil {
			return err
		}
		return warm.ConfirmReads(ctx)
	}
	signerReads := func(cert *x509.Certificate) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			if _, err := warm.GetDeployment(ctx, d.ID); err != nil {
				return err
			}
			if _, err := warm.GetConsoleUser(ctx, d.ID, u.ID); err != nil {
				return err
			}
			if _, _, err := warm.CertificateForSigning(ctx, d.ID, c.ID); err != nil {
				return err
			}
			_, err := warm.ClientCandidates(ctx, d.ID, clientauth.NameKey(cert.RawIssuer), clientauth.ThumbprintOf(cert), clientauth.SerialOf(cert))
			return err
		}
	}
	// Warm the cache: the first request reads the table.
	must(t, request(signerReads(unpinned)))
	must(t, request(signerReads(laterPinned)))

	confirm := func(change func(ctx context.Context) error, reads func(ctx context.Context) error) func(context.Context) (struct{}, error) {
		return only(func(ctx context.Context) error {
			if err := change(ctx); err != nil {
				return err
			}
			return request(reads)
		})
	}
	unchanged := func(context.Context) error { return nil }
	run(t, f, []contract[struct{}]{
		{name: "ok/nothing-from-the-cache", call: only(func(context.Context) error { return warm.ConfirmReads(readcache.With(context.Background())) }),
			want: succeeds[struct{}]},
		{name: "ok/unchanged", call: confirm(unchanged, signerReads(unpinned)), want: succeeds[struct{}]},
		{name: "fail/user-changed", call: confirm(func(ctx context.Context) error {
			cur := f.console(u)
			next := cur
			next.Status = identity.StatusDisabled
			_, err := f.s.UpdateConsoleUser(ctx, cur, next, tenant.LogEntry{Actor: "test", Action: "consoleUser.updated"})
			return err
		}, signerReads(unpinned)), wantErr: readcache.ErrStale},
		{name: "ok/cache-refreshed-after-user-changed", call: confirm(unchanged, func(ctx context.Context) error {
			got, err := warm.GetConsoleUser(ctx, d.ID, u.ID)
			if err == nil && got.Status != identity.StatusDisabled {
				err = errors.New("the cache still serves the user as it was")
			}
			return err
		}), want: succeeds[struct{}]},
		{name: "fail/policies-changed", call: confirm(func(ctx context.Context) error {
			_, err := f.s.CreatePolicy(ctx, d.ID, newPolicy(), policyLog)
			return err
		}, signerReads(unpinned)), wantErr: readcache.ErrStale},
		{name: "fail/absent-pin-now-present", call: confirm(func(ctx context.Context) error {
			f.register(pinned(u, laterPinned))
			return nil
		}, signerReads(laterPinned)), wantErr: readcache.ErrStale},
		{name: "fail/ca-query-changed", call: confirm(func(ctx context.Context) error {
			f.register(authority(u, ca))
			return nil
		}, signerReads(unpinned)), wantErr: readcache.ErrStale},
		{name: "ok/unchanged-again", call: confirm(unchanged, signerReads(unpinned)), want: succeeds[struct{}]},
	})
}
