package client

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// WorkloadSession is a CI job's signing session: what POST /console/workload-session answers
// for the job's OIDC token.
type WorkloadSession struct {
	// Token is the session's console token. It is a secret: never print or log it.
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expiresAt"`
	Roles     []string  `json:"roles"`
	User      struct {
		ID       string `json:"id"`
		Username string `json:"username"`
	} `json:"user"`
	// Rule and Domain are the CI domain's rule that admitted the job, and the domain's alias.
	Rule   string `json:"rule"`
	Domain string `json:"domain"`
}

// ErrNoOIDCToken is an exchange asked for without a token.
var ErrNoOIDCToken = errors.New("no OIDC token")

// ExchangeOIDCToken exchanges a CI job's OIDC token for a short signing session at the
// service (POST /console/workload-session on the configured URL and host), and makes the
// client send the session's token with the requests after it, instead of any credential it
// was configured with. domain ("" for any) is the alias of the CI domain to use. Neither
// token appears in an error.
func (c *Client) ExchangeOIDCToken(ctx context.Context, oidcToken, domain string) (WorkloadSession, error) {
	if oidcToken == "" {
		return WorkloadSession{}, ErrNoOIDCToken
	}
	body := map[string]string{"token": oidcToken}
	if domain != "" {
		body["domain"] = domain
	}
	// The exchange itself carries no credential but the OIDC token.
	anon := *c
	anon.cfg.Token = ""
	var s WorkloadSession
	if err := anon.do(ctx, "POST", "/console/workload-session", body, &s); err != nil {
		return WorkloadSession{}, err
	}
	if s.Token == "" {
		return WorkloadSession{}, fmt.Errorf("%w: the session has no token", ErrServer)
	}
	c.cfg.Token = s.Token
	return s, nil
}
