package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/discovery/memory"
	"github.com/legion-go/legion/lattice"
)

// callTimeout bounds one increment, every attempt included.
const callTimeout = 10 * time.Second

// checkTimeout bounds the wait for the replicas to converge after the load.
const checkTimeout = 30 * time.Second

// runLocal is the default mode: three nodes in this process, increments through all of
// them, then a check of every replica of every counter.
func runLocal(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("counter", flag.ContinueOnError)
	duration := fs.Duration("duration", 5*time.Second, "how long to drive increments")
	clients := fs.Int("clients", 32, "concurrent callers, spread over the nodes")
	keys := fs.Int("keys", 200, "number of counters")
	ratio := fs.Float64("consistent-ratio", 0.2, "fraction of increments made at the Consistent level (the others are Fast)")
	partition := fs.Bool("partition", false, "run the partition scenario: cut node 0 off, increment on both sides, heal")
	seed := fs.Uint64("seed", 1, "seed of the callers' choice of counters and levels")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: counter [flags]               three nodes in this process, load, check")
		fmt.Fprintln(fs.Output(), "       counter node|load|check [flags] one node / load / check across processes (-h for each)")
		fs.PrintDefaults()
	}
	if code, done := parseFlags(fs, args, stderr); done {
		return code
	}
	switch {
	case *duration <= 0:
		return usageError(stderr, "-duration must be positive")
	case *clients < 1:
		return usageError(stderr, "-clients must be at least 1")
	case *keys < 1:
		return usageError(stderr, "-keys must be at least 1")
	case *ratio < 0 || *ratio > 1:
		return usageError(stderr, "-consistent-ratio must be in [0, 1]")
	}
	if *partition {
		return runPartition(ctx, stdout, stderr, *duration, *clients, *seed)
	}

	fmt.Fprintln(stdout, "starting 3 nodes (R=3) in this process: loopback remoting, in-memory membership and stores")
	c, err := startLocal(ctx, stdout, 2*time.Second)
	if err != nil {
		fmt.Fprintf(stderr, "counter: %v\n", err)
		return exitFailed
	}
	defer c.stop()

	names := counterKeys("c", *keys)
	d := newDriver(c.attempt, names)
	fmt.Fprintf(stdout, "incrementing for %v: %d callers through %d nodes, %d counters, %.0f%% of increments consistent\n",
		*duration, *clients, len(c.nodes), *keys, *ratio*100)
	loadCtx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()
	start := time.Now()
	stop := progress(stdout, rate(&d.ops, &d.failed))
	d.run(loadCtx, c.nodes, *clients, names, *ratio, *seed)
	stop()
	elapsed := time.Since(start)
	fmt.Fprintf(stdout, "%d calls in %v: %d acknowledged, %d rejected, %d failed (outcome unknown)\n",
		d.ops.Load(), elapsed.Round(time.Millisecond), d.acked.Load(), d.rejected.Load(), d.failed.Load())
	d.lat.print(stdout, elapsed)

	fmt.Fprintln(stdout, "checking every replica of every counter at both read levels (replication is asynchronous: polling)")
	checkCtx, cancelCheck := context.WithTimeout(context.Background(), checkTimeout)
	defer cancelCheck()
	start = time.Now()
	s, problems := awaitConvergence(checkCtx, d.ledger.snapshot(), c.read)
	if s.Converged {
		fmt.Fprintf(stdout, "  every replica agrees, %v after the load\n", time.Since(start).Round(time.Millisecond))
	}
	return verdict(stdout, s, problems)
}

// counterKeys names n counters.
func counterKeys(prefix string, n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%s%03d", prefix, i)
	}
	return keys
}

// localCluster is three nodes in this process sharing an in-memory membership.
type localCluster struct {
	nodes   []*actor.Node
	attempt time.Duration // the nodes' AttemptTimeout
	// The -partition scenario's cut (partition.go): on, and node 0's peer.
	cut  atomic.Bool
	zero atomic.Pointer[lattice.Peer]
}

func startLocal(ctx context.Context, w io.Writer, attempt time.Duration) (*localCluster, error) {
	reg := memory.NewRegistry()
	c := &localCluster{attempt: attempt}
	for i := range 3 {
		n, err := actor.Start(ctx, actor.Config{
			Name:              fmt.Sprintf("n%d", i),
			Kinds:             []actor.KindSpec{Counter},
			ReplicationFactor: replicationFactor,
			Membership:        reg.Provider(),
			AttemptTimeout:    attempt,
			Links:             c.links(i),
		})
		if err != nil {
			c.stop()
			return nil, err
		}
		c.nodes = append(c.nodes, n)
		if i == 0 {
			p := n.Peer()
			c.zero.Store(&p)
		}
		fmt.Fprintf(w, "  node %d: peer %s, remoting on %s\n", i, n.Peer(), n.Address())
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for _, n := range c.nodes {
		if err := n.WaitForMembers(ctx, Counter.Name, len(c.nodes)); err != nil {
			c.stop()
			return nil, fmt.Errorf("waiting for the cluster to form: %w", err)
		}
	}
	return c, nil
}

func (c *localCluster) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, n := range c.nodes {
		n.Stop(ctx)
	}
}

// read is a readFunc asking through node 0.
func (c *localCluster) read(ctx context.Context, key string) ([]replicaValue, error) {
	return replicaValues(ctx, c.nodes[0], key), nil
}

// driver makes increments through nodes in this process and records their outcomes.
// Its methods are safe for concurrent use.
type driver struct {
	attempt time.Duration // the nodes' AttemptTimeout
	ledger  *ledger
	lat     latencies

	ops, acked, rejected, failed atomic.Int64
}

// newDriver returns a driver whose ledger lists keys (so that a counter no call reached
// is checked too).
func newDriver(attempt time.Duration, keys []string) *driver {
	d := &driver{attempt: attempt, ledger: newLedger()}
	for _, k := range keys {
		d.ledger.record(k, false, 0)
	}
	return d
}

// run runs callers until ctx ends and returns once they are done: caller i calls through
// nodes[i mod len(nodes)], picking counters at random and the Consistent level with
// probability ratio.
func (d *driver) run(ctx context.Context, nodes []*actor.Node, callers int, keys []string, ratio float64, seed uint64) {
	var wg sync.WaitGroup
	for i := range callers {
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		node := nodes[i%len(nodes)]
		wg.Go(func() {
			for ctx.Err() == nil {
				level := actor.Fast
				if rng.Float64() < ratio {
					level = actor.Consistent
				}
				d.increment(node, keys[rng.IntN(len(keys))], level)
			}
		})
	}
	wg.Wait()
}

// increment adds 1 to a counter through node. A call in flight when the load ends runs
// to its end (its own timeout), so that its outcome is known.
func (d *driver) increment(node *actor.Node, key string, level actor.Consistency) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	start := time.Now()
	_, err := actor.RefOf(node, Counter, key).Call(ctx, wrapperspb.Int64(1), level)
	elapsed := time.Since(start)
	d.ops.Add(1)
	d.ledger.recordCall(key, err)
	switch classify(err) {
	case logged:
		d.acked.Add(1)
		d.lat.add(level, elapsed)
	case refused:
		d.rejected.Add(1)
	default:
		d.failed.Add(1)
	}
}

// rate returns a progress line: calls so far, calls in the last second, failures.
func rate(ops, failed *atomic.Int64) func(time.Duration) string {
	var prev int64
	var last time.Duration
	return func(elapsed time.Duration) string {
		n := ops.Load()
		r := float64(n-prev) / (elapsed - last).Seconds()
		prev, last = n, elapsed
		return fmt.Sprintf("%8d calls  %7.0f/s  %d failed", n, r, failed.Load())
	}
}

// progress writes line() once a second until the returned stop is called; stop returns
// once the printer has exited. Nothing else may write to w meanwhile.
func progress(w io.Writer, line func(elapsed time.Duration) string) (stop func()) {
	done, exited := make(chan struct{}), make(chan struct{})
	start := time.Now()
	go func() {
		defer close(exited)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				elapsed := time.Since(start)
				fmt.Fprintf(w, "  %4.1fs %s\n", elapsed.Seconds(), line(elapsed))
			}
		}
	}()
	return func() {
		close(done)
		<-exited
	}
}
