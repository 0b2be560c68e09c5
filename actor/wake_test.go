package actor_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/actor/actortest"
)

// activeSum is the number of replicas active over c's running nodes.
func activeSum(c *actortest.Cluster) int {
	n := 0
	for i, node := range c.Nodes {
		if !c.Crashed(i) {
			n += node.Active()
		}
	}
	return n
}

// staysAtMost polls, for as long as within, that activeSum stays at most bound.
func staysAtMost(t *testing.T, c *actortest.Cluster, bound int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if n := activeSum(c); n > bound {
			t.Fatalf("%d replicas active, want at most %d", n, bound)
		}
		time.Sleep(5 * time.Millisecond) // a poll, not a wait for a state
	}
}

// makeCounters adds 1 to each of count counters through node 0, and waits until every
// replica passivated.
func makeCounters(t *testing.T, c *actortest.Cluster, count int) map[string]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	want := map[string]int64{}
	for i := range count {
		k := fmt.Sprintf("idle-%d", i)
		if _, err := actor.RefOf(c.Nodes[0], counterKind, k).Call(ctx, wrapperspb.Int64(1), actor.Consistent); err != nil {
			t.Fatalf("call on %s: %v", k, err)
		}
		want[k] = 1
	}
	actortest.Eventually(t, 20*time.Second, func() error {
		if n := activeSum(c); n > 0 {
			return fmt.Errorf("%d replicas still active", n)
		}
		return nil
	})
	return want
}

// TestRestartWakesOnlyWhatNeedsWork: a cluster on pebble stores that restarts wakes only
// the partitions the store's index marks (pending deltas), not every stored replica: the
// idle ones stay on disk, and the one whose fast write had not replicated when the nodes
// crashed is woken and converges. Before the index, every one of the 3×60 replicas was
// active shortly after the restart.
func TestRestartWakesOnlyWhatNeedsWork(t *testing.T) {
	opts := testOptions()
	opts.Store = actortest.PebbleStores(t)
	opts.Config.PassivateAfter = 200 * time.Millisecond
	opts.Config.GCInterval = 25 * time.Millisecond
	c := actortest.Start(t, 3, opts)
	want := makeCounters(t, c, 60)

	// A fast write node 0 cannot replicate: pending (and marked) on its disk only.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pending := ""
	for i := 0; pending == ""; i++ { // a key node 0 is the first replica of: it takes the call
		if k := fmt.Sprintf("pending-%d", i); actor.RefOf(c.Nodes[0], counterKind, k).Replicas()[0] == c.Nodes[0].Peer() {
			pending = k
		}
	}
	ref := actor.RefOf(c.Nodes[0], counterKind, pending)
	if _, err := ref.Call(ctx, wrapperspb.Int64(1), actor.Consistent); err != nil { // active on every node
		t.Fatal(err)
	}
	c.Cut(0, 1)
	c.Cut(0, 2)
	if _, err := ref.Call(ctx, wrapperspb.Int64(4), actor.Fast); err != nil {
		t.Fatalf("fast call while cut off: %v", err)
	}
	for i := range c.Nodes {
		c.Crash(i)
	}
	c.Heal(0, 1)
	c.Heal(0, 2)
	for i := range c.Nodes {
		c.Restart(i)
	}
	c.WaitConverged()

	// The pending write reaches the other replicas with no call: node 0 woke its replica.
	actortest.Eventually(t, 20*time.Second, func() error {
		if n := activeSum(c); n < 3 {
			return fmt.Errorf("%d replicas active, want the 3 of the pending partition", n)
		}
		return nil
	})
	// Nothing else wakes, over many gc intervals: at most the pending partition's 3.
	staysAtMost(t, c, 3, 40*opts.Config.GCInterval)
	want[pending] = 5
	checkReplicas(t, c, want)
}

// TestPassivationAfterClientLeaves: once a client-only node (no kinds: no replica of any
// partition) has left, idle replicas still passivate and stay so, over several EjectAfter
// periods (before the index, every stored replica was woken every EjectAfter/2 for as long
// as any peer was gone, and none stayed passivated).
func TestPassivationAfterClientLeaves(t *testing.T) {
	opts := testOptions()
	opts.Config.PassivateAfter = 200 * time.Millisecond
	opts.Config.GCInterval = 25 * time.Millisecond
	opts.Config.EjectAfter = 200 * time.Millisecond
	opts.Configure = func(i int, cfg *actor.Config) {
		if i == 3 {
			cfg.Kinds = nil
		}
	}
	c := actortest.Start(t, 4, opts)
	makeCounters(t, c, 20)
	c.Crash(3) // gone without a leave: a tombstone the others keep
	staysAtMost(t, c, 0, 4*opts.Config.EjectAfter)
	// And a replica that works after the departure passivates again.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := actor.RefOf(c.Nodes[1], counterKind, "idle-1").Call(ctx, wrapperspb.Int64(1), actor.Consistent); err != nil {
		t.Fatal(err)
	}
	actortest.Eventually(t, 10*time.Second, func() error {
		if n := activeSum(c); n > 0 {
			return fmt.Errorf("%d replicas still active", n)
		}
		return nil
	})
	staysAtMost(t, c, 0, 4*opts.Config.EjectAfter)
}
