package actortest_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/actor/actortest"
	"github.com/legion-go/legion/lattice"
	"github.com/legion-go/legion/storage"
)

type i64 = wrapperspb.Int64Value

// counter: the state is a count, an event adds to it, the output (and the query's) is
// the count.
var counter = &actor.Kind[*i64, *i64, *i64]{
	Name: "counter",
	Apply: func(s *i64, e *i64, _ lattice.Meta) (*i64, *i64, error) {
		s.Value += e.Value
		return s, wrapperspb.Int64(s.Value), nil
	},
	Query: func(s *i64, _ *i64) (*i64, error) { return wrapperspb.Int64(s.Value), nil },
}

func options() actortest.Options {
	return actortest.Options{Config: actor.Config{
		Kinds:               []actor.KindSpec{counter},
		AttemptTimeout:      time.Second,
		AntiEntropyInterval: 50 * time.Millisecond,
	}}
}

// peers returns the peers of the nodes at the given positions, sorted (as View.Peers).
func peers(c *actortest.Cluster, positions ...int) []string {
	var out []string
	for _, i := range positions {
		out = append(out, string(c.Nodes[i].Peer()))
	}
	slices.Sort(out)
	return out
}

// waitViews waits until the view of each node at a position of want lists exactly the
// peers of the positions want gives it.
func waitViews(t *testing.T, c *actortest.Cluster, want map[int][]int) {
	t.Helper()
	actortest.Eventually(t, 10*time.Second, func() error {
		for i, members := range want {
			if got, w := c.Nodes[i].View().Peers(), peers(c, members...); !slices.Equal(got, w) {
				return fmt.Errorf("node %d sees %v, want %v", i, got, w)
			}
		}
		return nil
	})
}

// keyOn returns a counter key whose replica set (by node from's view) includes every
// node at the given positions.
func keyOn(t *testing.T, c *actortest.Cluster, from int, positions ...int) string {
	t.Helper()
	for i := range 10000 {
		k := fmt.Sprintf("k%d", i)
		set := actor.RefOf(c.Nodes[from], counter, k).Replicas()
		ok := true
		for _, p := range positions {
			ok = ok && slices.Contains(set, c.Nodes[p].Peer())
		}
		if ok {
			return k
		}
	}
	t.Fatalf("no key placed on %v", positions)
	return ""
}

// create makes sure counter k exists, with calls adding 0 retried until one answers
// (adding 0, a retry cannot count twice; a query starts no partition): a brand-new
// partition needs every replica of its set to answer in time, which a loaded machine can
// miss.
func create(t *testing.T, n *actor.Node, k string) {
	t.Helper()
	actortest.Eventually(t, 10*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := actor.RefOf(n, counter, k).Call(ctx, &i64{}, actor.Consistent)
		return err
	})
}

// reaches waits until node n gets an answer from the replica of k on peer p holding want.
func reaches(t *testing.T, n *actor.Node, k string, p lattice.Peer, want int64) {
	t.Helper()
	actortest.Eventually(t, 10*time.Second, func() error {
		v, err := query(n, k, p, 2*time.Second)
		if err != nil || v != want {
			return fmt.Errorf("%s on %s through %s: %d, %v; want %d", k, p, n.Peer(), v, err, want)
		}
		return nil
	})
}

func call(t *testing.T, n *actor.Node, k string, level actor.Consistency) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := actor.RefOf(n, counter, k).Call(ctx, wrapperspb.Int64(1), level)
	if err != nil {
		t.Fatalf("call on %s through %s: %v", k, n.Peer(), err)
	}
	return out.Value
}

// query asks the replica on peer p for its count, through node n, within d.
func query(n *actor.Node, k string, p lattice.Peer, d time.Duration) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	out, err := actor.RefOf(n, counter, k).QueryReplica(ctx, p, &i64{}, actor.Projected)
	if err != nil {
		return 0, err
	}
	return out.Value, nil
}

// TestSplit: after Split({0,1,2},{3,4}) each node's view lists only its own group, calls
// within a group work, and partitions are placed within the group; a node started during
// the split (named in no group) sees itself alone and is seen by nobody, and a crash in a
// group shows in that group's views only; HealSplit gives everyone everyone again, and
// messages flow across again.
func TestSplit(t *testing.T) {
	c := actortest.Start(t, 5, options())
	k := keyOn(t, c, 0, 0, 3)
	create(t, c.Nodes[0], k)
	call(t, c.Nodes[0], k, actor.Consistent)
	c.Split([]int{0, 1, 2}, []int{3, 4})
	waitViews(t, c, map[int][]int{0: {0, 1, 2}, 1: {0, 1, 2}, 2: {0, 1, 2}, 3: {3, 4}, 4: {3, 4}})
	c.WaitConverged()
	for i := range 5 {
		set := actor.RefOf(c.Nodes[i], counter, k).Replicas()
		group := []int{0, 1, 2}
		if i >= 3 {
			group = []int{3, 4}
		}
		for _, p := range set {
			if !slices.Contains(peers(c, group...), string(p)) {
				t.Fatalf("node %d places %s on %s, outside its group", i, k, p)
			}
		}
	}

	c.AddNode(options(), 5)
	c.Crash(4)
	waitViews(t, c, map[int][]int{0: {0, 1, 2}, 3: {3}, 5: {5}})
	c.WaitConverged()

	c.HealSplit()
	waitViews(t, c, map[int][]int{0: {0, 1, 2, 3, 5}, 3: {0, 1, 2, 3, 5}, 5: {0, 1, 2, 3, 5}})
	c.WaitConverged()
	reaches(t, c.Nodes[0], k, c.Nodes[3].Peer(), 1)
}

// TestHideMember: node 0 stops seeing node 1 while node 1 (and node 2) still see node 0;
// node 0 then places partitions without node 1. ShowMember undoes it.
func TestHideMember(t *testing.T) {
	c := actortest.Start(t, 3, options())
	c.HideMember(0, 1)
	waitViews(t, c, map[int][]int{0: {0, 2}, 1: {0, 1, 2}, 2: {0, 1, 2}})
	if set := actor.RefOf(c.Nodes[0], counter, "x").Replicas(); slices.Contains(set, c.Nodes[1].Peer()) || len(set) != 2 {
		t.Fatalf("node 0 places x on %v", set)
	}
	c.ShowMember(0, 1)
	waitViews(t, c, map[int][]int{0: {0, 1, 2}})
}

// TestCutOneWay: with the link from node 0 to node 1 cut, node 0's requests to node 1 get
// no answer while node 1's to node 0 do; Heal restores both ways.
func TestCutOneWay(t *testing.T) {
	c := actortest.Start(t, 3, options())
	k := keyOn(t, c, 0, 0, 1)
	create(t, c.Nodes[0], k)
	call(t, c.Nodes[0], k, actor.Consistent)
	reaches(t, c.Nodes[0], k, c.Nodes[1].Peer(), 1)
	c.CutOneWay(0, 1)
	for range 3 {
		if v, err := query(c.Nodes[0], k, c.Nodes[1].Peer(), 5*time.Second); err == nil {
			t.Fatalf("node 0 reached node 1 over a cut link: %d", v)
		}
	}
	reaches(t, c.Nodes[1], k, c.Nodes[0].Peer(), 1) // the open way
	c.Heal(0, 1)
	reaches(t, c.Nodes[0], k, c.Nodes[1].Peer(), 1)
}

// TestPartialView: a fourth node starts with a view of itself and node 0 only, while the
// others see all four; CompleteView gives it everyone. Registry changes meanwhile are
// filtered the same way.
func TestPartialView(t *testing.T) {
	c := actortest.Start(t, 3, options())
	n3 := c.AddNode(options(), 3, actortest.PartialView(0))
	waitViews(t, c, map[int][]int{3: {0, 3}, 0: {0, 1, 2, 3}, 1: {0, 1, 2, 3}})
	c.WaitConverged()
	if set := actor.RefOf(n3, counter, "x").Replicas(); len(set) != 2 {
		t.Fatalf("the new node places x on %v", set)
	}
	c.AddNode(options(), 4)
	waitViews(t, c, map[int][]int{3: {0, 3}, 4: {0, 1, 2, 3, 4}})
	c.CompleteView(3)
	waitViews(t, c, map[int][]int{3: {0, 1, 2, 3, 4}})
	c.WaitConverged()
}

// TestCrashAndRestartOnPebble: on pebble stores, a node cut off from the others
// acknowledges fast increments alone and crashes: Crash does not drain (a graceful Stop
// would wait for acknowledgements that cannot come), membership loses it, and its store
// refuses everything from the crash point on: a write after it never reaches the disk.
// Restarted on the same directory, the node is the same peer, finds what it committed
// before the crash, and the increments it acknowledged alone reach every replica.
func TestCrashAndRestartOnPebble(t *testing.T) {
	opts := options()
	opts.Store = actortest.PebbleStores(t)
	c := actortest.Start(t, 3, opts)
	k := keyOn(t, c, 0, 0, 1, 2)
	set := actor.RefOf(c.Nodes[0], counter, k).Replicas()
	first := c.Index(set[0])
	create(t, c.Nodes[first], k)
	for range 3 {
		call(t, c.Nodes[first], k, actor.Consistent)
	}
	probe := storage.Partition{Kind: "probe", Key: "p"}
	var b storage.Batch
	b.PutSnapshot(probe, []byte("before"))
	if err := c.Store(first).Commit(&b); err != nil {
		t.Fatal(err)
	}
	for j := range 3 {
		if j != first {
			c.Cut(first, j)
		}
	}
	for range 2 { // acknowledged by the first replica alone
		call(t, c.Nodes[first], k, actor.Fast)
	}
	peer := c.Nodes[first].Peer()
	start := time.Now()
	c.Crash(first)
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Crash took %v: it drained", took)
	}
	if !c.Crashed(first) {
		t.Fatal("Crashed is false after Crash")
	}
	b.Reset()
	b.PutSnapshot(probe, []byte("after"))
	if err := c.Store(first).Commit(&b); !errors.Is(err, actortest.ErrCrashed) {
		t.Fatalf("a commit after the crash: %v", err)
	}
	if _, _, err := c.Store(first).Load(probe); !errors.Is(err, actortest.ErrCrashed) {
		t.Fatalf("a load after the crash: %v", err)
	}
	if _, err := actor.RefOf(c.Nodes[first], counter, k).Call(context.Background(), wrapperspb.Int64(1), actor.Fast); !errors.Is(err, actor.ErrStopped) {
		t.Fatalf("a call through the crashed node: %v", err)
	}
	if _, ok := c.Registry.View().Lookup(string(peer)); ok {
		t.Fatal("the registry still lists the crashed node")
	}
	c.WaitConverged()

	for j := range 3 {
		c.Heal(first, j)
	}
	n := c.Restart(first)
	if n.Peer() != peer || c.Nodes[first] != n || c.Crashed(first) {
		t.Fatalf("restarted as %s (was %s)", n.Peer(), peer)
	}
	r, found, err := c.Store(first).Load(probe)
	if err != nil || !found || string(r.Snapshot) != "before" {
		t.Fatalf("the probe after the restart: %q, %v, %v; want what was committed before the crash", r.Snapshot, found, err)
	}
	c.WaitConverged()
	actortest.Eventually(t, 20*time.Second, func() error {
		for _, p := range set {
			v, err := query(c.Nodes[0], k, p, 2*time.Second)
			if err != nil || v != 5 {
				return fmt.Errorf("%s on %s: %d, %v; want 5", k, p, v, err)
			}
		}
		return nil
	})
}
