package workload_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/workload"
)

func TestDomainValidate(t *testing.T) {
	base := func() workload.Domain { return domain("https://token.actions.githubusercontent.com") }
	with := func(f func(*workload.Domain)) workload.Domain { d := base(); f(&d); return d }
	claims := func(c map[string]string) workload.Domain {
		return with(func(d *workload.Domain) { d.Rules[0].Claims = c })
	}
	many := func(n int) []workload.Rule {
		r := make([]workload.Rule, n)
		for i := range r {
			r[i] = workload.Rule{Name: fmt.Sprint("r", i), User: "u", Claims: map[string]string{"repository": "a/b"}}
		}
		return r
	}
	manyClaims := map[string]string{}
	for i := range workload.MaxClaimsPerRule + 1 {
		manyClaims[fmt.Sprint("c", i)] = "x"
	}
	for name, c := range map[string]struct {
		d     workload.Domain
		field string // "" for ok
	}{
		"ok/github":           {base(), ""},
		"ok/loopback-http":    {with(func(d *workload.Domain) { d.Issuer = "http://127.0.0.1:8123/oidc" }), ""},
		"ok/localhost-http":   {with(func(d *workload.Domain) { d.Issuer = "http://localhost:8123" }), ""},
		"ok/ipv6-loopback":    {with(func(d *workload.Domain) { d.Issuer = "http://[::1]:8123" }), ""},
		"ok/any-string-claim": {claims(map[string]string{"repository": "group/.+", "custom:claim": "x"}), ""},
		// GitHub's and GitLab's issuers are shared by all their users: a rule pins the owner.
		"fail/github-unpinned":      {claims(map[string]string{"ref": "refs/heads/main"}), "rules[0].claims"},
		"fail/github-owner-pattern": {claims(map[string]string{"repository_owner": "acme.*"}), "rules[0].claims"},
		"fail/github-repo-no-owner": {claims(map[string]string{"repository": ".*/app"}), "rules[0].claims"},
		"ok/github-owner-literal":   {claims(map[string]string{"repository_owner": "acme", "ref": "refs/heads/main"}), ""},
		"ok/github-sub":             {claims(map[string]string{"sub": "repo:acme/app:environment:prod"}), ""},
		"ok/gitlab-project": {with(func(d *workload.Domain) {
			d.Issuer = "https://gitlab.com"
			d.Rules = d.Rules[:1]
			d.Rules[0].Claims = map[string]string{"project_path": "acme/app"}
		}), ""},
		"fail/gitlab-unpinned": {with(func(d *workload.Domain) {
			d.Issuer = "https://gitlab.com"
			d.Rules = d.Rules[:1]
			d.Rules[0].Claims = map[string]string{"ref": "main"}
		}), "rules[0].claims"},
		"ok/own-issuer-unpinned": {with(func(d *workload.Domain) {
			d.Issuer = "https://ci.acme.example"
			d.Rules[0].Claims = map[string]string{"ref": "main"}
		}), ""},
		"ok/max-rules":           {with(func(d *workload.Domain) { d.Rules = many(workload.MaxRules) }), ""},
		"fail/no-issuer":         {with(func(d *workload.Domain) { d.Issuer = "" }), "issuer"},
		"fail/http-issuer":       {with(func(d *workload.Domain) { d.Issuer = "http://gitlab.example.com" }), "issuer"},
		"fail/relative-issuer":   {with(func(d *workload.Domain) { d.Issuer = "token.actions.githubusercontent.com" }), "issuer"},
		"fail/issuer-query":      {with(func(d *workload.Domain) { d.Issuer = "https://x.example.com/?a=b" }), "issuer"},
		"fail/issuer-userinfo":   {with(func(d *workload.Domain) { d.Issuer = "https://u:p@x.example.com" }), "issuer"},
		"fail/ftp-issuer":        {with(func(d *workload.Domain) { d.Issuer = "ftp://x.example.com" }), "issuer"},
		"fail/no-audience":       {with(func(d *workload.Domain) { d.Audience = " " }), "audience"},
		"fail/long-audience":     {with(func(d *workload.Domain) { d.Audience = strings.Repeat("a", 257) }), "audience"},
		"fail/no-rules":          {with(func(d *workload.Domain) { d.Rules = nil }), "rules"},
		"fail/too-many-rules":    {with(func(d *workload.Domain) { d.Rules = many(workload.MaxRules + 1) }), "rules"},
		"fail/rule-no-name":      {with(func(d *workload.Domain) { d.Rules[1].Name = "" }), "rules[1].name"},
		"fail/rule-same-name":    {with(func(d *workload.Domain) { d.Rules[1].Name = d.Rules[0].Name }), "rules[1].name"},
		"fail/rule-no-user":      {with(func(d *workload.Domain) { d.Rules[0].User = "" }), "rules[0].user"},
		"fail/rule-no-claims":    {claims(nil), "rules[0].claims"},
		"fail/rule-many-claims":  {claims(manyClaims), "rules[0].claims"},
		"fail/bad-regexp":        {claims(map[string]string{"ref": "refs/(heads"}), "rules[0].claims.ref"},
		"fail/anchor-escape":     {claims(map[string]string{"repository": "x)|(.+"}), "rules[0].claims.repository"},
		"fail/matches-empty":     {claims(map[string]string{"repository": ".*"}), "rules[0].claims.repository"},
		"fail/empty-pattern":     {claims(map[string]string{"repository": ""}), "rules[0].claims.repository"},
		"fail/long-pattern":      {claims(map[string]string{"repository": strings.Repeat("a", 513)}), "rules[0].claims.repository"},
		"fail/reserved-claim":    {claims(map[string]string{"aud": "x"}), "rules[0].claims.aud"},
		"fail/claim-name-syntax": {claims(map[string]string{"a b": "x"}), "rules[0].claims"},
	} {
		err := c.d.Validate()
		switch {
		case c.field == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case c.field != "" && (!errors.Is(err, fault.ErrInvalid) || !fault.HasField(err, c.field)):
			t.Errorf("%s: %v, want a problem with %s", name, err, c.field)
		}
	}
}
