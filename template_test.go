package signum_test

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/getkin/kin-openapi/openapi3"

	signum "github.com/opensignum/signum"
	"github.com/opensignum/signum/lib/apigw"
	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/local"
	"github.com/opensignum/signum/lib/store"
)

func parse(t *testing.T) *apigw.Template {
	t.Helper()
	tpl, err := apigw.ParseTemplate(signum.Template)
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

// TestFunctionsMatchTemplate: every functions/ directory has a resource, every resource a
// directory with a main.go, a Makefile build target, an entry in the local server, and
// explicit IAM policies.
func TestFunctionsMatchTemplate(t *testing.T) {
	tpl := parse(t)
	dirs, _ := filepath.Glob("functions/*")
	byDir := map[string]string{}
	for id, fn := range tpl.Functions {
		byDir[fn.Dir] = id
	}
	for _, d := range dirs {
		if _, ok := byDir[filepath.ToSlash(d)]; !ok {
			t.Errorf("%s has no function resource in template.yaml", d)
		}
	}
	for id, fn := range tpl.Functions {
		if _, err := os.Stat(filepath.Join(fn.Dir, "main.go")); err != nil {
			t.Errorf("%s: no %s/main.go", id, fn.Dir)
		}
		// sam build runs `make build-<LogicalId>`: it must build this function's directory.
		out, err := exec.Command("make", "-n", "build-"+id, "ARTIFACTS_DIR=/tmp/artifacts").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "./"+fn.Dir) {
			t.Errorf("%s: make build-%s does not build %s: %v\n%s", id, id, fn.Dir, err, out)
		}
		if fn.BuildMethod != "makefile" {
			t.Errorf("%s: Metadata BuildMethod is %q, want makefile", id, fn.BuildMethod)
		}
		if !fn.HasPolicies {
			t.Errorf("%s: no explicit Policies (least privilege is declared per function)", id)
		}
		if _, ok := local.Builds[id]; !ok {
			t.Errorf("%s: no entry in local.Builds, so make run cannot serve it", id)
		}
		sf, err := tpl.Serverless(id)
		if err != nil {
			t.Fatal(err)
		}
		if sf.Runtime != nil && *sf.Runtime != "provided.al2023" {
			t.Errorf("%s: runtime %s", id, *sf.Runtime)
		}
	}
	for id := range local.Builds {
		if _, ok := tpl.Functions[id]; !ok {
			t.Errorf("local.Builds has %s, which template.yaml lacks", id)
		}
	}
}

// TestNoWildcardAllow: no function's policy allows every action or every resource.
func TestNoWildcardAllow(t *testing.T) {
	tpl := parse(t)
	for id := range tpl.Functions {
		sf, _ := tpl.Serverless(id)
		if sf.Policies == nil || sf.Policies.IAMPolicyDocumentArray == nil {
			t.Errorf("%s: policies are not inline statements", id)
			continue
		}
		for _, doc := range *sf.Policies.IAMPolicyDocumentArray {
			for _, st := range doc.Statement {
				s, ok := st.(map[string]interface{})
				if !ok {
					continue
				}
				if _, isIf := s["Fn::If"]; isIf {
					continue // conditional statements (e.g. the HSM PIN secret) name one resource
				}
				if s["Effect"] == "Deny" {
					// A Deny of every action also takes the function's logging away.
					for _, v := range asList(s["Action"]) {
						if v == "*" {
							t.Errorf("%s: Deny of Action \"*\" blocks CloudWatch Logs; use NotAction", id)
						}
					}
					continue
				}
				for _, v := range asList(s["Action"]) {
					if v == "*" || strings.HasSuffix(v, ":*") {
						t.Errorf("%s: Allow statement with Action %q", id, v)
					}
				}
				// Resource "*" only where the action names no resource yet (kms:CreateKey),
				// and then limited by a condition.
				for _, v := range asList(s["Resource"]) {
					if v == "*" && s["Condition"] == nil {
						t.Errorf("%s: Allow statement on every resource without a condition", id)
					}
				}
			}
		}
	}
}

func asList(v interface{}) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []interface{}:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// TestIAMRoutesNeedTheIAMAuthorizer: SAM refuses `Authorizer: AWS_IAM` on a route unless the
// HttpApi enables the IAM authorizer (goformation does not run the transform, so check here).
func TestIAMRoutesNeedTheIAMAuthorizer(t *testing.T) {
	tpl := parse(t)
	for _, r := range tpl.Routes {
		if r.IAM && !tpl.IAMAuthorizer {
			t.Errorf("%s uses AWS_IAM but the HttpApi does not set Auth.EnableIamAuthorizer", r.Key())
		}
	}
}

// TestTableMatchesStore: the template's table has the keys and indexes lib/store creates
// locally, TTL on the store's TTL attribute, and point-in-time recovery.
func TestTableMatchesStore(t *testing.T) {
	tpl := parse(t)
	tables := tpl.CF.GetAllDynamoDBTableResources()
	if len(tables) != 1 {
		t.Fatalf("%d tables, want exactly one (single-table design)", len(tables))
	}
	var tbl = tables["Table"]
	if tbl == nil {
		t.Fatal("no resource named Table")
	}
	want := store.TableSchema("x")
	attrs := map[string]string{}
	for _, a := range tbl.AttributeDefinitions {
		attrs[a.AttributeName] = a.AttributeType
	}
	wantAttrs := map[string]string{}
	for _, a := range want.AttributeDefinitions {
		wantAttrs[*a.AttributeName] = string(a.AttributeType)
	}
	if !reflect.DeepEqual(attrs, wantAttrs) {
		t.Errorf("attributes %v, store wants %v", attrs, wantAttrs)
	}
	keys := func(ks []types.KeySchemaElement) string {
		var s []string
		for _, k := range ks {
			s = append(s, *k.AttributeName+"/"+string(k.KeyType))
		}
		return strings.Join(s, ",")
	}
	var got []string
	for _, k := range tbl.KeySchema {
		got = append(got, k.AttributeName+"/"+k.KeyType)
	}
	if strings.Join(got, ",") != keys(want.KeySchema) {
		t.Errorf("key schema %v, store wants %s", got, keys(want.KeySchema))
	}
	if len(tbl.GlobalSecondaryIndexes) != len(want.GlobalSecondaryIndexes) {
		t.Fatalf("%d GSIs, store wants %d", len(tbl.GlobalSecondaryIndexes), len(want.GlobalSecondaryIndexes))
	}
	for i, g := range tbl.GlobalSecondaryIndexes {
		w := want.GlobalSecondaryIndexes[i]
		var gk []string
		for _, k := range g.KeySchema {
			gk = append(gk, k.AttributeName+"/"+k.KeyType)
		}
		if g.IndexName != *w.IndexName || strings.Join(gk, ",") != keys(w.KeySchema) || g.Projection.ProjectionType == nil || *g.Projection.ProjectionType != string(w.Projection.ProjectionType) {
			t.Errorf("GSI %s differs from the store's %s", g.IndexName, *w.IndexName)
		}
	}
	if tbl.BillingMode == nil || *tbl.BillingMode != "PAY_PER_REQUEST" {
		t.Error("table is not on-demand")
	}
	if tbl.TimeToLiveSpecification == nil || tbl.TimeToLiveSpecification.AttributeName == nil || *tbl.TimeToLiveSpecification.AttributeName != store.TTLAttribute || !tbl.TimeToLiveSpecification.Enabled {
		t.Errorf("TTL is not enabled on %s", store.TTLAttribute)
	}
	if tbl.PointInTimeRecoverySpecification == nil || tbl.PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled == nil || !*tbl.PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled {
		t.Error("point-in-time recovery is off")
	}
}

// TestRoutersMatchTemplate builds every function and compares the routes its router serves
// with the template's: a route in one and not the other fails.
func TestRoutersMatchTemplate(t *testing.T) {
	tpl := parse(t)
	tg := devstack.NewEmbedded(t)
	cfg := tg.Stack.Env(tg.Table)
	cfg.OperatorAccountID = devstack.AccountID
	env := function.Env{Config: cfg, Clients: tg.Clients, Log: function.NewLogger(os.Stderr, "error"), Now: time.Now}
	for id := range tpl.Functions {
		h, err := local.Builds[id](context.Background(), env)
		if err != nil {
			t.Fatalf("build %s: %v", id, err)
		}
		pr, ok := h.(interface{ Patterns() []string })
		if !ok {
			t.Fatalf("%s: handler %T does not list its patterns", id, h)
		}
		got := pr.Patterns()
		want := tpl.RoutesOf(id)
		if id == "FallbackFunction" {
			// The fallback registers every other route to tell 404 from 405.
			var all []string
			for _, r := range tpl.Routes {
				if r.Path != apigw.DefaultRoute {
					all = append(all, r.Pattern())
				}
			}
			sort.Strings(all)
			want = all
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s serves %v, template routes %v", id, got, want)
		}
		var _ http.Handler = h
	}
}

// TestRoutesAreDocumented: docs/openapi.yaml is a valid OpenAPI document and has exactly the
// template's routes as operations.
func TestRoutesAreDocumented(t *testing.T) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile("docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("docs/openapi.yaml is not valid: %v", err)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	for _, r := range parse(t).Routes {
		if r.Path == apigw.DefaultRoute {
			continue
		}
		if !documented[r.Key()] {
			t.Errorf("%s is not documented in docs/openapi.yaml", r.Key())
		}
		delete(documented, r.Key())
	}
	for k := range documented {
		t.Errorf("docs/openapi.yaml documents %s, which template.yaml does not route", k)
	}
}
