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
