package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// System is one column of the table: how to start it and how to read its counters.
type System struct {
	Name string
	// Legion is the counter example's consistency level ("fast", "consistent"); empty
	// for a stateless service.
	Legion string
	// Backend is the stateless service's backend (BackendUpsert, ...); empty for Legion.
	Backend string
	// InMemory runs the Legion nodes without a store (no -data): what durability costs.
	InMemory bool
	// Env is added to the environment of the Legion nodes ("GOMAXPROCS=1").
	Env string
	// Routed sends each counter's increments to the node of its first replica (looked
	// up before the run), as a client that knows the placement would: the call then
	// never crosses from the HTTP handler's node to another. Only for workloads of at
	// most MaxRoutedKeys counters (the look-up reads every replica of every counter).
	Routed bool
}

// MaxRoutedKeys bounds the counters of a workload a Routed system runs.
const MaxRoutedKeys = 1000

// Systems are the table's columns, in its order.
var Systems = []System{
	{Name: "Legion fast", Legion: "fast"},
	{Name: "Legion consistent", Legion: "consistent"},
	{Name: "PostgreSQL atomic upsert", Backend: BackendUpsert},
	{Name: "PostgreSQL read-then-write", Backend: BackendReadWrite},
	{Name: "Redis INCRBY, fsync always", Backend: BackendRedisIncrBy},
}

// InMemory is a further column, not in the default table: Legion fast with in-memory
// replicas (the nodes have no store, so nothing is persisted before an answer).
var InMemory = System{Name: "Legion fast, in memory", Legion: "fast", InMemory: true}

// Routed is a further column, not in the default table: Legion fast with each counter's
// increments sent to the node of its first replica.
var Routed = System{Name: "Legion fast, routed to the first replica", Legion: "fast", Routed: true}

// OneProc is a further column, not in the default table: Legion fast with each node's Go
// runtime on one P (GOMAXPROCS=1), as three nodes sharing two cores oversubscribe them
// (each would otherwise run two Ps, and idle Ps spin and wake one another).
var OneProc = System{Name: "Legion fast, GOMAXPROCS=1", Legion: "fast", Env: "GOMAXPROCS=1"}

// Config is one comparison.
type Config struct {
	// Rounds is how many times every (workload, system) runs; the systems alternate
	// within a round, in an order rotated round by round. Zero: 2.
	Rounds int
	// Duration is one run's load. Zero: 4 s.
	Duration time.Duration
	// Warmup is the load before each run, on other counters, not counted (connections,
	// the first activations). Zero: 300 ms; negative: none.
	Warmup time.Duration
	// Workloads and Systems select what runs. Nil: all of Workloads and Systems.
	Workloads []Workload
	Systems   []System
	// Dir holds the binaries and every system's data; it must exist.
	Dir string
	// Log receives a line per run (nil: discarded).
	Log io.Writer
}

func (c Config) withDefaults() Config {
	if c.Rounds <= 0 {
		c.Rounds = 2
	}
	if c.Duration <= 0 {
		c.Duration = 4 * time.Second
	}
	if c.Warmup == 0 {
		c.Warmup = 300 * time.Millisecond
	}
	if c.Workloads == nil {
		c.Workloads = Workloads
	}
	if c.Systems == nil {
		c.Systems = Systems
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	return c
}

// Result is one run of one workload against one system.
type Result struct {
	System   System
	Workload Workload
	Round    int
	LoadResult
	// Lost is the acknowledged increments missing from the final counts: the sum over
	// counters of max(0, acknowledged - final value).
	Lost int64
	// Extra is the sum over counters of max(0, final - acknowledged - failed): more
	// than any call could have made (it should be zero).
	Extra int64
	// Err is why the final counts could not be read, if so.
	Err error
	// CPU is the CPU time the system used during the run: its three instances, and for
	// the stateless services the database server's processes. The load generator's is
	// not in it.
	CPU time.Duration
	// Overhead says how long the system took to start and its counts to be read.
	Overhead string
}

// CPUPerIncrement is r.CPU divided by the acknowledged increments.
func (r Result) CPUPerIncrement() time.Duration {
	return r.CPU / time.Duration(max(1, r.AckedTotal()))
}

// Compare runs every workload against every system c.Rounds times, alternating, and
// returns the results in the order they ran. Each run starts its system afresh (three
// Legion nodes on new stores, or three service instances; the database servers are
// started once, in ss) and stops it after, so that no idle system loads the machine
// during another's run.
func Compare(ctx context.Context, b Binaries, ss *Servers, c Config) ([]Result, error) {
	c = c.withDefaults()
	var out []Result
	n := 0
	for round := range c.Rounds {
		if p50, p99, err := SyncLatency(c.Dir, 200); err == nil {
			fmt.Fprintf(c.Log, "round %d  the disk: 4 KiB append + fdatasync p50=%v p99=%v\n", round+1,
				p50.Round(10*time.Microsecond), p99.Round(10*time.Microsecond))
		}
		for _, w := range c.Workloads {
			for i := range c.Systems {
				s := c.Systems[(i+round)%len(c.Systems)]
				if s.Routed && w.Keys > MaxRoutedKeys {
					continue
				}
				n++
				r, err := runOnce(ctx, b, ss, c, s, w, filepath.Join(c.Dir, fmt.Sprintf("run%03d", n)))
				if err != nil {
					return out, fmt.Errorf("round %d, %s, %s: %w", round+1, w.Name, s.Name, err)
				}
				r.Round = round + 1
				out = append(out, r)
				fmt.Fprintf(c.Log, "round %d  %-24s %-28s %7.0f/s  p50=%-8v p99=%-8v cpu/inc=%-7v acked=%d lost=%d failed=%d\n",
					r.Round, w.Name, s.Name, r.Rate(), r.Quantile(0.5).Round(10*time.Microsecond),
					r.Quantile(0.99).Round(10*time.Microsecond), r.CPUPerIncrement().Round(time.Microsecond), r.AckedTotal(), r.Lost, r.Failed)
				if r.Err != nil {
					fmt.Fprintf(c.Log, "  final counts: %v\n", r.Err)
				}
				fmt.Fprintf(c.Log, "  (%s)\n", r.Overhead)
			}
		}
	}
	return out, nil
}

// runOnce starts s, drives w against it for c.Duration after a warm-up, reads the final
// counts and stops s.
func runOnce(ctx context.Context, b Binaries, ss *Servers, c Config, s System, w Workload, dir string) (Result, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Result{}, err
	}
	t0 := time.Now()
	g, err := startSystem(ctx, b, ss, s, dir)
	if err != nil {
		return Result{}, err
	}
	defer g.stop()
	started := time.Since(t0)
	prefix := fmt.Sprintf("r%s-", filepath.Base(dir))
	query := ""
	if s.Legion != "" {
		query = "consistency=" + s.Legion
	}
	if c.Warmup > 0 {
		drive(ctx, g.targets(), w.Clients, counterKeys(prefix+"w", w.Keys), query, c.Warmup)
	}
	keys := counterKeys(prefix, w.Keys)
	var o driveOptions
	if s.Routed {
		if o.route, err = firstReplicas(ctx, g, keys); err != nil {
			return Result{}, err
		}
	}
	pids := g.pids()
	if s.Backend != "" {
		pids = append(pids, ss.serverPIDs(s.Backend)...)
	}
	cpu0 := cpuOf(pids)
	lr := driveWorkload(ctx, g.targets(), w, keys, query, c.Duration, o)
	r := Result{System: s, Workload: w, LoadResult: lr, CPU: cpuOf(pids) - cpu0}
	var touched []string
	for _, k := range keys {
		if lr.Acked[k] > 0 {
			touched = append(touched, k)
		}
	}
	t1 := time.Now()
	final, err := finalValues(ctx, ss, s, g, touched)
	r.Err = err
	r.Overhead = fmt.Sprintf("start %v, final counts %v", started.Round(100*time.Millisecond), time.Since(t1).Round(100*time.Millisecond))
	for _, k := range touched {
		v, ok := final[k]
		if !ok {
			continue // unread: counted in r.Err
		}
		r.Lost += max(0, lr.Acked[k]-v)
	}
	var total int64
	for _, v := range final {
		total += v
	}
	r.Extra = max(0, total-lr.AckedTotal()-lr.Failed)
	return r, nil
}

// startSystem starts the instances of s.
func startSystem(ctx context.Context, b Binaries, ss *Servers, s System, dir string) (group, error) {
	if s.Legion != "" {
		return startLegion(ctx, b, dir, !s.InMemory, s.Env)
	}
	return startServices(b, ss, s.Backend)
}

// finalValues reads the counters keys of s once the load is over.
func finalValues(ctx context.Context, ss *Servers, s System, g group, keys []string) (map[string]int64, error) {
	switch {
	case s.Legion != "":
		return legionValues(ctx, g.targets()[0], keys, 30*time.Second)
	case s.Backend == BackendRedisIncrBy:
		return redisValues(ctx, ss.Redis, keys)
	}
	return postgresValues(ctx, ss.Postgres, keys)
}
