package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/certificates"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// Pattern 19: create, read, list and change certificates.
func TestCertificates(t *testing.T) {
	f := newFixture(t)
	d, other := f.deployment(), f.deployment()
	existing := f.certificate(d.ID)
	stale := f.certificate(d.ID)
	_, err := f.s.UpdateCertificate(context.Background(), stale, stale, tenant.LogEntry{Actor: "test", Action: "certificate.updated"})
	must(t, err)
	f.certificate(other.ID)
	fresh := newCertificate(d.ID)
	fresh.SANs = []string{"acme.example.com"}
	entry := tenant.LogEntry{Actor: "test", Action: "certificate.created"}

	get := func(dep, id string) func(context.Context) (certificates.Certificate, error) {
		return func(ctx context.Context) (certificates.Certificate, error) { return f.s.GetCertificate(ctx, dep, id) }
	}
	stored := func(id string) certificates.Certificate {
		c, err := f.s.GetCertificate(context.Background(), d.ID, id)
		must(f.t, err)
		return c
	}
	notAfter := time.Now().AddDate(1, 0, 0).UTC().Truncate(time.Second)
	activate := func(c *certificates.Certificate) {
		c.Status, c.ChainPEM, c.Serial, c.NotAfter = certificates.StatusActive, "-----BEGIN CERTIFICATE-----", "1a2b", notAfter
		c.Renewal = &certificates.Renewal{KeyURI: "awskms:///key-2", Algorithm: keys.ECP384, CSRPEM: "csr-2", RequestedAt: notAfter}
	}
	update := func(current certificates.Certificate) func(context.Context) (certificates.Certificate, error) {
		return func(ctx context.Context) (certificates.Certificate, error) {
			next := current
			activate(&next)
			return f.s.UpdateCertificate(ctx, current, next, tenant.LogEntry{Actor: "test", Action: "certificate.imported"})
		}
	}
	run(t, f, []contract[certificates.Certificate]{
		{name: "ok/create", call: func(ctx context.Context) (certificates.Certificate, error) {
			return f.s.CreateCertificate(ctx, fresh, entry)
		},
			want: func(t *testing.T, got certificates.Certificate) {
				if got.Version != 1 || got.CreatedAt.IsZero() || !got.CreatedAt.Equal(got.UpdatedAt) {
					t.Fatalf("created %+v", got)
				}
			}, after: func(t *testing.T) {
				got := stored(fresh.ID)
				if got.Name != fresh.Name || got.Subject != fresh.Subject || got.KeyURI != fresh.KeyURI || got.Algorithm != keys.ECP256 ||
					strings.Join(got.SANs, ",") != "acme.example.com" || strings.Join(got.Groups, ",") != "release" || got.Status != certificates.StatusPending {
					t.Fatalf("stored %+v", got)
				}
				if f.logActions(d.ID)[0] != "certificate.created" {
					t.Fatal("no log entry")
				}
			}},
		// Empty lists (a client that sends "sans": [] and "groups": []) are stored so that the
		// certificate still reads back.
		{name: "ok/create-empty-lists", call: func(ctx context.Context) (certificates.Certificate, error) {
			empty := newCertificate(f.deployment().ID)
			empty.SANs, empty.Groups = []string{}, []string{}
			return f.s.CreateCertificate(ctx, empty, entry)
		}, want: func(t *testing.T, got certificates.Certificate) {
			back, err := f.s.GetCertificate(context.Background(), got.DeploymentID, got.ID)
			if err != nil || len(back.SANs) != 0 || len(back.Groups) != 0 {
				t.Fatalf("read back %+v %v", back, err)
			}
			page, err := f.s.ListCertificates(context.Background(), got.DeploymentID, store.PageRequest{Limit: 10})
			if err != nil || len(page.Items) != 1 {
				t.Fatalf("listed %+v %v", page, err)
			}
		}},
		{name: "fail/id-taken-after-create", call: func(ctx context.Context) (certificates.Certificate, error) {
			again := fresh
			again.Name = "other"
			return f.s.CreateCertificate(ctx, again, entry)
		}, wantErr: store.ErrConflict, wantDetail: "A certificate with the id", after: func(t *testing.T) {
			if stored(fresh.ID).Name != fresh.Name {
				t.Fatal("the existing certificate was overwritten")
			}
		}},
		{name: "ok/get", call: get(d.ID, existing.ID), want: func(t *testing.T, got certificates.Certificate) {
			if got.ID != existing.ID || got.DeploymentID != d.ID || got.Version != 1 {
				t.Fatalf("got %+v", got)
			}
		}},
		{name: "fail/get-unknown", call: get(d.ID, "crt_nothing"), wantErr: store.ErrNotFound, wantDetail: "No certificate has the id"},
		{name: "fail/get-over-long-id", call: get(d.ID, strings.Repeat("c", 2000)), wantErr: store.ErrNotFound},
		{name: "fail/get-of-other-deployment", call: get(other.ID, existing.ID), wantErr: store.ErrNotFound},
		{name: "ok/update", call: update(existing), want: func(t *testing.T, got certificates.Certificate) {
			if got.Version != 2 || got.UpdatedAt.Before(existing.UpdatedAt) {
				t.Fatalf("updated %+v", got)
			}
		}, after: func(t *testing.T) {
			got := stored(existing.ID)
			r := got.Renewal
			if got.Status != certificates.StatusActive || !got.NotAfter.Equal(notAfter) || got.Serial != "1a2b" ||
				r == nil || r.KeyURI != "awskms:///key-2" || r.Algorithm != keys.ECP384 || !r.RequestedAt.Equal(notAfter) {
				t.Fatalf("stored %+v (renewal %+v)", got, r)
			}
		}},
		{name: "fail/update-stale", call: update(stale), wantErr: store.ErrStale, after: func(t *testing.T) {
			if stored(stale.ID).Status != certificates.StatusPending {
				t.Fatal("a stale write landed")
			}
		}},
	})

	run(t, f, []contract[store.Page[certificates.Certificate]]{
		{name: "ok/list", call: func(ctx context.Context) (store.Page[certificates.Certificate], error) {
			return f.s.ListCertificates(ctx, d.ID, store.PageRequest{})
		}, want: func(t *testing.T, got store.Page[certificates.Certificate]) {
			ids := map[string]bool{}
			for _, c := range got.Items {
				ids[c.ID] = c.DeploymentID == d.ID
			}
			if len(ids) != 3 || !ids[existing.ID] || !ids[stale.ID] || !ids[fresh.ID] {
				t.Fatalf("listed %v", ids)
			}
		}},
	})
}

// forSigning is what CertificateForSigning returns.
type forSigning struct {
	cert    certificates.Certificate
	version int64
}

// Pattern 27: read what a signature needs — the certificate and the policies version.
func TestCertificateForSigning(t *testing.T) {
	f := newFixture(t)
	d, bare := f.deployment(), f.deployment()
	c := f.certificate(d.ID)
	f.policy(d.ID)
	f.policy(d.ID)
	b := f.certificate(bare.ID)
	read := func(dep, id string) func(context.Context) (forSigning, error) {
		return func(ctx context.Context) (forSigning, error) {
			cert, v, err := f.s.CertificateForSigning(ctx, dep, id)
			return forSigning{cert, v}, err
		}
	}
	is := func(want certificates.Certificate, version int64) func(*testing.T, forSigning) {
		return func(t *testing.T, got forSigning) {
			if got.cert.ID != want.ID || got.cert.KeyURI != want.KeyURI || got.version != version {
				t.Fatalf("got %s at policies version %d, want %s at %d", got.cert.ID, got.version, want.ID, version)
			}
		}
	}
	run(t, f, []contract[forSigning]{
		{name: "ok", call: read(d.ID, c.ID), want: is(c, 2)},
		{name: "ok/no-policy-change-yet", call: read(bare.ID, b.ID), want: is(b, 0)},
		{name: "fail/unknown-certificate", call: read(d.ID, "crt_nothing"), wantErr: store.ErrNotFound, wantDetail: "No certificate has the id"},
		{name: "fail/certificate-of-other-deployment", call: read(bare.ID, c.ID), wantErr: store.ErrNotFound},
		{name: "fail/over-long-id", call: read(d.ID, strings.Repeat("c", 2000)), wantErr: store.ErrNotFound},
	})
}
