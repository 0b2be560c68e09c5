package replica

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/legion-go/legion/actor/internal/wire"
)

// TestReactivationCost: a replica loaded from its store resyncs with the other replicas
// before it serves (it may have been ejected meanwhile). When nothing changed while it was
// away, their answers are diffs on the base it holds, not their full states: the bytes of
// replication from its load until the partition is quiet again stay far below one full
// state (with its dedup window of 150 request keys), and it serves from what it loaded,
// the window included.
func TestReactivationCost(t *testing.T) {
	c := newCluster(t)
	c.quiet = true
	c.add("a", "b", "c")
	a := c.node("a")
	const calls = 150
	for i := range calls {
		a.call("caller", &wire.Call{Event: encode(t, 1), Req: fmt.Sprintf("request-of-a-client-%04d", i)})
		c.stabilize()
	}
	for range 10 { // anti-entropy folds what the last diffs left pending
		for _, name := range c.names {
			if n := c.node(name); n.r != nil && n.armed[TickTimer] {
				n.fire(TickTimer)
			}
		}
		c.stabilize()
	}
	for _, name := range c.names {
		require.Zero(t, c.node(name).r.fold.State().Pending, "%s: pending before the restart", name)
	}
	full, err := c.node("b").r.fold.Snapshot(true)
	require.NoError(t, err)

	cn := c.node("c")
	cn.crash()
	cn.down = false
	c.net = nil
	r := cn.activate()
	require.Equal(t, Syncing, r.Life())
	messages, bytes, fulls := 0, 0, 0
	for round := 0; len(c.net) > 0 || anyDirty(c); round++ {
		require.Less(t, round, 20, "no quiescence")
		for _, name := range c.names {
			if n := c.node(name); n.r != nil && n.r.Dirty() {
				n.flush(commitOK)
			}
		}
		for _, m := range c.net {
			messages++
			bytes += proto.Size(m.msg)
			if m.msg.GetSnapshot() != nil {
				fulls++
			}
		}
		c.deliver(nil, nil, false)
	}
	t.Logf("reactivation of an unchanged partition: %d messages, %d bytes, %d full states (one full state: %d bytes)",
		messages, bytes, fulls, proto.Size(full))
	require.Equal(t, Active, r.Life())
	require.Zero(t, fulls, "a full state was sent")
	require.Less(t, bytes, proto.Size(full)/4)
	require.Equal(t, int64(calls), valueOf(t, r, true))

	// A retry of the first request through c is a duplicate: the window came from c's store.
	before := len(cn.replies)
	cn.call("caller", &wire.Call{Event: encode(t, 1), Req: "request-of-a-client-0000"})
	c.stabilize()
	require.Greater(t, len(cn.replies), before)
	require.Equal(t, int64(calls), valueOf(t, r, true), "the retry applied again")
}

func anyDirty(c *cluster) bool {
	for _, name := range c.names {
		if n := c.node(name); n.r != nil && n.r.Dirty() {
			return true
		}
	}
	return false
}
