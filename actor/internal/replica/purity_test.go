package replica

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPure enforces that the core is a deterministic state machine (the package doc): its
// non-test files import no actor runtime (Proto.Actor), no logging (events are data: its
// Effects carry log lines), no synchronisation (one goroutine steps a replica), no
// randomness and nothing of the outside world, and use package time for values only
// (time.Time, time.Duration and their methods: the time is an input), never to read the
// clock, sleep or arm a timer (timers are Effects); and they start no goroutine. So a
// script, or the simulation, replays a history exactly.
func TestPure(t *testing.T) {
	found, checked, err := impurities(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range found {
		t.Error(f)
	}
	if checked < 10 {
		t.Fatalf("checked only %d files", checked)
	}
}

// TestPureCatches: the check finds each kind of impurity (a check that finds nothing
// proves nothing).
func TestPureCatches(t *testing.T) {
	dir := t.TempDir()
	src := `package replica

import (
	"log/slog"
	"sync"
	clock "time"

	"github.com/legion-go/legion/actor/internal/protoactor/actor"
)

var mu sync.Mutex

func f(c actor.Context) {
	slog.Info("x")
	_ = clock.Now()
	clock.AfterFunc(clock.Second, func() {})
	go func() {}()
	_ = clock.Duration(0).String() // a value: fine
}
`
	if err := os.WriteFile(filepath.Join(dir, "bad.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bad_test.go"), []byte("package replica\nimport \"sync\"\nvar _ sync.Mutex\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	found, checked, err := impurities(dir)
	if err != nil {
		t.Fatal(err)
	}
	if checked != 1 {
		t.Errorf("checked %d files, want 1 (test files are not the core)", checked)
	}
	got := strings.Join(found, "\n")
	for _, want := range []string{"imports log/slog", "imports sync", "imports github.com/legion-go/legion/actor/internal/protoactor/actor",
		"time.Now", "time.AfterFunc", "go statement"} {
		if !strings.Contains(got, want) {
			t.Errorf("not found: %s; found:\n%s", want, got)
		}
	}
	if len(found) != 6 {
		t.Errorf("found %d impurities, want 6:\n%s", len(found), got)
	}
}

// impurities lists what in the non-test Go files of dir breaks the core's purity, and
// counts the files checked.
func impurities(dir string) (found []string, checked int, err error) {
	forbidden := func(path string) bool {
		switch {
		case path == "log" || strings.HasPrefix(path, "log/"):
			return true // logging
		case path == "sync" || strings.HasPrefix(path, "sync/"):
			return true // sync, sync/atomic
		case strings.Contains(path, "protoactor") || strings.Contains(path, "asynkron"):
			return true // the actor runtime, vendored or not
		case path == "math/rand" || strings.HasPrefix(path, "math/rand/") || path == "crypto/rand":
			return true // randomness
		case path == "os" || path == "net" || strings.HasPrefix(path, "net/"):
			return true // the outside world
		}
		return false
	}
	clock := map[string]bool{
		"Now": true, "Since": true, "Until": true, "Sleep": true, "After": true, "AfterFunc": true,
		"Tick": true, "NewTimer": true, "NewTicker": true,
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, 0, err
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			return nil, 0, err
		}
		checked++
		base := filepath.Base(name)
		timeName := "" // the name package time is imported under, if it is
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if forbidden(path) {
				found = append(found, fmt.Sprintf("%s imports %s: the core performs no effects of its own", base, path))
			}
			if path == "time" {
				timeName = "time"
				if imp.Name != nil {
					timeName = imp.Name.Name
				}
			}
			if imp.Name != nil && imp.Name.Name == "." {
				found = append(found, fmt.Sprintf("%s: dot import of %s hides what it calls", base, path))
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.SelectorExpr:
				if pkg, ok := n.X.(*ast.Ident); ok && timeName != "" && pkg.Name == timeName && clock[n.Sel.Name] {
					found = append(found, fmt.Sprintf("%s: time.%s: the core takes the time as an input and asks for timers in its Effects",
						fset.Position(n.Pos()), n.Sel.Name))
				}
			case *ast.GoStmt:
				found = append(found, fmt.Sprintf("%s: go statement: the core starts no goroutine", fset.Position(n.Pos())))
			}
			return true
		})
	}
	return found, checked, nil
}
