package actor_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/actor/actortest"
	"github.com/legion-go/legion/storage"
	memstore "github.com/legion-go/legion/storage/memory"
)

// errDisk is the failure of failingStore's commits.
var errDisk = errors.New("test: no space left on the disk")

// failingStore is an in-memory store whose commits all fail with errDisk once broken is
// set (a full disk): what it holds is exactly what was committed before.
type failingStore struct {
	storage.Store
	broken atomic.Bool
	failed atomic.Int64 // commits refused
}

func (s *failingStore) Commit(b *storage.Batch) error {
	if s.broken.Load() && !b.Empty() {
		s.failed.Add(1)
		return fmt.Errorf("commit: %w", errDisk)
	}
	return s.Store.Commit(b)
}

// TestStoreFailureStopsNode: a node whose store's commits start failing under load stops
// by itself (fail-stop): Failed is closed, Err is the cause, it leaves membership, and the
// two others, once they ejected it, answer fast and consistent calls. No caller got a
// success for an event the failed node did not write: every acknowledged increment is
// on the healthy replicas, at both read levels.
func TestStoreFailureStopsNode(t *testing.T) {
	sick := &failingStore{Store: memstore.New(storage.Identity{Node: "n2", Incarnation: storage.NewIncarnation()})}
	t.Cleanup(func() { sick.Store.Close() })
	opts := testOptions()
	opts.Config.EjectAfter = time.Second
	opts.Configure = func(i int, c *actor.Config) {
		if i == 2 {
			c.Store = sick
		}
	}
	c := actortest.Start(t, 3, opts)
	sickNode := c.Nodes[2]

	const keys = 40
	var once sync.Once
	acked, uncertain := loadUncertain(t, c, 12, keys, 40, func(i int) {
		if i == 10 {
			once.Do(func() { sick.broken.Store(true) })
		}
	})
	select {
	case <-sickNode.Failed():
	case <-time.After(30 * time.Second):
		t.Fatalf("n2's store refused %d commits, and n2 has not failed after 30s", sick.failed.Load())
	}
	if err := sickNode.Err(); !errors.Is(err, errDisk) {
		t.Fatalf("n2.Err() = %v, want the store's error", err)
	}
	if c.Nodes[0].Err() != nil || c.Nodes[1].Err() != nil {
		t.Fatalf("healthy nodes failed: %v, %v", c.Nodes[0].Err(), c.Nodes[1].Err())
	}
	// It left membership: the others' views no longer list it.
	actortest.Eventually(t, 20*time.Second, func() error {
		for _, n := range c.Nodes[:2] {
			if _, ok := n.View().Lookup(string(sickNode.Peer())); ok {
				return fmt.Errorf("%s still lists the failed node", n.Peer())
			}
		}
		return nil
	})
	// And it is stopped: a call through it fails with ErrStopped.
	actortest.Eventually(t, 20*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := actor.RefOf(sickNode, counterKind, key(0)).Call(ctx, wrapperspb.Int64(1), actor.Fast)
		if !errors.Is(err, actor.ErrStopped) {
			return fmt.Errorf("a call through the failed node: %v, want ErrStopped", err)
		}
		return nil
	})

	// The healthy nodes answer both levels, once they ejected n2 from the replica sets.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range keys {
		k := key(i)
		for j, level := range []actor.Consistency{actor.Fast, actor.Consistent} {
			n := c.Nodes[j]
			actortest.Eventually(t, 20*time.Second, func() error {
				attempt, cancel := context.WithTimeout(ctx, 5*time.Second)
				defer cancel()
				_, err := actor.RefOf(n, counterKind, k).Call(attempt, wrapperspb.Int64(1), level)
				if err != nil {
					uncertain[k]++
					return fmt.Errorf("%s through %s (level %d): %w", k, n.Peer(), level, err)
				}
				acked[k]++
				return nil
			})
		}
	}
	checkReplicasWithin(t, c, acked, uncertain) // through Nodes[0], a healthy node
}
