package actor_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/actor/actortest"
	"github.com/legion-go/legion/lattice"
)

func livenessOptions() actortest.Options {
	o := testOptions()
	o.Config.EjectAfter = time.Second
	o.Config.GCInterval = 100 * time.Millisecond
	return o
}

// healed waits until, on every live node, every replica of the given keys has exactly the
// live replica set as participants and nothing pending: the dead peer is ejected, its
// replacement joined, and garbage collection caught up.
func healed(t *testing.T, c *actortest.Cluster, live []*actor.Node, keys []string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	actortest.Eventually(t, within, func() error {
		for _, k := range keys {
			want := actor.RefOf(live[0], counterKind, k).Replicas()
			slices.Sort(want)
			for _, n := range live {
				if !slices.Contains(want, n.Peer()) {
					continue
				}
				got := replicaOf(n, k)
				if got == nil {
					return fmt.Errorf("%s: no active replica on %s", k, n.Peer())
				}
				if !slices.Equal(got.Participants, want) || got.Pending > 0 || len(got.Joining)+len(got.Leaving) > 0 {
					return fmt.Errorf("%s on %s: participants %v (want %v), pending %d, joining %v, leaving %v",
						k, n.Peer(), got.Participants, want, got.Pending, got.Joining, got.Leaving)
				}
			}
		}
		return nil
	})
	return time.Since(start)
}

func replicaOf(n *actor.Node, key string) *struct {
	Participants, Joining, Leaving []lattice.Peer
	Pending                        int
} {
	for _, r := range n.Replicas() {
		if r.Key == key {
			return &struct {
				Participants, Joining, Leaving []lattice.Peer
				Pending                        int
			}{r.Participants, r.Joining, r.Leaving, r.Pending}
		}
	}
	return nil
}

// TestNodeKilledUnderLoad: in a 4-node cluster, one node is stopped while callers keep
// incrementing; the survivors eject it, hand its replicas to the remaining node, and
// collection resumes; every acknowledged increment is on every replica.
func TestNodeKilledUnderLoad(t *testing.T) {
	c := actortest.Start(t, 4, livenessOptions())
	var keys []string
	for i := range 30 {
		keys = append(keys, key(i))
	}
	killedAt := time.Time{}
	acked, uncertain := loadUncertain(t, c, 6, 30, 60, func(i int) {
		if i == 20 {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c.Nodes[3].Stop(ctx)
			killedAt = time.Now()
		}
	})
	live := c.Nodes[:3]
	// Calls keep going through the live nodes only from here on.
	healed(t, &actortest.Cluster{Nodes: live, Registry: c.Registry}, live, keys, 30*time.Second)
	t.Logf("recovered collection %v after the kill (eject after 1s)", time.Since(killedAt).Round(10*time.Millisecond))
	checkReplicasWithin(t, &actortest.Cluster{Nodes: live, Registry: c.Registry}, acked, uncertain)
}

// TestNodeJoinsUnderLoad: a fourth node joins a 3-node cluster while callers keep
// incrementing. About a quarter of the replicas move to it (the partitions whose replica
// set now includes it), handoffs stay within the per-node limit, and every acknowledged
// increment ends on every replica of the new replica sets.
func TestNodeJoinsUnderLoad(t *testing.T) {
	opts := livenessOptions()
	opts.Config.MaxHandoffs = 2
	c := actortest.Start(t, 3, opts)
	var keys []string
	for i := range 40 {
		keys = append(keys, key(i))
	}
	stop := make(chan struct{})
	maxHandoffs := make(chan int, 1)
	first := slices.Clone(c.Nodes)
	go func() { // sample the handoffs in flight on every node
		most := 0
		for {
			for _, n := range first {
				most = max(most, n.Handoffs())
			}
			select {
			case <-stop:
				maxHandoffs <- most
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	var joinedAt time.Time
	acked, uncertain := loadUncertain(t, c, 6, 40, 80, func(i int) {
		if i == 20 {
			c.AddNode(opts, 3)
			joinedAt = time.Now()
		}
	})
	c.WaitConverged()
	healed(t, c, c.Nodes, keys, 60*time.Second)
	took := time.Since(joinedAt)
	close(stop)
	most := <-maxHandoffs
	moved := 0
	for _, k := range keys {
		if slices.Contains(actor.RefOf(c.Nodes[0], counterKind, k).Replicas(), c.Nodes[3].Peer()) {
			moved++
		}
	}
	t.Logf("%d of %d partitions (%d of %d replicas) moved to the new node; all handed off %v after it joined; at most %d handoffs in flight on a node",
		moved, len(keys), moved, 3*len(keys), took.Round(10*time.Millisecond), most)
	if most > opts.Config.MaxHandoffs {
		t.Fatalf("%d handoffs in flight on a node, limit %d", most, opts.Config.MaxHandoffs)
	}
	if moved == 0 || moved == len(keys) {
		t.Fatalf("%d of %d partitions moved: placement did not rebalance", moved, len(keys))
	}
	checkReplicasWithin(t, c, acked, uncertain)
}
