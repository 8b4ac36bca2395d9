package signing_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
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
// world is a deployment on the table and KMS stand-ins with an active P-256 certificate and a
// policy that lets user "cu_allowed" sign with it.
type world struct {
	st      *store.Store
	db      *countingDB
	kms     *awskms.Backend
	dep     tenant.Deployment
	cert    certificates.Certificate
	leafKey *ecdsa.PublicKey
}

func newWorld(t *testing.T) world {
	t.Helper()
	ctx := context.Background()
	tg := devstack.NewEmbedded(t)
	db := &countingDB{DynamoDB: tg.Clients.DynamoDB}
	st := store.New(db, tg.Table, store.StaticKey(make([]byte, 32)))
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
	if _, err := st.CreatePolicy(ctx, d.ID, policy.Policy{ID: tenant.NewID("pol_"), Name: "ci", Enabled: true, Priority: 10, Action: policy.Allow,
		What: policy.What{Certificates: []string{cert.ID}}, Who: policy.Who{Users: []string{"cu_allowed"}}}, log); err != nil {
		t.Fatal(err)
	}
	return world{st: st, db: db, kms: kms, dep: d, cert: cert, leafKey: leaf.PublicKey.(*ecdsa.PublicKey)}
}

func TestSignWithoutHTTP(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	st, kms, d, cert := w.st, w.kms, w.dep, w.cert
	allowed, other := "cu_allowed", "cu_other"
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
	if err != nil || !ecdsa.VerifyASN1(w.leafKey, digest[:], sig) {
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
		"ok/allowed-by-role":     {trial: signing.Trial{UserID: u.ID, CertificateID: cert.ID, App: wire.Context{Process: "make"}}, allowed: true},
		"ok/denied-other-app":    {trial: signing.Trial{UserID: u.ID, CertificateID: cert.ID, App: wire.Context{Process: "cmake"}}},
		"ok/denied-after-expiry": {trial: signing.Trial{UserID: u.ID, CertificateID: cert.ID, App: wire.Context{Process: "make"}, At: &later}},
		// The caller's own dry run decides with the roles its guard read: the directory is
		// not asked, so a caller it has no entry for is decided, not refused.
		"ok/roles-given":           {trial: signing.Trial{UserID: "cu_session", Roles: []string{string(identity.Signer)}, CertificateID: cert.ID, App: wire.Context{Process: "make"}}, allowed: true},
		"ok/roles-given-none-fit":  {trial: signing.Trial{UserID: u.ID, Roles: []string{}, CertificateID: cert.ID, App: wire.Context{Process: "make"}}},
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
			case d.Allowed != tc.allowed || tc.allowed && (d.PolicyID != p.ID || d.PolicyName != p.Name):
				t.Fatalf("DryRun = %+v, want allowed %v by %s", d, tc.allowed, p.ID)
			case d.Approvals != 0 || d.RequiresTimestamp:
				t.Fatalf("DryRun = %+v: the policy asks for no approval and no timestamp", d)
			}
		})
	}
	// A policy that holds requests for approval and requires timestamps: the dry run says so.
	gated := policy.Policy{ID: tenant.NewID("pol_"), Name: "gated releases", Enabled: true, Priority: 2, Action: policy.Allow,
		What: policy.What{Certificates: []string{cert.ID}}, Who: policy.Who{Users: []string{u.ID}}, Where: []policy.Application{{Process: "release-tool"}},
		RequireTimestamp: true, Approval: &policy.Approval{Required: 2, Roles: []string{string(identity.ConsoleAdmin)}}}
	if err := gated.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreatePolicy(ctx, dep, gated, log); err != nil {
		t.Fatal(err)
	}
	d, err := signing.DryRun(ctx, st, clock, signing.Trial{DeploymentID: dep, UserID: u.ID, CertificateID: cert.ID, App: wire.Context{Process: "release-tool"}})
	if err != nil || !d.Allowed || d.PolicyID != gated.ID || d.Approvals != 2 || !d.RequiresTimestamp {
		t.Fatalf("DryRun under the gated policy = %+v, %v", d, err)
	}
}

// countingDB counts the DynamoDB calls made through it.
type countingDB struct {
	store.DynamoDB
	n atomic.Int64
}

func (c *countingDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	c.n.Add(1)
	return c.DynamoDB.GetItem(ctx, in, o...)
}
func (c *countingDB) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	c.n.Add(1)
	return c.DynamoDB.Query(ctx, in, o...)
}
func (c *countingDB) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	c.n.Add(1)
	return c.DynamoDB.BatchGetItem(ctx, in, o...)
}
func (c *countingDB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	c.n.Add(1)
	return c.DynamoDB.PutItem(ctx, in, o...)
}
func (c *countingDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	c.n.Add(1)
	return c.DynamoDB.UpdateItem(ctx, in, o...)
}
func (c *countingDB) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, o ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	c.n.Add(1)
	return c.DynamoDB.TransactWriteItems(ctx, in, o...)
}

// inFlight opens keys whose signatures take a little while and counts how many run at once.
type inFlight struct {
	signing.Keys
	now, most atomic.Int64
}

type slowKey struct {
	keys.Key
	f *inFlight
}

func (f *inFlight) Open(ctx context.Context, uri string) (keys.Key, error) {
	k, err := f.Keys.Open(ctx, uri)
	return slowKey{k, f}, err
}

func (k slowKey) SignContext(ctx context.Context, d []byte, o crypto.SignerOpts) ([]byte, error) {
	n := k.f.now.Add(1)
	defer k.f.now.Add(-1)
	for {
		m := k.f.most.Load()
		if n <= m || k.f.most.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(2 * time.Millisecond)
	return k.Key.SignContext(ctx, d, o)
}

// TestBatchOfDigests: a request of 64 digests is one decision and one completion, written in
// as many DynamoDB calls as a request of one; its digests are signed concurrently, at most 16
// at a time, each signature in its digest's place, and the completion lists the signatures'
// hashes in the same order.
func TestBatchOfDigests(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	kf := &inFlight{Keys: keys.NewRegistry(w.kms)}
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := signing.New(w.st, kf, time.Now, func(context.Context) *slog.Logger { return discard })
	caller := signing.Caller{DeploymentID: w.dep.ID, UserID: "cu_allowed"}
	request := func(n int) (wire.Response, [][]byte, int64) {
		t.Helper()
		var body wire.Request
		var digests [][]byte
		body.CertificateID = w.cert.ID
		for i := range n {
			d := sha256.Sum256([]byte(fmt.Sprintf("file %d of %d", i, n)))
			digests = append(digests, d[:])
			body.Digests = append(body.Digests, wire.Digest{Digest: base64.StdEncoding.EncodeToString(d[:]), DigestAlgorithm: "SHA256", FileName: fmt.Sprintf("f%02d.bin", i)})
		}
		req, err := signing.Parse(body)
		if err != nil {
			t.Fatal(err)
		}
		before := w.db.n.Load()
		out, err := s.Sign(ctx, caller, req, "")
		if err != nil {
			t.Fatal(err)
		}
		return out.Response, digests, w.db.n.Load() - before
	}
	// Warm the caches, the lanes' heads among them (a request goes to one lane of eight at
	// random: after 151, each was seen but with a chance of 8·(7/8)^151 ≈ 10⁻⁸).
	for range 151 {
		request(1)
	}
	_, _, one := request(1)
	resp, digests, many := request(64)
	if one != many {
		t.Fatalf("DynamoDB calls: %d for 1 digest, %d for 64", one, many)
	}
	if most := kf.most.Load(); most < 2 || most > 16 {
		t.Fatalf("at most %d signatures at once, want 2 to 16", most)
	}
	var sums []string
	for i, sg := range resp.Signatures {
		sig, _ := base64.StdEncoding.DecodeString(sg.Signature)
		if !ecdsa.VerifyASN1(w.leafKey, digests[i], sig) || sg.EventID != resp.Signatures[0].EventID {
			t.Fatalf("signature %d does not verify for its digest, or names another event", i)
		}
		sum := sha256.Sum256(sig)
		sums = append(sums, hex.EncodeToString(sum[:]))
	}
	all, err := store.All(ctx, func(ctx context.Context, pr store.PageRequest) (store.Page[audit.Event], error) {
		return w.st.ListEvents(ctx, w.dep.ID, store.EventFilter{}, pr)
	})
	if err != nil {
		t.Fatal(err)
	}
	var decision, completion audit.Event
	for _, e := range all {
		switch {
		case e.ID == resp.Signatures[0].EventID:
			decision = e
		case e.Kind == audit.KindCompletion && e.Of == resp.Signatures[0].EventID:
			completion = e
		}
	}
	if len(decision.Digests) != 64 || decision.DigestCount != 64 || decision.Digests[5] != "SHA256:"+hex.EncodeToString(digests[5]) ||
		len(decision.Files) != 64 || decision.Files[63] != "f63.bin" {
		t.Fatalf("the decision: %d digests (%d), files %v", len(decision.Digests), decision.DigestCount, decision.Files)
	}
	if completion.Outcome != audit.Signed || completion.SignatureSHA256 != strings.Join(sums, ",") {
		t.Fatalf("the completion does not list the signatures' hashes in order: %+v", completion)
	}
}
