package actor_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/actor/actortest"
	"github.com/legion-go/legion/lattice"
	"github.com/legion-go/legion/storage"
	pebblestore "github.com/legion-go/legion/storage/pebble"
)

// footprint is what a node's store holds: partitions of the counter kind, the bytes they
// load (snapshots, deltas and their keys) and marks (of any reason).
type footprint struct{ partitions, bytes, marks int }

func storedFootprint(t *testing.T, s storage.Store) footprint {
	t.Helper()
	var f footprint
	if err := s.Partitions(counterKind.Name, func(key string) bool {
		rec, found, err := s.Load(storage.Partition{Kind: counterKind.Name, Key: key})
		if err != nil {
			t.Fatal(err)
		}
		if found {
			f.partitions++
			f.bytes += len(rec.Snapshot)
			for _, d := range rec.Deltas {
				f.bytes += len(d.ID) + len(d.Data)
			}
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	for reason := range storage.Reason(16) {
		if err := s.Marked(reason, math.MaxInt64, func(storage.Mark) bool {
			f.marks++
			return true
		}); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// TestLookupsStoreNothing: 1,000 queries of random keys nobody wrote, through the three
// nodes in turn and at both read levels, on pebble stores, each answer the initial state
// (0) and leave the stores as they were (partitions, bytes and marks) and no replica
// active past one gc interval. Before, each query started and stored its partition on the
// three nodes: 3,000 partitions more, and as many replicas active for a minute.
func TestLookupsStoreNothing(t *testing.T) {
	opts := testOptions()
	opts.Store = actortest.PebbleStores(t)
	c := actortest.Start(t, 3, opts)
	want := map[string]int64{}
	for i := range 5 {
		k := fmt.Sprint("written-", i)
		if _, err := callKey(c.Nodes[i%3], k, "req-"+k, int64(i+1), actor.Consistent, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		want[k] = int64(i + 1)
	}
	checkReplicas(t, c, want)
	var before [3]footprint
	active := 0
	for i := range 3 {
		before[i] = storedFootprint(t, c.Store(i))
		active += c.Nodes[i].Active()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const lookups = 1000
	start := time.Now()
	for i := range lookups {
		key := "lookup-" + randomKey()
		level := []actor.ReadLevel{actor.Projected, actor.Stable}[i%2]
		out, err := actor.RefOf(c.Nodes[i%3], counterKind, key).Query(ctx, &i64{}, level)
		if err != nil || out.Value != 0 {
			t.Fatalf("query %d of %s (level %d): %v, %v; want 0", i, key, level, out, err)
		}
	}
	t.Logf("%d lookups in %s", lookups, time.Since(start).Round(time.Millisecond))
	for i := range 3 {
		after := storedFootprint(t, c.Store(i))
		t.Logf("node %d stores %+v before the lookups, %+v after", i, before[i], after)
		if after != before[i] {
			t.Errorf("node %d: the lookups changed its store from %+v to %+v", i, before[i], after)
		}
	}
	actortest.Eventually(t, 10*time.Second, func() error {
		now := 0
		for i := range 3 {
			now += c.Nodes[i].Active()
		}
		if now > active {
			return fmt.Errorf("%d replicas active after the lookups, %d before", now, active)
		}
		return nil
	})
	checkReplicas(t, c, want)
}

// TestQueryOfWrittenPartitionOnNewReplica: a replica that does not store a written
// partition yet, queried directly (no failover), answers with the partition's value at
// both levels, never the initial state: on a node that just joined (before the handoff
// of the partitions placed on it), and on a node that came back on an empty data
// directory (a new peer).
func TestQueryOfWrittenPartitionOnNewReplica(t *testing.T) {
	t.Run("joined", func(t *testing.T) {
		opts := testOptions()
		opts.Store = actortest.PebbleStores(t)
		c := actortest.Start(t, 3, opts)
		want := writeCounters(t, c.Nodes, 60)
		checkReplicas(t, c, want)
		joined := c.AddNode(opts, 3)
		// Its own view places partitions on it; the others may not see it yet (and hand
		// nothing over to it until they do).
		actortest.Eventually(t, 30*time.Second, func() error {
			if got := len(joined.View().Peers()); got != 4 {
				return fmt.Errorf("%s sees %d members", joined.Peer(), got)
			}
			return nil
		})
		queried := 0
		for k, v := range want {
			ref := actor.RefOf(joined, counterKind, k)
			if !slices.Contains(ref.Replicas(), joined.Peer()) {
				continue
			}
			if _, found, err := c.Store(3).Load(storage.Partition{Kind: counterKind.Name, Key: k}); err != nil || found {
				continue // handed off already
			}
			queried++
			queryEach(t, ref, joined.Peer(), k, v)
		}
		t.Logf("%d partitions queried on %s before their handoff", queried, joined.Peer())
		if queried == 0 {
			t.Fatal("every partition placed on the new node was handed off before it was queried")
		}
	})
	t.Run("empty disk", func(t *testing.T) {
		opts := testOptions()
		opts.Store = func(i int, name string) (storage.Store, error) { // a new directory at each start
			return pebblestore.Open(t.TempDir(), storage.Options{Node: name, Create: true})
		}
		c := actortest.Start(t, 3, opts)
		want := writeCounters(t, c.Nodes, 30)
		checkReplicas(t, c, want)
		old := c.Nodes[2].Peer()
		c.Crash(2)
		back := c.AddNode(opts, 2)
		if back.Peer() == old {
			t.Fatalf("%s came back as the same peer", old)
		}
		c.WaitConverged()
		for k, v := range want {
			queryEach(t, actor.RefOf(back, counterKind, k), back.Peer(), k, v)
		}
	})
}

// writeCounters gives n counters the values 1 to n (13, which the counter rejects, is
// 14), through the nodes in turn, with consistent calls.
func writeCounters(t *testing.T, nodes []*actor.Node, n int) map[string]int64 {
	t.Helper()
	want := map[string]int64{}
	for i := range n {
		k, v := fmt.Sprint("written-", i), int64(i+1)
		if v == 13 {
			v = 14
		}
		if _, err := callKey(nodes[i%len(nodes)], k, "req-"+k, v, actor.Consistent, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		want[k] = v
	}
	return want
}

// queryEach queries k's replica on p at both levels, and fails unless each answers want.
func queryEach(t *testing.T, ref actor.Ref[*i64, *i64, *i64], p lattice.Peer, k string, want int64) {
	t.Helper()
	for _, level := range []actor.ReadLevel{actor.Projected, actor.Stable} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		out, err := ref.QueryReplica(ctx, p, &i64{}, level)
		cancel()
		if err != nil || out.Value != want {
			t.Fatalf("%s on %s (level %d): %v, %v; want %d", k, p, level, out, err, want)
		}
	}
}
