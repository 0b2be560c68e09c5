package actor_test

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/actor/actortest"
	"github.com/legion-go/legion/actor/internal/wire"
	"github.com/legion-go/legion/lattice"
	"github.com/legion-go/legion/storage"
)

// TestIdleCounterFootprint measures what an idle counter costs on disk: on pebble stores,
// after n counters each took one increment (with a request key, as calls carry) and every
// replica converged, the bytes each node stores per counter (the encoded snapshot and
// pending deltas the store loads back; pebble's own overhead per key is not counted).
// Target (#25): under 1 KB per idle counter. A counter that took many calls stores its
// dedup window, bounded by lattice.DefaultDedupBytes (it held 256 keys before, 10.5 KB).
func TestIdleCounterFootprint(t *testing.T) {
	opts := testOptions()
	stores := newKeptStores(t)
	opts.Store = stores.open
	c := actortest.Start(t, 3, opts)
	const n = 50
	want := map[string]int64{}
	for i := range n {
		k := fmt.Sprint("idle-", i)
		if _, err := callKey(c.Nodes[i%3], k, "req-"+k, 1, actor.Consistent, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		want[k] = 1
	}
	// And one busy counter: 1,000 increments with the runtime's own request keys fill its
	// dedup window up to lattice.DefaultDedupBytes.
	const busy = 1000
	for range busy {
		if _, err := callKey(c.Nodes[0], "busy", randomKey(), 1, actor.Fast, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	want["busy"] = busy
	checkReplicas(t, c, want)
	stored := func(keys ...string) (total, count int) {
		t.Helper()
		for i := range 3 {
			for _, k := range keys {
				rec, found, err := stores.of(i).Load(storage.Partition{Kind: counterKind.Name, Key: k})
				if err != nil {
					t.Fatal(err)
				}
				if !found {
					continue
				}
				total += len(rec.Snapshot)
				for _, d := range rec.Deltas {
					total += len(d.ID) + len(d.Data)
				}
				count++
			}
		}
		return total, count
	}
	var idle []string
	for k := range want {
		if k != "busy" {
			idle = append(idle, k)
		}
	}
	total, count := stored(idle...)
	if count != 3*n {
		t.Fatalf("%d replicas stored, want %d", count, 3*n)
	}
	per := total / count
	busyTotal, _ := stored("busy")
	t.Logf("an idle counter after one increment: %d bytes stored per replica; after %d increments: %d", per, busy, busyTotal/3)
	if per >= 1024 {
		t.Errorf("an idle counter stores %d bytes per replica, want under 1 KB", per)
	}
	// Its stored window (the snapshot's; the entries stored beside it until the snapshot
	// is rewritten weigh up to about as much again) is within the horizon's bytes.
	for i := range 3 {
		rec, _, err := stores.of(i).Load(storage.Partition{Kind: counterKind.Name, Key: "busy"})
		if err != nil {
			t.Fatal(err)
		}
		var snap wire.Snapshot
		if err := proto.Unmarshal(rec.Snapshot, &snap); err != nil {
			t.Fatal(err)
		}
		window := 0
		for _, r := range snap.GetInfimum().GetRecent() {
			window += len(r.GetKey()) + len(r.GetId().GetPeer()) + 24
		}
		if window > lattice.DefaultDedupBytes {
			t.Errorf("node %d stores a window of %d requests, %d bytes: past lattice.DefaultDedupBytes", i, len(snap.GetInfimum().GetRecent()), window)
		}
	}
}

// randomKey is a request key like the runtime's own (12 random bytes in hex).
func randomKey() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// TestActiveReplicaMemory measures the heap an active replica costs once its dedup window
// and its share of the output cache are full: one node, 200 counters, 300 fast increments
// each with the runtime's own request keys, the heap after a GC against the heap before
// the counters were made. With the node's output cache at its default (32 MiB, which holds
// every output here) and at 1 MiB (the budget binding, as it does on a node with far more
// active replicas than it can cache outputs for). Not run with -short.
func TestActiveReplicaMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("a heap measurement: 60,000 calls")
	}
	for _, budget := range []int{0, 1 << 20} {
		t.Run(fmt.Sprint("OutputCacheBytes=", budget), func(t *testing.T) {
			opts := testOptions()
			opts.NoLogs = true
			opts.Config.OutputCacheBytes = budget
			opts.Config.AttemptTimeout = 10 * time.Second // a loaded machine: no failover (one node)
			c := actortest.Start(t, 1, opts)
			const counters, calls = 200, 300
			heap := func() uint64 {
				var m runtime.MemStats
				runtime.GC()
				runtime.GC()
				runtime.ReadMemStats(&m)
				return m.HeapAlloc
			}
			before := heap()
			var wg sync.WaitGroup
			errs := make(chan error, 16)
			for w := range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; i < counters*calls; i += 16 {
						k := fmt.Sprint("mem-", i%counters)
						if _, err := callKey(c.Nodes[0], k, randomKey(), 1, actor.Fast, 30*time.Second); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			after := heap()
			t.Logf("%d active counters after %d calls each: %d bytes of heap per active replica", counters, calls, (int64(after)-int64(before))/counters)
		})
	}
}
