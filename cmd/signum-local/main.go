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
	flag.Parse()

	// Everything this process writes is its user's alone: the data directory holds the KMS
	// stand-in's keys, the SoftHSM token and the operator's credentials, and the KMS
	// stand-in's database would otherwise create its files 0644 while running (devstack makes
	// the directory and what is in it private at start and stop).
	syscall.Umask(0o077)
	log := function.NewLogger(os.Stderr, *level)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := local.Start(ctx, local.Options{Addr: *addr, TLSAddr: *tlsAddr, DynamoDBAddr: *ddbAddr, KMSAddr: *kmsAddr, DataDir: *dataDir, Log: log, Limits: function.DefaultLimits(), WebDir: *webDir})
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

func port(url string) string {
	return url[strings.LastIndexByte(url, ':')+1:]
}

// writeDemoEnv keeps what scripts need to drive the demo deployment (the CI smoke test does).
func writeDemoEnv(dir string, srv *local.Server) error {
	if dir == "" {
		return nil
	}
	content := fmt.Sprintf("SIGNUM_URL=%s\nSIGNUM_TLS_URL=%s\nSIGNUM_TLS_CA=%s\nSIGNUM_DEMO_DEPLOYMENT=%s\nSIGNUM_DEMO_DOMAIN=%s\nSIGNUM_DEMO_ADMIN_INVITE=%s\n",
		srv.URL, srv.TLSURL, filepath.Join(dir, local.TLSCAFile), srv.Demo.ID, srv.Demo.DomainName, srv.DemoAdminInvite)
	return os.WriteFile(filepath.Join(dir, "demo.env"), []byte(content), 0o600)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
