package actortest_test

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/actor/actortest"
	"github.com/legion-go/legion/lattice"
)

// alarms is a kind with durable timers: Set schedules timer Set at At; the timer's event
// (Fire) counts every fire event applied, and clears the timer it is for.
type (
	alarms struct {
		Due   map[string]int64 `json:"due,omitempty"`   // timer -> due time
		Fired map[string]int   `json:"fired,omitempty"` // timer -> fire events applied
	}
	alarmEvent struct {
		Set  string `json:"set,omitempty"`
		Fire string `json:"fire,omitempty"`
		At   int64  `json:"at"`
	}
)

var alarmKind = &actor.KindOf[alarms, alarmEvent, alarmEvent, alarms]{
	Name:  "alarm",
	Codec: actor.JSON,
	Apply: func(s alarms, e alarmEvent, _ lattice.Meta) (alarms, alarms, error) {
		switch {
		case e.Set != "":
			if s.Due == nil {
				s.Due = map[string]int64{}
			}
			s.Due[e.Set] = e.At
		case e.Fire != "":
			if s.Fired == nil {
				s.Fired = map[string]int{}
			}
			s.Fired[e.Fire]++
			if s.Due[e.Fire] == e.At {
				delete(s.Due, e.Fire)
			}
		default:
			return s, alarms{}, fmt.Errorf("an empty event")
		}
		return s, cloneAlarms(s), nil
	},
	Query: func(s alarms, _ alarmEvent) (alarms, error) { return cloneAlarms(s), nil },
	Clone: cloneAlarms,
	Timers: func(s alarms) []actor.DurableTimer[alarmEvent] {
		var ts []actor.DurableTimer[alarmEvent]
		for id, at := range s.Due {
			ts = append(ts, actor.DurableTimer[alarmEvent]{ID: id, At: at, Event: alarmEvent{Fire: id, At: at}})
		}
		return ts
	},
}

func cloneAlarms(s alarms) alarms {
	return alarms{Due: maps.Clone(s.Due), Fired: maps.Clone(s.Fired)}
}

func timerOptions() actortest.Options {
	opts := options()
	opts.Config.Kinds = []actor.KindSpec{alarmKind}
	opts.Config.TimerFailover = 500 * time.Millisecond
	return opts
}

// setAlarm schedules timer id of partition key at in from now, through node i, and
// returns its due time.
func setAlarm(t *testing.T, c *actortest.Cluster, i int, key, id string, in time.Duration) int64 {
	t.Helper()
	at := time.Now().Add(in).UnixNano()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	actortest.Eventually(t, 20*time.Second, func() error { // a new partition: retry until it starts
		_, err := alarmKind.Ref(c.Nodes[i], key).Call(ctx, alarmEvent{Set: id, At: at}, actor.Consistent,
			actor.WithRequestKey("set-"+key+"-"+id))
		return err
	})
	return at
}

// fired waits until the replicas on the given positions' peers answer, at level, that
// timer id fired once and is due no more; each is asked through its own node.
func fired(t *testing.T, c *actortest.Cluster, key, id string, level actor.ReadLevel, positions ...int) {
	t.Helper()
	actortest.Eventually(t, 30*time.Second, func() error {
		for _, i := range positions {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			got, err := alarmKind.Ref(c.Nodes[i], key).QueryReplica(ctx, c.Nodes[i].Peer(), alarmEvent{}, level)
			cancel()
			if err != nil {
				return fmt.Errorf("replica on node %d: %v", i, err)
			}
			if _, due := got.Due[id]; due || got.Fired[id] != 1 {
				return fmt.Errorf("replica on node %d (level %d): due %v, fired %v; want fired once", i, level, got.Due, got.Fired)
			}
		}
		return nil
	})
}

// placedFirst returns the position of the first replica of key's placement.
func placedFirst(t *testing.T, c *actortest.Cluster, key string) int {
	t.Helper()
	set := c.Nodes[0].ReplicaSet(alarmKind.Name, key)
	if len(set) != 3 {
		t.Fatalf("placement %v, want 3 replicas", set)
	}
	return c.Index(set[0])
}

// others returns the positions of 0..2 but i.
func others(i int) []int {
	var out []int
	for j := range 3 {
		if j != i {
			out = append(out, j)
		}
	}
	return out
}

// notDue fails the test if at is past: what the test staged before it (a cut, a crash)
// came too late to matter.
func notDue(t *testing.T, at int64) {
	t.Helper()
	if time.Now().UnixNano() >= at {
		t.Fatalf("the timer was due before the test staged its fault (the machine is slow): nothing tested")
	}
}

// settled waits until every replica of key, on every running node, has nothing pending.
// With the fire folded everywhere (fired at Stable) no replica can log the timer's event
// again: its timers come from its state, which holds the fire. And with nothing pending,
// a copy logged before (by a replica that failed over, or on the far side of a cut) has
// folded too: a count of fires checked after this is final, not a wait for time to pass.
func settled(t *testing.T, c *actortest.Cluster, key string) {
	t.Helper()
	actortest.Eventually(t, 30*time.Second, func() error {
		for i, n := range c.Nodes {
			if n == nil {
				continue
			}
			for _, r := range n.Replicas() {
				if r.Kind == alarmKind.Name && r.Key == key && r.Pending > 0 {
					return fmt.Errorf("node %d: %d pending", i, r.Pending)
				}
			}
		}
		return nil
	})
}

// TestTimerFiresOnce: a durable timer set through one node fires at its due time, once,
// on every replica (the first replica of the placement logs it; the others, had they
// logged it too, would have logged a duplicate by key, which applies nothing).
func TestTimerFiresOnce(t *testing.T) {
	opts := timerOptions()
	c := actortest.Start(t, 3, opts)
	first := placedFirst(t, c, "k")
	setAlarm(t, c, (first+1)%3, "k", "a", 300*time.Millisecond)
	fired(t, c, "k", "a", actor.Stable, 0, 1, 2)
	settled(t, c, "k")
	fired(t, c, "k", "a", actor.Stable, 0, 1, 2)
}

// TestTimerFiresAfterKill: the node that would fire the timer (the first of its
// partition's placement) crashes before it is due (store cut, no drain, membership loses
// it without a leave); the next replica fires it, once; the crashed node, restarted,
// learns it fired and does not fire it again.
func TestTimerFiresAfterKill(t *testing.T) {
	opts := timerOptions()
	c := actortest.Start(t, 3, opts)
	first := placedFirst(t, c, "k")
	rest := others(first)
	at := setAlarm(t, c, rest[0], "k", "a", 2*time.Second)
	c.Crash(first)
	notDue(t, at)
	fired(t, c, "k", "a", actor.Projected, rest...)
	c.Restart(first)
	c.WaitConverged()
	settled(t, c, "k")
	fired(t, c, "k", "a", actor.Stable, 0, 1, 2)
}

// TestTimerFiresAfterRestart: every node crashes before the timer is due and restarts
// from its pebble store; the timer is in the stored state and fires, once.
func TestTimerFiresAfterRestart(t *testing.T) {
	opts := timerOptions()
	opts.Store = actortest.PebbleStores(t)
	c := actortest.Start(t, 3, opts)
	at := setAlarm(t, c, 0, "k", "a", 2*time.Second)
	for i := range 3 {
		c.Crash(i)
	}
	for i := range 3 {
		c.Restart(i)
	}
	c.WaitConverged()
	if time.Now().UnixNano() >= at {
		t.Logf("the restarts took past the due time: the timer fires late, once")
	}
	fired(t, c, "k", "a", actor.Stable, 0, 1, 2)
	settled(t, c, "k")
	fired(t, c, "k", "a", actor.Stable, 0, 1, 2)
}

// TestTimerUnderCut: the first replica of the placement is cut off from the other two
// (membership still lists it, so the others wait their failover delay, then fire too):
// both sides log the timer's event, each sees it fired once; after the heal the
// duplicate by key folds as nothing and every replica counts one fire.
func TestTimerUnderCut(t *testing.T) {
	opts := timerOptions()
	c := actortest.Start(t, 3, opts)
	first := placedFirst(t, c, "k")
	rest := others(first)
	at := setAlarm(t, c, first, "k", "a", 2*time.Second)
	c.Cut(first, rest[0])
	c.Cut(first, rest[1])
	notDue(t, at)
	fired(t, c, "k", "a", actor.Projected, 0, 1, 2) // each side logged it
	c.Heal(first, rest[0])
	c.Heal(first, rest[1])
	settled(t, c, "k")
	fired(t, c, "k", "a", actor.Stable, 0, 1, 2)
}

// TestTimerGoneWithDelete: a timer set before its partition is deleted never fires: the
// delete folds the state back to the initial one, whose timers are none. A timer set
// after the delete, due later than the first, fires once; by then the first would have
// fired too (the same replicas fire both), and it did not: no fire event of it applied to
// the new state, on any replica.
func TestTimerGoneWithDelete(t *testing.T) {
	opts := timerOptions()
	c := actortest.Start(t, 3, opts)
	first := placedFirst(t, c, "k")
	at := setAlarm(t, c, first, "k", "old", 2*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := alarmKind.Ref(c.Nodes[first], "k").Delete(ctx, actor.Consistent, actor.WithRequestKey("del")); err != nil {
		t.Fatal(err)
	}
	notDue(t, at)
	setAlarm(t, c, first, "k", "new", time.Until(time.Unix(0, at))+300*time.Millisecond)
	fired(t, c, "k", "new", actor.Stable, 0, 1, 2)
	settled(t, c, "k") // every replica folded the delete and the new fire: none can fire the old one
	for i := range 3 {
		got, err := alarmKind.Ref(c.Nodes[i], "k").QueryReplica(ctx, c.Nodes[i].Peer(), alarmEvent{}, actor.Stable)
		if err != nil {
			t.Fatal(err)
		}
		if got.Fired["old"] != 0 || got.Due["old"] != 0 {
			t.Fatalf("replica on node %d: the timer set before the delete: fired %d, due %d; want gone", i, got.Fired["old"], got.Due["old"])
		}
	}
}
