package routes_test

import (
	"slices"
	"testing"

	signum "github.com/opensignum/signum"
	"github.com/opensignum/signum/lib/apigw"
	"github.com/opensignum/signum/lib/apigw/routes"
)

// The light reader finds exactly the routes the full template model does: same methods,
// paths, functions and IAM authorization, in the same order.
func TestParseAgreesWithTheTemplateModel(t *testing.T) {
	tpl, err := apigw.ParseTemplate(signum.Template)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := routes.Parse(signum.Template)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) < 50 || !slices.Equal(rs, tpl.Routes) {
		t.Fatalf("%d routes, the template model %d; first difference at %d", len(rs), len(tpl.Routes),
			slices.IndexFunc(rs, func(r routes.Route) bool { return !slices.Contains(tpl.Routes, r) }))
	}
	iam := slices.IndexFunc(rs, func(r routes.Route) bool { return r.IAM })
	if iam < 0 || routes.Methods(rs, "/operator/deployments")[0] != "GET" {
		t.Fatalf("no IAM route or methods wrong: %v", routes.Methods(rs, "/operator/deployments"))
	}
	if _, err := routes.Parse([]byte("Resources: [")); err == nil {
		t.Fatal("bad YAML parsed")
	}
}
