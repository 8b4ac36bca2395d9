package local_test

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/opensignum/signum/lib/api/certificates"
	"github.com/opensignum/signum/lib/api/console"
	"github.com/opensignum/signum/lib/api/operator"
	"github.com/opensignum/signum/lib/api/portal"
	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/fault"
)

// FuzzRequestBodies decodes arbitrary bodies into every request type of the portal, console,
// certificates and operator APIs through the one decoder they use: it never panics, and a
// refusal is always a 4xx problem that says what is wrong.
func FuzzRequestBodies(f *testing.F) {
	for _, s := range []string{
		`{"token":"inv_x","email":"a@b.example","name":"A","password":"Correct-Horse-9-Battery"}`,
		`{"email":"a@b.example","password":"x"}`, `{"domainName":"sign.a.example","ipAllowlist":["10.0.0.0/8"]}`,
		`{"role":"Admin","status":"disabled","unlock":true}`, `{"passwordPolicy":{"minLength":12},"lockoutPolicy":{"mode":"temporary"}}`,
		`{"username":"carol","roles":["signer"]}`, `{"name":"x","algorithm":"EC_P256","subject":{"commonName":"x"},"sans":["a.example"]}`,
		`{"chain":"-----BEGIN CERTIFICATE-----"}`, `{"enabled":true,"groups":["g"]}`, `{"ipAllowlist":null}`, `[]`, `{"role":7}`,
	} {
		f.Add(s)
	}
	targets := []func() any{
		func() any { return &portal.RegisterRequest{} }, func() any { return &portal.LoginRequest{} },
		func() any { return &portal.PatchDeploymentRequest{} }, func() any { return &portal.InviteRequest{} },
		func() any { return &portal.PatchUserRequest{} }, func() any { return &console.LoginRequest{} },
		func() any { return &console.CreateUserRequest{} }, func() any { return &console.PatchUserRequest{} },
		func() any { return &console.PatchDomainRequest{} }, func() any { return &certificates.CreateRequest{} },
		func() any { return &certificates.PatchRequest{} }, func() any { return &certificates.ImportRequest{} },
		func() any { return &certificates.RenewRequest{} }, func() any { return &operator.CreateRequest{} },
		func() any { return &operator.InviteRequest{} },
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, newTarget := range targets {
			r := httptest.NewRequest("POST", "/", strings.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			err := edge.DecodeJSON(r, newTarget(), 0)
			if err == nil {
				continue
			}
			p := edge.ProblemFor(err)
			if p.Status < 400 || p.Status > 499 || p.Detail == "" || !errors.Is(err, fault.ErrInvalid) && p.Status != 413 {
				t.Fatalf("%T: refusal %v became %+v", newTarget(), err, p)
			}
		}
	})
}
