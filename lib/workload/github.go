package workload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// The variables a GitHub Actions runner sets for a job with "permissions: id-token: write".
const (
	EnvGitHubRequestURL   = "ACTIONS_ID_TOKEN_REQUEST_URL"
	EnvGitHubRequestToken = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
)

// FromGitHubActionsEnv requests a workload token for audience from GitHub Actions when the
// job's runner offers one. ok says whether it does: false (with err nil) when getenv
// (os.Getenv in the CLI; a parameter so that lib/ reads no environment) has no
// ACTIONS_ID_TOKEN_REQUEST_URL or ACTIONS_ID_TOKEN_REQUEST_TOKEN, i.e. outside GitHub Actions
// or in a workflow without "permissions: id-token: write". With ok true, err says whether the
// request failed.
func FromGitHubActionsEnv(ctx context.Context, client *http.Client, audience string, getenv func(string) string) (token string, ok bool, err error) {
	reqURL, reqToken := getenv(EnvGitHubRequestURL), getenv(EnvGitHubRequestToken)
	if reqURL == "" || reqToken == "" {
		return "", false, nil
	}
	token, err = RequestGitHubActionsToken(ctx, client, reqURL, reqToken, audience)
	return token, true, err
}

// maxTokenResponse bounds the token service's answer (a JWT in a small JSON object).
const maxTokenResponse = 64 << 10

// RequestGitHubActionsToken asks GitHub Actions' token service for a token, as
// actions/toolkit's core.getIDToken does: GET requestURL&audience=<audience> with
// "Authorization: bearer <requestToken>", answered with {"value": "<jwt>"}. An empty audience
// leaves GitHub's default (the repository owner's URL). Errors never contain either token.
func RequestGitHubActionsToken(ctx context.Context, client *http.Client, requestURL, requestToken, audience string) (string, error) {
	if client == nil {
		client = http.DefaultClient
	}
	u, err := url.Parse(requestURL)
	if err != nil || !u.IsAbs() {
		return "", fmt.Errorf("%s is not an absolute URL", EnvGitHubRequestURL)
	}
	if audience != "" {
		q := u.Query()
		q.Set("audience", audience)
		u.RawQuery = q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", fmt.Errorf("GitHub Actions token request: %w", err)
	}
	req.Header.Set("Authorization", "bearer "+requestToken)
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may carry secrets of the runner's own
		}
		return "", fmt.Errorf("GitHub Actions token request to %s: %w", u.Host, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse))
	if err != nil {
		return "", fmt.Errorf("GitHub Actions token request: read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(body, &e)
		msg := strings.TrimSpace(e.Message)
		if len(msg) > 200 {
			msg = msg[:200]
		}
		return "", fmt.Errorf("GitHub Actions token request: HTTP %d %s", resp.StatusCode, msg)
	}
	var v struct {
		Value string `json:"value"`
	}
	if err := json.Unmarshal(body, &v); err != nil || v.Value == "" {
		return "", errors.New("GitHub Actions token request: the answer has no token (value)")
	}
	return v.Value, nil
}
