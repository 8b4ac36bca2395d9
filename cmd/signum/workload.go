package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/opensignum/signum/lib/client"
	"github.com/opensignum/signum/lib/workload"
)

// defaultOIDCAudience is the audience signum asks GitHub Actions for: what a CI domain
// expects unless its administrator chose another.
const defaultOIDCAudience = "signum"

// workloadFlags make a command authenticate as a CI job: its OIDC token (given, or requested
// from GitHub Actions) is exchanged for a short signing session, so that no secret is stored
// on the runner.
type workloadFlags struct {
	token, audience, domain string
}

func (f *workloadFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.token, "oidc-token", "", `a CI job's OIDC token, exchanged for a short signing session (default $SIGNUM_OIDC_TOKEN; "-" reads it from stdin); in GitHub Actions with "permissions: id-token: write" and no other credentials configured, signum requests one itself`)
	cmd.Flags().StringVar(&f.audience, "oidc-audience", "", `the audience of the token signum requests from GitHub Actions: the CI domain's (default $SIGNUM_OIDC_AUDIENCE, else "signum")`)
	cmd.Flags().StringVar(&f.domain, "domain", "", "the alias of the CI domain to exchange the OIDC token at (default $SIGNUM_DOMAIN, else every CI domain that trusts its issuer)")
}

// oidcToken is the token to exchange: --oidc-token, else SIGNUM_OIDC_TOKEN, else, when no
// other credential is configured (a .p12 or a token; they win, so that a runner that offers
// OIDC tokens does not change how an existing setup signs), one requested from GitHub Actions
// with the runner's variables. "" means none: sign with the configured credentials.
func (f *workloadFlags) oidcToken(ctx context.Context, stdin io.Reader, cfg client.Config) (string, error) {
	tok := f.token
	if tok == "-" {
		// From stdin: a token on the command line ends up in ps and in logs of the job.
		raw, err := io.ReadAll(io.LimitReader(stdin, 64<<10))
		if err != nil {
			return "", err
		}
		if tok = strings.TrimSpace(string(raw)); tok == "" {
			return "", usageError{"--oidc-token - read no token from stdin"}
		}
	}
	if tok == "" {
		tok = os.Getenv("SIGNUM_OIDC_TOKEN")
	}
	if tok != "" || cfg.P12 != "" || cfg.Token != "" {
		return tok, nil
	}
	aud := f.audience
	if aud == "" {
		aud = os.Getenv("SIGNUM_OIDC_AUDIENCE")
	}
	if aud == "" {
		aud = defaultOIDCAudience
	}
	tok, ok, err := workload.FromGitHubActionsEnv(ctx, &http.Client{Timeout: 30 * time.Second}, aud, os.Getenv)
	switch {
	case !ok:
		return "", nil
	case err != nil:
		return "", fmt.Errorf("%w: %v", client.ErrAuth, err)
	}
	return tok, nil
}

// signerClient is the client of the signer's routes: with the configured credentials, or, for
// a CI job's OIDC token, with the session it is exchanged for at the configured URL and host
// (the deployment's console host: no client certificate, no .p12).
func (a *app) signerClient(cmd *cobra.Command, f *workloadFlags) (*client.Client, error) {
	cfg, err := a.config()
	if err != nil {
		return nil, err
	}
	tok, err := f.oidcToken(cmd.Context(), cmd.InOrStdin(), cfg)
	if err != nil || tok == "" {
		if err != nil {
			return nil, err
		}
		return client.New(cfg)
	}
	cfg.P12, cfg.P12Password, cfg.Token = "", "", ""
	c, err := client.New(cfg)
	if err != nil {
		return nil, err
	}
	domain := f.domain
	if domain == "" {
		domain = os.Getenv("SIGNUM_DOMAIN")
	}
	s, err := c.ExchangeOIDCToken(cmd.Context(), tok, domain)
	if err != nil {
		return nil, fmt.Errorf("exchange the OIDC token for a signing session: %w", err)
	}
	if a.output == "text" {
		fmt.Fprintf(a.errOut, "signing as %s (CI domain %s, rule %s) until %s\n", s.User.Username, s.Domain, s.Rule, s.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return c, nil
}
