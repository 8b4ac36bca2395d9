package signer_test

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/access"
	"github.com/opensignum/signum/lib/api/signer"
	"github.com/opensignum/signum/lib/certificates"
	"github.com/opensignum/signum/lib/certificates/certstest"
	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/keys/awskms"
	"github.com/opensignum/signum/lib/policy"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
	"github.com/opensignum/signum/lib/token"
)

// world is the stand-ins with one P-256 signing key in KMS and a certificate chain for it;
// deployments and certificates are added per test.
type world struct {
	tg    *devstack.Target
	env   function.Env
	clean *function.Parts // on the real table, for fixtures and checks
	kms   *awskms.Backend
	key   keys.Key
	leaf  *x509.Certificate
}

func newWorld(t *testing.T) *world {
	t.Helper()
	tg := devstack.NewEmbedded(t)
	ctx := context.Background()
	env := function.Env{Config: tg.Stack.Env(tg.Table), Clients: tg.Clients, Log: function.NewLogger(io.Discard, "error"), Now: time.Now}
	w := &world{tg: tg, env: env, clean: function.NewParts(env), kms: awskms.New(tg.Clients.KMS)}
	var err error
	if w.key, err = w.kms.Generate(ctx, keys.GenerateRequest{Algorithm: keys.ECP256, Label: "signer-test", Tags: map[string]string{"signum:certificate": "test"}}); err != nil {
		t.Fatal(err)
	}
	csr, err := certificates.NewCSR(w.key, certificates.Subject{CommonName: "signer test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := certstest.New()
	if err != nil {
		t.Fatal(err)
	}
	if w.leaf, err = ca.Issue(csr, certstest.Leaf{}); err != nil {
		t.Fatal(err)
	}
	return w
}

// deployment provisions a deployment answering on domain, with an active certificate for
// the world's key.
func (w *world) deployment(t *testing.T, domain string) (tenant.Deployment, certificates.Certificate) {
	t.Helper()
	ctx := context.Background()
	d := tenant.Deployment{ID: tenant.NewID("dep_"), Name: "test", Status: tenant.StatusActive, Plan: "standard", SoftwareVersion: "1", DomainName: domain}
	if _, _, err := w.clean.Store.Provision(ctx, store.Provisioning{Deployment: d, Log: tenant.LogEntry{Actor: "test", Action: "fixture"}, LocalDomain: identity.DefaultLocalDomain(d.ID)}); err != nil {
		t.Fatal(err)
	}
	cert, err := w.clean.Store.CreateCertificate(ctx, certificates.Certificate{ID: tenant.NewID("crt_"), DeploymentID: d.ID, Name: "test", Status: certificates.StatusActive,
		Backend: "awskms", Algorithm: keys.ECP256, KeyURI: w.key.URI(), Subject: certificates.Subject{CommonName: "signer test"}, ChainPEM: certstest.PEM(w.leaf),
		NotBefore: w.leaf.NotBefore, NotAfter: w.leaf.NotAfter}, tenant.LogEntry{Actor: "test", Action: "fixture"})
	if err != nil {
		t.Fatal(err)
	}
	return d, cert
}

// signerOn is the signer's Lambda handler on db (a wrapped client) and registry.
func (w *world) signerOn(db store.DynamoDB, registry *keys.Registry) edge.LambdaHandler {
	parts := function.NewParts(w.env)
	parts.Store = store.New(db, w.tg.Table, function.CursorKey(w.env))
	parts.Guard.Tenants = parts.Store
	return edge.Lambda(signer.NewHandler(parts, registry, access.NewMux(w.env.Log, parts.Guard)))
}

// signerUser adds a console signer to d with a policy that lets it sign with cert, and
// returns the user, the policy and a console token for it.
func (w *world) signerUser(t *testing.T, d tenant.Deployment, cert certificates.Certificate) (identity.ConsoleUser, policy.Policy, string) {
	t.Helper()
	ctx := context.Background()
	log := tenant.LogEntry{Actor: "test", Action: "fixture"}
	u, err := w.clean.Store.CreateConsoleUser(ctx, identity.ConsoleUser{ID: tenant.NewID("cu_"), DeploymentID: d.ID, Username: "ci",
		Roles: []identity.ConsoleRole{identity.Signer}, Status: identity.StatusActive}, log)
	if err != nil {
		t.Fatal(err)
	}
	pol, err := w.clean.Store.CreatePolicy(ctx, d.ID, policy.Policy{ID: tenant.NewID("pol_"), Name: "ci", Enabled: true, Priority: 10, Action: policy.Allow,
		What: policy.What{Certificates: []string{cert.ID}}, Who: policy.Who{Users: []string{u.ID}}}, log)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := w.clean.Issuer.Issue(ctx, token.Claims{Subject: u.ID, System: token.Console, Deployment: d.ID, Roles: []string{"signer"}})
	if err != nil {
		t.Fatal(err)
	}
	return u, pol, tok
}

// signBody is a POST /sign body for cert with n digests (of "artifact").
func signBody(cert certificates.Certificate, n int) string {
	sum := sha256.Sum256([]byte("artifact"))
	var digests []map[string]string
	for i := 0; i < n; i++ {
		digests = append(digests, map[string]string{"digest": base64.StdEncoding.EncodeToString(sum[:]), "digestAlgorithm": "SHA256"})
	}
	body, _ := json.Marshal(map[string]any{"certificateId": cert.ID, "digests": digests})
	return string(body)
}
