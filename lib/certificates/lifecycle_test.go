package certificates_test

import (
	"context"
	"crypto"
	"errors"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/certificates"
	"github.com/opensignum/signum/lib/certificates/certstest"
	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/keys/awskms"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// stand is a deployment on the real table and KMS stand-ins, and a lifecycle on them whose
// store writes can be made to fail and whose generated keys are recorded.
type stand struct {
	dep  string
	st   *flakyStore
	keys *recordingKeys
	life *certificates.Lifecycle
	kms  awskms.KMS
	now  time.Time
	ca   *certstest.CA
	// groups are two certificate groups of dep, without limits.
	groups []string
}

func newStand(t *testing.T) *stand {
	t.Helper()
	ctx := context.Background()
	tg := devstack.NewEmbedded(t)
	st := store.New(tg.Clients.DynamoDB, tg.Table, store.StaticKey(make([]byte, 32)))
	d := tenant.Deployment{ID: tenant.NewID("dep_"), Name: "test", Status: tenant.StatusActive, Plan: "standard", SoftwareVersion: "1", DomainName: "certs.test.example"}
	if _, _, err := st.Provision(ctx, store.Provisioning{Deployment: d, Log: tenant.LogEntry{Actor: "test", Action: "fixture"}, LocalDomain: identity.DefaultLocalDomain(d.ID)}); err != nil {
		t.Fatal(err)
	}
	ca, err := certstest.New()
	if err != nil {
		t.Fatal(err)
	}
	// The lifecycle's clock runs two days ahead of the wall clock, so that a chain valid only
	// from tomorrow imports: the chain is checked at the injected time, not at time.Now.
	now := time.Now().Add(48 * time.Hour).Truncate(time.Millisecond)
	s := &stand{dep: d.ID, st: &flakyStore{Store: st}, keys: &recordingKeys{Registry: keys.NewRegistry(awskms.New(tg.Clients.KMS))},
		kms: tg.Clients.KMS, now: now, ca: ca}
	for _, name := range []string{"Fixture release", "Fixture CI"} {
		g, err := st.CreateCertificateGroup(ctx, certificates.Group{ID: certificates.NewGroupID(), DeploymentID: d.ID, Name: name}, tenant.LogEntry{Actor: "test", Action: "fixture"})
		if err != nil {
			t.Fatal(err)
		}
		s.groups = append(s.groups, g.ID)
	}
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	s.life = certificates.NewLifecycle(s.st, s.keys, "awskms", func() time.Time { return now }, func(context.Context) *slog.Logger { return discard })
	return s
}

// issue is the CA's chain (leaf and intermediate, PEM) for csr, valid from tomorrow.
func (s *stand) issue(t *testing.T, csr string) []byte {
	t.Helper()
	leaf, err := s.ca.Issue(csr, certstest.Leaf{NotBefore: time.Now().Add(24 * time.Hour), NotAfter: time.Now().AddDate(1, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	return []byte(certstest.PEM(leaf, s.ca.Intermediate))
}

// deleted reports whether the key at uri is scheduled for deletion in KMS.
func (s *stand) deleted(t *testing.T, uri string) bool {
	t.Helper()
	// A new backend: no public key cached, so it sees the key's state in KMS as it is.
	_, err := awskms.New(s.kms).Open(context.Background(), uri)
	if err != nil && !errors.Is(err, keys.ErrDisabled) {
		t.Fatalf("open %s: %v", uri, err)
	}
	return err != nil
}

// flakyStore is the real store whose certificate writes fail while fail is set.
type flakyStore struct {
	*store.Store
	fail bool
}

var errWrite = errors.New("test: the table refuses the write")

func (s *flakyStore) CreateCertificate(ctx context.Context, c certificates.Certificate, log tenant.LogEntry) (certificates.Certificate, error) {
	if s.fail {
		return certificates.Certificate{}, errWrite
	}
	return s.Store.CreateCertificate(ctx, c, log)
}

func (s *flakyStore) UpdateCertificate(ctx context.Context, cur, next certificates.Certificate, log tenant.LogEntry) (certificates.Certificate, error) {
	if s.fail {
		return certificates.Certificate{}, errWrite
	}
	return s.Store.UpdateCertificate(ctx, cur, next, log)
}

// recordingKeys is the real registry that records the URI of every key its backends generate.
type recordingKeys struct {
	*keys.Registry
	generated []string
}

func (r *recordingKeys) Backend(scheme string) (keys.Backend, error) {
	b, err := r.Registry.Backend(scheme)
	if err != nil {
		return nil, err
	}
	return recordingBackend{Backend: b, r: r}, nil
}

type recordingBackend struct {
	keys.Backend
	r *recordingKeys
}

func (b recordingBackend) Generate(ctx context.Context, req keys.GenerateRequest) (keys.Key, error) {
	k, err := b.Backend.Generate(ctx, req)
	if err == nil {
		b.r.generated = append(b.r.generated, k.URI())
	}
	return k, err
}

// TestLifecycle drives a certificate's life without HTTP on the table and KMS stand-ins:
// create (key and CSR), import the chain, renew (new key, the old one keeps the certificate
// until the new chain is imported, then goes), delete (both kept as records, the key goes), with
// the refusals of each state on the way and the system log of every change.
func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	s := newStand(t)
	const actor = "cu_admin"

	c, err := s.life.Create(ctx, s.dep, actor, certificates.Draft{Algorithm: "EC_P256", Subject: certificates.Subject{CommonName: "Acme Code Signing", Country: "DE"},
		SANs: []string{"sign.acme.example"}, Groups: []string{" " + s.groups[1] + " ", s.groups[0], s.groups[1]}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != certificates.StatusPending || c.Name != "Acme Code Signing" || c.Backend != awskms.Scheme || c.Algorithm != keys.ECP256 ||
		!slices.Equal(c.Groups, []string{s.groups[1], s.groups[0]}) || c.DeploymentID != s.dep || c.Version != 1 {
		t.Fatalf("created: %+v", c)
	}
	if len(s.keys.generated) != 1 || s.keys.generated[0] != c.KeyURI {
		t.Fatalf("generated %v, the certificate's key is %s", s.keys.generated, c.KeyURI)
	}
	csr, err := certificates.ParseCSR(c.CSRPEM)
	if err != nil {
		t.Fatal(err)
	}
	key, err := awskms.New(s.kms).Open(ctx, c.KeyURI)
	if err != nil {
		t.Fatal(err)
	}
	if !key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(csr.PublicKey) || csr.Subject.CommonName != "Acme Code Signing" || csr.DNSNames[0] != "sign.acme.example" {
		t.Fatalf("the CSR is not the key's or not the subject's: %+v", csr.Subject)
	}

	// A pending certificate: no renewal, no enabling but by its chain, no chain of another key.
	if _, err := s.life.Renew(ctx, s.dep, actor, c.ID, ""); !errors.Is(err, fault.ErrConflict) {
		t.Errorf("renew a pending certificate: %v, want a conflict", err)
	}
	enable := true
	if _, err := s.life.Update(ctx, s.dep, actor, c.ID, certificates.Changes{Enabled: &enable}); !fault.HasField(err, "enabled") {
		t.Errorf("enable a pending certificate: %v, want a problem of enabled", err)
	}
	if _, err := s.life.Chain(ctx, s.dep, c.ID); !errors.Is(err, fault.ErrNotFound) {
		t.Errorf("the chain of a pending certificate: %v, want not found", err)
	}
	other, err := s.ca.IssueFor(s.ca.Root.PublicKey, csr.Subject, certstest.Leaf{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.life.ImportChain(ctx, s.dep, actor, c.ID, []byte(certstest.PEM(other)), certificates.ImportOptions{}); !errors.Is(err, fault.ErrInvalid) {
		t.Errorf("import a chain of another key: %v, want invalid", err)
	}

	// The chain, valid from tomorrow: it imports at the lifecycle's time, two days ahead.
	c, err = s.life.ImportChain(ctx, s.dep, actor, c.ID, s.issue(t, c.CSRPEM), certificates.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != certificates.StatusActive || c.Serial == "" || c.Thumbprint == "" || c.ChainPEM == "" || c.NotAfter.IsZero() || c.KeyURI != s.keys.generated[0] {
		t.Fatalf("imported: %+v", c)
	}
	if got, err := s.life.Chain(ctx, s.dep, c.ID); err != nil || got.ChainPEM != c.ChainPEM {
		t.Errorf("chain: %v", err)
	}
	if _, err := s.life.ImportChain(ctx, s.dep, actor, c.ID, s.issue(t, c.CSRPEM), certificates.ImportOptions{}); !errors.Is(err, fault.ErrConflict) {
		t.Errorf("import a second chain without renewing: %v, want a conflict", err)
	}

	// Renew with a new algorithm: the current key stays until the new chain is imported.
	oldKey := c.KeyURI
	if _, err := s.life.Renew(ctx, s.dep, actor, c.ID, "DSA_1024"); !fault.HasField(err, "algorithm") {
		t.Errorf("renew with an unknown algorithm: %v, want a problem of algorithm", err)
	}
	c, err = s.life.Renew(ctx, s.dep, actor, c.ID, "EC_P384")
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Renewal; r == nil || r.Algorithm != keys.ECP384 || !r.RequestedAt.Equal(s.now) || r.KeyURI == oldKey || r.KeyURI != s.keys.generated[len(s.keys.generated)-1] ||
		c.KeyURI != oldKey || c.Status != certificates.StatusActive {
		t.Fatalf("renewing: %+v (renewal %+v)", c, c.Renewal)
	}
	if _, err := s.life.Renew(ctx, s.dep, actor, c.ID, ""); !errors.Is(err, fault.ErrConflict) {
		t.Errorf("renew while renewing: %v, want a conflict", err)
	}
	newKey, renewalCSR := c.Renewal.KeyURI, c.Renewal.CSRPEM
	if _, err := s.life.ImportChain(ctx, s.dep, actor, c.ID, s.issue(t, c.CSRPEM), certificates.ImportOptions{}); !errors.Is(err, fault.ErrInvalid) {
		t.Errorf("import a chain of the old key while renewing: %v, want invalid", err)
	}
	c, err = s.life.ImportChain(ctx, s.dep, actor, c.ID, s.issue(t, renewalCSR), certificates.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Renewal != nil || c.KeyURI != newKey || c.Algorithm != keys.ECP384 || c.CSRPEM != renewalCSR || c.Status != certificates.StatusActive {
		t.Fatalf("after the renewal's chain: %+v", c)
	}
	if !s.deleted(t, oldKey) || s.deleted(t, newKey) {
		t.Errorf("after the swap the old key is deleted: %v, the new one: %v", s.deleted(t, oldKey), s.deleted(t, newKey))
	}

	// Delete: the record stays, deleted; the key goes; a second delete is fine.
	if err := s.life.Delete(ctx, s.dep, actor, c.ID); err != nil {
		t.Fatal(err)
	}
	if got, err := s.life.Get(ctx, s.dep, c.ID); err != nil || got.Status != certificates.StatusDeleted {
		t.Fatalf("after delete: %+v, %v", got, err)
	}
	if !s.deleted(t, newKey) {
		t.Error("the key of a deleted certificate is not scheduled for deletion")
	}
	if err := s.life.Delete(ctx, s.dep, actor, c.ID); err != nil {
		t.Errorf("delete again: %v", err)
	}
	if _, err = s.life.Renew(ctx, s.dep, actor, c.ID, ""); !errors.Is(err, fault.ErrGone) {
		t.Errorf("renew a deleted certificate: %v, want gone", err)
	}
	if _, err = s.life.ImportChain(ctx, s.dep, actor, c.ID, s.issue(t, renewalCSR), certificates.ImportOptions{}); !errors.Is(err, fault.ErrGone) {
		t.Errorf("import into a deleted certificate: %v, want gone", err)
	}
	name := "again"
	if _, err = s.life.Update(ctx, s.dep, actor, c.ID, certificates.Changes{Name: &name}); !errors.Is(err, fault.ErrGone) {
		t.Errorf("rename a deleted certificate: %v, want gone", err)
	}
	if err := s.life.Delete(ctx, s.dep, actor, "crt_nothing"); !errors.Is(err, fault.ErrNotFound) {
		t.Errorf("delete an unknown certificate: %v, want not found", err)
	}

	// Every change is in the system log, in order, by the actor; no refusal wrote anything.
	page, err := s.st.ListLog(ctx, s.dep, store.PageRequest{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range slices.Backward(page.Items) {
		if e.Actor == actor {
			actions = append(actions, e.Action)
		}
	}
	want := []string{"certificate.created", "certificate.chainImported", "certificate.renewalRequested", "certificate.chainImported", "certificate.deleted"}
	if !slices.Equal(actions, want) {
		t.Errorf("system log: %v, want %v", actions, want)
	}
}

// TestCreateRefusals: a draft with problems is refused with each problem named by its field,
// before any key is made.
func TestCreateRefusals(t *testing.T) {
	ctx := context.Background()
	s := newStand(t)
	ok := certificates.Subject{CommonName: "Acme"}
	in := s.groups[:1]
	for name, c := range map[string]struct {
		d    certificates.Draft
		want []string
	}{
		"fail/everything": {certificates.Draft{Name: " ", Backend: "pkcs11", Algorithm: "RSA_1024", Subject: certificates.Subject{Country: "Germany"}, Owner: "cu_nobody", Groups: []string{""}},
			[]string{"name", "backend", "algorithm", "subject.commonName", "subject.country", "groups", "owner"}},
		"fail/no-algorithm":    {certificates.Draft{Subject: ok, Groups: in}, []string{"algorithm"}},
		"fail/unknown-owner":   {certificates.Draft{Algorithm: "EC_P256", Subject: ok, Owner: "pu_nobody", Groups: in}, []string{"owner"}},
		"fail/owner-no-user":   {certificates.Draft{Algorithm: "EC_P256", Subject: ok, Owner: "dep_x", Groups: in}, []string{"owner"}},
		"fail/label-not-id":    {certificates.Draft{Algorithm: "EC_P256", Subject: ok, Groups: []string{s.groups[0], "release"}}, []string{"groups"}},
		"fail/no-group":        {certificates.Draft{Algorithm: "EC_P256", Subject: ok}, []string{"groups"}},
		"fail/unknown-group":   {certificates.Draft{Algorithm: "EC_P256", Subject: ok, Groups: []string{s.groups[0], certificates.NewGroupID()}}, []string{"groups"}},
		"fail/unknown-backend": {certificates.Draft{Backend: "vault", Algorithm: "EC_P256", Subject: ok, Groups: in}, []string{"backend"}},
	} {
		_, err := s.life.Create(ctx, s.dep, "cu_admin", c.d)
		var fields fault.Fields
		if !errors.As(err, &fields) {
			t.Errorf("%s: %v, want field problems", name, err)
			continue
		}
		var got []string
		for _, f := range fields {
			got = append(got, f.Name)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: problems of %v, want %v", name, got, c.want)
		}
	}
	if len(s.keys.generated) != 0 {
		t.Errorf("refused drafts made keys: %v", s.keys.generated)
	}
}

// TestNothingHalfMade: when the table refuses the write, the key made for it goes (create), or
// the renewal's new key goes and the certificate keeps its key (renew).
func TestNothingHalfMade(t *testing.T) {
	ctx := context.Background()
	s := newStand(t)
	draft := certificates.Draft{Algorithm: "EC_P256", Subject: certificates.Subject{CommonName: "Acme"}, Groups: s.groups}

	s.st.fail = true
	if _, err := s.life.Create(ctx, s.dep, "cu_admin", draft); !errors.Is(err, errWrite) {
		t.Fatalf("create on a refusing table: %v", err)
	}
	if len(s.keys.generated) != 1 || !s.deleted(t, s.keys.generated[0]) {
		t.Fatalf("the key of a certificate not stored is not deleted (%v)", s.keys.generated)
	}

	s.st.fail = false
	c, err := s.life.Create(ctx, s.dep, "cu_admin", draft)
	if err != nil {
		t.Fatal(err)
	}
	if c, err = s.life.ImportChain(ctx, s.dep, "cu_admin", c.ID, s.issue(t, c.CSRPEM), certificates.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	s.st.fail = true
	if _, err := s.life.Renew(ctx, s.dep, "cu_admin", c.ID, ""); !errors.Is(err, errWrite) {
		t.Fatalf("renew on a refusing table: %v", err)
	}
	renewalKey := s.keys.generated[len(s.keys.generated)-1]
	if len(s.keys.generated) != 3 || renewalKey == c.KeyURI || !s.deleted(t, renewalKey) {
		t.Errorf("the key of a renewal not stored is not deleted (%v)", s.keys.generated)
	}
	if s.deleted(t, c.KeyURI) {
		t.Error("a failed renewal deleted the certificate's key")
	}
}
