package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/opensignum/signum/lib/certificates"
	"github.com/opensignum/signum/lib/certificates/certstest"
	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/identity"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/keys/awskms"
	"github.com/opensignum/signum/lib/local"
	"github.com/opensignum/signum/lib/policy"
	"github.com/opensignum/signum/lib/tenant"
	"github.com/opensignum/signum/lib/token"
)

// deployment is one soaked deployment: its host, its agents (console users with the signer
// role), the certificates a policy lets them sign with, one certificate no policy names (its
// requests are denied), and an auditor who reads the event log at the end.
type deployment struct {
	n        int
	id, host string
	agents   []identity.ConsoleUser
	allowed  []soakCert
	unlisted soakCert
	auditor  identity.ConsoleUser
}

// soakCert is a certificate and the public key its signatures verify with.
type soakCert struct {
	id  string
	alg keys.Algorithm
	pub crypto.PublicKey
}

// fixture makes the deployments: each is provisioned through the operator API as an
// operator would (SigV4, POST /operator/deployments), and its users, keys, certificates and
// policy are written with the store and the KMS backend directly, as the benchmarks do (the
// console's flows for them have their own tests). Nothing here goes through the injected
// faults: only the functions' AWS clients have them.
type fixture struct {
	srv    *local.Server
	parts  *function.Parts
	kms    *awskms.Backend
	ca     *certstest.CA
	client *http.Client
}

func newFixture(srv *local.Server) (*fixture, error) {
	env := function.Env{Config: srv.Config, Clients: srv.Clients, Log: function.NewLogger(io.Discard, "error"), Now: time.Now}
	ca, err := certstest.New()
	if err != nil {
		return nil, err
	}
	return &fixture{srv: srv, parts: function.NewParts(env), kms: awskms.New(srv.Clients.KMS), ca: ca, client: &http.Client{Timeout: time.Minute}}, nil
}

var fixtureLog = tenant.LogEntry{Actor: "signum-soak", Action: "fixture"}

// deployment provisions deployment n with agents signers.
func (f *fixture) deployment(ctx context.Context, n, agents int) (*deployment, error) {
	d := &deployment{n: n, host: fmt.Sprintf("soak-%d.localhost", n)}
	body := fmt.Sprintf(`{"name":"Soak %d","plan":"enterprise","domainName":%q}`, n, d.host)
	var created struct{ ID string }
	if err := f.operator(ctx, "POST", "/operator/deployments", body, &created); err != nil {
		return nil, fmt.Errorf("provision %s: %w", d.host, err)
	}
	d.id = created.ID
	st := f.parts.Store
	for i := range agents {
		u, err := st.CreateConsoleUser(ctx, identity.ConsoleUser{ID: tenant.NewID("cu_"), DeploymentID: d.id, Username: fmt.Sprintf("agent-%d", i+1),
			Roles: []identity.ConsoleRole{identity.Signer}, Status: identity.StatusActive}, fixtureLog)
		if err != nil {
			return nil, err
		}
		d.agents = append(d.agents, u)
	}
	var err error
	if d.auditor, err = st.CreateConsoleUser(ctx, identity.ConsoleUser{ID: tenant.NewID("cu_"), DeploymentID: d.id, Username: "auditor",
		Roles: []identity.ConsoleRole{identity.ConsoleViewer}, Status: identity.StatusActive}, fixtureLog); err != nil {
		return nil, err
	}
	for _, alg := range []keys.Algorithm{keys.ECP256, keys.RSA2048} {
		c, err := f.certificate(ctx, d.id, alg, fmt.Sprintf("soak %s", alg))
		if err != nil {
			return nil, err
		}
		d.allowed = append(d.allowed, c)
	}
	if d.unlisted, err = f.certificate(ctx, d.id, keys.ECP256, "soak unlisted"); err != nil {
		return nil, err
	}
	who := make([]string, len(d.agents))
	for i, u := range d.agents {
		who[i] = u.ID
	}
	p := policy.Policy{ID: tenant.NewID("pol_"), Name: "soak agents", Enabled: true, Priority: 5, Action: policy.Allow,
		What: policy.What{Certificates: []string{d.allowed[0].id, d.allowed[1].id}}, Who: policy.Who{Users: who}}
	if _, err := st.CreatePolicy(ctx, d.id, p, fixtureLog); err != nil {
		return nil, err
	}
	return d, nil
}

// certificate makes a KMS key of alg and an active certificate for it in deployment dep.
func (f *fixture) certificate(ctx context.Context, dep string, alg keys.Algorithm, name string) (soakCert, error) {
	key, err := f.kms.Generate(ctx, keys.GenerateRequest{Algorithm: alg, Label: name, Tags: map[string]string{"signum:certificate": name}})
	if err != nil {
		return soakCert{}, err
	}
	subject := certificates.Subject{CommonName: name}
	csr, err := certificates.NewCSR(key, subject, nil)
	if err != nil {
		return soakCert{}, err
	}
	leaf, err := f.ca.Issue(csr, certstest.Leaf{})
	if err != nil {
		return soakCert{}, err
	}
	c, err := f.parts.Store.CreateCertificate(ctx, certificates.Certificate{ID: tenant.NewID("crt_"), DeploymentID: dep, Name: name, Status: certificates.StatusActive,
		Backend: "awskms", Algorithm: alg, KeyURI: key.URI(), Subject: subject, ChainPEM: certstest.PEM(leaf, f.ca.Intermediate),
		NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter}, fixtureLog)
	if err != nil {
		return soakCert{}, err
	}
	return soakCert{id: c.ID, alg: alg, pub: leaf.PublicKey}, nil
}

// token is a console token for u (of deployment dep) with the roles it has.
func (f *fixture) token(ctx context.Context, dep string, u identity.ConsoleUser) (string, error) {
	roles := make([]string, len(u.Roles))
	for i, r := range u.Roles {
		roles[i] = string(r)
	}
	tok, _, err := f.parts.Issuer.Issue(ctx, token.Claims{Subject: u.ID, System: token.Console, Deployment: dep, Roles: roles})
	return tok, err
}

// operator sends a request to the operator API, signed with the local operator's
// credentials, and decodes the answer into out.
func (f *fixture) operator(ctx context.Context, method, path, body string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, f.srv.URL+path, bytes.NewReader([]byte(body)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: local.OperatorAccessKey, SecretAccessKey: f.srv.OperatorSecret}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "execute-api", devstack.Region, time.Now()); err != nil {
		return err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return json.Unmarshal(b, out)
}
