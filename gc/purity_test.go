package gc

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPure enforces that gc is pure decision logic, like lattice: its non-test files
// import only the standard library's side-effect-free packages and the lattice, and use
// package time for values only (time.Time, time.Duration and their methods), never to read
// the clock, sleep or start a timer. deps_test.go at the module root checks the layering.
func TestPure(t *testing.T) {
	allowed := map[string]bool{
		"cmp": true, "errors": true, "fmt": true, "slices": true, "strconv": true, "strings": true, "time": true,
		"github.com/legion-go/legion/lattice": true,
	}
	clock := map[string]bool{
		"Now": true, "Since": true, "Until": true, "Sleep": true, "After": true, "AfterFunc": true,
		"Tick": true, "NewTimer": true, "NewTicker": true,
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if !allowed[path] {
				t.Errorf("%s imports %s: gc may import only %v", name, path, allowed)
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if pkg, ok := sel.X.(*ast.Ident); ok && pkg.Name == "time" && clock[sel.Sel.Name] {
				t.Errorf("%s: time.%s: gc takes time as an argument, it never reads the clock", fset.Position(sel.Pos()), sel.Sel.Name)
			}
			if sel.Sel.Name == "Now" {
				t.Errorf("%s: .Now: gc never reads the clock", fset.Position(sel.Pos()))
			}
			return true
		})
		ast.Inspect(f, func(n ast.Node) bool {
			if g, ok := n.(*ast.GoStmt); ok {
				t.Errorf("%s: go statement: gc starts no goroutine", fset.Position(g.Pos()))
			}
			return true
		})
	}
	if checked < 5 {
		t.Fatalf("checked only %d files", checked)
	}
}
