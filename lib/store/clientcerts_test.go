package store_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/certificates/certstest"
	"github.com/opensignum/signum/lib/clientauth"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

var credLog = tenant.LogEntry{Actor: "test", Action: "clientCredential.changed"}

// newCA is a throw-away CA whose intermediate issues client certificates.
func newCA(t *testing.T) *certstest.CA {
	t.Helper()
	ca, err := certstest.New()
	must(t, err)
	return ca
}

// clientCert issues a client certificate from ca's intermediate.
func clientCert(t *testing.T, ca *certstest.CA, cn string) *x509.Certificate {
	t.Helper()
	c, err := ca.Client(pkix.Name{CommonName: cn}, certstest.Leaf{})
	must(t, err)
	return c.Leaf
}

func pinned(u identity.ConsoleUser, cert *x509.Certificate) clientauth.Credential {
	return clientauth.Credential{ID: tenant.NewID("ccr_"), DeploymentID: u.DeploymentID, UserID: u.ID, Kind: clientauth.Pinned,
		Name: "agent", CertificateDER: cert.Raw, CreatedAt: time.Now().UTC().Truncate(time.Second), CreatedBy: "cu_admin"}
}

func authority(u identity.ConsoleUser, ca *certstest.CA) clientauth.Credential {
	return clientauth.Credential{ID: tenant.NewID("ccr_"), DeploymentID: u.DeploymentID, UserID: u.ID, Kind: clientauth.Authority,
		Name: "issuing CA", CertificateDER: ca.Intermediate.Raw, CreatedAt: time.Now().UTC().Truncate(time.Second),
		Rules: []clientauth.Rule{{Field: clientauth.Subject, Pattern: "CN=agent-.*"}}}
}

// register registers c for its user at the user's current version.
func (f *fixture) register(c clientauth.Credential) clientauth.Credential {
	f.t.Helper()
	u, err := f.s.GetConsoleUser(context.Background(), c.DeploymentID, c.UserID)
	must(f.t, err)
	got, err := f.s.CreateClientCredential(context.Background(), c, u.Version, credLog)
	must(f.t, err)
	return got
}

// candidates are what authentication reads for cert in dep.
func (f *fixture) candidates(ctx context.Context, dep string, cert *x509.Certificate) (clientauth.Candidates, error) {
	return f.s.ClientCandidates(ctx, dep, clientauth.NameKey(cert.RawIssuer), clientauth.ThumbprintOf(cert), clientauth.SerialOf(cert))
}

// Pattern 24: register, read, list, count and remove client certificate credentials; a
// removed console user's go with it.
func TestClientCredentials(t *testing.T) {
	f := newFixture(t)
	d := f.deployment()
	u, v, leaving := f.consoleUser(d.ID), f.consoleUser(d.ID), f.consoleUser(d.ID)
	ca := newCA(t)
	agent := clientCert(t, ca, "agent-1")
	pin, caCred, stalePin := pinned(u, agent), authority(u, ca), pinned(u, clientCert(t, ca, "agent-2"))
	leavingPin := f.register(pinned(leaving, clientCert(t, ca, "agent-3")))
	leavingCA := f.register(authority(leaving, ca))
	issuerKey := clientauth.NameKey(ca.Intermediate.RawSubject)

	create := func(c clientauth.Credential, version func() int64) func(context.Context) (clientauth.Credential, error) {
		return func(ctx context.Context) (clientauth.Credential, error) {
			return f.s.CreateClientCredential(ctx, c, version(), credLog)
		}
	}
	current := func(u identity.ConsoleUser) func() int64 { return func() int64 { return f.console(u).Version } }
	count := func(u identity.ConsoleUser, want int) func(*testing.T) {
		return func(t *testing.T) {
			if n, err := f.s.CountClientCredentials(context.Background(), d.ID, u.ID); err != nil || n != want {
				t.Fatalf("user %s has %d credentials (%v), want %d", u.ID, n, err, want)
			}
		}
	}
	before := f.console(u).Version
	run(t, f, []contract[clientauth.Credential]{
		{name: "ok/pin", call: create(pin, current(u)), want: func(t *testing.T, got clientauth.Credential) {
			if got.ID != pin.ID {
				t.Fatalf("registered %+v", got)
			}
		}, after: func(t *testing.T) {
			count(u, 1)(t)
			if f.console(u).Version != before+1 || f.logActions(d.ID)[0] != credLog.Action {
				t.Fatal("the user's version did not move, or nothing was logged")
			}
		}},
		{name: "fail/pinned-for-another-user-after-pin", call: create(pinned(v, agent), current(v)), wantErr: store.ErrConflict,
			wantDetail: "already registered", after: count(v, 0)},
		{name: "ok/ca", call: create(caCred, current(u)), after: count(u, 2)},
		{name: "fail/user-changed-since-read", call: create(stalePin, func() int64 { return before }), wantErr: store.ErrStale,
			wantDetail: "was changed or removed while the certificate was registered", after: count(u, 2)},
		{name: "fail/user-removed", call: create(pinned(identity.ConsoleUser{ID: "cu_gone", DeploymentID: d.ID}, clientCert(t, ca, "agent-9")),
			func() int64 { return 1 }), wantErr: store.ErrStale},
		{name: "ok/get", call: func(ctx context.Context) (clientauth.Credential, error) {
			return f.s.GetClientCredential(ctx, d.ID, u.ID, caCred.ID)
		}, want: func(t *testing.T, got clientauth.Credential) {
			if got.Kind != clientauth.Authority || got.Name != caCred.Name || !bytes.Equal(got.CertificateDER, caCred.CertificateDER) ||
				len(got.Rules) != 1 || got.Rules[0] != caCred.Rules[0] || !got.CreatedAt.Equal(caCred.CreatedAt) {
				t.Fatalf("got %+v", got)
			}
		}},
		{name: "fail/get-unknown", call: func(ctx context.Context) (clientauth.Credential, error) {
			return f.s.GetClientCredential(ctx, d.ID, u.ID, "ccr_nothing")
		}, wantErr: store.ErrNotFound, wantDetail: "has no client certificate credential"},
		{name: "fail/get-of-other-user", call: func(ctx context.Context) (clientauth.Credential, error) {
			return f.s.GetClientCredential(ctx, d.ID, v.ID, pin.ID)
		}, wantErr: store.ErrNotFound},
	})

	list := func(u identity.ConsoleUser, pr store.PageRequest) func(context.Context) (store.Page[clientauth.Credential], error) {
		return func(ctx context.Context) (store.Page[clientauth.Credential], error) {
			return f.s.ListClientCredentials(ctx, d.ID, u.ID, pr)
		}
	}
	run(t, f, []contract[store.Page[clientauth.Credential]]{
		{name: "ok/list", call: list(u, store.PageRequest{}), want: func(t *testing.T, got store.Page[clientauth.Credential]) {
			var ids []string
			for _, c := range got.Items {
				ids = append(ids, c.ID)
			}
			if len(ids) != 2 || !slices.Contains(ids, pin.ID) || !slices.Contains(ids, caCred.ID) {
				t.Fatalf("listed %v", ids)
			}
		}},
		{name: "ok/list-of-user-without", call: list(v, store.PageRequest{}), want: func(t *testing.T, got store.Page[clientauth.Credential]) {
			if len(got.Items) != 0 {
				t.Fatalf("listed %d", len(got.Items))
			}
		}},
	})

	countCAs := func(key string) func(context.Context) (int, error) {
		return func(ctx context.Context) (int, error) { return f.s.CountCACredentials(ctx, d.ID, key) }
	}
	is := func(want int) func(*testing.T, int) {
		return func(t *testing.T, got int) {
			if got != want {
				t.Fatalf("counted %d, want %d", got, want)
			}
		}
	}
	run(t, f, []contract[int]{
		{name: "ok/count-cas-of-issuer", call: countCAs(issuerKey), want: is(2)},
		{name: "ok/count-cas-of-other-issuer", call: countCAs(clientauth.NameKey(ca.Root.RawSubject)), want: is(0)},
		{name: "ok/count-of-user", call: func(ctx context.Context) (int, error) { return f.s.CountClientCredentials(ctx, d.ID, u.ID) }, want: is(2)},
	})

	remove := func(c clientauth.Credential) func(context.Context) (struct{}, error) {
		return only(func(ctx context.Context) error { return f.s.DeleteClientCredential(ctx, c, credLog) })
	}
	run(t, f, []contract[struct{}]{
		{name: "ok/delete", call: remove(pin), after: func(t *testing.T) {
			count(u, 1)(t)
			if c, err := f.candidates(context.Background(), d.ID, agent); err != nil || slices.ContainsFunc(c.Credentials, func(c clientauth.Credential) bool { return c.ID == pin.ID }) {
				t.Fatalf("the removed pin still authenticates: %+v %v", c, err)
			}
			// The certificate is free to be pinned for someone else.
			f.register(pinned(v, agent))
		}},
		{name: "fail/delete-again-after-delete", call: remove(pin), wantErr: store.ErrNotFound, wantDetail: "was removed by someone else"},
		{name: "ok/user-removed-with-its-credentials", call: only(func(ctx context.Context) error {
			return f.s.DeleteConsoleUser(ctx, f.console(leaving), tenant.LogEntry{Actor: "test", Action: "consoleUser.deleted"})
		}), after: func(t *testing.T) {
			for _, c := range []clientauth.Credential{leavingPin, leavingCA} {
				if _, err := f.s.GetClientCredential(context.Background(), d.ID, leaving.ID, c.ID); !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("credential %s of the removed user: %v", c.ID, err)
				}
			}
			if n, _ := f.s.CountCACredentials(context.Background(), d.ID, issuerKey); n != 1 {
				t.Fatalf("%d CA credentials left under the issuer, want 1", n)
			}
		}},
	})
}

// Pattern 24: revoke client certificate serials.
func TestRevocations(t *testing.T) {
	f := newFixture(t)
	d, other := f.deployment(), f.deployment()
	ca := newCA(t)
	issuer, otherIssuer := clientauth.NameKey(ca.Intermediate.RawSubject), clientauth.NameKey(ca.Root.RawSubject)
	rev := store.Revocation{Serial: "1a2b", Issuer: "CN=Signum Test Issuing CA", CredentialID: "ccr_x", Reason: "key lost", RevokedBy: "cu_admin"}
	revoke := func(dep, issuer string, r store.Revocation) func(context.Context) (store.Revocation, error) {
		return func(ctx context.Context) (store.Revocation, error) {
			return f.s.RevokeClientCertificate(ctx, dep, issuer, r, credLog)
		}
	}
	second := rev
	second.Serial = "ff"
	run(t, f, []contract[store.Revocation]{
		{name: "ok", call: revoke(d.ID, issuer, rev), want: func(t *testing.T, got store.Revocation) {
			if got.Serial != rev.Serial || got.RevokedAt.IsZero() {
				t.Fatalf("revoked %+v", got)
			}
			if f.logActions(d.ID)[0] != credLog.Action {
				t.Fatal("not logged")
			}
		}},
		{name: "fail/revoked-again-after-ok", call: revoke(d.ID, issuer, rev), wantErr: store.ErrConflict, wantDetail: "is already revoked"},
		{name: "ok/same-serial-other-issuer", call: revoke(d.ID, otherIssuer, rev), want: succeeds[store.Revocation]},
		{name: "ok/same-serial-other-deployment", call: revoke(other.ID, issuer, rev), want: succeeds[store.Revocation]},
		{name: "ok/second-serial", call: revoke(d.ID, issuer, second), want: succeeds[store.Revocation]},
	})

	run(t, f, []contract[store.Page[store.Revocation]]{
		{name: "ok/list-of-issuer", call: func(ctx context.Context) (store.Page[store.Revocation], error) {
			return f.s.ListRevocations(ctx, d.ID, issuer, store.PageRequest{})
		}, want: func(t *testing.T, got store.Page[store.Revocation]) {
			if len(got.Items) != 2 {
				t.Fatalf("listed %+v", got.Items)
			}
			r := got.Items[0]
			if r.Serial != rev.Serial || r.Reason != rev.Reason || r.CredentialID != rev.CredentialID || r.RevokedBy != rev.RevokedBy || r.RevokedAt.IsZero() {
				t.Fatalf("listed %+v", r)
			}
		}},
	})
}

// Pattern 25: what authenticating a presented client certificate reads.
func TestClientCandidates(t *testing.T) {
	f := newFixture(t)
	d, other, crowded := f.deployment(), f.deployment(), f.deployment()
	u := f.consoleUser(d.ID)
	ca := newCA(t)
	pinnedCert, revokedCert := clientCert(t, ca, "agent-1"), clientCert(t, ca, "agent-2")
	// Issued under another name: nothing is registered there.
	foreign, err := certstest.SelfSigned(pkix.Name{CommonName: "stranger"})
	must(t, err)
	foreignCert := foreign.Leaf
	pin := f.register(pinned(u, pinnedCert))
	caCred := f.register(authority(u, ca))
	_, err = f.s.RevokeClientCertificate(context.Background(), d.ID, clientauth.NameKey(revokedCert.RawIssuer),
		store.Revocation{Serial: clientauth.SerialOf(revokedCert), RevokedBy: "test"}, credLog)
	must(t, err)
	// More CA credentials under one issuer name than one read may take.
	busy, busyCA := f.consoleUser(crowded.ID), newCA(t)
	for range store.MaxCAsPerIssuer() + 1 {
		f.register(authority(busy, busyCA))
	}

	read := func(dep string, cert *x509.Certificate) func(context.Context) (clientauth.Candidates, error) {
		return func(ctx context.Context) (clientauth.Candidates, error) { return f.candidates(ctx, dep, cert) }
	}
	is := func(revoked bool, ids ...string) func(*testing.T, clientauth.Candidates) {
		return func(t *testing.T, got clientauth.Candidates) {
			var have []string
			for _, c := range got.Credentials {
				have = append(have, c.ID)
			}
			slices.Sort(have)
			slices.Sort(ids)
			if got.Revoked != revoked || !slices.Equal(have, ids) {
				t.Fatalf("candidates %v revoked %v, want %v revoked %v", have, got.Revoked, ids, revoked)
			}
		}
	}
	run(t, f, []contract[clientauth.Candidates]{
		{name: "ok/pinned-and-its-ca", call: read(d.ID, pinnedCert), want: is(false, pin.ID, caCred.ID)},
		{name: "ok/revoked", call: read(d.ID, revokedCert), want: is(true, caCred.ID)},
		{name: "ok/unknown-issuer", call: read(d.ID, foreignCert), want: is(false)},
		{name: "ok/other-deployment", call: read(other.ID, pinnedCert), want: is(false)},
		{name: "fail/too-many-cas-under-one-name", call: read(crowded.ID, clientCert(t, busyCA, "agent-4")),
			wantErr: fault.ErrUnauthenticated, wantDetail: "must pin certificates instead"},
	})
}

// Pattern 26: the mutual-TLS truststore bundle — every deployment's registrations (GSI1).
func TestTrustAnchors(t *testing.T) {
	f := newFixture(t)
	a, b := f.deployment(), f.deployment()
	ca := newCA(t)
	ua, ub := f.consoleUser(a.ID), f.consoleUser(b.ID)
	want := []string{
		f.register(pinned(ua, clientCert(t, ca, "agent-1"))).ID,
		f.register(authority(ua, ca)).ID,
		f.register(pinned(ub, clientCert(t, ca, "agent-2"))).ID,
	}
	removed := f.register(pinned(ub, clientCert(t, ca, "agent-3")))
	must(t, f.s.DeleteClientCredential(context.Background(), removed, credLog))
	slices.Sort(want)

	list := func(ctx context.Context) ([]string, error) {
		all, err := store.All(ctx, func(ctx context.Context, pr store.PageRequest) (store.Page[clientauth.Credential], error) {
			pr.Limit = 2 // several pages
			return f.s.ListTrustAnchors(ctx, pr)
		})
		var ids []string
		for _, c := range all {
			ids = append(ids, c.ID)
		}
		slices.Sort(ids)
		return ids, err
	}
	run(t, f, []contract[[]string]{
		{name: "ok/every-deployment", call: func(ctx context.Context) (ids []string, err error) {
			f.indexed(func() bool {
				ids, err = list(ctx)
				return err != nil || slices.Equal(ids, want)
			})
			return ids, err
		}, want: func(t *testing.T, got []string) {
			if !slices.Equal(got, want) {
				t.Fatalf("truststore %v, want %v", got, want)
			}
		}},
	})
}
