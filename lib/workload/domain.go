// Package workload verifies the identity of CI jobs: a job (GitHub Actions, GitLab CI, any
// runner that issues OIDC tokens) presents its short-lived OIDC token, and a CI workload
// identity Domain decides, by the token's issuer, audience and claim rules, which console user
// the job acts as. No secret is stored anywhere: trust is the issuer's signature.
//
// A Domain trusts one issuer and one audience. Its rules are tried in order; the first whose
// every claim pattern matches the token's claim wins and names the user. Patterns are Go
// regular expressions (RE2 syntax) that must match the whole claim value: "refs/heads/main"
// matches only that ref, "refs/tags/v.*" any tag starting with v; a dot matches any character,
// so escape it ("acme/app\.web") where that matters.
//
// Be strict with shared issuers: every repository on GitHub can obtain a token from
// https://token.actions.githubusercontent.com with any audience it likes, so a rule that does
// not pin repository (or repository_owner, or sub) lets any of them in. Validate requires every
// rule to constrain at least one claim and refuses patterns that match an empty value.
package workload

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"unicode"

	"github.com/opensignum/signum/lib/fault"
)

// Domain is a CI workload identity domain: whose tokens it trusts and whom they act as.
type Domain struct {
	// Issuer is the token issuer's URL, exactly as in the tokens' "iss" claim, e.g.
	// https://token.actions.githubusercontent.com or https://gitlab.com. The verifier finds
	// the keys through its OpenID Connect discovery document.
	Issuer string
	// Audience must be among the token's "aud" values: the audience the job asks for
	// (core.getIDToken(audience) on GitHub, id_tokens: aud on GitLab).
	Audience string
	// Rules are tried in order; the first that matches decides.
	Rules []Rule
}

// Rule maps the jobs whose claims match to a console user.
type Rule struct {
	// Name identifies the rule in errors and on events, e.g. "deploy-main".
	Name string
	// Claims maps a claim name (e.g. "repository", "ref", "workflow", "environment") to a
	// pattern the claim's value must match in full (see the package documentation).
	Claims map[string]string
	// User is the console user (id or username, as the caller stores it) the job acts as.
	User string
}

// Limits of a Domain.
const (
	MaxRules         = 50
	MaxClaimsPerRule = 20
	maxPattern       = 512
	maxIssuer        = 512
	maxAudience      = 256
	maxRuleName      = 64
	maxUser          = 254
)

// KnownClaims are the claims CI issuers put in workload tokens that rules usually test
// (GitHub Actions' and GitLab CI's). A rule may name any other claim too; these are the
// suggestions a form offers, and the claims Verify copies into an Identity.
var KnownClaims = []string{
	// GitHub Actions.
	"sub", "repository", "repository_id", "repository_owner", "repository_owner_id",
	"repository_visibility", "ref", "ref_type", "ref_protected", "sha", "workflow",
	"workflow_ref", "workflow_sha", "job_workflow_ref", "job_workflow_sha", "environment",
	"event_name", "actor", "actor_id", "run_id", "run_number", "run_attempt",
	"runner_environment", "base_ref", "head_ref", "enterprise",
	// GitLab CI.
	"project_path", "project_id", "namespace_path", "namespace_id", "pipeline_source",
	"pipeline_id", "job_id", "ref_path", "user_login", "deployment_tier", "ci_config_ref_uri",
}

// reservedClaims are checked by Verify itself or differ in every token; a rule on them would
// be redundant or could never match twice.
var reservedClaims = map[string]bool{"iss": true, "aud": true, "exp": true, "nbf": true, "iat": true, "jti": true}

var claimName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$`)

// Validate checks d as an administrator would have to fix it: the issuer is an https URL
// (http only for a loopback host, so that the local stand-in works), the audience is set, and
// there are 1 to 50 rules, each with a unique name, a user and 1 to 20 claim patterns that
// compile and do not match an empty value. The error is a fault.Fields naming each field.
func (d Domain) Validate() error {
	var bad fault.Fields
	if reason := issuerProblem(d.Issuer); reason != "" {
		bad.Add("issuer", "%s", reason)
	}
	switch {
	case strings.TrimSpace(d.Audience) == "":
		bad.Add("audience", "is required: the audience the jobs request their tokens for")
	case len(d.Audience) > maxAudience:
		bad.Add("audience", "is longer than %d characters", maxAudience)
	case hasControl(d.Audience):
		bad.Add("audience", "contains control characters")
	}
	switch {
	case len(d.Rules) == 0:
		bad.Add("rules", "at least one rule is required")
	case len(d.Rules) > MaxRules:
		bad.Add("rules", "at most %d rules", MaxRules)
	}
	names := map[string]int{}
	for i, r := range d.Rules {
		f := func(s string) string { return fmt.Sprintf("rules[%d].%s", i, s) }
		switch {
		case strings.TrimSpace(r.Name) == "" || len(r.Name) > maxRuleName || hasControl(r.Name):
			bad.Add(f("name"), "a rule name is 1 to %d printable characters", maxRuleName)
		case names[r.Name] > 0:
			bad.Add(f("name"), "rule %d has the same name", names[r.Name])
		default:
			names[r.Name] = i + 1
		}
		switch {
		case strings.TrimSpace(r.User) == "":
			bad.Add(f("user"), "is required: the console user the matching jobs act as")
		case len(r.User) > maxUser || hasControl(r.User):
			bad.Add(f("user"), "is 1 to %d printable characters", maxUser)
		}
		switch {
		case len(r.Claims) == 0:
			bad.Add(f("claims"), "a rule constrains at least one claim (e.g. repository), or it would admit every token of the issuer")
		case len(r.Claims) > MaxClaimsPerRule:
			bad.Add(f("claims"), "at most %d claims", MaxClaimsPerRule)
		}
		for _, name := range sortedKeys(r.Claims) {
			field := f("claims." + name)
			if !claimName.MatchString(name) {
				field = f("claims")
				bad.Add(field, "%q is not a claim name (letters, digits, _ . : -, at most 64)", fault.Clip(name, 70))
				continue
			}
			if reservedClaims[name] {
				bad.Add(field, "%s is checked by the domain itself (issuer, audience, validity) and cannot be a rule", name)
				continue
			}
			if reason := patternProblem(r.Claims[name]); reason != "" {
				bad.Add(field, "%s", reason)
			}
		}
		if owners, shared := sharedIssuers[strings.TrimRight(d.Issuer, "/")]; shared && len(r.Claims) > 0 && !pinsOwner(r.Claims, owners) {
			bad.Add(f("claims"), "every job on %s can get a token of this issuer: a rule must pin the owner with one of %s, as a literal owner (e.g. repository \"acme/.*\" or repository_owner \"acme\")",
				d.Issuer, strings.Join(owners, ", "))
		}
	}
	return bad.Err()
}

// sharedIssuers are public CI services whose tokens any of their users' jobs can get: a rule
// trusting them must pin the repository's owner. The values are the claims that do, by the
// literal prefix of their pattern.
var sharedIssuers = map[string][]string{
	"https://token.actions.githubusercontent.com": {"repository", "repository_owner", "repository_id", "repository_owner_id", "sub", "job_workflow_ref"},
	"https://gitlab.com":                          {"project_path", "namespace_path", "project_id", "namespace_id", "sub"},
}

// pinsOwner reports whether claims pin the owner: an id claim or an owner claim as a literal
// value, or a path claim (repository, sub, ...) whose pattern begins with a literal owner and
// a slash.
func pinsOwner(claims map[string]string, owners []string) bool {
	for _, name := range owners {
		p, ok := claims[name]
		if !ok {
			continue
		}
		re, err := compile(p)
		if err != nil {
			continue
		}
		prefix, complete := re.LiteralPrefix()
		switch {
		case strings.HasSuffix(name, "_id") || name == "repository_owner" || name == "namespace_path":
			if complete && prefix != "" {
				return true
			}
		default:
			// repository "acme/app", "acme/.*"; sub "repo:acme/app:ref:..."; project_path
			// "acme/app"; job_workflow_ref "acme/wf/.github/...".
			owner := strings.TrimPrefix(strings.TrimPrefix(prefix, "repo:"), "project_path:")
			if i := strings.Index(owner, "/"); i > 0 {
				return true
			}
		}
	}
	return false
}

func issuerProblem(issuer string) string {
	if issuer == "" {
		return "is required: the URL in the tokens' iss claim"
	}
	if len(issuer) > maxIssuer {
		return fmt.Sprintf("is longer than %d characters", maxIssuer)
	}
	u, err := url.Parse(issuer)
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		return "is not an absolute URL"
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return "must not carry user info, a query or a fragment"
	case u.Scheme == "https":
		return ""
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return ""
	case u.Scheme == "http":
		return "must be https (http only for a loopback host)"
	default:
		return "must be an https URL"
	}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func patternProblem(p string) string {
	if p == "" {
		return "the pattern is empty"
	}
	if len(p) > maxPattern {
		return fmt.Sprintf("the pattern is longer than %d characters", maxPattern)
	}
	re, err := compile(p)
	if err != nil {
		return fmt.Sprintf("%q is not a regular expression: %s", fault.Clip(p, 100), reError(err))
	}
	if re.MatchString("") {
		return fmt.Sprintf("%q matches an empty value, so it constrains nothing", fault.Clip(p, 100))
	}
	return ""
}

// reError is the reason of a regexp syntax error without the pattern, which the caller quotes.
func reError(err error) string {
	if se, ok := err.(*syntaxError); ok {
		return se.Code.String()
	}
	return "invalid syntax"
}

func hasControl(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) >= 0
}
