package local

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/opensignum/signum/lib/oidcidp"
	"github.com/opensignum/signum/lib/samlidp"
)

// The identity provider stand-ins the local server starts beside the API: what a customer's
// identity provider and CI system would be. They are real protocol servers on their own
// ports; the product reaches them only over HTTP (discovery, JWKS, SAML metadata), as it
// would reach Okta, Entra ID or GitHub.
//
//   - Server.Actions: GitHub Actions' OIDC token service for simulated jobs (its own issuer),
//     for CI workload identity domains.
//   - Server.IdP: an OpenID Connect provider for people, for OIDC domains: DemoPeople log in
//     at its form; clients IdPClientID (confidential, IdPClientSecret) and
//     IdPPublicClientID (public, PKCE), both with the demo deployment's console callback
//     (DemoOIDCRedirectURIs) as their redirect URIs.
//   - Server.SAML: a SAML 2.0 IdP for people, for SAML domains: the same DemoPeople; it
//     registers a service provider the first time one sends it an AuthnRequest, by fetching
//     the provider's metadata from its entity ID (on this machine only).

// Demo credentials of the people stand-ins. They guard nothing but the local stand-ins.
const (
	// IdPClientID is the confidential OIDC client of the demo deployment's console.
	IdPClientID = "signum-console"
	// IdPClientSecret is IdPClientID's client secret.
	IdPClientSecret = "local-signum-console-secret"
	// IdPPublicClientID is a public client (no secret, PKCE S256) for the same redirect URIs.
	IdPPublicClientID = "signum-console-public"
	// OIDCCallbackPath is the console's OIDC redirect URI path, on the deployment's host.
	OIDCCallbackPath = "/console/login/oidc/callback"
	// ActionsAudience is the audience make run's banner has its simulated job ask for, and
	// the default of `signum --oidc-audience`.
	ActionsAudience = "signum"
	// DemoJobRepository is the repository of the job make run registers for its banner.
	DemoJobRepository = "acme/app"
)

// DemoPerson is a person who can log in at the people stand-ins (IdP and SAML).
type DemoPerson struct {
	Username, Password, Email, Name string
	Groups                          []string
}

// DemoPeople log in at Server.IdP and Server.SAML.
var DemoPeople = []DemoPerson{
	{Username: "alice", Password: "Alice-Local-9-Pass", Email: "alice@example.com", Name: "Alice Admin", Groups: []string{"signum-admins", "release"}},
	{Username: "bob", Password: "Bob-Local-9-Pass", Email: "bob@example.com", Name: "Bob Viewer", Groups: []string{"viewers"}},
}

// DemoOIDCRedirectURIs are the redirect URIs the people IdP's clients accept: the demo
// deployment's console callback on the API port (apiAddr) and on the mutual-TLS port
// (tlsAddr), each "host:port" as bound.
func DemoOIDCRedirectURIs(apiAddr, tlsAddr string) []string {
	var out []string
	if _, port, err := net.SplitHostPort(apiAddr); err == nil {
		out = append(out, "http://"+net.JoinHostPort(DemoDomain, port)+OIDCCallbackPath)
	}
	if _, port, err := net.SplitHostPort(tlsAddr); err == nil {
		out = append(out, "https://"+net.JoinHostPort(DemoDomain, port)+OIDCCallbackPath)
	}
	return out
}

// standinKeys are the stand-ins' signing keys: made once per process (RSA key generation is
// the slow part of starting them, and tests start many servers), in the background while the
// rest of the server starts.
type standinKeys struct {
	actions, people   *rsa.PrivateKey
	samlKey, samlCert []byte
	err               error
}

var (
	keysOnce sync.Once
	keysDone = make(chan struct{})
	keysMade standinKeys
)

// prepareStandinKeys starts making the keys (once per process) and returns a wait for them.
func prepareStandinKeys() func() standinKeys {
	keysOnce.Do(func() {
		go func() {
			defer close(keysDone)
			var wg sync.WaitGroup
			var errs [3]error
			wg.Add(3)
			go func() { defer wg.Done(); keysMade.actions, errs[0] = rsa.GenerateKey(rand.Reader, 2048) }()
			go func() { defer wg.Done(); keysMade.people, errs[1] = rsa.GenerateKey(rand.Reader, 2048) }()
			go func() {
				defer wg.Done()
				keysMade.samlKey, keysMade.samlCert, errs[2] = samlidp.NewKeyPair("Signum local SAML IdP", time.Now())
			}()
			wg.Wait()
			keysMade.err = errors.Join(errs[:]...)
		}()
	})
	return func() standinKeys {
		<-keysDone
		return keysMade
	}
}

// samlKeyFiles keep the SAML stand-in's key pair in the data dir, so that a SAML domain
// configured with its metadata (which pins its certificate) keeps working after a restart.
const (
	samlKeyFile  = "saml-idp-key.pem"
	samlCertFile = "saml-idp-cert.pem"
)

// samlKeyPair is the SAML stand-in's key pair: the one kept in dataDir, else made (and kept
// there when there is a data dir).
func samlKeyPair(dataDir string, made standinKeys) (keyPEM, certPEM []byte, err error) {
	if dataDir == "" {
		return made.samlKey, made.samlCert, nil
	}
	keyPath, certPath := filepath.Join(dataDir, samlKeyFile), filepath.Join(dataDir, samlCertFile)
	k, kerr := os.ReadFile(keyPath)
	c, cerr := os.ReadFile(certPath)
	if kerr == nil && cerr == nil {
		return k, c, nil
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(keyPath, made.samlKey, 0o600); err != nil {
		return nil, nil, fmt.Errorf("write %s: %w", samlKeyFile, err)
	}
	if err := os.WriteFile(certPath, made.samlCert, 0o600); err != nil {
		return nil, nil, fmt.Errorf("write %s: %w", samlCertFile, err)
	}
	return made.samlKey, made.samlCert, nil
}

// startIdPs starts the three stand-ins once the API's and the mutual-TLS port's addresses
// are known (the people IdP's redirect URIs name them), and registers the demo job.
func (s *Server) startIdPs(ctx context.Context, o Options, keys func() standinKeys, apiAddr, tlsAddr string) error {
	// The stand-ins live until Close: ctx only bounds the start (a test's start deadline).
	ctx = context.WithoutCancel(ctx)
	k := keys()
	if k.err != nil {
		return fmt.Errorf("stand-in keys: %w", k.err)
	}
	addr := func(a string) string {
		if a == "" {
			return "127.0.0.1:0"
		}
		return a
	}
	var err error
	if s.Actions, err = oidcidp.Start(ctx, oidcidp.Options{Addr: addr(o.ActionsAddr), Name: "GitHub Actions (local stand-in)", Key: k.actions}); err != nil {
		return fmt.Errorf("GitHub Actions stand-in: %w", err)
	}
	var people []oidcidp.User
	var samlPeople []samlidp.User
	for _, p := range DemoPeople {
		people = append(people, oidcidp.User{Subject: "local-" + p.Username, Username: p.Username, Email: p.Email, Name: p.Name, Groups: p.Groups, Password: p.Password})
		samlPeople = append(samlPeople, samlidp.User{Username: p.Username, Password: p.Password, Email: p.Email, Name: p.Name, Groups: p.Groups})
	}
	redirects := DemoOIDCRedirectURIs(apiAddr, tlsAddr)
	if s.IdP, err = oidcidp.Start(ctx, oidcidp.Options{Addr: addr(o.IdPAddr), Name: "Local identity provider (OIDC)", Key: k.people, Users: people,
		Clients: []oidcidp.Client{
			{ID: IdPClientID, Secret: IdPClientSecret, RedirectURIs: redirects},
			{ID: IdPPublicClientID, RedirectURIs: redirects},
		}}); err != nil {
		return fmt.Errorf("OIDC stand-in: %w", err)
	}
	keyPEM, certPEM, err := samlKeyPair(o.DataDir, k)
	if err != nil {
		return fmt.Errorf("SAML stand-in key: %w", err)
	}
	if s.SAML, err = samlidp.Start(ctx, samlidp.Options{Addr: addr(o.SAMLAddr), KeyPEM: keyPEM, CertPEM: certPEM, Users: samlPeople,
		FetchUnknownServiceProviders: true, Logger: o.Log}); err != nil {
		return fmt.Errorf("SAML stand-in: %w", err)
	}
	// A job for make run's banner: its runner's variables let anyone on this machine act as
	// it, which is what a simulated job is for.
	if s.DemoJob, err = s.Actions.RegisterJob(oidcidp.Job{Repository: DemoJobRepository, Workflow: "release"}); err != nil {
		return fmt.Errorf("demo job: %w", err)
	}
	return nil
}

// closeIdPs stops the stand-ins that started.
func (s *Server) closeIdPs() {
	if s.Actions != nil {
		_ = s.Actions.Close()
	}
	if s.IdP != nil {
		_ = s.IdP.Close()
	}
	if s.SAML != nil {
		_ = s.SAML.Close()
	}
}
