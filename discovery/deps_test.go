package discovery_test

import (
	"go/build"
	"os/exec"
	"strings"
	"testing"
)

// allowed lists, per package, the non-standard imports it may have (exact
// match). Imports point down only: discovery is pure vocabulary, each
// provider adds its own backend library, nothing imports Proto.Actor or the
// rest of Legion.
var allowed = map[string][]string{
	"discovery":                                    nil,
	"discovery/internal/backoff":                   nil,
	"discovery/memory":                             {"discovery"},
	"discovery/consul":                             {"discovery", "discovery/internal/backoff", "github.com/hashicorp/consul/api"},
	"discovery/gossip":                             {"discovery", "discovery/internal/backoff", "github.com/hashicorp/memberlist"},
	"discovery/discoverytest":                      {"discovery"},
	"discovery/consul/consultest":                  nil,
	"discovery/consul/consultest/cmd/consul-build": {"discovery/consul/consultest"},
}

const module = "github.com/legion-go/legion/"

// TestDependencies checks the direct, non-test imports of every discovery package.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./...").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module)
		allow, ok := allowed[pkg]
		if !ok {
			t.Errorf("package %s has no dependency rule in deps_test.go", pkg)
			continue
		}
		seen++
		for _, imp := range fields[1:] {
			if isStd(imp) {
				continue
			}
			if !permitted(strings.TrimPrefix(imp, module), allow) {
				t.Errorf("%s imports %s, which it may not", pkg, imp)
			}
		}
	}
	if seen < len(allowed) {
		t.Errorf("checked %d packages, expected %d", seen, len(allowed))
	}
}

func permitted(imp string, allow []string) bool {
	for _, a := range allow {
		if imp == a {
			return true
		}
	}
	return false
}

func isStd(imp string) bool {
	p, err := build.Default.Import(imp, "", build.FindOnly)
	return err == nil && p.Goroot
}
