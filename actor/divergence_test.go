package actor_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/actor/actortest"
	"github.com/legion-go/legion/lattice"
)

// tally is the state of the versioned test kind: every event counts in Count; the events
// that folded with version 2's Apply count in V2 as well.
type tally struct{ Count, V2 int64 }

func tallyV1(s tally, e int64, _ lattice.Meta) (tally, int64, error) {
	s.Count += e
	return s, s.Count, nil
}

func tallyV2(s tally, e int64, _ lattice.Meta) (tally, int64, error) {
	s.Count += e
	s.V2 += e
	return s, s.Count, nil
}

// tallyKind is the kind at version 1, or at version 2 keeping version 1's Apply.
func tallyKind(version uint32) *actor.KindOf[tally, int64, int64, tally] {
	k := &actor.KindOf[tally, int64, int64, tally]{Name: "tally", Codec: actor.JSON,
		Query: func(s tally, _ int64) (tally, error) { return s, nil }}
	if version < 2 {
		k.Apply = func(s tally, e int64, m lattice.Meta) (tally, tally, error) {
			s, _, err := tallyV1(s, e, m)
			return s, s, err
		}
		return k
	}
	k.Version, k.Apply = 2, func(s tally, e int64, m lattice.Meta) (tally, tally, error) {
		s, _, err := tallyV2(s, e, m)
		return s, s, err
	}
	k.Previous = map[uint32]func(tally, int64, lattice.Meta) (tally, tally, error){1: func(s tally, e int64, m lattice.Meta) (tally, tally, error) {
		s, _, err := tallyV1(s, e, m)
		return s, s, err
	}}
	return k
}

// tallyLoad sends perKey increments of 1 to each of keys tallies, through the nodes in
// turn, from a few callers; it returns how many were acknowledged per key.
func tallyLoad(t *testing.T, c *actortest.Cluster, kind *actor.KindOf[tally, int64, int64, tally], keys, perKey int) map[string]int64 {
	t.Helper()
	var mu sync.Mutex
	acked := map[string]int64{}
	var failed atomic.Int64
	var wg sync.WaitGroup
	for k := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("t%d", k)
			for i := range perKey {
				n := c.Nodes[(k+i)%len(c.Nodes)]
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := kind.Ref(n, key).Call(ctx, 1, actor.Fast)
				cancel()
				if err != nil {
					failed.Add(1)
					continue
				}
				mu.Lock()
				acked[key]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	require.Zero(t, failed.Load(), "calls failed")
	return acked
}

// tallies waits (up to d) until every replica of each key agrees, at the stable level,
// on a tally that ok accepts, and returns the tallies.
func tallies(t *testing.T, c *actortest.Cluster, kind *actor.KindOf[tally, int64, int64, tally], keys []string, d time.Duration, ok func(key string, got tally) error) map[string]tally {
	t.Helper()
	out := map[string]tally{}
	actortest.Eventually(t, d, func() error {
		for _, key := range keys {
			ref := kind.Ref(c.Nodes[0], key)
			var first *tally
			for _, p := range ref.Replicas() {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				got, err := ref.QueryReplica(ctx, p, 0, actor.Stable)
				cancel()
				if err != nil {
					return fmt.Errorf("%s on %s: %w", key, p, err)
				}
				if first == nil {
					first = &got
				}
				if got != *first {
					return fmt.Errorf("%s on %s: %+v; first replica %+v", key, p, got, *first)
				}
				if err := ok(key, got); err != nil {
					return fmt.Errorf("%s on %s: %w", key, p, err)
				}
			}
			out[key] = *first
		}
		return nil
	})
	return out
}

func divergences(c *actortest.Cluster) (n int64) {
	for _, node := range c.Nodes {
		n += node.Stats().Divergences
	}
	return n
}

// TestDivergenceReported: two nodes whose Apply differs, with no version to reconcile
// them (a deploy that changed Apply in place), fold the same events into different
// values. Divergence detection must say so: counted, listed, not silently ignored.
func TestDivergenceReported(t *testing.T) {
	c := actortest.Start(t, 2, actortest.Options{
		Config: actor.Config{AntiEntropyInterval: 50 * time.Millisecond, AttemptTimeout: 500 * time.Millisecond},
		Configure: func(i int, cfg *actor.Config) {
			k := tallyKind(1)
			if i == 1 {
				k = tallyKind(2)
				k.Version, k.Previous = 0, nil // changed in place
			}
			cfg.Kinds = []actor.KindSpec{k}
		},
	})
	tallyLoad(t, c, tallyKind(1), 3, 100)
	actortest.Eventually(t, 30*time.Second, func() error {
		if divergences(c) == 0 {
			return fmt.Errorf("no divergence reported")
		}
		return nil
	})
	var listed []actor.Divergence
	for _, n := range c.Nodes {
		listed = append(listed, n.Divergences()...)
	}
	require.NotEmpty(t, listed)
	d := listed[0]
	require.Equal(t, "tally", d.Kind)
	require.NotEqual(t, d.Digest, d.PeerDigest)
	require.Positive(t, d.Count)
}

// TestDivergenceNotReported: the same load as TestDivergenceReported's on nodes that
// share one Apply reports nothing.
func TestDivergenceNotReported(t *testing.T) {
	c := actortest.Start(t, 2, actortest.Options{
		Config: actor.Config{Kinds: []actor.KindSpec{tallyKind(1)}, AntiEntropyInterval: 50 * time.Millisecond,
			AttemptTimeout: 500 * time.Millisecond},
	})
	acked := tallyLoad(t, c, tallyKind(1), 3, 100)
	tallies(t, c, tallyKind(1), slices.Collect(maps.Keys(acked)), 30*time.Second, func(key string, got tally) error {
		if got.Count != acked[key] {
			return fmt.Errorf("%+v, acknowledged %d", got, acked[key])
		}
		return nil
	})
	require.Zero(t, divergences(c))
	for _, n := range c.Nodes {
		require.Empty(t, n.Divergences())
	}
}
