package bench

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// built is the binaries, built once for all the tests into a directory TestMain removes.
var built struct {
	once sync.Once
	b    Binaries
	dir  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// build returns the binaries and a directory for a test's data (removed after it),
// building the binaries on first use.
func build(t *testing.T) (Binaries, string) {
	t.Helper()
	built.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		modDir, err := ModuleDir(ctx)
		if err != nil {
			built.err = err
			return
		}
		if built.dir, built.err = os.MkdirTemp("", "legion-bench-bin-"); built.err != nil {
			return
		}
		built.b, built.err = Build(ctx, modDir, built.dir)
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	// Not t.TempDir: PostgreSQL runs as its own user, which must traverse the path.
	dir, err := os.MkdirTemp("", "legion-bench-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return built.b, dir
}

// TestProfile profiles three counter nodes under a small load: through their -pprof
// endpoints it must get a CPU profile and a trace of each, and each node must have
// replicated and used CPU in the window.
func TestProfile(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the harness builds binaries and starts node processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b, dir := build(t)
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	w := Workload{Name: "4 clients, 20 keys", Clients: 4, Keys: 20}
	r, err := Profile(ctx, b, ProfileConfig{Workload: w, Duration: 3 * time.Second, Dir: dir, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	var report bytes.Buffer
	r.Print(&report)
	t.Logf("%s", report.String())
	if r.Increments == 0 || len(r.Nodes) != 3 {
		t.Fatalf("%d increments, %d nodes measured", r.Increments, len(r.Nodes))
	}
	for _, n := range r.Nodes {
		if n.UserCPU+n.SysCPU <= 0 || n.Stats["Sent"] <= 0 || n.Stats["Flushes"] <= 0 {
			t.Errorf("%s: CPU %v, stats %v: want CPU time, replication messages and flushes", n.Name, n.UserCPU+n.SysCPU, n.Stats)
		}
	}
	if len(r.Files) != 6 {
		t.Errorf("wrote %v, want a CPU profile and a trace of each node", r.Files)
	}
	for _, f := range r.Files {
		if fi, err := os.Stat(f); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v, want a non-empty file", f, err)
		}
	}
}

// TestCompare runs the whole harness on a tiny load: it builds the counter example and
// the service, installs and starts PostgreSQL and Redis (skipping when they cannot be
// installed), runs every system once, and checks that each acknowledged increments, that
// none but the read-then-write lost any, and that the table has a cell for each. Then
// the read-then-write on one hot key must lose updates: the lost count is what the
// comparison is about, so it must be seen to count.
func TestCompare(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the harness builds binaries and starts databases")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b, dir := build(t)
	ss, err := StartServers(ctx, b, dir)
	if errors.Is(err, ErrNoServers) {
		t.Skipf("PostgreSQL or Redis cannot be installed here (scripts/install.sh needs root and Debian's packages): %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ss.Stop)

	tiny := Workload{Name: "4 clients, 20 keys", Clients: 4, Keys: 20}
	var log bytes.Buffer
	results, err := Compare(ctx, b, ss, Config{Rounds: 1, Duration: 500 * time.Millisecond, Warmup: -1,
		Workloads: []Workload{tiny}, Dir: dir, Log: &log})
	t.Logf("runs:\n%s", log.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != len(Systems) {
		t.Fatalf("%d results, want one per system (%d)", len(results), len(Systems))
	}
	for _, r := range results {
		switch {
		case r.AckedTotal() == 0:
			t.Errorf("%s: no increment acknowledged (%d failed)", r.System.Name, r.Failed)
		case r.Err != nil:
			t.Errorf("%s: final counts: %v", r.System.Name, r.Err)
		case r.System.Backend != BackendReadWrite && (r.Lost != 0 || r.Extra != 0):
			t.Errorf("%s: lost %d, extra %d of %d acknowledged", r.System.Name, r.Lost, r.Extra, r.AckedTotal())
		}
		if len(r.Latencies) != int(r.AckedTotal()) || r.Quantile(0.5) <= 0 || r.Quantile(0.99) < r.Quantile(0.5) {
			t.Errorf("%s: %d latencies for %d acknowledged, p50 %v, p99 %v", r.System.Name, len(r.Latencies), r.AckedTotal(), r.Quantile(0.5), r.Quantile(0.99))
		}
	}
	var table bytes.Buffer
	Table(&table, results)
	t.Logf("table:\n%s", table.String())
	lines := strings.Split(strings.TrimSpace(table.String()), "\n")
	if len(lines) < 3 || strings.Count(lines[2], "/s, p50 ") != len(Systems) {
		t.Errorf("want a header, a rule and one row with a cell per system:\n%s", table.String())
	}
	for _, r := range results {
		if r.CPU <= 0 {
			t.Errorf("%s: no CPU time measured", r.System.Name)
		}
	}

	hot := Workload{Name: "8 clients, 1 key", Clients: 8, Keys: 1}
	results, err = Compare(ctx, b, ss, Config{Rounds: 1, Duration: time.Second, Warmup: -1,
		Workloads: []Workload{hot}, Systems: []System{Systems[3]}, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if r := results[0]; r.Lost == 0 || r.Err != nil {
		t.Errorf("read-then-write, 8 clients on one key: lost %d of %d acknowledged (%v): it cannot lose nothing", r.Lost, r.AckedTotal(), r.Err)
	}
}
