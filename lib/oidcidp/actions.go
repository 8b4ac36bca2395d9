package oidcidp

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Job is a simulated GitHub Actions job: the claims its workload tokens carry. Empty fields
// get GitHub-like defaults (see RegisterJob), so a test names only what it checks.
type Job struct {
	// Repository is "owner/name". Required.
	Repository string
	// Ref is the git ref the run is for (default "refs/heads/main").
	Ref string
	// SHA is the commit (default 40 hex digits derived from the run).
	SHA string
	// Workflow is the workflow's name (default "build").
	Workflow string
	// WorkflowFile is the workflow's path in the repository (default
	// ".github/workflows/build.yml"); workflow_ref is Repository/WorkflowFile@Ref.
	WorkflowFile string
	// JobWorkflowRef is the reusable workflow the job runs (default workflow_ref).
	JobWorkflowRef string
	// Environment is the deployment environment, "" for none.
	Environment string
	// EventName is the triggering event (default "push").
	EventName string
	// Actor is the account that started the run (default the repository's owner).
	Actor string
	// RunID is the run's id (default a number counted from 1000 per stand-in).
	RunID string
	// Subject overrides "sub" (default as GitHub forms it: repo:R:environment:E with an
	// environment, repo:R:pull_request for pull_request events, else repo:R:ref:REF).
	Subject string
	// Extra adds or replaces claims (any JSON value), e.g. to test a rule on a custom claim
	// or a claim of the wrong type. Registered claims (iss, aud, exp, nbf, iat, jti) cannot be
	// replaced.
	Extra map[string]any
	// TokenTTL is the lifetime of the job's tokens (default Options.WorkloadTokenTTL).
	TokenTTL time.Duration
}

// JobRequest is what a job's runner gives the job to ask for tokens: GitHub's
// ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN.
type JobRequest struct {
	// URL already carries "?api-version=2.0"; a client appends "&audience=<aud>".
	URL string
	// Token is sent as "Authorization: bearer <Token>". It is a secret of the job.
	Token string
}

// Env returns the request as the environment variables a GitHub Actions runner sets.
func (r JobRequest) Env() map[string]string {
	return map[string]string{
		"ACTIONS_ID_TOKEN_REQUEST_URL":   r.URL,
		"ACTIONS_ID_TOKEN_REQUEST_TOKEN": r.Token,
	}
}

type jobEntry struct {
	claims map[string]any
	ttl    time.Duration
	ended  bool
}

// workloadClaims are GitHub's custom claims that the stand-in issues (advertised in
// discovery's claims_supported, as GitHub does).
var workloadClaims = []string{
	"actor", "environment", "event_name", "job_workflow_ref", "ref", "ref_type",
	"repository", "repository_owner", "run_attempt", "run_id", "run_number",
	"runner_environment", "sha", "workflow", "workflow_ref",
}

// RegisterJob starts a simulated job and returns what its runner would give it to request
// workload tokens. The tokens are RS256 JWTs from this stand-in's issuer and key, with
// GitHub's claims (see Job); each request may name its own audience.
func (p *IdP) RegisterJob(j Job) (JobRequest, error) {
	owner, name, ok := strings.Cut(j.Repository, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return JobRequest{}, fmt.Errorf("oidcidp: job repository %q must be owner/name", j.Repository)
	}
	p.mu.Lock()
	p.runID++
	run := 1000 + p.runID
	p.mu.Unlock()
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&j.Ref, "refs/heads/main")
	def(&j.SHA, fmt.Sprintf("%040x", run))
	def(&j.Workflow, "build")
	def(&j.WorkflowFile, ".github/workflows/build.yml")
	def(&j.EventName, "push")
	def(&j.Actor, owner)
	def(&j.RunID, strconv.FormatInt(run, 10))
	workflowRef := j.Repository + "/" + j.WorkflowFile + "@" + j.Ref
	def(&j.JobWorkflowRef, workflowRef)
	refType := "branch"
	if strings.HasPrefix(j.Ref, "refs/tags/") {
		refType = "tag"
	}
	switch {
	case j.Subject != "":
	case j.Environment != "":
		j.Subject = "repo:" + j.Repository + ":environment:" + j.Environment
	case j.EventName == "pull_request":
		j.Subject = "repo:" + j.Repository + ":pull_request"
	default:
		j.Subject = "repo:" + j.Repository + ":ref:" + j.Ref
	}
	claims := map[string]any{
		"sub":                j.Subject,
		"repository":         j.Repository,
		"repository_owner":   owner,
		"ref":                j.Ref,
		"ref_type":           refType,
		"sha":                j.SHA,
		"workflow":           j.Workflow,
		"workflow_ref":       workflowRef,
		"job_workflow_ref":   j.JobWorkflowRef,
		"event_name":         j.EventName,
		"actor":              j.Actor,
		"run_id":             j.RunID,
		"run_number":         "1",
		"run_attempt":        "1",
		"runner_environment": "github-hosted",
	}
	if j.Environment != "" {
		claims["environment"] = j.Environment
	}
	for k, v := range j.Extra {
		switch k {
		case "iss", "aud", "exp", "nbf", "iat", "jti":
			return JobRequest{}, fmt.Errorf("oidcidp: job claim %q is set by the issuer", k)
		}
		claims[k] = v
	}
	ttl := j.TokenTTL
	if ttl <= 0 {
		ttl = p.opts.WorkloadTokenTTL
	}
	tok := randomToken(32)
	p.mu.Lock()
	p.jobs.put(tok, &jobEntry{claims: claims, ttl: ttl})
	p.mu.Unlock()
	return JobRequest{URL: p.issuer + pathActions + "?api-version=2.0", Token: tok}, nil
}

// EndJob makes the job's request token useless, as GitHub does when the job finishes.
// Tokens already issued stay valid until they expire.
func (p *IdP) EndJob(r JobRequest) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e, ok := p.jobs.get(r.Token); ok {
		e.ended = true
	}
}

// actionsToken issues a workload token to a running job (GET {issuer}/actions/idtoken?
// api-version=2.0&audience=A, with "Authorization: bearer <request token>"), answering
// {"value": "<jwt>"} as GitHub's token service does. Without an audience the token's aud is
// https://github.com/<owner>, GitHub's default.
func (p *IdP) actionsToken(w http.ResponseWriter, r *http.Request) {
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	p.mu.Lock()
	e, ok := p.jobs.get(tok)
	var claims map[string]any
	var ttl time.Duration
	if ok && !e.ended {
		claims, ttl = maps.Clone(e.claims), e.ttl
	}
	p.mu.Unlock()
	if !strings.EqualFold(scheme, "bearer") || claims == nil {
		p.opts.Logger.Info("oidcidp: workload token refused", "reason", "unknown or ended job")
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Bad credentials"})
		return
	}
	aud := r.URL.Query().Get("audience")
	if aud == "" {
		aud = "https://github.com/" + claims["repository_owner"].(string)
	}
	now := p.opts.Now()
	claims["iss"] = p.issuer
	claims["aud"] = aud
	claims["iat"] = now.Unix()
	claims["nbf"] = now.Unix()
	claims["exp"] = now.Add(ttl).Unix()
	claims["jti"] = randomToken(16)
	jwt, err := p.key.sign(claims)
	if err != nil {
		p.opts.Logger.Error("oidcidp: sign workload token", "err", errors.Unwrap(err))
		writeJSON(w, http.StatusInternalServerError, map[string]string{"message": "the token could not be signed"})
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]string{"value": jwt})
}
