package actor_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/actor/actortest"
)

// churnOptions: short timings, so that each departure is ejected and resolved within a
// second or two.
func churnOptions() actortest.Options {
	o := testOptions()
	o.Config.EjectAfter = 500 * time.Millisecond
	o.Config.GCInterval = 50 * time.Millisecond
	// Long on purpose: every departure must be retired because no replica names it any
	// more (after a wake pass), not because its tombstone timed out. With 500ms for
	// EjectAfter, the default would be 15s, within the test's span.
	o.Config.TombstoneTTL = 2 * time.Minute
	return o
}

// churnKeys are the counters of the churn tests.
func churnKeys() []string {
	var keys []string
	for i := range 12 {
		keys = append(keys, key(i))
	}
	return keys
}

// TestChurnTransientNodes: six times, a transient node joins a 3-node cluster, takes its
// share of the replicas and goes: it stops (a planned departure) or crashes, in turn. Each
// departure must be resolved (handed over or ejected), and its tombstone must stop counting
// towards the majority once no replica names it: with tombstones that never retired, 3
// live members of 6 known after the third departure was no majority, and nothing was
// ejected again. After the churn, an original node crashes: the two others must eject it
// and serve consistent calls on its partitions (every partition: R is 3).
func TestChurnTransientNodes(t *testing.T) {
	opts := churnOptions()
	c := actortest.Start(t, 3, opts)
	originals := slices.Clone(c.Nodes)
	keys := churnKeys()
	w := newChurnWrites()
	w.incrementAll(t, originals, keys)
	for round := range 6 {
		transient := c.AddNode(opts, 3+round)
		live := append(slices.Clone(originals), transient)
		waitViews(t, live)
		healed(t, c, live, keys, 15*time.Second) // the transient holds its share
		w.incrementAll(t, live, keys)
		depart(t, c, transient, round)
		waitViews(t, originals)
		healed(t, c, originals, keys, 15*time.Second) // handed over or ejected, replaced
	}
	w.afterCrash(t, c, originals, 2, keys)
}

// TestChurnReplacedNodes: six times, a node goes (it stops or crashes, in turn) and a node
// of the same name starts with a fresh store (a new data directory: a new peer), n1 and n2
// in turn. Each old peer must leave or be ejected, and its tombstone retire: with
// tombstones that never retired, the third replacement left 3 live members of 6 known,
// and its old peer was never ejected. After the churn, the one original node (n0) crashes,
// and the two others must eject it and serve consistent calls.
func TestChurnReplacedNodes(t *testing.T) {
	opts := churnOptions()
	c := actortest.Start(t, 3, opts)
	nodes := slices.Clone(c.Nodes)
	keys := churnKeys()
	w := newChurnWrites()
	w.incrementAll(t, nodes, keys)
	for round := range 6 {
		i := 1 + round%2
		old := nodes[i]
		depart(t, c, old, round)
		waitViews(t, slices.Delete(slices.Clone(nodes), i, i+1))
		nodes[i] = c.AddNode(opts, i) // same name, a new in-memory store
		if nodes[i].Peer() == old.Peer() {
			t.Fatalf("the replacement of %s has the same peer", old.Peer())
		}
		waitViews(t, nodes)
		healed(t, c, nodes, keys, 15*time.Second) // old peer gone, new one holds the state
		w.incrementAll(t, nodes, keys)
	}
	w.afterCrash(t, c, nodes, 0, keys)
}

// depart makes n leave the cluster: in even rounds it stops (a planned departure: it hands
// its replicas over first), in odd ones it crashes (the others must eject it).
func depart(t *testing.T, c *actortest.Cluster, n *actor.Node, round int) {
	t.Helper()
	if round%2 == 1 {
		c.Crash(c.Index(n.Peer()))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Stop(ctx); err != nil {
		t.Fatalf("stopping %s: %v", n.Peer(), err)
	}
}

// churnWrites counts the consistent increments of the churn tests: those acknowledged, and
// those whose call failed without a definitive answer (they may still have been logged).
type churnWrites struct{ acked, uncertain map[string]int64 }

func newChurnWrites() *churnWrites {
	return &churnWrites{acked: map[string]int64{}, uncertain: map[string]int64{}}
}

// incrementAll makes one consistent increment of every key, through the nodes in turn,
// retrying each until one is acknowledged.
func (w *churnWrites) incrementAll(t *testing.T, nodes []*actor.Node, keys []string) {
	t.Helper()
	for i, k := range keys {
		w.increment(t, nodes[i%len(nodes)], k, 15*time.Second)
	}
}

func (w *churnWrites) increment(t *testing.T, n *actor.Node, k string, within time.Duration) {
	t.Helper()
	actortest.Eventually(t, within, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if _, err := actor.RefOf(n, counterKind, k).Call(ctx, wrapperspb.Int64(1), actor.Consistent); err != nil {
			w.uncertain[k]++
			return fmt.Errorf("consistent increment of %s through %s: %w", k, n.Peer(), err)
		}
		w.acked[k]++
		return nil
	})
}

// afterCrash crashes nodes[victim] and checks that the others eject it and serve
// consistent calls on every partition within a deadline, and that every replica ends with
// what was acknowledged.
func (w *churnWrites) afterCrash(t *testing.T, c *actortest.Cluster, nodes []*actor.Node, victim int, keys []string) {
	t.Helper()
	c.Crash(c.Index(nodes[victim].Peer()))
	crashedAt := time.Now()
	rest := slices.Delete(slices.Clone(nodes), victim, victim+1)
	waitViews(t, rest)
	for i, k := range keys {
		w.increment(t, rest[i%len(rest)], k, 15*time.Second)
	}
	t.Logf("consistent calls on every partition succeeded %v after an original node crashed (eject after %v)",
		time.Since(crashedAt).Round(10*time.Millisecond), churnOptions().Config.EjectAfter)
	survivors := &actortest.Cluster{Nodes: rest}
	healed(t, survivors, rest, keys, 15*time.Second)
	checkReplicasWithin(t, survivors, w.acked, w.uncertain)
}

// waitViews waits until every one of nodes sees exactly nodes as members.
func waitViews(t *testing.T, nodes []*actor.Node) {
	t.Helper()
	var want []string
	for _, n := range nodes {
		want = append(want, string(n.Peer()))
	}
	slices.Sort(want)
	actortest.Eventually(t, 10*time.Second, func() error {
		for _, n := range nodes {
			if got := n.View().Peers(); !slices.Equal(got, want) {
				return fmt.Errorf("%s sees %v, want %v", n.Peer(), got, want)
			}
		}
		return nil
	})
}
