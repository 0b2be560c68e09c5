package actor_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/actor/actortest"
)

// TestActiveReplicaBudget: three nodes with a budget of 24 active replicas each, and
// PassivateAfter too long to matter, take two increments on each of 100 counters (a
// replica of each on every node). Each node ends within its budget, although it hosts a
// replica of every counter, and every counter holds both increments on every replica:
// the replicas evicted came back from the store, as passivated ones do.
func TestActiveReplicaBudget(t *testing.T) {
	const budget, counters, workers = 24, 100, 8
	opts := testOptions()
	opts.Config.MaxActiveReplicas = budget
	opts.Config.Shards = 4
	opts.Config.PassivateAfter = time.Hour
	opts.Config.GCInterval = 50 * time.Millisecond
	c := actortest.Start(t, 3, opts)

	keys := make(chan string)
	go func() {
		defer close(keys)
		for range 2 {
			for i := range counters {
				keys <- fmt.Sprint("budget-", i)
			}
		}
	}()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for k := range keys {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				level := actor.Consistent
				if w%2 == 1 {
					level = actor.Fast
				}
				_, err := actor.RefOf(c.Nodes[w%3], counterKind, k).Call(ctx, wrapperspb.Int64(1), level)
				cancel()
				if err != nil {
					t.Errorf("increment of %s: %v", k, err)
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	actortest.Eventually(t, 20*time.Second, func() error {
		for i, n := range c.Nodes {
			if a := n.Active(); a > budget {
				return fmt.Errorf("n%d: %d active replicas, budget %d", i, a, budget)
			}
		}
		return nil
	})
	want := map[string]int64{}
	for i := range counters {
		want[fmt.Sprint("budget-", i)] = 2
	}
	checkReplicas(t, c, want)
}
