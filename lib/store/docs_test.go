package store_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestAccessPatternsDocumented keeps ACCESS_PATTERNS.md true of the code: its access patterns
// are numbered 1, 2, ... in order; together they name every exported method of Store (and
// Ping) in backquotes; every pattern names its contract tests, and each of them exists; and
// every key string constant of keys.go appears in the document.
func TestAccessPatternsDocumented(t *testing.T) {
	raw, err := os.ReadFile("ACCESS_PATTERNS.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	rows := patternRows(doc)
	if len(rows) < 30 {
		t.Fatalf("found %d access patterns", len(rows))
	}
	tests, methods, consts := parsePackage(t)
	named := map[string]bool{}
	for i, row := range rows {
		if n, err := strconv.Atoi(row[0]); err != nil || n != i+1 {
			t.Errorf("pattern %q is number %d in the table", row[0], i+1)
		}
		for _, m := range backquoted(row[1] + row[2]) {
			named[m] = true
		}
		cited := backquoted(row[len(row)-1])
		if len(cited) == 0 {
			t.Errorf("pattern %s names no contract test", row[0])
		}
		for _, name := range cited {
			if !tests[name] {
				t.Errorf("pattern %s names %s, which is not a test of this package", row[0], name)
			}
		}
	}
	for _, m := range methods {
		if !named[m] {
			t.Errorf("Store.%s is in no access pattern", m)
		}
	}
	for name, value := range consts {
		if !strings.Contains(doc, value) {
			t.Errorf("keys.go's %s (%q) is not in ACCESS_PATTERNS.md", name, value)
		}
	}
}

// patternRows are the cells of the access pattern table's rows.
func patternRows(doc string) [][]string {
	_, table, _ := strings.Cut(doc, "## Access patterns")
	var rows [][]string
	for _, line := range strings.Split(table, "\n") {
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		if len(cells) < 3 || strings.HasPrefix(strings.TrimSpace(cells[0]), "-") || strings.TrimSpace(cells[0]) == "#" {
			continue
		}
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		rows = append(rows, cells)
	}
	return rows
}

var quoted = regexp.MustCompile("`([A-Za-z][A-Za-z0-9]*)`")

func backquoted(s string) []string {
	var out []string
	for _, m := range quoted.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}

// parsePackage reads the package's sources: the names of its tests, the exported methods of
// Store (with the function Ping), and the string constants of keys.go.
func parsePackage(t *testing.T) (tests map[string]bool, methods []string, consts map[string]string) {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	tests, consts = map[string]bool{}, map[string]string{}
	fset := token.NewFileSet()
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				switch {
				case strings.HasSuffix(name, "_test.go") && strings.HasPrefix(d.Name.Name, "Test") && d.Recv == nil:
					tests[d.Name.Name] = true
				case strings.HasSuffix(name, "_test.go") || !d.Name.IsExported():
				case d.Recv != nil && receiver(d) == "Store", d.Recv == nil && d.Name.Name == "Ping":
					methods = append(methods, d.Name.Name)
				}
			case *ast.GenDecl:
				if name != "keys.go" || d.Tok != token.CONST {
					continue
				}
				for _, spec := range d.Specs {
					vs := spec.(*ast.ValueSpec)
					for i, v := range vs.Values {
						if lit, ok := v.(*ast.BasicLit); ok && lit.Kind == token.STRING {
							s, _ := strconv.Unquote(lit.Value)
							consts[vs.Names[i].Name] = s
						}
					}
				}
			}
		}
	}
	if len(tests) == 0 || len(methods) < 50 || len(consts) < 30 {
		t.Fatalf("parsed %d tests, %d methods, %d key constants", len(tests), len(methods), len(consts))
	}
	return tests, methods, consts
}

func receiver(d *ast.FuncDecl) string {
	typ := d.Recv.List[0].Type
	if star, ok := typ.(*ast.StarExpr); ok {
		typ = star.X
	}
	if id, ok := typ.(*ast.Ident); ok {
		return id.Name
	}
	return ""
}

// TestAccessPatternsRunOnTheTarget keeps make test-aws proving every access pattern: a
// contract test a pattern cites without the *(stand-in)* mark reaches devstack.NewTarget (itself
// or through helpers such as newFixture) and never devstack.NewEmbedded, so that it runs
// against LocalStack or AWS when SIGNUM_TEST_TARGET=aws; every pattern cites at least one such
// test; a test marked *(stand-in)* does reach NewEmbedded (else the mark hides a test that
// runs on the target); and a test of the package that runs on the embedded stand-ins is cited,
// with the mark, by some pattern, so that the table says everything make test-aws leaves out.
func TestAccessPatternsRunOnTheTarget(t *testing.T) {
	raw, err := os.ReadFile("ACCESS_PATTERNS.md")
	if err != nil {
		t.Fatal(err)
	}
	g := parseTestCalls(t)
	const target, embedded = "devstack.NewTarget", "devstack.NewEmbedded"
	standins := map[string]bool{}
	for _, row := range patternRows(string(raw)) {
		onTarget := 0
		for _, c := range citedTests(row[len(row)-1]) {
			switch {
			case c.standIn:
				standins[c.name] = true
				if !g.reaches(c.name, embedded) {
					t.Errorf("pattern %s marks %s *(stand-in)*, but it does not run on devstack.NewEmbedded", row[0], c.name)
				}
			case g.reaches(c.name, embedded):
				t.Errorf("pattern %s cites %s as a test on the target, but it runs on devstack.NewEmbedded: make it use NewTarget, or mark it *(stand-in)*", row[0], c.name)
			case !g.reaches(c.name, target):
				t.Errorf("pattern %s cites %s, which never reaches devstack.NewTarget", row[0], c.name)
			default:
				onTarget++
			}
		}
		if onTarget == 0 {
			t.Errorf("pattern %s is proven on the embedded stand-ins only: make test-aws does not run it", row[0])
		}
	}
	for name := range g.tests {
		if g.reaches(name, embedded) && !standins[name] {
			t.Errorf("%s runs on devstack.NewEmbedded, but no pattern cites it *(stand-in)*", name)
		}
	}
}

// cited is a contract test named in a pattern's last column.
type cited struct {
	name    string
	standIn bool
}

var citedTest = regexp.MustCompile("`([A-Za-z][A-Za-z0-9]*)`(\\s*\\*\\(stand-in\\)\\*)?")

func citedTests(cell string) []cited {
	var out []cited
	for _, m := range citedTest.FindAllStringSubmatch(cell, -1) {
		out = append(out, cited{name: m[1], standIn: m[2] != ""})
	}
	return out
}

// testCalls is what each function of the package's test files refers to: the package's
// functions and methods by name, and devstack's functions as "devstack.<Name>".
type testCalls struct {
	refs  map[string]map[string]bool
	tests map[string]bool
}

// parseTestCalls reads the package's test files. Without type information a method is known by
// its name alone (x.register is every method named register), and a function by the name it
// is declared with even where a local variable shadows it: what a function reaches is a
// superset of what it calls, never less, which is the safe side for "reaches NewEmbedded" and
// close enough for "reaches NewTarget" in a package whose helpers have distinct names.
func parseTestCalls(t *testing.T) *testCalls {
	t.Helper()
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var decls []*ast.FuncDecl
	funcs, methods := map[string]bool{}, map[string]bool{}
	g := &testCalls{refs: map[string]map[string]bool{}, tests: map[string]bool{}}
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			d, ok := decl.(*ast.FuncDecl)
			if !ok || d.Body == nil {
				continue
			}
			decls = append(decls, d)
			if d.Recv != nil {
				methods[d.Name.Name] = true
				continue
			}
			funcs[d.Name.Name] = true
			if strings.HasPrefix(d.Name.Name, "Test") {
				g.tests[d.Name.Name] = true
			}
		}
	}
	for _, d := range decls {
		refs := map[string]bool{}
		ast.Inspect(d.Body, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.SelectorExpr:
				if x, ok := n.X.(*ast.Ident); ok && x.Name == "devstack" {
					refs["devstack."+n.Sel.Name] = true
				} else if methods[n.Sel.Name] {
					refs[n.Sel.Name] = true
				}
			case *ast.Ident:
				if funcs[n.Name] {
					refs[n.Name] = true
				}
			}
			return true
		})
		key := d.Name.Name
		if g.refs[key] == nil {
			g.refs[key] = map[string]bool{}
		}
		for r := range refs {
			g.refs[key][r] = true
		}
	}
	devstackRefs := 0
	for _, refs := range g.refs {
		if refs["devstack.NewTarget"] || refs["devstack.NewEmbedded"] {
			devstackRefs++
		}
	}
	if len(g.tests) < 30 || devstackRefs == 0 {
		t.Fatalf("parsed %d tests, %d functions that start a target", len(g.tests), devstackRefs)
	}
	return g
}

// reaches says whether fn refers to want, itself or through the functions it refers to.
func (g *testCalls) reaches(fn, want string) bool {
	seen := map[string]bool{}
	var walk func(string) bool
	walk = func(fn string) bool {
		if fn == want {
			return true
		}
		if seen[fn] {
			return false
		}
		seen[fn] = true
		for r := range g.refs[fn] {
			if walk(r) {
				return true
			}
		}
		return false
	}
	return walk(fn)
}
