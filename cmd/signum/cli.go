package main

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/opensignum/signum/lib/client"
)

// Exit codes.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitAuth        = 3
	exitDenied      = 4
	exitUnreachable = 5
	// exitHeld: the request is held for approval and not signed yet (see sign --wait).
	exitHeld = 6
)

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

type app struct {
	out, errOut io.Writer
	configPath  string
	output      string
}

func run(args []string, stdout, stderr io.Writer) int {
	a := &app{out: stdout, errOut: stderr}
	root := a.root()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	// Ctrl-C cancels requests in flight; signing then fails cleanly and removes its
	// temporary files instead of being killed halfway.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	code, msg := explain(err)
	fmt.Fprintln(stderr, "signum: "+msg)
	return code
}

// explain maps an error to an exit code and a one-line message that says what to do.
func explain(err error) (int, string) {
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	var ue usageError
	switch {
	case errors.As(err, &ue), strings.HasPrefix(msg, "unknown command"), strings.HasPrefix(msg, "unknown flag"),
		strings.HasPrefix(msg, "required flag"), strings.Contains(msg, "arg(s)"), strings.HasPrefix(msg, "invalid argument"):
		return exitUsage, msg + " (see signum --help)"
	case errors.Is(err, client.ErrConfig):
		return exitUsage, msg
	case errors.Is(err, client.ErrDenied):
		return exitDenied, msg + "; ask a console admin for a signing policy that covers you and this certificate"
	case errors.Is(err, client.ErrAuth):
		return exitAuth, msg
	case errors.Is(err, client.ErrUnreachable):
		return exitUnreachable, msg
	case errors.Is(err, client.ErrHeld):
		return exitHeld, msg
	case errors.Is(err, client.ErrNotPE), errors.Is(err, client.ErrFormat):
		return exitUsage, msg
	}
	return exitFailed, msg
}

func atLeastOne(what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return usageError{fmt.Sprintf("%s needs at least one %s", cmd.Name(), what)}
		}
		return nil
	}
}

func (a *app) root() *cobra.Command {
	root := &cobra.Command{
		Use:   "signum",
		Short: "Sign software with keys that never leave KMS or the HSM",
		Long: `signum signs files and digests with the signing service: files are hashed here and only
their digests are sent. PE, MSI, CAB, CAT, APPX/MSIX, JAR and PowerShell files get the signature
their format embeds (see signum sign --help); other files a detached CMS/PKCS#7 signature (FILE.p7s).

Configuration: a file (--config, $SIGNUM_CONFIG, or the user config dir's signum/config.json,
written by "signum configure"), overridden by SIGNUM_URL, SIGNUM_HOST, SIGNUM_CA, SIGNUM_P12,
SIGNUM_P12_PASSWORD and SIGNUM_TOKEN.

CI jobs need no stored secret: certs, sign and sign-digest exchange the job's OIDC token
(--oidc-token or SIGNUM_OIDC_TOKEN; in GitHub Actions with "permissions: id-token: write" and
no .p12 or token configured, requested from the runner for --oidc-audience, default "signum")
for a short signing session at POST /console/workload-session of SIGNUM_URL (the deployment's
console host, not its mutual-TLS host), as the console user the deployment's CI domain names.
Each OIDC token is exchanged once: request a new one for each run of signum.

Exit codes: 0 done, 1 failed, 2 usage or configuration, 3 authentication refused, 4 denied by
policy, 5 server unreachable.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&a.configPath, "config", "", "configuration file (default $SIGNUM_CONFIG or <user config dir>/signum/config.json)")
	root.PersistentFlags().StringVarP(&a.output, "output", "o", "text", "output format: text or json")
	root.AddCommand(a.configureCmd(), a.certsCmd(), a.signDigestCmd(), a.signCmd(), a.verifyCmd(), a.eventsCmd(), a.doctorCmd())
	return root
}

func (a *app) path() (string, error) { return client.ConfigPath(a.configPath) }

// config reads the configuration file (if any) and applies the environment.
func (a *app) config() (client.Config, error) {
	p, err := a.path()
	if err != nil {
		return client.Config{}, err
	}
	return client.LoadConfig(p)
}

func (a *app) json(v any) error {
	enc := json.NewEncoder(a.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (a *app) checkOutput() error {
	if a.output != "text" && a.output != "json" {
		return usageError{fmt.Sprintf("--output is text or json, not %q", a.output)}
	}
	return nil
}

func (a *app) configureCmd() *cobra.Command {
	var cfg client.Config
	cmd := &cobra.Command{
		Use:   "configure",
		Short: "Save the server URL and credentials (a .p12 for mutual TLS, or a token)",
		Example: `  signum configure --url https://acme.mtls.sign.example.com --p12 agent.p12
  signum configure --url https://127.0.0.1:8443 --host demo.localhost --ca .local/tls-ca.pem --p12 agent.p12`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.URL == "" {
				return usageError{"--url is required"}
			}
			if cfg.P12 != "" && cfg.Token != "" {
				return usageError{"use either --p12 or --token"}
			}
			if cfg.Token == "-" {
				// Read from stdin: a token on the command line ends up in ps and shell history.
				raw, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 64<<10))
				if err != nil {
					return err
				}
				cfg.Token = strings.TrimSpace(string(raw))
			}
			for _, f := range []*string{&cfg.CAFile, &cfg.P12} {
				if *f != "" {
					abs, err := filepath.Abs(*f)
					if err != nil {
						return err
					}
					*f = abs
				}
			}
			// The configuration must work: a .p12 that does not open is refused now.
			check := cfg
			check.P12Password = os.Getenv("SIGNUM_P12_PASSWORD")
			if _, err := client.New(check); err != nil {
				return err
			}
			p, err := a.path()
			if err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				return err
			}
			raw, _ := json.MarshalIndent(cfg, "", "  ")
			// The file may hold a token: created 0600 (CreateTemp), never via a stale file.
			f, err := os.CreateTemp(filepath.Dir(p), ".config-*.json")
			if err != nil {
				return err
			}
			_, werr := f.Write(append(raw, '\n'))
			if cerr := f.Close(); werr == nil {
				werr = cerr
			}
			if werr == nil {
				werr = os.Rename(f.Name(), p)
			}
			if werr != nil {
				_ = os.Remove(f.Name())
				return werr
			}
			fmt.Fprintf(a.errOut, "saved %s (the .p12 password is not stored: set SIGNUM_P12_PASSWORD)\n", p)
			return nil
		},
	}
	cmd.Flags().StringVar(&cfg.URL, "url", "", "service URL (https://<deployment host>)")
	cmd.Flags().StringVar(&cfg.Host, "host", "", "Host header: the deployment's domain name when the URL is an address (local server)")
	cmd.Flags().StringVar(&cfg.CAFile, "ca", "", "PEM CA that verifies the server (default: system roots)")
	cmd.Flags().StringVar(&cfg.P12, "p12", "", "PKCS#12 client certificate and key for mutual TLS")
	cmd.Flags().StringVar(&cfg.Token, "token", "", `console bearer token (instead of --p12); "-" reads it from stdin (or set SIGNUM_TOKEN and store none)`)
	return cmd
}

// requestContext is what signing requests report: this program, its command line, the
// machine, and the CI job it runs in.
func requestContext() client.Context {
	host, ci := client.Machine()
	// The command line goes into the signing event log: tokens given as flags are hidden.
	cmdline := client.CommandLine(append([]string{"signum"}, os.Args[1:]...))
	return client.Context{Process: "signum", CommandLine: cmdline, AgentID: host, CI: ci}
}

func (a *app) certsCmd() *cobra.Command {
	var wf workloadFlags
	cmd := &cobra.Command{
		Use:   "certs",
		Short: "List the certificates you may sign with",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			c, err := a.signerClient(cmd, &wf)
			if err != nil {
				return err
			}
			sc := requestContext()
			certs, err := c.Certificates(cmd.Context(), sc.Process, sc.CommandLine)
			if err != nil {
				return err
			}
			if a.output == "json" {
				if certs == nil {
					certs = []client.Certificate{}
				}
				for i := range certs {
					certs[i].ChainPEM = ""
				}
				return a.json(certs)
			}
			if len(certs) == 0 {
				fmt.Fprintln(a.errOut, "no certificate: no policy lets you sign from here; ask a console admin")
				return nil
			}
			tw := tabwriter.NewWriter(a.out, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tALGORITHM\tSUBJECT\tEXPIRES")
			for _, c := range certs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.ID, c.Name, c.Algorithm, c.Subject, c.NotAfter)
			}
			return tw.Flush()
		},
	}
	wf.add(cmd)
	return cmd
}

func (a *app) signDigestCmd() *cobra.Command {
	var certID, digest, alg, scheme, idem, receipts string
	var dryRun bool
	var wf workloadFlags
	cmd := &cobra.Command{
		Use:     "sign-digest",
		Short:   "Sign a digest (hex or base64) and print the signature (base64)",
		Example: `  signum sign-digest --cert crt_... --digest $(sha256sum app.bin | cut -d' ' -f1)`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			raw, err := decodeDigest(digest, alg)
			if err != nil {
				return err
			}
			c, err := a.signerClient(cmd, &wf)
			if err != nil {
				return err
			}
			if dryRun {
				return a.dryRunDigest(cmd.Context(), c, certID, raw, alg, scheme, requestContext())
			}
			res, err := c.Sign(cmd.Context(), certID, scheme, []client.Digest{{Digest: raw, Algorithm: alg}}, requestContext(), idem)
			if err != nil {
				return err
			}
			// The receipt is kept before the signature is shown: it is the client's evidence
			// that the log recorded this signature (signum events verify --receipts).
			if err := a.keepReceipt(receipts, res.Receipt); err != nil {
				return fmt.Errorf("keep the signing receipt: %w", err)
			}
			if a.output == "json" {
				return a.json(res)
			}
			fmt.Fprintln(a.out, res.Signatures[0].Signature)
			return nil
		},
	}
	cmd.Flags().StringVar(&certID, "cert", "", "certificate id (see signum certs)")
	cmd.Flags().StringVar(&digest, "digest", "", "the digest, hex or base64")
	cmd.Flags().StringVar(&alg, "alg", "SHA256", "digest algorithm: SHA256, SHA384 or SHA512")
	cmd.Flags().StringVar(&scheme, "scheme", "", "signature scheme (default: the key's; RSASSA_PKCS1_V1_5 or RSASSA_PSS for RSA)")
	cmd.Flags().StringVar(&idem, "idempotency-key", "", "retry-safe key: a retry of the same request gets the first answer and signs nothing twice")
	cmd.Flags().StringVar(&receipts, "receipts", "", "file the answer's receipt is appended to (default $SIGNUM_RECEIPTS, else receipts.jsonl beside the configuration)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "show the certificate and the policy that would allow signing the digest; sign nothing")
	wf.add(cmd)
	_ = cmd.MarkFlagRequired("cert")
	_ = cmd.MarkFlagRequired("digest")
	return cmd
}

func decodeDigest(s, alg string) ([]byte, error) {
	h, ok := client.HashByName(alg)
	if !ok {
		return nil, usageError{"--alg is SHA256, SHA384 or SHA512"}
	}
	size := h.Size()
	if raw, err := hex.DecodeString(s); err == nil && len(raw) == size {
		return raw, nil
	}
	if raw, err := base64.StdEncoding.DecodeString(s); err == nil && len(raw) == size {
		return raw, nil
	}
	return nil, usageError{fmt.Sprintf("--digest is a %s digest (%d bytes) in hex or base64", strings.ToUpper(alg), size)}
}

func (a *app) signCmd() *cobra.Command {
	var certID, format, tsURL, receipts string
	var dryRun bool
	var held heldFlags
	var wf workloadFlags
	cmd := &cobra.Command{
		Use:   "sign FILE...",
		Short: "Sign files in their own format (Authenticode, MSI, APPX, JAR, ...), or as FILE.p7s",
		Long: `Sign files with one request for all of them (up to 64 per request). Each file is signed in
its format, detected from its content (the extension decides only where the content is open):

  format  detected by                                signature
  pe      MZ + PE header (.exe, .dll, .sys)          embedded Authenticode
  msi     compound file (.msi, .msp, .msm)           DigitalSignature stream
  cab     MSCF header                                Authenticode in the cabinet header
  cat     PKCS#7 certificate trust list              the catalog, signed
  appx    ZIP with AppxManifest.xml (.appx, .msix)   AppxSignature.p7x
  jar     ZIP with META-INF/MANIFEST.MF, or a .jar   META-INF/SIGNUM.SF and .RSA/.EC
  ps1     text named .ps1, .psm1, .psd1, .ps1xml     signature comment block
  cms     anything else                              FILE.p7s (detached CMS/PKCS#7, DER)

--format auto (the default) signs an unrecognised file as cms, like before signum knew more
formats. --format X signs every file as X and refuses a file that is not X (cms fits any file;
jar any ZIP but an APPX; ps1 any text). FILE.p7s is checked by "openssl cms -verify -binary
-inform DER -in FILE.p7s -content FILE"; the others by "signum verify", osslsigncode verify, or
jarsigner -verify. Outputs are written to a temporary file and renamed into place, so a failure
leaves no partial output. An APPX with programs in it takes two signatures (its code-integrity
catalog, then the package): the second is a request of its own.`,
		Example: `  signum sign --cert crt_... hello.exe setup.msi app.msix lib.jar install.ps1 hello.txt
  signum sign --format cms app.jar                          (a detached signature of the jar)
  signum sign --oidc-token "$TOKEN" --domain gha app.tar.gz     (a CI job: no stored secret)`,
		Args: atLeastOne("FILE"),
		RunE: func(cmd *cobra.Command, files []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			m, err := client.ParseFormat(format)
			if err != nil {
				return usageError{"--format is " + client.FormatList() + ", not " + strconv.Quote(format)}
			}
			for _, f := range files {
				if info, err := os.Stat(f); err != nil || !info.Mode().IsRegular() {
					return fmt.Errorf("%w: %s is not a readable file", client.ErrConfig, f)
				}
				// A file of the wrong format is refused before anything is sent.
				if _, err := client.CheckFormat(f, m); err != nil {
					if errors.Is(err, client.ErrFormat) {
						return usageError{err.Error()}
					}
					return err
				}
			}
			if err := held.check(len(files)); err != nil {
				return err
			}
			c, err := a.signerClient(cmd, &wf)
			if err != nil {
				return err
			}
			sc := requestContext()
			if dryRun {
				return a.dryRunFiles(cmd.Context(), c, certID, m, files, sc)
			}
			a.setApproval(c, held)
			cert, err := a.findCert(cmd.Context(), c, certID, sc)
			if err != nil {
				return err
			}
			jobs := make([]client.FileJob, len(files))
			for i, f := range files {
				jobs[i] = client.FileJob{Path: f, Mode: m, TimestampURL: tsURL}
			}
			report := a.progress(len(files))
			results, err := c.SignFiles(cmd.Context(), cert, jobs, sc, "", report.done)
			report.finish()
			// Each request's receipt is kept once (the files it signed share it), also when
			// another request failed: what was signed was recorded.
			kept := map[string]bool{}
			for _, r := range results {
				all := []json.RawMessage{r.Receipt}
				for _, d := range r.MoreDecisions {
					all = append(all, d.Receipt)
				}
				for _, receipt := range all {
					if len(receipt) == 0 || kept[string(receipt)] {
						continue
					}
					kept[string(receipt)] = true
					if kerr := a.keepReceipt(receipts, receipt); kerr != nil {
						return fmt.Errorf("keep the signing receipt: %w", kerr)
					}
				}
			}
			if a.output == "json" {
				if jerr := a.json(results); jerr != nil {
					return jerr
				}
			}
			return heldAdvice(err, cert.ID, files)
		},
	}
	held.add(cmd)
	cmd.Flags().StringVar(&certID, "cert", "", "certificate id or name (see signum certs); default: the only one you may use")
	cmd.Flags().StringVar(&format, "format", "auto", "auto (detected from each file; detached CMS when unrecognised), pe, msi, cab, cat, appx, jar, ps1 or cms")
	cmd.Flags().StringVar(&tsURL, "timestamp", "", "RFC 3161 time-stamping authority URL (every format)")
	cmd.Flags().StringVar(&receipts, "receipts", "", "file the answers' receipts are appended to (default $SIGNUM_RECEIPTS, else receipts.jsonl beside the configuration)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "show each file's format and output, the certificate and the policy that would allow it; sign and write nothing")
	wf.add(cmd)
	return cmd
}

// findCert picks the certificate to sign with: the one named, or the only one allowed.
func (a *app) findCert(ctx context.Context, c *client.Client, ref string, sc client.Context) (client.Certificate, error) {
	certs, err := c.Certificates(ctx, sc.Process, sc.CommandLine)
	if err != nil {
		return client.Certificate{}, err
	}
	var names []string
	for _, cert := range certs {
		if ref == "" || cert.ID == ref || cert.Name == ref {
			if ref == "" && len(certs) > 1 {
				break
			}
			return cert, nil
		}
		names = append(names, cert.ID+" ("+cert.Name+")")
	}
	sort.Strings(names)
	switch {
	case len(certs) == 0:
		return client.Certificate{}, fmt.Errorf("%w: no policy lets you sign with any certificate from here", client.ErrDenied)
	case ref == "":
		return client.Certificate{}, usageError{"you may sign with several certificates; choose one with --cert: " + strings.Join(names, ", ")}
	}
	return client.Certificate{}, fmt.Errorf("%w: you may not sign with %q (you may use: %s)", client.ErrDenied, ref, strings.Join(names, ", "))
}

func (a *app) verifyCmd() *cobra.Command {
	var caFile string
	cmd := &cobra.Command{
		Use:   "verify FILE...",
		Short: "Check a file's signature (FILE.p7s, else the one its format embeds) and its chain",
		Args:  atLeastOne("FILE"),
		RunE: func(cmd *cobra.Command, files []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			var roots *x509.CertPool
			if caFile != "" {
				raw, err := os.ReadFile(caFile)
				if err != nil {
					return fmt.Errorf("%w: %v", client.ErrConfig, err)
				}
				roots = x509.NewCertPool()
				if !roots.AppendCertsFromPEM(raw) {
					return fmt.Errorf("%w: %s holds no PEM certificate", client.ErrConfig, caFile)
				}
			}
			var results []client.VerifyResult
			var errs []error
			for _, f := range files {
				r, err := client.VerifyFile(f, roots)
				results = append(results, r)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				if a.output == "text" {
					fmt.Fprintf(a.out, "%s: %s signature by %s, chain verified\n", f, r.Kind, r.Signer)
				}
			}
			if a.output == "json" {
				if err := a.json(results); err != nil {
					return err
				}
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().StringVar(&caFile, "ca", "", "PEM roots to trust (default: the system's)")
	return cmd
}
