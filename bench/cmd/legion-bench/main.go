// Command legion-bench compares the counter example with a stateless service on
// PostgreSQL and on Redis, and profiles the counter's nodes (package bench,
// docs/performance.md). Run it from the bench module's directory:
//
//	legion-bench [-rounds 2] [-duration 4s] [-workloads all] [-systems all]
//	legion-bench profile -out DIR [-duration 6s]
//	legion-bench scale [-stored 10000,100000] [-populate 64] [-clients 64] [-hot 50] [-duration 10s] [-passivate-after 5s]
//	legion-bench service -backend pg-upsert|pg-read-write|redis-incrby -http HOST:PORT [-postgres DSN] [-redis HOST:PORT]
//
// The first installs PostgreSQL and Redis if they are missing (Debian's packages, as
// root), starts them privately, runs the comparison and prints the table. The second
// profiles three counter nodes under the 1-client and 64-client loads. The third measures
// three counter nodes at each stored count (issue #25): memory, disk, restart, and loads
// on random and hot counters. The fourth is one instance of the stateless service; the
// harness starts three of each.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/legion-go/legion/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "service":
			return service(ctx, args[1:], stdout, stderr)
		case "profile":
			return profile(ctx, args[1:], stdout, stderr)
		case "scale":
			return scale(ctx, args[1:], stdout, stderr)
		}
	}
	return compare(ctx, args, stdout, stderr)
}

func compare(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("legion-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rounds := fs.Int("rounds", 2, "runs of every (workload, system), alternating")
	duration := fs.Duration("duration", 4*time.Second, "load of one run")
	workloads := fs.String("workloads", "all", "comma-separated workload numbers (1: 64 clients on 50 keys, 2: 64 on 10,000, 3: 1 client, 4: 1 client pausing 5 ms after each answer), or all (1 to 3)")
	systems := fs.String("systems", "all", "comma-separated system numbers (1: Legion fast, 2: Legion consistent, 3: PostgreSQL upsert, 4: PostgreSQL read-then-write, 5: Redis, 6: Legion fast in memory, 7: Legion fast with GOMAXPROCS=1, 8: Legion fast routed to the first replica), or all (1 to 5)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	c := bench.Config{Rounds: *rounds, Duration: *duration, Log: stdout}
	var err error
	if c.Workloads, err = pick(append(slices.Clip(bench.Workloads), bench.Paused), bench.Workloads, *workloads); err != nil {
		fmt.Fprintf(stderr, "-workloads: %v\n", err)
		return 2
	}
	if c.Systems, err = pick(append(slices.Clip(bench.Systems), bench.InMemory, bench.OneProc, bench.Routed), bench.Systems, *systems); err != nil {
		fmt.Fprintf(stderr, "-systems: %v\n", err)
		return 2
	}
	env, err := setup(ctx, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "legion-bench: %v\n", err)
		return 1
	}
	defer env.close()
	c.Dir = env.dir
	results, err := bench.Compare(ctx, env.bin, env.servers, c)
	fmt.Fprintln(stdout)
	bench.Table(stdout, results)
	if err != nil {
		fmt.Fprintf(stderr, "legion-bench: %v\n", err)
		return 1
	}
	return 0
}

// environment is what a run needs: the binaries, and the database servers.
type environment struct {
	dir     string
	bin     bench.Binaries
	servers *bench.Servers
}

func setup(ctx context.Context, stdout io.Writer) (_ *environment, err error) {
	modDir, err := bench.ModuleDir(ctx)
	if err != nil {
		return nil, err
	}
	e := &environment{}
	if e.dir, err = os.MkdirTemp("", "legion-bench-"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	fmt.Fprintf(stdout, "building examples/counter and legion-bench into %s\n", e.dir)
	if e.bin, err = bench.Build(ctx, modDir, e.dir); err != nil {
		return nil, err
	}
	fmt.Fprintln(stdout, "starting PostgreSQL and Redis (scripts/install.sh, scripts/start.sh)")
	if e.servers, err = bench.StartServers(ctx, e.bin, e.dir); err != nil {
		return nil, err
	}
	fmt.Fprintf(stdout, "  postgres: %s\n  redis: %s\n", e.servers.Postgres, e.servers.Redis)
	return e, nil
}

func (e *environment) close() {
	if e.servers != nil {
		e.servers.Stop()
	}
	os.RemoveAll(e.dir)
}

// pick selects items of all by their 1-based numbers, comma-separated; "all" is def.
func pick[T any](all, def []T, spec string) ([]T, error) {
	if spec == "all" {
		return def, nil
	}
	var out []T
	for _, f := range strings.Split(spec, ",") {
		var i int
		if _, err := fmt.Sscanf(strings.TrimSpace(f), "%d", &i); err != nil || i < 1 || i > len(all) {
			return nil, fmt.Errorf("%q: want numbers from 1 to %d, or all", f, len(all))
		}
		out = append(out, all[i-1])
	}
	return slices.Clip(out), nil
}

func profile(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("profile", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "directory for the profiles and traces (required)")
	duration := fs.Duration("duration", 6*time.Second, "load of one profiled run (the CPU profile covers all but its first and last second)")
	workloads := fs.String("workloads", "all", "comma-separated workload numbers, or all")
	memory := fs.Bool("memory", false, "nodes without a store (in-memory replicas)")
	consistency := fs.String("consistency", "fast", "the increments' level: fast or consistent")
	routed := fs.Bool("routed", false, "send each counter's increments to the node of its first replica")
	env := fs.String("node-env", "", "K=V added to the nodes' environment (GOMAXPROCS=1)")
	primed := fs.Bool("prime", false, "increment every counter once before the measured run (steady state, not creation)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *out == "" || *duration < 3*time.Second || (*consistency != "fast" && *consistency != "consistent") {
		fmt.Fprintln(stderr, "profile: -out is required, -duration at least 3s, -consistency fast or consistent")
		return 2
	}
	wls, err := pick(append(slices.Clip(bench.Workloads), bench.Paused), bench.Workloads, *workloads)
	if err != nil {
		fmt.Fprintf(stderr, "-workloads: %v\n", err)
		return 2
	}
	modDir, err := bench.ModuleDir(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "profile: %v\n", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "legion-profile-")
	if err != nil {
		fmt.Fprintf(stderr, "profile: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	b, err := bench.Build(ctx, modDir, dir)
	if err != nil {
		fmt.Fprintf(stderr, "profile: %v\n", err)
		return 1
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintf(stderr, "profile: %v\n", err)
		return 1
	}
	for _, w := range wls {
		p, err := bench.Profile(ctx, b, bench.ProfileConfig{Workload: w, Duration: *duration, Dir: dir, Out: *out, InMemory: *memory, Prime: *primed, Env: *env, Routed: *routed, Consistency: *consistency})
		if err != nil {
			fmt.Fprintf(stderr, "profile: %s: %v\n", w.Name, err)
			return 1
		}
		p.Print(stdout)
	}
	return 0
}

func service(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("service", flag.ContinueOnError)
	fs.SetOutput(stderr)
	backend := fs.String("backend", "", "pg-upsert, pg-read-write or redis-incrby")
	addr := fs.String("http", "127.0.0.1:0", "host:port of the HTTP API (port 0: a free one)")
	var c bench.BackendConfig
	fs.StringVar(&c.Postgres, "postgres", "", "PostgreSQL connection string, for the pg-* backends")
	fs.StringVar(&c.Redis, "redis", "", "Redis host:port, for redis-incrby")
	fs.IntVar(&c.Pool, "pool", bench.DefaultPool, "connections to the database")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	b, err := bench.OpenBackend(ctx, *backend, c)
	if err != nil {
		fmt.Fprintf(stderr, "service: %v\n", err)
		return 1
	}
	defer b.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "service: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "ready http=%s\n", ln.Addr())
	if err := bench.Serve(ctx, ln, bench.Handler(b)); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "service: %v\n", err)
		return 1
	}
	return 0
}

func scale(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	fs.SetOutput(stderr)
	stored := fs.String("stored", "10000,100000", "comma-separated counts of stored counters, one measurement each")
	var c bench.ScaleConfig
	fs.IntVar(&c.Populate, "populate", 64, "callers creating the counters (one increment each)")
	fs.IntVar(&c.Clients, "clients", 64, "callers of each measured load")
	fs.IntVar(&c.HotKeys, "hot", 50, "counters of the hot set")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "each measured load")
	fs.DurationVar(&c.PassivateAfter, "passivate-after", 5*time.Second, "the nodes' -passivate-after")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", 5*time.Minute, "bound of each wait for every replica to passivate")
	fs.DurationVar(&c.ReadyTimeout, "ready-timeout", 10*time.Minute, "bound of the wait for the restarted nodes to be ready")
	dir := fs.String("dir", "", "directory for the nodes' data (empty: a temporary one); kept after the run when set")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	for _, f := range strings.Split(*stored, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fmt.Fprintf(stderr, "-stored: %q: want positive counts\n", f)
			return 2
		}
		c.Stored = append(c.Stored, n)
	}
	modDir, err := bench.ModuleDir(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "scale: %v\n", err)
		return 1
	}
	tmp, err := os.MkdirTemp("", "legion-scale-")
	if err != nil {
		fmt.Fprintf(stderr, "scale: %v\n", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	c.Dir, c.Keep = tmp, false
	if *dir != "" {
		c.Dir, c.Keep = *dir, true
		if err := os.MkdirAll(c.Dir, 0o755); err != nil {
			fmt.Fprintf(stderr, "scale: %v\n", err)
			return 1
		}
	}
	fmt.Fprintf(stdout, "building examples/counter into %s\n", tmp)
	b, err := bench.Build(ctx, modDir, tmp)
	if err != nil {
		fmt.Fprintf(stderr, "scale: %v\n", err)
		return 1
	}
	c.Log = stdout
	results, err := bench.Scale(ctx, b, c)
	fmt.Fprintln(stdout)
	bench.ScaleTable(stdout, results, c)
	if err != nil {
		fmt.Fprintf(stderr, "scale: %v\n", err)
		return 1
	}
	return 0
}
