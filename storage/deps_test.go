package storage

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestDependencies: the storage packages import only what the layering
// allows (imports point down: storage is below actor, above nothing of
// legion's). Test files are exempt.
func TestDependencies(t *testing.T) {
	const mod = "github.com/legion-go/legion/"
	allowed := map[string][]string{ // directory -> allowed non-standard import prefixes
		".":             nil,
		"internal/keys": {mod + "storage"},
		"memory":        {mod + "storage"},
		"storagetest":   {mod + "storage"},
		"pebble":        {mod + "storage", mod + "storage/internal/keys", "github.com/cockroachdb/pebble/v2"},
	}
	for dir, prefixes := range allowed {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no Go files (%v)", dir, err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			af, err := parser.ParseFile(token.NewFileSet(), f, src, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range af.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if !strings.Contains(strings.Split(path, "/")[0], ".") {
					continue // standard library
				}
				ok := false
				for _, p := range prefixes {
					// legion packages by exact path, other modules with their sub-packages
					ok = ok || path == p || (!strings.HasPrefix(p, mod) && strings.HasPrefix(path, p+"/"))
				}
				if !ok {
					t.Errorf("%s imports %s", f, path)
				}
			}
		}
	}
}
