package actortest_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/actor/actortest"
)

// A test that writes on both sides of a split, heals it, crashes a node and restarts it
// on its pebble store. (An example has no *testing.T: in a test, t is the test's.)
func Example() {
	var t *testing.T
	opts := actortest.Options{Config: actor.Config{Kinds: []actor.KindSpec{counter}}}
	opts.Store = actortest.PebbleStores(t)
	c := actortest.Start(t, 5, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	actor.RefOf(c.Nodes[0], counter, "k").Call(ctx, wrapperspb.Int64(1), actor.Consistent)

	c.Split([]int{0, 1, 2}, []int{3, 4}) // views and links, at once
	c.WaitConverged()                    // each side sees only itself
	actor.RefOf(c.Nodes[0], counter, "k").Call(ctx, wrapperspb.Int64(1), actor.Fast)
	actor.RefOf(c.Nodes[3], counter, "k").Call(ctx, wrapperspb.Int64(1), actor.Fast)
	c.HealSplit()
	c.WaitConverged()

	c.Crash(2) // as kill -9: no drain, no leave, nothing more on disk
	c.Restart(2)
	c.WaitConverged()
	actortest.Eventually(t, 30*time.Second, func() error {
		_, err := actor.RefOf(c.Nodes[2], counter, "k").Query(ctx, &i64{}, actor.Stable)
		return err
	})
}
