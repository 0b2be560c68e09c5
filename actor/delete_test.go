package actor_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/actor/actortest"
	"github.com/legion-go/legion/lattice"
	"github.com/legion-go/legion/storage"
)

// bag is a kind with a state that grows: a shopping cart's items, in order.
type bag struct {
	Items []string `json:"items,omitempty"`
}

var bagKind = &actor.KindOf[bag, string, string, int]{
	Name:  "bag",
	Codec: actor.JSON,
	Apply: func(s bag, item string, _ lattice.Meta) (bag, int, error) {
		s.Items = append(s.Items, item)
		return s, len(s.Items), nil
	},
	Query: func(s bag, _ string) (int, error) { return len(s.Items), nil },
	Clone: func(s bag) bag { return bag{Items: slices.Clone(s.Items)} },
}

// bagReplicas waits until every replica of bag key answers want items, at both levels,
// each through its own node.
func bagReplicas(t *testing.T, c *actortest.Cluster, key string, want int) {
	t.Helper()
	actortest.Eventually(t, 30*time.Second, func() error {
		for _, n := range c.Nodes {
			for _, level := range []actor.ReadLevel{actor.Projected, actor.Stable} {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				got, err := bagKind.Ref(n, key).QueryReplica(ctx, n.Peer(), "", level)
				cancel()
				if err != nil {
					return fmt.Errorf("%s: %w", n.Peer(), err)
				}
				if got != want {
					return fmt.Errorf("%s (level %d): %d items, want %d", n.Peer(), level, got, want)
				}
			}
		}
		return nil
	})
}

// TestDelete: on three nodes with pebble stores, a bag of 200 items of 512 bytes (each
// added with its request key, which fills the dedup window) is deleted, fast, while one
// of its replicas is down; a call after the delete starts from the initial state; the
// node that was down restarts from its store, with the old state, and folds the delete
// (nothing of the old state comes back, on any replica, at either level); a retry of
// the delete with its request key is applied once, and a retry of a request folded
// before the delete is a duplicate (docs/calls.md, "Deleting a partition"). Every
// replica's stored record shrinks to the initial state and the window (figures logged).
func TestDelete(t *testing.T) {
	opts := testOptions()
	opts.Config.Kinds = []actor.KindSpec{bagKind}
	stores := newKeptStores(t)
	opts.Store = stores.open
	c := actortest.Start(t, 3, opts)
	const key, items = "cart-1", 200
	call := func(n *actor.Node, item, req string, level actor.Consistency) (int, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return bagKind.Ref(n, key).Call(ctx, item, level, actor.WithRequestKey(req))
	}
	del := func(n *actor.Node, req string, level actor.Consistency) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return bagKind.Ref(n, key).Delete(ctx, level, actor.WithRequestKey(req))
	}
	for i := range items {
		level := actor.Fast
		if i == items-1 {
			level = actor.Consistent
		}
		item := fmt.Sprintf("%03d:%s", i, strings.Repeat("x", 508))
		if _, err := call(c.Nodes[i%3], item, fmt.Sprint("add-", i), level); err != nil {
			t.Fatal(err)
		}
	}
	bagReplicas(t, c, key, items)
	stored := func(i int) int {
		t.Helper()
		s := stores.of(i)
		rec, found, err := s.Load(storage.Partition{Kind: bagKind.Name, Key: key})
		if err != nil || !found {
			t.Fatalf("node %d: stored partition: found %v, %v", i, found, err)
		}
		n := len(rec.Snapshot)
		for _, d := range rec.Deltas {
			n += len(d.ID) + len(d.Data)
		}
		return n
	}
	var before []int
	for i := range 3 {
		before = append(before, stored(i))
	}

	down := 2
	c.Crash(down)
	if err := del(c.Nodes[0], "checkout-1", actor.Fast); err != nil {
		t.Fatalf("the delete: %v", err)
	}
	actortest.Eventually(t, 10*time.Second, func() error { // the live replicas' projections
		for _, n := range c.Nodes[:down] {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			got, err := bagKind.Ref(n, key).QueryReplica(ctx, n.Peer(), "", actor.Projected)
			cancel()
			if err != nil || got != 0 {
				return fmt.Errorf("the projection on %s after the delete: %d items, %v; want 0", n.Peer(), got, err)
			}
		}
		return nil
	})
	if got, err := call(c.Nodes[1], "after", "add-after", actor.Fast); err != nil || got != 1 {
		t.Fatalf("a call after the delete: %d, %v; want 1 (the initial state and its item)", got, err)
	}

	c.Restart(down) // from its store: the bag of 200
	c.WaitConverged()
	bagReplicas(t, c, key, 1)

	if err := del(c.Nodes[down], "checkout-1", actor.Consistent); err != nil {
		t.Fatalf("the delete retried with its request key: %v, want nil", err)
	}
	if _, err := call(c.Nodes[0], "again", fmt.Sprint("add-", items-1), actor.Consistent); !errors.Is(err, actor.ErrOutputUnknown) {
		t.Fatalf("a retry of a request folded before the delete: %v, want ErrOutputUnknown (a duplicate)", err)
	}
	bagReplicas(t, c, key, 1) // neither retry applied again

	actortest.Eventually(t, 30*time.Second, func() error {
		for i := range 3 {
			if n := stored(i); n > lattice.DefaultDedupBytes+1024 {
				return fmt.Errorf("node %d stores %d bytes of the deleted partition, want at most the dedup window and 1 KiB", i, n)
			}
		}
		return nil
	})
	for i := range 3 {
		t.Logf("node %d: the partition stored %d bytes before the delete, %d after", i, before[i], stored(i))
	}
	wantOutcome(t, "a delete of an empty key", bagKind.Ref(c.Nodes[0], "").Delete(context.Background(), actor.Fast),
		actor.ErrNotApplied, actor.ErrInvalidKey)
	wantOutcome(t, "a delete with an empty request key", del(c.Nodes[0], "", actor.Fast),
		actor.ErrNotApplied, actor.ErrInvalidRequestKey)
}
