package actor_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/actor/actortest"
	"github.com/legion-go/legion/lattice"
)

// stampKind's output is the time its event carries (Meta.Time).
var stampKind = &actor.Kind[*i64, *i64, *i64]{
	Name: "stamp",
	Apply: func(s *i64, _ *i64, m lattice.Meta) (*i64, *i64, error) {
		s.Value = m.Time
		return s, wrapperspb.Int64(m.Time), nil
	},
}

// skewed is the system clock shifted by off.
type skewed struct {
	actor.SystemClock
	off time.Duration
}

func (c skewed) Now() time.Time { return time.Now().Add(c.off) }

// TestHLCWithSkewedClocks: with one node's clock 2 minutes behind and another's 2 minutes
// ahead, an event a node creates after its replica acknowledged another node's event
// carries a later time, in both directions; and so does an event a node creates after a
// call of its own was answered with another node's event.
func TestHLCWithSkewedClocks(t *testing.T) {
	offsets := []time.Duration{-2 * time.Minute, 2 * time.Minute, 0}
	opts := testOptions()
	opts.Config.Kinds = []actor.KindSpec{stampKind}
	opts.Config.AttemptTimeout = 5 * time.Second // no call here has a deadline (see stamp)
	opts.Configure = func(i int, c *actor.Config) { c.Clock = skewed{off: offsets[i]} }
	c := actortest.Start(t, 3, opts)
	// firstOn returns a key whose first replica is node i's (all three hold one: R = 3).
	seq := 0
	firstOn := func(i int) string {
		for ; ; seq++ {
			k := fmt.Sprint("s", seq)
			if actor.RefOf(c.Nodes[0], stampKind, k).Replicas()[0] == c.Nodes[i].Peer() {
				seq++
				return k
			}
		}
	}
	// stamp has node via create an event in partition k (consistent: every replica
	// acknowledged it when it returns) and returns its time. Without a deadline: a
	// context's deadline is the system clock's, which a skewed node's attempt timeout
	// would compare with its own.
	stamp := func(via int, k string) int64 {
		t.Helper()
		out, err := actor.RefOf(c.Nodes[via], stampKind, k).Call(context.Background(), &i64{}, actor.Consistent)
		if err != nil {
			t.Fatalf("a call through node %d: %v", via, err)
		}
		return out.Value
	}
	for _, d := range []struct{ from, to int }{{1, 0}, {0, 1}, {2, 0}, {1, 2}} {
		// Node from's replica creates an event; node to's replica acknowledges it (by
		// replication only: nothing else of it reaches node to); then node to's replica
		// creates one in another partition.
		seen := stamp(d.from, firstOn(d.from))
		next := stamp(d.to, firstOn(d.to))
		if next <= seen {
			t.Errorf("node %d (clock %v) stamped %v, after acknowledging node %d's (clock %v) event of %v: %v earlier",
				d.to, offsets[d.to], time.Unix(0, next).UTC(), d.from, offsets[d.from], time.Unix(0, seen).UTC(), time.Duration(seen-next))
		}
	}
	// Through a reply: node 0 (behind) calls a partition first on node 1 (ahead), then one
	// first on itself.
	seen := stamp(0, firstOn(1))
	if next := stamp(0, firstOn(0)); next <= seen {
		t.Errorf("node 0 stamped %v after a reply with an event of %v", next, seen)
	}
}

// TestHLCBound: a node whose clock runs an hour ahead does not drag the others' clocks
// with it: their events after acknowledging its event carry at most 5 minutes more than
// their own clock, and they log that they clamped.
func TestHLCBound(t *testing.T) {
	offsets := []time.Duration{time.Hour, 0}
	var logs syncBuffer
	opts := testOptions()
	opts.Config.Kinds = []actor.KindSpec{stampKind}
	opts.Config.AttemptTimeout = 5 * time.Second
	opts.Configure = func(i int, c *actor.Config) {
		c.Clock = skewed{off: offsets[i]}
		if i == 1 {
			c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
		}
	}
	c := actortest.Start(t, 2, opts)
	call := func(via int, k string) int64 {
		t.Helper()
		out, err := actor.RefOf(c.Nodes[via], stampKind, k).Call(context.Background(), &i64{}, actor.Consistent)
		if err != nil {
			t.Fatal(err)
		}
		return out.Value
	}
	var k0, k1 string
	for i := 0; k0 == "" || k1 == ""; i++ {
		k := fmt.Sprint("b", i)
		switch actor.RefOf(c.Nodes[0], stampKind, k).Replicas()[0] {
		case c.Nodes[0].Peer():
			k0 = k
		case c.Nodes[1].Peer():
			k1 = k
		}
	}
	ahead := call(0, k0)
	before := time.Now()
	got := call(1, k1)
	if bound := time.Now().Add(5*time.Minute + time.Second).UnixNano(); got > bound {
		t.Fatalf("node 1 stamped %v, past its clock plus the 5-minute bound (%v)", time.Unix(0, got), time.Unix(0, bound))
	}
	if got < before.Add(5*time.Minute-time.Second).UnixNano() || got >= ahead {
		t.Fatalf("node 1 stamped %v: want its clock moved to the bound, 5 minutes ahead (the event it saw: %v)", time.Unix(0, got), time.Unix(0, ahead))
	}
	if !strings.Contains(logs.String(), "runs ahead of this node's clock") {
		t.Fatalf("node 1 did not log the clamp; its warnings:\n%s", logs.String())
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
