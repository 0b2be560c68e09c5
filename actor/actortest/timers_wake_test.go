package actortest_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/actor/actortest"
)

// TestTimerWakesPassivated: every replica of the partition passivates before its timer
// is due; the node's index of timer marks wakes them, and the timer fires, once.
func TestTimerWakesPassivated(t *testing.T) {
	opts := timerOptions()
	opts.Config.PassivateAfter = 300 * time.Millisecond
	opts.Config.GCInterval = 100 * time.Millisecond
	c := actortest.Start(t, 3, opts)
	at := setAlarm(t, c, 0, "k", "a", 4*time.Second)
	actortest.Eventually(t, 10*time.Second, func() error {
		for i, n := range c.Nodes {
			if a := n.Active(); a != 0 {
				return fmt.Errorf("node %d holds %d active replicas", i, a)
			}
		}
		return nil
	})
	if time.Now().UnixNano() >= at {
		t.Fatalf("the replicas passivated after the timer was due: nothing to wake")
	}
	// Nothing but the wake activates them (a query would): the one that fires it, then
	// the others, to which its event is replicated.
	actortest.Eventually(t, 20*time.Second, func() error {
		for i, n := range c.Nodes {
			if n.Active() == 0 {
				return fmt.Errorf("node %d holds no active replica", i)
			}
		}
		return nil
	})
	fired(t, c, "k", "a", actor.Stable, 0, 1, 2)
}
