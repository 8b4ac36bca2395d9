package signing_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/audit"
	"github.com/opensignum/signum/lib/certificates"
	"github.com/opensignum/signum/lib/certificates/certstest"
	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/keys/awskms"
	"github.com/opensignum/signum/lib/policy"
	"github.com/opensignum/signum/lib/signing"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
	"github.com/opensignum/signum/lib/wire"
)

// TestSignWithoutHTTP drives the protocol the way a queue consumer would: Parse, then Sign for
// a caller, on the real table and KMS stand-ins. An allowed request is signed and recorded
// (decision, then completion), a retry with the same key replays the first answer, another
// caller is denied and that is recorded too, and the log verifies intact.
func TestSignWithoutHTTP(t *testing.T) {
	ctx := context.Background()
	tg := devstack.NewEmbedded(t)
	st := store.New(tg.Clients.DynamoDB, tg.Table, store.StaticKey(make([]byte, 32)))
	kms := awskms.New(tg.Clients.KMS)
	key, err := kms.Generate(ctx, keys.GenerateRequest{Algorithm: keys.ECP256, Label: "signing-test", Tags: map[string]string{"signum:certificate": "test"}})
	if err != nil {
		t.Fatal(err)
	}
	csr, err := certificates.NewCSR(key, certificates.Subject{CommonName: "signing test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := certstest.New()
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(csr, certstest.Leaf{})
	if err != nil {
		t.Fatal(err)
	}
	log := tenant.LogEntry{Actor: "test", Action: "fixture"}
	d := tenant.Deployment{ID: tenant.NewID("dep_"), Name: "test", Status: tenant.StatusActive, Plan: "standard", SoftwareVersion: "1", DomainName: "signing.test.example"}
	if _, _, err := st.Provision(ctx, store.Provisioning{Deployment: d, Log: log, LocalDomain: identity.DefaultLocalDomain(d.ID)}); err != nil {
		t.Fatal(err)
	}
	cert, err := st.CreateCertificate(ctx, certificates.Certificate{ID: tenant.NewID("crt_"), DeploymentID: d.ID, Name: "test", Status: certificates.StatusActive,
		Backend: "awskms", Algorithm: keys.ECP256, KeyURI: key.URI(), Subject: certificates.Subject{CommonName: "signing test"}, ChainPEM: certstest.PEM(leaf),
		NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter}, log)
	if err != nil {
		t.Fatal(err)
	}
	allowed, other := "cu_allowed", "cu_other"
	if _, err := st.CreatePolicy(ctx, d.ID, policy.Policy{ID: tenant.NewID("pol_"), Name: "ci", Enabled: true, Priority: 10, Action: policy.Allow,
		What: policy.What{Certificates: []string{cert.ID}}, Who: policy.Who{Users: []string{allowed}}}, log); err != nil {
		t.Fatal(err)
	}
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := signing.New(st, keys.NewRegistry(kms), time.Now, func(context.Context) *slog.Logger { return discard })

	digest := sha256.Sum256([]byte("artifact"))
	req, err := signing.Parse(wire.Request{CertificateID: cert.ID, Digests: []wire.Digest{{Digest: base64.StdEncoding.EncodeToString(digest[:]), DigestAlgorithm: "sha-256"}},
		Context: wire.Context{Process: "make"}})
	if err != nil {
		t.Fatal(err)
	}
	caller := signing.Caller{DeploymentID: d.ID, UserID: allowed, ClientIP: "192.0.2.7"}

	first, err := s.Sign(ctx, caller, req, "retry-1")
	if err != nil {
		t.Fatal(err)
	}
	if first.Replay != nil || len(first.Response.Signatures) != 1 || first.Response.CertificateID != cert.ID {
		t.Fatalf("answer: %+v", first)
	}
	sig, err := base64.StdEncoding.DecodeString(first.Response.Signatures[0].Signature)
	if err != nil || !ecdsa.VerifyASN1(leaf.PublicKey.(*ecdsa.PublicKey), digest[:], sig) {
		t.Fatalf("the signature does not verify with the certificate's key (%v)", err)
	}
	again, err := s.Sign(ctx, caller, req, "retry-1")
	if err != nil || again.Replay == nil {
		t.Fatalf("a retry with the same key is not replayed: %+v, %v", again, err)
	}

	_, err = s.Sign(ctx, signing.Caller{DeploymentID: d.ID, UserID: other}, req, "")
	if !errors.Is(err, signing.ErrDenied) || !errors.Is(err, fault.ErrForbidden) {
		t.Fatalf("another caller: %v, want a denial", err)
	}

	page, err := st.ListEvents(ctx, d.ID, store.EventFilter{}, store.PageRequest{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var decisions, signed, denied int
	for _, e := range page.Items {
		switch {
		case e.Kind == audit.KindDecision && e.Decision == audit.Allow && e.UserID == allowed && e.ClientIP == "192.0.2.7" && e.Process == "make":
			decisions++
		case e.Kind == audit.KindCompletion && e.Outcome == audit.Signed && e.Of == first.Response.Signatures[0].EventID:
			signed++
		case e.Kind == audit.KindDecision && e.Decision == audit.Deny && e.UserID == other:
			denied++
		}
	}
	if decisions != 1 || signed != 1 || denied != 1 || len(page.Items) != 3 {
		t.Fatalf("events: %d allowed decisions, %d signed completions, %d denials in %d events", decisions, signed, denied, len(page.Items))
	}
	problems, n, err := audit.Verify(ctx, st, d.ID, audit.Lanes)
	if err != nil || len(problems) != 0 || n != 3 {
		t.Fatalf("verify: %v %d %v", problems, n, err)
	}
}

// TestParse: a bad request is refused with every problem named, before anything happens.
func TestParse(t *testing.T) {
	_, err := signing.Parse(wire.Request{Digests: []wire.Digest{{Digest: "!!", DigestAlgorithm: "SHA256"}, {Digest: "AAAA", DigestAlgorithm: "SHA1"}}})
	for _, name := range []string{"certificateId", "digests[0].digest", "digests[1].digestAlgorithm"} {
		if !fault.HasField(err, name) {
			t.Errorf("%s not reported: %v", name, err)
		}
	}
}

// TestDryRun: a dry run reads the user's roles, the certificate and the policies and decides
// as signing would (the same decide), at the instant asked for; a user id that is no user, and
// an unknown certificate, are refused.
func TestDryRun(t *testing.T) {
	ctx := context.Background()
	tg := devstack.NewEmbedded(t)
	st := store.New(tg.Clients.DynamoDB, tg.Table, store.StaticKey(make([]byte, 32)))
	log := tenant.LogEntry{Actor: "test", Action: "fixture"}
	dep := tenant.NewID("dep_")
	now := time.Now().UTC().Truncate(time.Second)
	cert, err := st.CreateCertificate(ctx, certificates.Certificate{ID: tenant.NewID("crt_"), DeploymentID: dep, Name: "test", Status: certificates.StatusActive,
		Backend: "awskms", Algorithm: keys.ECP256, KeyURI: "awskms:///dry-run", Subject: certificates.Subject{CommonName: "dry run"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}, log)
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.CreateConsoleUser(ctx, identity.ConsoleUser{ID: tenant.NewID("cu_"), DeploymentID: dep, Username: "ci", Roles: []identity.ConsoleRole{identity.Signer},
		Status: identity.StatusActive}, log)
	if err != nil {
		t.Fatal(err)
	}
	p, err := st.CreatePolicy(ctx, dep, policy.Policy{ID: tenant.NewID("pol_"), Name: "signers with make", Enabled: true, Priority: 1, Action: policy.Allow,
		What: policy.What{Certificates: []string{cert.ID}}, Who: policy.Who{Roles: []string{string(identity.Signer)}}, Where: []policy.Application{{Process: "make"}}}, log)
	if err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time { return now }
	later := now.Add(2 * time.Hour)
	for name, tc := range map[string]struct {
		trial   signing.Trial
		allowed bool
		field   string
		err     error
	}{
		"ok/allowed-by-role":       {trial: signing.Trial{UserID: u.ID, CertificateID: cert.ID, App: wire.Context{Process: "make"}}, allowed: true},
		"ok/denied-other-app":      {trial: signing.Trial{UserID: u.ID, CertificateID: cert.ID, App: wire.Context{Process: "cmake"}}},
		"ok/denied-after-expiry":   {trial: signing.Trial{UserID: u.ID, CertificateID: cert.ID, App: wire.Context{Process: "make"}, At: &later}},
		"fail/not-a-user-id":       {trial: signing.Trial{UserID: "crt_x", CertificateID: cert.ID}, field: "userId"},
		"fail/no-such-user":        {trial: signing.Trial{UserID: "cu_missing", CertificateID: cert.ID}, field: "userId"},
		"fail/no-such-certificate": {trial: signing.Trial{UserID: u.ID, CertificateID: "crt_missing"}, err: store.ErrNotFound},
	} {
		t.Run(name, func(t *testing.T) {
			tc.trial.DeploymentID = dep
			d, err := signing.DryRun(ctx, st, clock, tc.trial)
			var fields fault.Fields
			switch {
			case tc.field != "":
				if !errors.As(err, &fields) || len(fields) != 1 || fields[0].Name != tc.field {
					t.Fatalf("DryRun = %+v, %v; want a field error on %s", d, err, tc.field)
				}
			case tc.err != nil:
				if !errors.Is(err, tc.err) {
					t.Fatalf("DryRun = %+v, %v; want %v", d, err, tc.err)
				}
			case err != nil:
				t.Fatal(err)
			case d.Allowed != tc.allowed || tc.allowed && d.PolicyID != p.ID:
				t.Fatalf("DryRun = %+v, want allowed %v by %s", d, tc.allowed, p.ID)
			}
		})
	}
}
