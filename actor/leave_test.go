package actor_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/actor/actortest"
)

var departureKeys = flag.Int("actor.departure-keys", 40, "partitions in TestPlannedDeparture")

// TestPlannedDeparture: one of four nodes stops while callers keep making consistent
// increments through the other three. It hands its replicas over before it leaves
// membership, so no partition waits for its ejection: every call succeeds, none waits
// anywhere near EjectAfter (set long here, 20 s), and once Stop returns no survivor's
// replica counts it as a participant. Before, Stop drained and left at once; the
// survivors ejected it only after EjectAfter, and consistent calls on its partitions
// stalled until then.
func TestPlannedDeparture(t *testing.T) {
	opts := testOptions()
	opts.Config.EjectAfter = 20 * time.Second
	opts.Config.GCInterval = 100 * time.Millisecond
	// The default: a departure moves every replica of a node at once, and on this
	// 2-core machine running four nodes a consistent fold then takes up to about a second
	// (with 1,000 partitions); the test is about stalls, not about attempt timeouts.
	opts.Config.AttemptTimeout = 2 * time.Second
	c := actortest.Start(t, 4, opts)
	leaver := c.Nodes[3]
	var keys []string
	for i := range *departureKeys {
		keys = append(keys, key(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	acked, uncertain := map[string]int64{}, map[string]int64{}
	held := 0 // partitions the leaver replicates
	for _, k := range keys {
		ref := actor.RefOf(c.Nodes[0], counterKind, k)
		if _, err := ref.Call(ctx, wrapperspb.Int64(1), actor.Consistent); err != nil {
			t.Fatalf("create %s: %v", k, err)
		}
		acked[k]++
		if slices.Contains(ref.Replicas(), leaver.Peer()) {
			held++
		}
	}

	// Consistent increments through the three staying nodes, before, during and after
	// the departure; each call's latency is kept with the phase it started in.
	var (
		mu      sync.Mutex
		phase   = "before"
		slowest = map[string]time.Duration{}
		calls   = map[string]int{}
		failed  []error
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			node := c.Nodes[w%3]
			for i := 0; i < 5000; i++ { // bounded; stopped well before
				select {
				case <-stop:
					return
				default:
				}
				k := keys[(w*7+i)%len(keys)]
				mu.Lock()
				p := phase
				mu.Unlock()
				start := time.Now()
				cctx, ccancel := context.WithTimeout(ctx, 15*time.Second)
				_, err := actor.RefOf(node, counterKind, k).Call(cctx, wrapperspb.Int64(1), actor.Consistent)
				ccancel()
				took := time.Since(start)
				mu.Lock()
				if errors.Is(err, actor.ErrOutputUnknown) {
					err = nil // applied; its output is not known here
				}
				if err != nil {
					failed = append(failed, fmt.Errorf("%s through %s (%s): %w", k, node.Peer(), p, err))
					uncertain[k]++
				} else {
					acked[k]++
					calls[p]++
					slowest[p] = max(slowest[p], took)
				}
				mu.Unlock()
			}
		}()
	}
	waitCalls := func(p string, n int) {
		actortest.Eventually(t, 30*time.Second, func() error {
			mu.Lock()
			defer mu.Unlock()
			if calls[p] < n {
				return fmt.Errorf("%d calls %s the departure", calls[p], p)
			}
			return nil
		})
	}
	waitCalls("before", 200)
	mu.Lock()
	phase = "during"
	mu.Unlock()
	start := time.Now()
	if err := leaver.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	mu.Lock()
	phase = "after"
	mu.Unlock()
	// Stop returned: the survivors have folded the leaver's UnJoins, or fold them from
	// the diffs under way, long before they could eject it.
	stay := c.Nodes[:3]
	actortest.Eventually(t, 5*time.Second, func() error {
		for _, n := range stay {
			for _, r := range n.Replicas() {
				if slices.Contains(r.Participants, leaver.Peer()) {
					return fmt.Errorf("%s on %s still has the departed node as a participant", r.Key, n.Peer())
				}
			}
		}
		return nil
	})
	defer func() {
		if !t.Failed() {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for _, err := range failed[:min(len(failed), 3)] {
			t.Log(err)
		}
		for _, n := range stay {
			for _, r := range n.Replicas() {
				if r.Pending > 0 || slices.Contains(r.Participants, leaver.Peer()) || len(r.Joining)+len(r.Leaving) > 0 {
					t.Logf("%s on %s: participants %v joining %v leaving %v pending %d owed %v", r.Key, n.Peer(), r.Participants, r.Joining, r.Leaving, r.Pending, r.Owed)
				}
			}
		}
	}()
	waitCalls("after", 200)
	close(stop)
	wg.Wait()
	t.Logf("%d partitions (%d held by the departing node): Stop took %v; slowest consistent call before %v, during %v, after %v (%d, %d, %d calls)",
		len(keys), held, took.Round(time.Millisecond), slowest["before"].Round(time.Millisecond),
		slowest["during"].Round(time.Millisecond), slowest["after"].Round(time.Millisecond),
		calls["before"], calls["during"], calls["after"])
	for _, err := range failed {
		t.Error(err)
	}
	if limit := opts.Config.EjectAfter / 4; slowest["during"] > limit || slowest["after"] > limit {
		t.Errorf("a consistent call waited %v during and %v after the departure: partitions waited for an ejection", slowest["during"], slowest["after"])
	}
	checkReplicasWithin(t, &actortest.Cluster{Nodes: stay, Registry: c.Registry}, acked, uncertain)
}

// TestStopUndrainedSaysSo: a node cut off from every peer acknowledges a fast call (the
// event is on its disk only) and is stopped: no other replica can hold the event, so Stop
// must say so (ErrUnreplicated: keep the data directory and start the node again) rather
// than return nil and let the operator throw the node away with an acknowledged write.
// Before, Stop logged a warning and returned nil.
func TestStopUndrainedSaysSo(t *testing.T) {
	opts := testOptions()
	opts.Config.GCInterval = 50 * time.Millisecond
	c := actortest.Start(t, 3, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n := c.Nodes[0]
	ref := actor.RefOf(n, counterKind, "undrained")
	if _, err := ref.Call(ctx, wrapperspb.Int64(1), actor.Consistent); err != nil {
		t.Fatal(err)
	}
	c.Cut(0, 1) // n hears nobody, nobody hears n
	c.Cut(0, 2)
	if _, err := ref.Call(ctx, wrapperspb.Int64(1), actor.Fast); err != nil {
		t.Fatalf("fast call on the cut-off node: %v", err) // its own replica answers
	}
	err := n.Stop(ctx)
	if !errors.Is(err, actor.ErrUnreplicated) {
		t.Fatalf("Stop = %v, want ErrUnreplicated", err)
	}
}
