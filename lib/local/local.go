// Package local assembles the whole service on one machine: the AWS stand-ins, the table and
// service key the template would create, every function of template.yaml built by the same
// Build its main.go runs, and the API Gateway stand-in in front of them. `make run` and the
// end-to-end tests both start it.
package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"time"

	signum "github.com/opensignum/signum"
	"github.com/opensignum/signum/lib/api/certificates"
	"github.com/opensignum/signum/lib/api/console"
	"github.com/opensignum/signum/lib/api/events"
	"github.com/opensignum/signum/lib/api/fallback"
	"github.com/opensignum/signum/lib/api/health"
	"github.com/opensignum/signum/lib/api/insights"
	"github.com/opensignum/signum/lib/api/marketplace"
	noticesapi "github.com/opensignum/signum/lib/api/notices"
	"github.com/opensignum/signum/lib/api/operator"
	"github.com/opensignum/signum/lib/api/policies"
	"github.com/opensignum/signum/lib/api/portal"
	"github.com/opensignum/signum/lib/api/signer"
	"github.com/opensignum/signum/lib/api/truststore"
	"github.com/opensignum/signum/lib/api/updates"
	"github.com/opensignum/signum/lib/apigw"
	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/function/messaging"
	"github.com/opensignum/signum/lib/oidcidp"
	"github.com/opensignum/signum/lib/provisioning"
	"github.com/opensignum/signum/lib/samlidp"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
	"github.com/opensignum/signum/lib/tsastandin"
)

// Builds maps each HTTP function of template.yaml (by logical id) to the Build its main.go
// runs, and EventBuilds each event-driven one. A test fails when they and the template differ.
var Builds = map[string]function.Build{
	"HealthFunction":                  health.Build,
	"OperatorFunction":                operator.Build,
	"FallbackFunction":                fallback.Build,
	"PortalAuthFunction":              portal.BuildAuth,
	"PortalDeploymentsFunction":       portal.BuildDeployments,
	"PortalUsersFunction":             portal.BuildUsers,
	"PortalUpdatesFunction":           updates.Build,
	"ConsoleAuthFunction":             console.BuildAuth,
	"ConsoleUsersFunction":            console.BuildUsers,
	"ConsoleSettingsFunction":         console.BuildSettings,
	"ConsoleCertificatesFunction":     certificates.Build,
	"ConsolePoliciesFunction":         policies.Build,
	"SignerFunction":                  signer.Build,
	"ConsoleEventsFunction":           events.Build,
	"InsightsFunction":                insights.Build,
	"MarketplaceFulfilmentFunction":   marketplace.Build,
	"MarketplaceAzureWebhookFunction": marketplace.BuildWebhook,
}

// EventBuilds are the event-driven functions (streams, schedules, custom resources), which
// no route reaches: `make invoke` runs them with an event file.
var EventBuilds = map[string]function.EventBuild{
	"TruststoreFunction":           truststore.Build,
	"MarketplaceAwsEventsFunction": marketplace.BuildEvents,
	"MarketplaceMeteringFunction":  marketplace.BuildMetering,
	"NoticesFunction":              noticesapi.Build,
	UpdaterID:                      updates.BuildUpdater,
}

// OperatorAccessKey is the access key id of the local operator's SigV4 credentials.
const OperatorAccessKey = "LOCALOPERATOR"

// DemoDomain is the domain name of the demo deployment (*.localhost resolves to loopback).
const DemoDomain = "demo.localhost"

// Options configure Start.
type Options struct {
	// Addr is the API's listen address ("127.0.0.1:8080"; ":0" style for tests).
	Addr string
	// TLSAddr is the mutual-TLS port's listen address ("127.0.0.1:8443" when empty).
	TLSAddr string
	// DynamoDBAddr and KMSAddr are the stand-ins' listen addresses (random when empty).
	DynamoDBAddr, KMSAddr string
	// DataDir keeps the KMS stand-in's keys and the local operator credentials; temporary
	// when empty.
	DataDir string
	Table   string
	Log     *slog.Logger
	// Limits are the rate limits (function.DefaultLimits for `make run`); the zero value
	// limits nothing, for tests that are not about limits.
	Limits function.Limits
	// WebDir is the built web app (web/dist), served under WebPrefix; empty for none.
	WebDir string
	// TSAAddr is the RFC 3161 time-stamping authority stand-in's listen address (any free
	// port when empty; make run fixes it).
	TSAAddr string
	// ActionsAddr, IdPAddr and SAMLAddr are the listen addresses of the identity provider
	// stand-ins (idps.go): GitHub Actions' token service, the OIDC provider and the SAML IdP
	// for people (any free port when empty; make run fixes them).
	ActionsAddr, IdPAddr, SAMLAddr string
	// UpdaterTick is how often the updater's schedule ticks (every 15 s when 0, as the
	// 5-minute rule would be too slow to watch; negative: never, for tests that tick it
	// themselves through Events).
	UpdaterTick time.Duration
	// Latency, when set, is added to every AWS call a function makes (an SDK middleware
	// waits that long before sending it): benchmarks model what a call costs in AWS, where
	// the stand-ins answer in well under a millisecond.
	Latency func(service, operation string, input any) time.Duration
	// Faults, when set, is asked before every attempt (retries included) of every DynamoDB
	// and KMS call a function makes; when it returns a Fault, the SDK gets that error answer
	// in place of the stand-in's (faults.go), as from AWS. The soak (cmd/signum-soak) injects
	// KMS failures and DynamoDB throttling so.
	Faults func(service, operation string, input any) *Fault
}

// Server is the running local service.
type Server struct {
	Stack    *devstack.Stack
	Template *apigw.Template
	Gateway  *apigw.Gateway
	Clients  *function.Clients
	Config   function.Config
	// URL is the API's base URL.
	URL string
	// TLSURL is the mutual-TLS port's base URL (https://127.0.0.1:<port>); requests name
	// their deployment's host as on the plain port.
	TLSURL string
	// TLSCA is the PEM CA that issued the mutual-TLS port's server certificate.
	TLSCA []byte
	// OperatorSecret is the secret of OperatorAccessKey.
	OperatorSecret string
	// Demo is the demo deployment provisioned at start.
	Demo tenant.Deployment
	// DemoAdminInvite is the token of the demo deployment's first-Admin link.
	DemoAdminInvite string
	// Calls records the AWS operations each function made (see Calls).
	Calls *Calls
	// Events are the event-driven functions' handlers, by logical id.
	Events map[string]function.EventHandler
	// Actions is GitHub Actions' token service for simulated CI jobs (RegisterJob), IdP the
	// OIDC provider and SAML the SAML IdP for people (DemoPeople): see idps.go.
	Actions, IdP *oidcidp.IdP
	SAML         *samlidp.IdP
	// TSA is the RFC 3161 time-stamping authority stand-in (lib/tsastandin): what a public TSA
	// is to a deployment whose policies require timestamps. Its URL and its CA (TSACAFile in
	// the data dir) go into PUT /console/timestamping.
	TSA *tsastandin.TSA
	// DemoJob is a job registered on Actions at start (repository DemoJobRepository): its
	// Env() is what a GitHub runner would give it.
	DemoJob oidcidp.JobRequest

	srv, tlsSrv *http.Server
	tlsLn       net.Listener
	// queue is the updater's queue and schedule (updater.go).
	queue *updateQueue
}

// Start starts everything and provisions the demo deployment. The DynamoDB stand-in keeps its
// data in memory, so each start begins with an empty table and a new demo deployment (the KMS
// stand-in's keys persist in DataDir).
func Start(ctx context.Context, o Options) (*Server, error) {
	if o.Table == "" {
		o.Table = "signum"
	}
	if o.Log == nil {
		o.Log = function.NewLogger(os.Stdout, "info")
	}
	st, err := devstack.Start(devstack.Options{DynamoDBAddr: o.DynamoDBAddr, KMSAddr: o.KMSAddr, DataDir: o.DataDir})
	if err != nil {
		return nil, err
	}
	s := &Server{Stack: st}
	if err := s.start(ctx, o); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Server) start(ctx context.Context, o Options) error {
	var err error
	// The identity provider stand-ins' keys are made while the rest starts.
	idpKeys := prepareStandinKeys()
	s.Config = s.Stack.Env(o.Table)
	s.Config.OperatorAccountID = devstack.AccountID
	// The local console domain: browsers resolve every <label>.localhost to this machine, as
	// *.<ConsoleDomain> reaches the API in AWS. Deployment domain names must be one label
	// under it, so that a console token only ever goes to this server.
	s.Config.DeploymentDomainSuffix = "localhost"
	s.Config.Limits = o.Limits
	// A SoftHSM2 token stands in for CloudHSM when SoftHSM2 is installed; without it the
	// service runs with KMS keys only.
	hsmDir := filepath.Join(o.DataDir, "softhsm")
	if o.DataDir == "" {
		hsmDir = filepath.Join(os.TempDir(), fmt.Sprintf("signum-softhsm-%d", os.Getpid()))
	}
	if hsm, err := devstack.SoftHSM(hsmDir); err == nil {
		s.Config.PKCS11Library, s.Config.PKCS11Token, s.Config.PKCS11PIN = hsm.Library, hsm.Token, hsm.PIN
	} else {
		o.Log.Warn("no PKCS#11 backend", slog.String("reason", err.Error()))
	}
	// The mutual-TLS port is bound first: the functions report it as every deployment's
	// mutual-TLS endpoint.
	tlsAddr := o.TLSAddr
	if tlsAddr == "" {
		tlsAddr = "127.0.0.1:8443"
	}
	if s.tlsLn, err = net.Listen("tcp", tlsAddr); err != nil {
		return fmt.Errorf("listen %s: %w", tlsAddr, err)
	}
	_, s.Config.LocalSignerPort, _ = net.SplitHostPort(s.tlsLn.Addr().String())
	// The updater's queue: the functions send to it through the SDK, as to SQS.
	if s.queue, err = startUpdateQueue(o.Log); err != nil {
		return err
	}
	s.Config.SQSEndpoint, s.Config.UpdatesQueueURL = s.queue.endpoint(), s.queue.url
	if s.Clients, err = function.NewClients(ctx, s.Config); err != nil {
		return err
	}
	// Every function gets the messaging clients here, so that their calls are recorded too.
	if s.Clients.Messaging, err = messaging.New(ctx, s.Config); err != nil {
		return err
	}
	if err := devstack.Bootstrap(ctx, s.Clients, o.Table); err != nil {
		return fmt.Errorf("bootstrap stand-ins: %w", err)
	}
	// The functions get the checkpoint key's ARN, as the template gives it them.
	if s.Config.CheckpointKeyID, err = devstack.CheckpointKeyARN(ctx, s.Clients.KMS); err != nil {
		return fmt.Errorf("checkpoint key: %w", err)
	}
	if s.Template, err = apigw.ParseTemplate(signum.Template); err != nil {
		return err
	}
	env := function.Env{Config: s.Config, Clients: s.Clients, Log: o.Log, Now: time.Now}
	handlers := map[string]edge.LambdaHandler{}
	ids := make([]string, 0, len(s.Template.Functions))
	for id := range s.Template.Functions {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	s.Calls = &Calls{latency: o.Latency, faults: o.Faults}
	s.Events = map[string]function.EventHandler{}
	for _, id := range ids {
		fenv := env
		fenv.Clients = s.Calls.recording(id, s.Clients)
		build, ok := Builds[id]
		if eb, isEvent := EventBuilds[id]; isEvent && !ok {
			if s.Events[id], err = eb(ctx, fenv); err != nil {
				return fmt.Errorf("build %s: %w", id, err)
			}
			continue
		}
		if !ok {
			return fmt.Errorf("template function %s has no entry in local.Builds or local.EventBuilds", id)
		}
		h, err := build(ctx, fenv)
		if err != nil {
			return fmt.Errorf("build %s: %w", id, err)
		}
		handlers[id] = edge.Lambda(h)
	}
	s.queue.mu.Lock()
	s.queue.handler = s.Events[UpdaterID]
	s.queue.mu.Unlock()
	tick := o.UpdaterTick
	if tick == 0 {
		tick = 15 * time.Second
	}
	s.queue.tick(tick)
	if s.OperatorSecret, err = operatorSecret(o.DataDir); err != nil {
		return err
	}
	if o.DataDir != "" {
		// For make invoke: the configuration the functions run with, for other processes.
		if err := writeStackFile(o.DataDir, s.Config); err != nil {
			return err
		}
	}
	secret := s.OperatorSecret
	s.Gateway, err = apigw.NewGateway(s.Template, handlers, apigw.Options{
		Region: devstack.Region, AccountID: devstack.AccountID, Log: o.Log,
		IAM: func(ak string) (string, string, bool) {
			if ak == OperatorAccessKey {
				return secret, devstack.AccountID, true
			}
			return "", "", false
		},
	})
	if err != nil {
		return err
	}
	if s.Demo, err = s.provisionDemo(ctx); err != nil {
		return fmt.Errorf("provision demo deployment: %w", err)
	}
	addr := o.Addr
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	s.URL = "http://" + ln.Addr().String()
	if err := s.startIdPs(ctx, o, idpKeys, ln.Addr().String(), s.tlsLn.Addr().String()); err != nil {
		ln.Close()
		return err
	}
	if err := s.startTSA(ctx, o); err != nil {
		ln.Close()
		return err
	}
	var handler http.Handler = s.Gateway
	if o.WebDir != "" {
		handler = withWeb(s.Gateway, o.WebDir)
	}
	handler = s.withMarket(handler)
	if o.DataDir != "" {
		// For make invoke: where the simulator answers (it mints the Azure webhook's tokens).
		if err := os.WriteFile(filepath.Join(o.DataDir, APIURLFile), []byte(s.URL), 0o600); err != nil {
			ln.Close()
			return err
		}
	}
	s.srv = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s.startTLS(o)
}

// startTLS starts the mutual-TLS port (see tls.go).
func (s *Server) startTLS(o Options) error {
	cfg, caPEM, err := serverTLS(DemoDomain)
	if err != nil {
		return fmt.Errorf("local TLS certificate: %w", err)
	}
	if err := writeTLSCA(o.DataDir, caPEM); err != nil {
		return err
	}
	ln := s.tlsLn
	s.TLSURL, s.TLSCA = "https://"+ln.Addr().String(), caPEM
	s.tlsSrv = &http.Server{Handler: s.Gateway, ReadHeaderTimeout: 10 * time.Second, TLSConfig: cfg,
		ErrorLog: log.New(io.Discard, "", 0)} // refused handshakes are the client's business
	go func() { _ = s.tlsSrv.ServeTLS(ln, "", "") }()
	return nil
}

func (s *Server) provisionDemo(ctx context.Context) (tenant.Deployment, error) {
	st := store.New(s.Clients.DynamoDB, s.Config.TableName, function.CursorKey(function.Env{Config: s.Config, Clients: s.Clients}))
	res, err := provisioning.New(st, time.Now).Provision(ctx, provisioning.Request{
		Name: "Demo", Plan: "trial", DomainName: DemoDomain, RequestKey: "local:demo", Actor: "local-server",
	})
	s.DemoAdminInvite = res.FirstAdminLink
	return res.Deployment, err
}

// operatorSecret returns the local operator's secret, kept in dataDir/operator.env so that
// scripts can sign requests; a fresh one per start without a data dir.
func operatorSecret(dataDir string) (string, error) {
	var b [20]byte
	_, _ = rand.Read(b[:])
	secret := hex.EncodeToString(b[:])
	if dataDir == "" {
		return secret, nil
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", err
	}
	content := fmt.Sprintf("# Local operator credentials for SigV4 calls to /operator routes (regenerated at each start).\nAWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\nAWS_REGION=%s\n", OperatorAccessKey, secret, devstack.Region)
	if err := os.WriteFile(filepath.Join(dataDir, "operator.env"), []byte(content), 0o600); err != nil {
		return "", err
	}
	return secret, nil
}

// Close stops the API and the stand-ins.
func (s *Server) Close() {
	if s.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.srv.Shutdown(ctx)
	}
	if s.tlsSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.tlsSrv.Shutdown(ctx)
	}
	if s.queue != nil {
		s.queue.close()
	}
	s.closeIdPs()
	if s.TSA != nil {
		_ = s.TSA.Close()
	}
	s.Stack.Close()
}
