package actor_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/actor/actortest"
)

// TestRollingUpgrade: three nodes on pebble stores and real remoting run the tally kind at
// version 1, and are upgraded to version 2 (another Apply) one at a time, each restarted
// while calls go on through the others. While any node runs version 1, no event may fold
// with version 2's Apply; once all run 2, every new event does; no replica diverges, and
// every acknowledged increment is counted exactly once.
func TestRollingUpgrade(t *testing.T) {
	var mu sync.Mutex
	versions := []uint32{1, 1, 1}
	c := actortest.Start(t, 3, actortest.Options{
		Config: actor.Config{AntiEntropyInterval: 50 * time.Millisecond, AttemptTimeout: 500 * time.Millisecond},
		Store:  actortest.PebbleStores(t),
		Configure: func(i int, cfg *actor.Config) {
			mu.Lock()
			defer mu.Unlock()
			cfg.Kinds = []actor.KindSpec{tallyKind(versions[i])}
		},
	})
	kind := tallyKind(1) // a ref's kind only names it and its codec
	const keys = 4
	acked, uncertain := map[string]int64{}, map[string]int64{}
	// load sends rounds increments to every key through the nodes other than skip.
	load := func(rounds, skip int) {
		var lmu sync.Mutex
		var wg sync.WaitGroup
		for k := range keys {
			wg.Add(1)
			go func() {
				defer wg.Done()
				key := fmt.Sprintf("t%d", k)
				for i := range rounds {
					j := (k + i) % 3
					if j == skip {
						j = (j + 1) % 3 // c.Restart writes c.Nodes[skip] meanwhile: not read here
					}
					n := c.Nodes[j]
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					_, err := kind.Ref(n, key).Call(ctx, 1, actor.Fast)
					cancel()
					lmu.Lock()
					if err != nil {
						uncertain[key]++
					} else {
						acked[key]++
					}
					lmu.Unlock()
				}
			}()
		}
		wg.Wait()
	}
	var diverged int64
	var names []string
	for k := range keys {
		names = append(names, fmt.Sprintf("t%d", k))
	}
	settled := func() map[string]tally {
		t.Helper()
		return tallies(t, c, kind, names, 60*time.Second, func(key string, got tally) error {
			if got.Count < acked[key] || got.Count > acked[key]+uncertain[key] {
				return fmt.Errorf("%+v; acknowledged %d, uncertain %d", got, acked[key], uncertain[key])
			}
			return nil
		})
	}

	load(40, -1)
	for i := range 3 {
		if i == 2 {
			// Two nodes run version 2, one version 1: every event so far folded with 1.
			for key, s := range settled() {
				require.Zero(t, s.V2, "%s folded events with version 2 while a node ran 1", key)
			}
		}
		diverged += c.Nodes[i].Stats().Divergences
		mu.Lock()
		versions[i] = 2
		mu.Unlock()
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); load(40, i) }()
		c.Restart(i)
		wg.Wait()
		c.WaitConverged()
	}
	actortest.Eventually(t, 30*time.Second, func() error {
		for _, n := range c.Nodes {
			if eff, _ := n.KindVersions(); eff["tally"] != 2 {
				return fmt.Errorf("%s stamps version %d", n.Peer(), eff["tally"])
			}
		}
		return nil
	})
	before := settled()
	load(40, -1)
	after := settled()
	for key, s := range after {
		require.Equal(t, s.Count-before[key].Count, s.V2-before[key].V2,
			"%s: events after the upgrade folded with version 1", key)
		require.Positive(t, s.V2-before[key].V2)
	}
	for _, n := range c.Nodes {
		diverged += n.Stats().Divergences
	}
	require.Zero(t, diverged, "divergences reported")
	var lost int64
	for key := range acked {
		lost += uncertain[key]
	}
	t.Logf("acknowledged %v, uncertain %d", acked, lost)
}
