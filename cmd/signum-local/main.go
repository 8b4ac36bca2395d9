// Command signum-local runs the whole service on this machine with no Docker and no AWS
// account: DynamoDB and KMS stand-ins in-process, and an API Gateway stand-in that invokes
// the same Lambda handlers that run in AWS. `make run` starts it.
//
// Signals: SIGUSR1 stops or restarts the KMS stand-in, SIGUSR2 the DynamoDB stand-in, to
// see how the service behaves in an outage (GET /health turns 503).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/local"
)

func main() {
	addr := flag.String("addr", envOr("SIGNUM_ADDR", "127.0.0.1:8080"), "API listen address (env SIGNUM_ADDR)")
	tlsAddr := flag.String("tls-addr", envOr("SIGNUM_TLS_ADDR", "127.0.0.1:8443"), "mutual-TLS listen address for certificate users (env SIGNUM_TLS_ADDR)")
	ddbAddr := flag.String("dynamodb-addr", "127.0.0.1:0", "DynamoDB stand-in listen address")
	kmsAddr := flag.String("kms-addr", "127.0.0.1:0", "KMS stand-in listen address")
	dataDir := flag.String("data-dir", ".local", "directory for the KMS stand-in's keys and the local operator credentials")
	level := flag.String("log-level", envOr("LOG_LEVEL", "info"), "debug, info, warn or error")
	webDir := flag.String("web", "web/dist", "the built web app (make web), served under /app/; empty for none")
	actionsAddr := flag.String("actions-addr", envOr("SIGNUM_ACTIONS_ADDR", "127.0.0.1:8442"), "GitHub Actions token service stand-in listen address (env SIGNUM_ACTIONS_ADDR)")
	idpAddr := flag.String("idp-addr", envOr("SIGNUM_IDP_ADDR", "127.0.0.1:8444"), "OIDC identity provider stand-in listen address (env SIGNUM_IDP_ADDR)")
	samlAddr := flag.String("saml-addr", envOr("SIGNUM_SAML_ADDR", "127.0.0.1:8445"), "SAML identity provider stand-in listen address (env SIGNUM_SAML_ADDR)")
	tsaAddr := flag.String("tsa-addr", envOr("SIGNUM_TSA_ADDR", "127.0.0.1:8446"), "RFC 3161 time-stamping authority stand-in listen address (env SIGNUM_TSA_ADDR)")
	flag.Parse()

	// Everything this process writes is its user's alone: the data directory holds the KMS
	// stand-in's keys, the SoftHSM token and the operator's credentials, and the KMS
	// stand-in's database would otherwise create its files 0644 while running (devstack makes
	// the directory and what is in it private at start and stop).
	syscall.Umask(0o077)
	log := function.NewLogger(os.Stderr, *level)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := local.Start(ctx, local.Options{Addr: *addr, TLSAddr: *tlsAddr, DynamoDBAddr: *ddbAddr, KMSAddr: *kmsAddr, DataDir: *dataDir, Log: log, Limits: function.DefaultLimits(), WebDir: *webDir,
		ActionsAddr: *actionsAddr, IdPAddr: *idpAddr, SAMLAddr: *samlAddr, TSAAddr: *tsaAddr})
	if err != nil {
		fmt.Fprintln(os.Stderr, "signum-local:", err)
		os.Exit(1)
	}
	defer srv.Close()
	fmt.Printf(`
Signum is running locally (pid %d).

  API                 %[2]s
  API, mutual TLS     %[14]s   (certificate users; server CA in %[11]s/%[15]s)
  DynamoDB stand-in   %[3]s   (table %[4]s)
  KMS stand-in        %[5]s
  Demo deployment     %[6]s  domain %[7]s (console requests go to this host)

In a browser: the portal, registering the demo deployment's first Admin (who is also its
Signum Administrator) with its deployment link, and then the console on the deployment's host:

  %[2]s/app/portal/register?token=%[12]s
  http://%[7]s:%[13]s/app/console/login

Or with curl: register, then log in:

  curl -s %[2]s/portal/register -H 'content-type: application/json' \
    -d '{"token":"%[12]s","email":"admin@example.com","name":"Admin","password":"Correct-Horse-9-Battery"}'
  curl -s %[2]s/portal/login -H 'content-type: application/json' \
    -d '{"email":"admin@example.com","password":"Correct-Horse-9-Battery"}'

Then, with TOKEN set to the token from the login:

  curl -s %[2]s/portal/deployments/%[6]s -H "authorization: Bearer $TOKEN"
  curl -s -X POST %[2]s/portal/deployments/%[6]s/console-token -H "authorization: Bearer $TOKEN"
  curl -s http://%[7]s:%[13]s/console/session -H "authorization: Bearer <console token>"

Operator API (SigV4, as in AWS; credentials also in %[11]s/operator.env):

  curl -s --aws-sigv4 aws:amz:%[8]s:execute-api --user %[9]s:%[10]s %[2]s/operator/deployments
  curl -s %[2]s/health

Outages: kill -USR1 %[1]d toggles the KMS stand-in, kill -USR2 %[1]d the DynamoDB stand-in.
To see signing end to end (certificate, certificate user, the signum CLI over mutual TLS),
run "make demo" instead: it starts its own server. Stop with Ctrl-C.
`, os.Getpid(), srv.URL, srv.Stack.DynamoDB.URL(), srv.Config.TableName, srv.Stack.KMS.URL(),
		srv.Demo.ID, srv.Demo.DomainName, devstack.Region, local.OperatorAccessKey, srv.OperatorSecret, *dataDir,
		srv.DemoAdminInvite, port(srv.URL), srv.TLSURL, local.TLSCAFile)
	printIdPs(srv, *dataDir)
	printMarketplaces(srv)
	printOperations(srv)
	printTSA(srv, *dataDir)
	if err := writeDemoEnv(*dataDir, srv); err != nil {
		log.Warn("demo.env not written", slog.String("error", err.Error()))
	}

	toggles := make(chan os.Signal, 4)
	signal.Notify(toggles, syscall.SIGUSR1, syscall.SIGUSR2)
	for {
		select {
		case <-ctx.Done():
			fmt.Println("stopping")
			return
		case sig := <-toggles:
			s := srv.Stack.KMS
			if sig == syscall.SIGUSR2 {
				s = srv.Stack.DynamoDB
			}
			if s.Running() {
				s.Stop()
				log.Warn("stand-in stopped", slog.String("standin", s.Name()))
			} else if err := s.Start(); err != nil {
				log.Error("stand-in restart failed", slog.String("standin", s.Name()), slog.String("error", err.Error()))
			} else {
				log.Info("stand-in started", slog.String("standin", s.Name()), slog.String("url", s.URL()))
			}
		}
	}
}

// printIdPs tells how to use the identity provider stand-ins: people logging in through an
// OIDC or SAML domain, and a simulated GitHub Actions job signing through a CI domain.
func printIdPs(srv *local.Server, dataDir string) {
	var people []string
	for _, p := range local.DemoPeople {
		people = append(people, fmt.Sprintf("%s / %s (groups %s)", p.Username, p.Password, strings.Join(p.Groups, ", ")))
	}
	host := "http://" + srv.Demo.DomainName + ":" + port(srv.URL)
	fmt.Printf(`
Identity provider stand-ins (what a customer's IdP and CI system would be):

  OIDC provider       %[1]s   clients %[2]s (secret %[3]s) and %[4]s (public, PKCE)
                      redirect URI %[5]s%[6]s
  SAML 2.0 IdP        %[7]s
  People (both)       %[8]s
  GitHub Actions      %[9]s   (issuer of simulated CI jobs' OIDC tokens)

To sign as a GitHub Actions job, with no stored secret: as the Signum Administrator, with a
console token in CONSOLE_TOKEN, create a CI domain whose rule maps the job to a console user:

  curl -s %[5]s/console/domains -H "authorization: Bearer $CONSOLE_TOKEN" -H 'content-type: application/json' \
    -d '{"kind":"ci","name":"GitHub Actions","alias":"gha","ci":{"issuer":"%[9]s","audience":"%[10]s","rules":[{"name":"release","claims":{"repository":"%[11]s","ref":"refs/heads/main"},"user":"ci-release"}]}}'

then the console user ci-release (role signer) and a policy (or ownership) that lets it sign
with a certificate. The job's runner variables (also in %[12]s/ci-job.env):

  export ACTIONS_ID_TOKEN_REQUEST_URL='%[13]s'
  export ACTIONS_ID_TOKEN_REQUEST_TOKEN='%[14]s'
  export SIGNUM_URL=%[15]s SIGNUM_HOST=%[16]s
  go run ./cmd/signum sign hello.txt

signum asks the stand-in for a token (audience %[10]s), exchanges it at
POST /console/workload-session for a short console session, and signs with it; the signing
events carry the job's claims (repository, ref, workflow, run_id, ...).
`, srv.IdP.Issuer(), local.IdPClientID, local.IdPClientSecret, local.IdPPublicClientID, host, local.OIDCCallbackPath,
		srv.SAML.MetadataURL(), strings.Join(people, "; "), srv.Actions.Issuer(), local.ActionsAudience, local.DemoJobRepository,
		dataDir, srv.DemoJob.URL, srv.DemoJob.Token, srv.URL, srv.Demo.DomainName)
	if dataDir == "" {
		return
	}
	job := fmt.Sprintf("# A simulated GitHub Actions job of %s (regenerated at each start): source this file, then run signum.\nexport ACTIONS_ID_TOKEN_REQUEST_URL='%s'\nexport ACTIONS_ID_TOKEN_REQUEST_TOKEN='%s'\nexport SIGNUM_URL=%s\nexport SIGNUM_HOST=%s\n",
		local.DemoJobRepository, srv.DemoJob.URL, srv.DemoJob.Token, srv.URL, srv.Demo.DomainName)
	_ = os.WriteFile(filepath.Join(dataDir, "ci-job.env"), []byte(job), 0o600)
}

func port(url string) string {
	return url[strings.LastIndexByte(url, ':')+1:]
}

// writeDemoEnv keeps what scripts need to drive the demo deployment (the CI smoke test does).
func writeDemoEnv(dir string, srv *local.Server) error {
	if dir == "" {
		return nil
	}
	// SIGNUM_KMS_URL is the KMS stand-in, for a script to change a key behind the service's
	// back (the browser test disables one to see the deployment's health say so).
	// SIGNUM_TSA_URL and SIGNUM_TSA_CA are the time-stamping authority stand-in, for the
	// console's Timestamping page.
	content := fmt.Sprintf("SIGNUM_URL=%s\nSIGNUM_TLS_URL=%s\nSIGNUM_TLS_CA=%s\nSIGNUM_DEMO_DEPLOYMENT=%s\nSIGNUM_DEMO_DOMAIN=%s\nSIGNUM_DEMO_ADMIN_INVITE=%s\nSIGNUM_KMS_URL=%s\nSIGNUM_TSA_URL=%s\nSIGNUM_TSA_CA=%s\n",
		srv.URL, srv.TLSURL, filepath.Join(dir, local.TLSCAFile), srv.Demo.ID, srv.Demo.DomainName, srv.DemoAdminInvite, srv.Stack.KMS.URL(),
		srv.TSA.URL, filepath.Join(dir, local.TSACAFile))
	return os.WriteFile(filepath.Join(dir, "demo.env"), []byte(content), 0o600)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// printMarketplaces says how to walk through a subscription from each marketplace, against
// the stand-ins and the local simulator (lib/local/market.go).
func printMarketplaces(srv *local.Server) {
	sim := srv.URL + local.MarketPrefix
	fmt.Printf(`
Marketplaces (stand-ins: AWS Marketplace %[1]s, Azure Marketplace %[2]s):

  AWS, in a browser: %[3]saws/buy?plan=standard   ("Set up your account" posts the buyer's
  token to the fulfilment URL, which sends you to the registration page; register, then
  follow the first Admin's link). Azure: %[3]sazure/buy?plan=enterprise&quantity=5
  (the landing page resolves the token; register the same way).

  AWS by hand, with the events in events/marketplace-aws-events (run in this order):
    make invoke FUNCTION=marketplace-aws-events EVENT=events/marketplace-aws-events/sqs-subscribe-success-sns.json
    curl -s -X POST %[3]saws/subscribe -d '{"fixture":true,"plan":"standard"}'     # the fixtures' customer's token
    curl -s -X POST %[4]s/marketplace/aws/register -H 'content-type: application/json' \
      -d '{"x-amzn-marketplace-token":"<token>"}'                                   # a registration ticket
    curl -s -X POST %[4]s/marketplace/registrations -H 'content-type: application/json' \
      -d '{"ticket":"<ticket>","domainName":"acme.localhost","adminEmail":"admin@acme.example"}'
    make invoke FUNCTION=marketplace-aws-events EVENT=events/marketplace-aws-events/eventbridge-license-updated.json   # names the agreement
    curl -s -X POST %[3]saws/entitlement -d '{"dimension":"standard","expired":true}'
    make invoke FUNCTION=marketplace-aws-events EVENT=events/marketplace-aws-events/eventbridge-agreement-amended.json   # suspended
    curl -s -X POST %[3]saws/entitlement -d '{"dimension":"enterprise","value":25}'
    make invoke FUNCTION=marketplace-aws-events EVENT=events/marketplace-aws-events/sqs-entitlement-updated.json        # reinstated, enterprise
    make invoke FUNCTION=marketplace-aws-events EVENT=events/marketplace-aws-events/eventbridge-agreement-ended.json     # unsubscribe-pending
    make invoke FUNCTION=marketplace-aws-events EVENT=events/marketplace-aws-events/eventbridge-license-deprovisioned.json  # cancelled
    make invoke FUNCTION=marketplace-metering EVENT=events/marketplace-metering/scheduled.json
    curl -s %[3]saws/meter-records

  Azure by hand: curl -s '%[3]sazure/buy?plan=standard&format=json' gives a subscription id
  and a landing token (POST /marketplace/azure/resolve {"token"} → ticket, then register as
  above); then each action as Azure would send it, webhook and all:
    curl -s -X POST %[3]sazure/operations -d '{"subscriptionId":"<id>","action":"ChangePlan","plan":"enterprise","quantity":20}'
    (actions: ChangePlan, ChangeQuantity, Renew, Suspend, Reinstate, Unsubscribe)
  The operator sees subscriptions and what was metered at /operator/subscriptions (SigV4).
`, srv.Stack.AWSMarketplace.URL(), srv.Stack.AzureMarketplace.URL(), sim, srv.URL)
}

// printOperations says where a deployment's health, dashboard and software updates are, and
// how to publish a release and replay the hourly notices.
func printOperations(srv *local.Server) {
	fmt.Printf(`
Operations (portal, as a deployment's Admin): Health, Dashboard and Updates in its menu.
  Publish a release for Updates (the operator's SigV4 credentials are in operator.env):
    curl -s --aws-sigv4 "aws:amz:%[2]s:execute-api" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
      -H 'content-type: application/json' -X POST %[1]s/operator/releases \
      -d '{"version":"0.2.0","notes":"Certificate groups","minFrom":"0.1.0","dataVersion":2,"migrations":["certificate-groups"]}'
  The updater runs in process (apply now runs to done; the tick starts scheduled runs).
  Notices' EventBridge events (hourly in AWS):
    make invoke FUNCTION=notices EVENT=events/notices/scheduled.json
`, srv.URL, devstack.Region)
}

// printTSA says how a deployment gets its timestamps from the stand-in authority.
func printTSA(srv *local.Server, dataDir string) {
	fmt.Printf(`
Time-stamping authority stand-in (RFC 3161, a throw-away certificate made at each start):
  %[1]s   its CA: %[2]s/%[3]s
  As a console admin: Timestamping in the console's menu (or PUT /console/timestamping with
  {"urls":["%[1]s"],"caPem":"<that CA>","version":0}), then tick "Require a timestamp" on
  a policy. Verify: osslsigncode verify -CAfile <chain CA> -TSA-CAfile %[2]s/%[3]s -in app.exe
`, srv.TSA.URL, dataDir, local.TSACAFile)
}
