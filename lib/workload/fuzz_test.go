package workload_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/oidcidp"
	"github.com/opensignum/signum/lib/workload"
)

// FuzzVerify feeds Verify arbitrary tokens: it must refuse them (401, or 503 when the issuer
// cannot be reached) without panicking and without echoing them.
func FuzzVerify(f *testing.F) {
	p, err := oidcidp.Start(f.Context(), oidcidp.Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer p.Close()
	req, _ := p.RegisterJob(oidcidp.Job{Repository: "acme/app", Ref: "refs/heads/dev"})
	good, err := workload.RequestGitHubActionsToken(f.Context(), nil, req.URL, req.Token, audience)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(unsigned("none", good))
	parts := strings.Split(good, ".")
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add("eyJhbGciOiJSUzI1NiJ9.e30.AA")
	f.Add("")
	v := workload.NewVerifier(workload.Options{})
	d := domain(p.Issuer())
	f.Fuzz(func(t *testing.T, raw string) {
		_, err := v.Verify(t.Context(), d, raw)
		if err == nil {
			t.Fatalf("accepted %q", raw)
		}
		if !errors.Is(err, fault.ErrUnauthenticated) && !errors.Is(err, fault.ErrUnavailable) {
			t.Fatalf("error %v for %q", err, raw)
		}
		if detail, _ := fault.DetailOf(err); len(raw) > 20 && strings.Contains(detail, raw) {
			t.Fatalf("detail echoes the token: %s", detail)
		}
	})
}
