package actor_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/actor/actortest"
	"github.com/legion-go/legion/storage"
	pebblestore "github.com/legion-go/legion/storage/pebble"
)

// TestRestartRecoversFromDisk: nodes on pebble stores are stopped and started again on
// their data directories; they come back as the same peers with every acknowledged
// increment, and go on.
func TestRestartRecoversFromDisk(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	var stores []storage.Store
	open := func(i int, name string) storage.Store {
		s, err := pebblestore.Open(dirs[i], storage.Options{Node: name, Create: true})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	opts := testOptions()
	opts.Configure = func(i int, c *actor.Config) {
		c.Store = open(i, c.Name)
		stores = append(stores, c.Store)
	}
	c := actortest.Start(t, 3, opts)
	peers := []string{string(c.Nodes[0].Peer()), string(c.Nodes[1].Peer()), string(c.Nodes[2].Peer())}
	acked := load(t, c, 8, 20, 25, nil)
	checkReplicas(t, c, acked)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i, n := range c.Nodes {
		if err := n.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		stores[i].Close()
	}
	stores = nil
	c2 := actortest.Start(t, 3, opts)
	t.Cleanup(func() {
		for _, s := range stores {
			s.Close()
		}
	})
	for i, n := range c2.Nodes {
		if string(n.Peer()) != peers[i] {
			t.Fatalf("node %d came back as %s, was %s", i, n.Peer(), peers[i])
		}
	}
	checkReplicas(t, c2, acked)
	for k := range acked {
		out, err := actor.RefOf(c2.Nodes[1], counterKind, k).Call(ctx, wrapperspb.Int64(1), actor.Consistent)
		if err != nil || out.Value != acked[k]+1 {
			t.Fatalf("%s after restart: %v, %v; want %d", k, out, err, acked[k]+1)
		}
		acked[k]++
	}
	checkReplicas(t, c2, acked)
}
