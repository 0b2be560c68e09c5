package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/lattice"
)

// partitionCounters is how many counters the partition scenario increments.
const partitionCounters = 3

// runPartition is the -partition scenario: node 0 is cut off from nodes 1 and 2, both
// sides increment the same counters, each side reads its own provisional values, and
// once the links heal every replica converges to the exact total.
func runPartition(ctx context.Context, stdout, stderr io.Writer, duration time.Duration, callers int, seed uint64) int {
	const attempt = 250 * time.Millisecond
	fmt.Fprintf(stdout, "starting 3 nodes (R=3) in this process, attempt timeout %v\n", attempt)
	c, err := startLocal(ctx, stdout, attempt)
	if err != nil {
		fmt.Fprintf(stderr, "counter: %v\n", err)
		return exitFailed
	}
	defer c.stop()
	keys := partitionKeys(c.nodes[0])
	sc := &scenario{w: stdout, c: c, keys: keys,
		before: newDriver(attempt, keys), sideA: newDriver(attempt, keys), sideB: newDriver(attempt, keys)}
	if !sc.create() {
		fmt.Fprintln(stderr, "counter: creating the counters failed on a healthy cluster")
		return exitFailed
	}
	fmt.Fprintln(stdout, "\n2. cut: every message between node 0 and nodes 1, 2 is dropped, both ways")
	cut(c, true)
	sc.load(ctx, duration, max(callers/2, 1), seed)
	sc.showProvisional()
	fmt.Fprintln(stdout, "\n5. heal: the links are restored")
	cut(c, false)
	return sc.converge()
}

// scenario is the state of the partition scenario: the cluster, the counters, and what
// the callers recorded before the cut and on each side of it.
type scenario struct {
	w                    io.Writer
	c                    *localCluster
	keys                 []string
	before, sideA, sideB *driver
}

// create makes the counters with one consistent increment each, so that every replica
// holds them before the cut. It reports whether all were acknowledged.
func (sc *scenario) create() bool {
	n0 := sc.c.nodes[0]
	fmt.Fprintf(sc.w, "\n1. %d counters, each created with one consistent increment (calls try the replicas in this order):\n", len(sc.keys))
	for _, k := range sc.keys {
		sc.before.increment(sc.c.nodes[1], k, actor.Consistent)
		fmt.Fprintf(sc.w, "  %s: %s\n", k, peerList(actor.RefOf(n0, Counter, k).Replicas(), n0.Peer()))
	}
	return sc.before.acked.Load() == int64(len(sc.keys))
}

// load runs fast increments on both sides of the cut for duration: perSide callers
// through node 0, as many through nodes 1 and 2.
func (sc *scenario) load(ctx context.Context, duration time.Duration, perSide int, seed uint64) {
	fmt.Fprintf(sc.w, "\n3. fast increments for %v on both sides of the cut:\n", duration)
	fmt.Fprintf(sc.w, "  side A: %d callers through node 0; each call times out (%v) on the replicas it cannot reach, then node 0's own replica takes it\n",
		perSide, sc.c.attempt)
	fmt.Fprintf(sc.w, "  side B: %d callers through nodes 1 and 2\n", perSide)
	ctx, cancel := context.WithTimeout(ctx, duration)
	defer cancel()
	stop := progress(sc.w, func(time.Duration) string {
		return fmt.Sprintf("side A %6d acknowledged   side B %6d acknowledged", sc.sideA.acked.Load(), sc.sideB.acked.Load())
	})
	var wg sync.WaitGroup
	wg.Go(func() { sc.sideA.run(ctx, sc.c.nodes[:1], perSide, sc.keys, 0, seed) })
	wg.Go(func() { sc.sideB.run(ctx, sc.c.nodes[1:], perSide, sc.keys, 0, seed+1) })
	wg.Wait()
	stop()
	for _, side := range []struct {
		name string
		d    *driver
	}{{"side A", sc.sideA}, {"side B", sc.sideB}} {
		n, p50, p99 := side.d.lat.stats(actor.Fast)
		fmt.Fprintf(sc.w, "  %s: %d acknowledged, latency p50=%v p99=%v\n", side.name, n, round(p50), round(p99))
	}
}

// showProvisional prints what each side's replicas hold while the cut lasts.
func (sc *scenario) showProvisional() {
	n0, n1, n2 := sc.c.nodes[0], sc.c.nodes[1], sc.c.nodes[2]
	fmt.Fprintln(sc.w, "\n4. provisional values, each side reading its own replicas (projected; stable is what every replica acknowledged):")
	fmt.Fprintf(sc.w, "  %-8s %12s %12s %12s %8s\n", "counter", "n0 (side A)", "n1 (side B)", "n2 (side B)", "stable")
	for _, k := range sc.keys {
		fmt.Fprintf(sc.w, "  %-8s %12s %12s %12s %8s\n", k, provisional(n0, n0, k, actor.Projected),
			provisional(n1, n1, k, actor.Projected), provisional(n1, n2, k, actor.Projected),
			provisional(n1, n1, k, actor.Stable))
	}
}

// converge waits for every replica to agree after the heal, shows where each counter's
// value comes from, and checks them all.
func (sc *scenario) converge() int {
	before, a, b := sc.before.ledger.snapshot(), sc.sideA.ledger.snapshot(), sc.sideB.ledger.snapshot()
	want := merge(before, a, b)
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	start := time.Now()
	s, problems := awaitConvergence(ctx, want, sc.c.read)
	fmt.Fprintf(sc.w, "\n6. after %v, every replica of every counter holds, at both read levels:\n", time.Since(start).Round(time.Millisecond))
	for _, k := range sc.keys {
		v, err := agreed(replicaValues(ctx, sc.c.nodes[0], k))
		if err != nil {
			fmt.Fprintf(sc.w, "  %s: %v\n", k, err)
			continue
		}
		fmt.Fprintf(sc.w, "  %s: %d = %d before the cut + %d acknowledged on side A + %d on side B + %d of %d uncertain\n",
			k, v, before[k].Acknowledged, a[k].Acknowledged, b[k].Acknowledged, v-want[k].Acknowledged, want[k].Uncertain)
	}
	if s.Counted > s.Acknowledged {
		fmt.Fprintln(sc.w, "  (an uncertain increment that landed is a call that timed out on a busy replica and was\n"+
			"  retried on the next one: both logged it; the attempts dropped by the cut never land)")
	}
	fmt.Fprintln(sc.w)
	return verdict(sc.w, s, problems)
}

// partitionKeys returns counters of which node 0 holds a replica but is not the first
// one tried, so that calls through node 0 fail over to its own replica during the cut.
func partitionKeys(n0 *actor.Node) []string {
	var keys []string
	for i := 0; len(keys) < partitionCounters; i++ {
		k := fmt.Sprintf("p%03d", i)
		rs := actor.RefOf(n0, Counter, k).Replicas()
		if slices.Contains(rs, n0.Peer()) && rs[0] != n0.Peer() {
			keys = append(keys, k)
		}
	}
	return keys
}

// cut drops (or, with on false, restores) every message between node 0 and the others.
func cut(c *localCluster, on bool) { c.cut.Store(on) }

// links is node i's actor.Config.Links: while the cluster is cut, node 0 and the others
// do not hear each other.
func (c *localCluster) links(i int) func(to lattice.Peer) actor.Link {
	return func(to lattice.Peer) actor.Link {
		zero := c.zero.Load()
		if !c.cut.Load() || zero == nil {
			return actor.Link{}
		}
		toZero := to == *zero
		return actor.Link{Drop: (i == 0) != toZero}
	}
}

// provisional reads the replica held by node at from's side of the cut. A busy replica
// may miss the attempt timeout: it is asked again, for up to 5 seconds.
func provisional(from, at *actor.Node, key string, level actor.ReadLevel) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		v, err := actor.RefOf(from, Counter, key).QueryReplica(ctx, at.Peer(), &wrapperspb.Int64Value{}, level)
		switch {
		case err == nil:
			return fmt.Sprint(v.GetValue())
		case ctx.Err() != nil:
			return "timeout"
		}
	}
}

// peerList writes peers in order, marking node 0's.
func peerList(peers []lattice.Peer, n0 lattice.Peer) string {
	s := ""
	for i, p := range peers {
		if i > 0 {
			s += ", "
		}
		s += string(p)
		if p == n0 {
			s += " (node 0)"
		}
	}
	return s
}

// merge adds up ledgers' tallies.
func merge(ledgers ...map[string]tally) map[string]tally {
	out := map[string]tally{}
	for _, l := range ledgers {
		for k, t := range l {
			sum := out[k]
			sum.Acknowledged += t.Acknowledged
			sum.Uncertain += t.Uncertain
			out[k] = sum
		}
	}
	return out
}
