package legion_test

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const module = "github.com/legion-go/legion"

// rule says what the non-test code of a package (and of every package below it) may
// import, in the spirit of go/build/deps_test.go.
type rule struct {
	prefix string
	// allow lists module-internal and third-party import path prefixes it may use.
	allow []string
	// pure packages may use the standard library only without these: no clock, no
	// randomness, no logging, no network, no OS.
	pure bool
	// timeValues lets a pure package import time for time.Time and time.Duration values
	// (given as input); TestNoClockReads checks it never reads the clock.
	timeValues bool
}

var rules = []rule{
	{prefix: "lattice", pure: true},
	{prefix: "gc", allow: []string{"lattice"}, pure: true, timeValues: true},
	{prefix: "discovery", allow: []string{"discovery", "github.com/hashicorp/consul/api", "github.com/hashicorp/memberlist"}},
	{prefix: "storage", allow: []string{"storage", "github.com/cockroachdb/pebble/v2"}},
	// Proto.Actor, carried inside the module (decision 0004): it imports only itself and
	// upstream's own dependencies. It is internal to actor, so nothing outside actor/ can
	// import it; ruleFor takes the first rule that matches, hence before actor's.
	{prefix: "actor/internal/protoactor", allow: []string{"actor/internal/protoactor",
		"github.com/Workiva/go-datastructures", "github.com/asynkron/gofun", "github.com/emirpasic/gods",
		"github.com/gogo/protobuf", "github.com/lithammer/shortuuid/v4", "github.com/lmittmann/tint",
		"github.com/orcaman/concurrent-map", "github.com/prometheus/client_golang", "github.com/twmb/murmur3",
		"go.opentelemetry.io/otel", "golang.org/x/net", "google.golang.org/grpc", "google.golang.org/protobuf"}},
	// The admin HTTP API: the node's snapshots, and Prometheus' handler for /metrics.
	{prefix: "actor/admin", allow: []string{"actor", "lattice", "gc", "discovery", "github.com/prometheus/client_golang"}},
	// actor reaches Proto.Actor through actor/internal/protoactor only: upstream's
	// github.com/asynkron/protoactor-go is allowed nowhere. Its metrics and traces use
	// Prometheus's client (a registry the user passes) and OpenTelemetry's API (a tracer
	// provider the user passes; decision 0010).
	{prefix: "actor", allow: []string{"actor", "lattice", "gc", "discovery", "storage", "google.golang.org/protobuf", "google.golang.org/grpc",
		"github.com/prometheus/client_golang", "go.opentelemetry.io/otel"}},
	// Commands: the operator's CLI speaks to the admin API (its JSON types).
	{prefix: "cmd", allow: []string{"actor", "lattice", "gc", "discovery", "storage", "cmd"}},
	{prefix: "examples", allow: []string{"actor", "lattice", "gc", "discovery", "storage", "examples", "google.golang.org/protobuf",
		"golang.org/x/net/netutil",              // netutil: the HTTP servers' cap on connections
		"github.com/prometheus/client_golang"}}, // the nodes' metrics registry, served on the admin API
}

var impure = []string{"time", "math/rand", "crypto/rand", "log", "net", "os", "syscall", "unsafe", "runtime", "sync", "io/fs", "embed", "plugin"}

type pkg struct {
	ImportPath string
	Imports    []string
	Standard   bool
}

// TestDependencyDirection fails when a package imports across the layering above, when a
// pure package (lattice, gc) touches the clock, randomness, logging, the network or the
// OS, or when anything but actor/ imports Proto.Actor (which is actor/internal/protoactor,
// decision 0004: upstream's import path is allowed nowhere).
func TestDependencyDirection(t *testing.T) {
	cmd := exec.Command("go", "list", "-e", "-json=ImportPath,Imports,Standard", "./...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	checked := 0
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		r, ok := ruleFor(rel)
		if !ok {
			continue
		}
		checked++
		for _, imp := range p.Imports {
			if msg := r.violation(imp); msg != "" {
				t.Errorf("%s imports %s: %s", p.ImportPath, imp, msg)
			}
		}
	}
	if checked < 2 {
		t.Fatalf("checked only %d packages: is go list working?", checked)
	}
}

func ruleFor(rel string) (rule, bool) {
	for _, r := range rules {
		if rel == r.prefix || strings.HasPrefix(rel, r.prefix+"/") {
			return r, true
		}
	}
	return rule{}, false
}

func (r rule) violation(imp string) string {
	if isStd(imp) {
		if r.pure && !(r.timeValues && imp == "time") {
			for _, bad := range impure {
				if imp == bad || strings.HasPrefix(imp, bad+"/") {
					return "pure packages may not touch the clock, randomness, logging, the network or the OS"
				}
			}
		}
		return ""
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(imp, module), "/")
	for _, a := range r.allow {
		if rel == a || strings.HasPrefix(rel, a+"/") || imp == a || strings.HasPrefix(imp, a+"/") {
			return ""
		}
	}
	return "not allowed by the layering (deps_test.go)"
}

func isStd(imp string) bool {
	first, _, _ := strings.Cut(imp, "/")
	return !strings.Contains(first, ".")
}

var clockRead = regexp.MustCompile(`\btime\.(Now|Since|Until|Sleep|After|AfterFunc|Tick|NewTimer|NewTicker)\(`)

// TestNoClockReads: the pure packages allowed to import time use it for values only.
func TestNoClockReads(t *testing.T) {
	for _, r := range rules {
		if !r.timeValues {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(r.prefix, "*.go"))
		if len(files) == 0 {
			t.Fatalf("no files in %s", r.prefix)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if m := clockRead.Find(src); m != nil {
				t.Errorf("%s reads the clock (%s): time is an input in pure packages", f, m)
			}
		}
	}
}
