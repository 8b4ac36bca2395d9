package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/opensignum/signum/lib/client"
)

// Outcomes of a doctor's check.
const (
	checkOK   = "ok"
	checkWarn = "warn"
	checkFail = "FAIL"
	// checkSkip is a check that could not run because one before it failed, or that does
	// not apply (no .p12 with a token).
	checkSkip = "skip"
)

// expiryWarning is how long before its end a client certificate is warned about: time to
// have a new one issued and registered.
const expiryWarning = 30 * 24 * time.Hour

// check is one line of signum doctor.
type check struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Detail string `json:"detail"`
	// Fix says what to do, when the detail does not already.
	Fix string `json:"fix,omitempty"`
	// err is the failure, which gives the exit code.
	err error
}

// doctorReport is signum doctor's answer (-o json).
type doctorReport struct {
	OK     bool    `json:"ok"`
	Checks []check `json:"checks"`
}

// doctorFailed is the outcome of a doctor run with failed checks: its exit code is the
// first failure's.
type doctorFailed struct {
	failed int
	first  check
}

func (e doctorFailed) Error() string {
	s := "s"
	if e.failed == 1 {
		s = ""
	}
	return fmt.Sprintf("doctor: %d check%s failed, the first: %s: %s", e.failed, s, e.first.Name, e.first.Detail)
}

func (e doctorFailed) Unwrap() error { return e.first.err }

// doctor runs the checks in order; each needs those before it that it depends on.
type doctor struct {
	app    *app
	cmd    *cobra.Command
	wf     *workloadFlags
	now    func() time.Time
	checks []check
}

func (d *doctor) add(c check) check {
	if c.Status == checkFail && c.err == nil {
		c.err = errors.New(c.Detail)
	}
	d.checks = append(d.checks, c)
	return c
}

func (d *doctor) skip(name, why string) {
	d.add(check{Name: name, Status: checkSkip, Detail: why})
}

func (a *app) doctorCmd() *cobra.Command {
	var process, commandLine, certRef string
	var wf workloadFlags
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check the configuration, the connection, the client certificate and what the policies allow; say what to fix",
		Long: `signum doctor checks, in order, and prints one line per check (ok, warn, FAIL or skip) with
what to fix: the configuration (file, URL, credentials), that the .p12 opens, the client
certificate's expiry (a warning within 30 days), that the server answers and its TLS
certificate is trusted, that the service accepts the credentials, which certificates the
policies let you sign with from a process (--process, default signum), and, with --cert, what a
signing request would get and which policy decides (POST /sign/evaluate). Nothing is signed and
nothing is recorded. The exit code is that of the first failed check (see signum --help).`,
		Example: `  signum doctor
  signum doctor --process osslsigncode --command-line "osslsigncode sign ..." --cert Release
  signum doctor -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			d := &doctor{app: a, cmd: cmd, wf: &wf, now: time.Now}
			d.run(cmd.Context(), process, commandLine, certRef)
			return a.report(d.checks)
		},
	}
	cmd.Flags().StringVar(&process, "process", "signum", "the program to check the policies for, as it reports itself when it signs")
	cmd.Flags().StringVar(&commandLine, "command-line", "", "its command line, for policies that match one (default: none reported)")
	cmd.Flags().StringVar(&certRef, "cert", "", "a certificate id or name: what signing with it would get, and which policy decides")
	wf.add(cmd)
	return cmd
}

// report prints the checks and answers the failure of the first failed one.
func (a *app) report(checks []check) error {
	r := doctorReport{OK: true, Checks: checks}
	var failed []check
	for _, c := range checks {
		if c.Status == checkFail {
			r.OK = false
			failed = append(failed, c)
		}
	}
	if a.output == "json" {
		if err := a.json(r); err != nil {
			return err
		}
	} else {
		for _, c := range checks {
			fmt.Fprintf(a.out, "%-4s  %-18s  %s\n", c.Status, c.Name, c.Detail)
			if c.Fix != "" {
				fmt.Fprintf(a.out, "      %-18s  fix: %s\n", "", c.Fix)
			}
		}
	}
	if len(failed) > 0 {
		return doctorFailed{failed: len(failed), first: failed[0]}
	}
	return nil
}

// run makes the checks in order.
func (d *doctor) run(ctx context.Context, process, commandLine, certRef string) {
	cfg, ok := d.configuration()
	leaf, leafOK := d.p12(cfg)
	switch {
	case leaf != nil:
		leafOK = d.expiry(leaf)
	case cfg.P12 == "":
		d.skip("client certificate", "no .p12 configured")
	default:
		d.skip("client certificate", "needs a .p12 that opens")
	}
	reached := false
	if ok {
		reached = d.server(ctx, cfg)
	} else {
		d.skip("server", "needs a valid configuration")
	}
	var c *client.Client
	if reached && leafOK {
		c = d.authentication(ctx, cfg)
	} else {
		d.skip("authentication", "needs the server and the credentials")
	}
	var certs []client.Certificate
	listed := false
	if c != nil {
		certs, listed = d.certificates(ctx, c, process, commandLine)
	} else {
		d.skip("certificates", "needs authentication")
	}
	if certRef == "" {
		return
	}
	if c == nil {
		d.skip("evaluate", "needs authentication")
		return
	}
	d.evaluate(ctx, c, certs, listed, certRef, process, commandLine)
}

// configuration: the file (or none) and the environment give a server URL that can be used,
// a server CA that reads, and exactly one kind of credentials.
func (d *doctor) configuration() (client.Config, bool) {
	const name = "configuration"
	path, err := d.app.path()
	if err != nil {
		d.add(check{Name: name, Status: checkFail, Detail: err.Error(), err: err})
		return client.Config{}, false
	}
	source := "file " + path
	if _, err := os.Stat(path); err != nil {
		source = "no file at " + path + " (environment only)"
	}
	cfg, err := client.LoadConfig(path)
	if err != nil {
		d.add(check{Name: name, Status: checkFail, Detail: err.Error(), Fix: "correct the file, or write it again with signum configure", err: err})
		return cfg, false
	}
	credentials, err := credentialsOf(cfg, d.wf)
	if err != nil {
		d.add(check{Name: name, Status: checkFail, Detail: source + ": " + err.Error(), err: err,
			Fix: "signum configure --url URL --p12 agent.p12 (or --token -), or set SIGNUM_P12 or SIGNUM_TOKEN"})
		return cfg, false
	}
	// The URL and the server CA as the client will use them (the credentials are checked next).
	if _, err := client.New(client.Config{URL: cfg.URL, Host: cfg.Host, CAFile: cfg.CAFile}); err != nil {
		fix := "signum configure --url https://<deployment host> (or set SIGNUM_URL)"
		if cfg.URL != "" && cfg.CAFile != "" && strings.Contains(err.Error(), cfg.CAFile) {
			fix = "give the PEM file of the server's CA with signum configure --ca, or SIGNUM_CA"
		}
		d.add(check{Name: name, Status: checkFail, Detail: source + ": " + err.Error(), Fix: fix, err: err})
		return cfg, false
	}
	detail := fmt.Sprintf("%s; URL %s", source, cfg.URL)
	if cfg.Host != "" {
		detail += "; host " + cfg.Host
	}
	if cfg.CAFile != "" {
		detail += "; server CA " + cfg.CAFile
	} else {
		detail += "; server CA: the system's roots"
	}
	d.add(check{Name: name, Status: checkOK, Detail: detail + "; credentials: " + credentials})
	return cfg, true
}

// credentialsOf says which credentials the client will use, or why none will do.
func credentialsOf(cfg client.Config, wf *workloadFlags) (string, error) {
	switch {
	case wf.token != "" || os.Getenv("SIGNUM_OIDC_TOKEN") != "":
		return "a CI job's OIDC token, exchanged for a signing session", nil
	case cfg.P12 != "" && cfg.Token != "":
		return "", fmt.Errorf("%w: both a .p12 and a token are configured; use one", client.ErrConfig)
	case cfg.P12 != "":
		return ".p12 " + cfg.P12 + " (mutual TLS)", nil
	case cfg.Token != "":
		return "console token", nil
	case os.Getenv("ACTIONS_ID_TOKEN_REQUEST_URL") != "":
		return "the GitHub Actions job's OIDC token, exchanged for a signing session", nil
	}
	return "", fmt.Errorf("%w: no credentials: neither a .p12 nor a token is configured", client.ErrConfig)
}

// p12 opens the configured .p12 with SIGNUM_P12_PASSWORD. ok is false when one is
// configured and does not open.
func (d *doctor) p12(cfg client.Config) (*x509.Certificate, bool) {
	const name = ".p12"
	if cfg.P12 == "" {
		why := "no .p12 configured"
		if cfg.Token != "" {
			why += " (a console token is used)"
		}
		d.skip(name, why)
		return nil, true
	}
	leaf, err := client.OpenP12(cfg.P12, cfg.P12Password)
	if err != nil {
		c := check{Name: name, Status: checkFail, Detail: err.Error(), err: err}
		if cfg.P12Password == "" && strings.Contains(err.Error(), "password") {
			c.Fix = "SIGNUM_P12_PASSWORD is not set"
		}
		d.add(c)
		return nil, false
	}
	d.add(check{Name: name, Status: checkOK, Detail: fmt.Sprintf("%s opens: %s, issued by %s, serial %x", cfg.P12, leaf.Subject, leaf.Issuer, leaf.SerialNumber)})
	return leaf, true
}

// expiry: the client certificate is valid now, and for more than expiryWarning.
func (d *doctor) expiry(leaf *x509.Certificate) bool {
	const name = "client certificate"
	now := d.now()
	left, err := client.Validity(leaf, now)
	if err != nil {
		d.add(check{Name: name, Status: checkFail, Detail: err.Error(), err: err})
		return false
	}
	until := leaf.NotAfter.UTC().Format("2006-01-02")
	days := int(left.Hours() / 24)
	if left < expiryWarning {
		d.add(check{Name: name, Status: checkWarn, Detail: fmt.Sprintf("expires on %s, in %d days", until, days),
			Fix: "ask your console admin for a new client certificate and have it registered for your user before then"})
		return true
	}
	d.add(check{Name: name, Status: checkOK, Detail: fmt.Sprintf("valid until %s (%d days)", until, days)})
	return true
}

// server: the URL's host resolves, something answers there, and its certificate is trusted.
func (d *doctor) server(ctx context.Context, cfg client.Config) bool {
	const name = "server"
	r, err := client.Reach(ctx, cfg)
	if err != nil {
		d.add(check{Name: name, Status: checkFail, Detail: err.Error(), err: err})
		return false
	}
	detail := cfg.URL + " answers"
	switch {
	case r.ClientCertRequired:
		detail += "; it asks for a client certificate in the TLS handshake"
	case r.Status == 404:
		err := fmt.Errorf("%w: %s answers, but knows no deployment at %s", client.ErrConfig, cfg.URL, hostOf(cfg))
		d.add(check{Name: name, Status: checkFail, Detail: err.Error(), err: err,
			Fix: "the URL (or --host, SIGNUM_HOST) must be the deployment's domain name, or its mutual-TLS host"})
		return false
	}
	if r.Server != nil {
		trust := "the system's roots"
		if cfg.CAFile != "" {
			trust = cfg.CAFile
		}
		detail += fmt.Sprintf("; TLS certificate %s, issued by %s, trusted through %s", r.Server.Subject, r.Server.Issuer, trust)
	} else if strings.HasPrefix(cfg.URL, "http://") {
		detail += " over plain HTTP (loopback only)"
	}
	d.add(check{Name: name, Status: checkOK, Detail: detail})
	return true
}

func hostOf(cfg client.Config) string {
	if cfg.Host != "" {
		return cfg.Host
	}
	return strings.TrimPrefix(strings.TrimPrefix(cfg.URL, "https://"), "http://")
}

// authentication: the service takes the credentials. It answers with a client on success.
func (d *doctor) authentication(ctx context.Context, cfg client.Config) *client.Client {
	const name = "authentication"
	fail := func(err error) *client.Client {
		c := check{Name: name, Status: checkFail, Detail: err.Error(), err: err}
		switch {
		case !errors.Is(err, client.ErrAuth):
		case cfg.P12 != "":
			c.Fix = "ask a console admin to register this client certificate (or its issuing CA) for your user"
		case cfg.Token != "":
			c.Fix = "the token expired or its user changed: get a new one (signum configure --token -)"
		}
		d.add(c)
		return nil
	}
	c, err := d.app.signerClient(d.cmd, d.wf)
	if err != nil {
		return fail(err)
	}
	s, err := c.Session(ctx)
	switch {
	case err == nil:
		d.add(check{Name: name, Status: checkOK, Detail: fmt.Sprintf("accepted as %s (%s), roles %s", s.Name, s.UserID, strings.Join(s.Roles, ", "))})
		return c
	case errors.Is(err, client.ErrDenied):
		// A CI job's signing session may only sign: the listing says whether it is taken.
		if _, lerr := c.Certificates(ctx, "", ""); lerr != nil {
			return fail(lerr)
		}
		d.add(check{Name: name, Status: checkOK, Detail: "accepted (a signing session)"})
		return c
	}
	return fail(err)
}

// certificates: the policies let the caller sign with at least one certificate from process.
func (d *doctor) certificates(ctx context.Context, c *client.Client, process, commandLine string) ([]client.Certificate, bool) {
	const name = "certificates"
	from := fmt.Sprintf("process %q", process)
	if commandLine != "" {
		from += fmt.Sprintf(", command line %q", commandLine)
	}
	certs, err := c.Certificates(ctx, process, commandLine)
	if err != nil {
		d.add(check{Name: name, Status: checkFail, Detail: err.Error(), err: err})
		return nil, false
	}
	if len(certs) == 0 {
		err := fmt.Errorf("%w: no policy lets you sign with any certificate from %s", client.ErrDenied, from)
		d.add(check{Name: name, Status: checkFail, Detail: err.Error(), err: err,
			Fix: "ask a console admin for a signing policy whose Who includes you and whose Where matches this process (--process, --command-line)"})
		return nil, true
	}
	var names []string
	soon := false
	for _, cert := range certs {
		names = append(names, fmt.Sprintf("%s (%s, until %s)", cert.ID, cert.Name, dayOf(cert.NotAfter)))
		if t, err := time.Parse(time.RFC3339, cert.NotAfter); err == nil && t.Sub(d.now()) < expiryWarning {
			soon = true
		}
	}
	c2 := check{Name: name, Status: checkOK, Detail: fmt.Sprintf("from %s you may sign with %s", from, strings.Join(names, ", "))}
	if soon {
		c2.Status, c2.Fix = checkWarn, "a certificate expires within 30 days: ask a console admin to renew it"
	}
	d.add(c2)
	return certs, true
}

func dayOf(rfc3339 string) string {
	if len(rfc3339) >= 10 {
		return rfc3339[:10]
	}
	return rfc3339
}

// evaluate: what signing with ref from process would get (POST /sign/evaluate).
func (d *doctor) evaluate(ctx context.Context, c *client.Client, certs []client.Certificate, listed bool, ref, process, commandLine string) {
	name := "evaluate"
	id := ref
	for _, cert := range certs {
		if cert.ID == ref || cert.Name == ref {
			id = cert.ID
		}
	}
	if !listed {
		d.skip(name, "needs the certificates' listing")
		return
	}
	v, err := c.Evaluate(ctx, id, process, commandLine)
	switch {
	case errors.Is(err, client.ErrNotFound):
		err = fmt.Errorf("%w: no certificate %q (an id, or the name of one you may sign with)", client.ErrNotFound, ref)
		d.add(check{Name: name, Status: checkFail, Detail: err.Error(), err: err, Fix: "signum certs lists the certificates you may sign with"})
		return
	case err != nil:
		d.add(check{Name: name, Status: checkFail, Detail: err.Error(), err: err})
		return
	}
	d.add(verdictCheck(name, id, v, process))
}

// verdictCheck is the check line of an evaluation of signing with certificate id from process.
func verdictCheck(name, id string, v client.Verdict, process string) check {
	switch {
	case v.Allowed && v.Owner:
		return check{Name: name, Status: checkOK, Detail: fmt.Sprintf("signing with %s from %q: allowed, as its owner (no policy matches)", id, process)}
	case v.Allowed:
		return check{Name: name, Status: checkOK, Detail: fmt.Sprintf("signing with %s from %q: allowed by policy %q (%s)", id, process, v.PolicyName, v.PolicyID)}
	}
	err := fmt.Errorf("%w: signing with %s from %q would be refused: %s", client.ErrDenied, id, process, v.Reason)
	return check{Name: name, Status: checkFail, Detail: err.Error(), err: err,
		Fix: "ask a console admin for a signing policy that allows you this certificate from this process"}
}
