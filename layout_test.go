package signum_test

import (
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// module is this module's import path.
const module = "github.com/opensignum/signum"

// The layout's rules (README, "Layout"). HTTP handlers live in lib/api/<family>; capabilities
// are the other lib/ packages, except the HTTP plumbing below, which may use net/http.
var (
	// plumbing are the lib/ packages that are neither handlers nor capabilities: the edge of
	// the HTTP API, the handler framework, the wiring of a function, the local gateway and
	// stack, and the clients' side: the CLI's HTTP client and the PKCS#11 token built on it.
	plumbing = []string{"lib/edge", "lib/access", "lib/function", "lib/apigw", "lib/local", "lib/devstack", "lib/client", "lib/p11token"}
	// apiImporters may import handler packages: they assemble functions.
	apiImporters = []string{"functions/", "cmd/", "lib/local"}
	// dynamoDBClients may import the DynamoDB SDK: the store, the wiring that builds its
	// client, and the local stand-ins with their tooling.
	dynamoDBClients = []string{"lib/store", "lib/function", "lib/devstack", "lib/local"}
	// devOnly are imported only by the local server, the CLI and tests.
	devOnly = []string{"lib/devstack", "lib/local", "lib/oidcidp", "lib/samlidp", "lib/marketstandin", "lib/eventstandin", "lib/tsastandin"}
	// protocols speak an outside party's protocol over HTTP: clients of customers' identity
	// providers, the stand-in providers themselves, and the HTTP client those clients fetch
	// with (lib/safehttp, which refuses private addresses). They may use net/http, as clients
	// and servers of that protocol, but not the API's plumbing.
	protocols = []string{"lib/oidcidp", "lib/samlidp", "lib/workload", "lib/oidclogin", "lib/samlsso", "lib/safehttp", "lib/azuremarket", "lib/marketstandin", "lib/eventstandin", "lib/timestamping", "lib/tsastandin"}
)

// pkg is what `go list -json` says of a package.
type pkg struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

func (p pkg) rel() string { return strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/") }

func listPackages(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-e", "-json=ImportPath,Imports,TestImports,XTestImports", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 20 {
		t.Fatalf("go list found %d packages", len(pkgs))
	}
	return pkgs
}

// family is the lib/api/<family> a package path (module-relative) belongs to, "" if none.
func family(rel string) string {
	rest, ok := strings.CutPrefix(rel, "lib/api/")
	if !ok {
		return ""
	}
	f, _, _ := strings.Cut(rest, "/")
	return f
}

// isDynamoDBSDK: the DynamoDB client, its types and its attribute-value marshalling.
func isDynamoDBSDK(imp string) bool {
	return strings.HasPrefix(imp, "github.com/aws/aws-sdk-go-v2/service/dynamodb") ||
		strings.HasPrefix(imp, "github.com/aws/aws-sdk-go-v2/feature/dynamodb")
}

func under(rel string, prefixes []string) bool {
	return slices.ContainsFunc(prefixes, func(p string) bool {
		return rel == p || strings.HasPrefix(rel, strings.TrimSuffix(p, "/")+"/")
	})
}

// violations checks pkgs against the layout's rules.
func violations(pkgs []pkg) []string {
	var out []string
	for _, p := range pkgs {
		rel := p.rel()
		if !strings.HasPrefix(p.ImportPath, module) {
			continue
		}
		isAPI := family(rel) != ""
		isCapability := strings.HasPrefix(rel, "lib/") && !isAPI && !under(rel, plumbing)
		check := func(imports []string, test bool) {
			for _, imp := range imports {
				irel, ours := strings.CutPrefix(imp, module+"/")
				switch {
				case isCapability && !test && imp == "net/http" && !under(rel, protocols):
					out = append(out, rel+" is a capability and imports net/http (HTTP belongs in lib/api/<family>)")
				case isCapability && !test && ours && under(irel, plumbing):
					out = append(out, rel+" is a capability and imports "+irel+", HTTP plumbing (HTTP belongs in lib/api/<family>)")
				case !test && isDynamoDBSDK(imp) && !under(rel, dynamoDBClients):
					out = append(out, rel+" imports the DynamoDB SDK (only lib/store talks to DynamoDB)")
				case !ours:
				case family(irel) != "" && isAPI && family(irel) != family(rel):
					out = append(out, rel+" imports "+irel+": a handler package never imports another family's")
				case family(irel) != "" && !isAPI && !under(rel, apiImporters):
					out = append(out, rel+" imports "+irel+": only functions/, cmd/ and lib/local assemble handler packages")
				case under(irel, devOnly) && !test && !under(rel, append([]string{"cmd/"}, devOnly...)):
					out = append(out, rel+" imports "+irel+": the local stack is for the local server, the CLI and tests")
				}
			}
		}
		check(p.Imports, false)
		check(p.TestImports, true)
		check(p.XTestImports, true)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TestLayout enforces the layout on the module's real import graph.
func TestLayout(t *testing.T) {
	for _, v := range violations(listPackages(t)) {
		t.Error(v)
	}
}

// TestLayoutRulesCatch: each rule reports a package that breaks it, so TestLayout can fail.
func TestLayoutRulesCatch(t *testing.T) {
	m := func(rel string) string { return module + "/" + rel }
	for name, c := range map[string]struct {
		p    pkg
		want string
	}{
		"fail/capability-uses-http":    {pkg{ImportPath: m("lib/policy"), Imports: []string{"net/http"}}, "is a capability and imports net/http"},
		"fail/api-imports-api":         {pkg{ImportPath: m("lib/api/signer"), Imports: []string{m("lib/api/policies")}}, "never imports another family's"},
		"fail/capability-uses-api":     {pkg{ImportPath: m("lib/signing"), Imports: []string{m("lib/api/signer")}}, "only functions/, cmd/ and lib/local"},
		"fail/test-imports-api":        {pkg{ImportPath: m("lib/store"), XTestImports: []string{m("lib/api/console")}}, "only functions/, cmd/ and lib/local"},
		"fail/handler-uses-dynamodb":   {pkg{ImportPath: m("lib/api/console"), Imports: []string{"github.com/aws/aws-sdk-go-v2/service/dynamodb"}}, "only lib/store talks to DynamoDB"},
		"fail/handler-uses-ddb-types":  {pkg{ImportPath: m("lib/api/console"), Imports: []string{"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"}}, "only lib/store talks to DynamoDB"},
		"fail/capability-marshals-ddb": {pkg{ImportPath: m("lib/identity"), Imports: []string{"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"}}, "only lib/store talks to DynamoDB"},
		"fail/capability-uses-edge":    {pkg{ImportPath: m("lib/signing"), Imports: []string{m("lib/edge")}}, "HTTP plumbing"},
		"fail/capability-uses-access":  {pkg{ImportPath: m("lib/login"), Imports: []string{m("lib/access")}}, "HTTP plumbing"},
		"fail/production-uses-local":   {pkg{ImportPath: m("lib/api/health"), Imports: []string{m("lib/devstack")}}, "the local stack is for"},
	} {
		got := violations([]pkg{c.p})
		if len(got) != 1 || !strings.Contains(got[0], c.want) {
			t.Errorf("%s: %q, want one violation saying %q", name, got, c.want)
		}
	}
	for name, p := range map[string]pkg{
		"ok/function-wires-api":       {ImportPath: m("functions/signer"), Imports: []string{m("lib/api/signer"), m("lib/function")}},
		"ok/api-uses-capability":      {ImportPath: m("lib/api/signer"), Imports: []string{"net/http", m("lib/signing"), m("lib/access")}},
		"ok/api-tests-itself":         {ImportPath: m("lib/api/signer"), XTestImports: []string{m("lib/api/signer"), m("lib/devstack")}},
		"ok/capability-test-devstack": {ImportPath: m("lib/store"), XTestImports: []string{m("lib/devstack"), "net/http"}},
	} {
		if got := violations([]pkg{p}); len(got) != 0 {
			t.Errorf("%s: %q", name, got)
		}
	}
}

// TestEveryFuzzTargetInMakeFuzz: `make fuzz` runs every fuzz target of the module, so a new
// one cannot be forgotten (its seeds run in `make test` either way).
func TestEveryFuzzTargetInMakeFuzz(t *testing.T) {
	mk, err := os.ReadFile("Makefile")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, f := range strings.Fields(makeVar(string(mk), "FUZZ_TARGETS")) {
		listed[f] = true
	}
	found := 0
	err = filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range fuzzFunc.FindAllSubmatch(src, -1) {
			found++
			target := "./" + filepath.Dir(path) + ":" + string(m[1])
			if !listed[target] {
				t.Errorf("%s is not in the Makefile's FUZZ_TARGETS", target)
			}
			delete(listed, target)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for target := range listed {
		t.Errorf("FUZZ_TARGETS names %s, which does not exist", target)
	}
	if found < 10 {
		t.Fatalf("found %d fuzz targets", found)
	}
}

var fuzzFunc = regexp.MustCompile(`(?m)^func (Fuzz\w+)\(\w+ \*testing\.F\)`)

// makeVar is the value of a Makefile variable, continuation lines joined.
func makeVar(mk, name string) string {
	_, rest, ok := strings.Cut(mk, "\n"+name+" :=")
	if !ok {
		return ""
	}
	var b strings.Builder
	for _, line := range strings.Split(rest, "\n") {
		more := strings.HasSuffix(line, "\\")
		b.WriteString(strings.TrimSuffix(line, "\\") + " ")
		if !more {
			break
		}
	}
	return b.String()
}
