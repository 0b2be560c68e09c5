package actor

import (
	"sync"
	"time"

	"github.com/legion-go/legion/actor/internal/wire"
)

// maxClockAhead bounds how far past this node's physical clock a remote timestamp may
// move its hybrid logical clock: a node whose clock runs a year ahead would otherwise
// drag every node's event times a year ahead for good. Within the bound, an event a node
// creates after it saw another node's event (replicated to it, or in a call or a reply)
// carries a later time, whatever the two clocks say; past it, the clock moves to the
// bound only, and the node logs it (rate-limited). Five minutes: the tolerance Kerberos
// has long demanded of hosts' clocks, far above what NTP keeps a host within.
const maxClockAhead = 5 * time.Minute

// hlc is a hybrid logical clock: timestamps (nanoseconds since the Unix epoch) that follow
// physical time, never go backwards, and are above every timestamp the node has observed
// (in replicated entries, calls and replies from other nodes), up to maxClockAhead past
// its own physical clock. Safe for concurrent use.
type hlc struct {
	mu   sync.Mutex
	last int64
	now  func() time.Time
}

func (c *hlc) Now() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.now().UnixNano()
	if t <= c.last {
		t = c.last + 1
	}
	c.last = t
	return t
}

// Observe moves the clock past a timestamp seen from another node, but no further than
// maxClockAhead past the physical clock; it returns the bound if it clamped t to it, else
// 0.
func (c *hlc) Observe(t int64) (clampedTo int64) {
	if t <= 0 {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if t <= c.last {
		return 0
	}
	if bound := c.now().Add(maxClockAhead).UnixNano(); t > bound {
		t, clampedTo = bound, bound
	}
	if t > c.last {
		c.last = t
	}
	return clampedTo
}

// observeTime has the node's clock observe t, from the named source, logging a clamp.
func (n *Node) observeTime(t int64, from string) {
	if bound := n.clock.Observe(t); bound != 0 {
		n.log.Warn("a remote timestamp runs ahead of this node's clock by more than the bound: the clock moves to the bound only (check the nodes' clock synchronisation)",
			"from", from, "ahead", time.Duration(t-n.cfg.Clock.Now().UnixNano()).Round(time.Second), "bound", maxClockAhead)
	}
}

// observeReplicate has the node's clock observe the times of the entries a replication
// message carries.
func (n *Node) observeReplicate(m *wire.Replicate) {
	var latest int64
	switch body := m.GetBody().(type) {
	case *wire.Replicate_Diff:
		for _, e := range body.Diff.GetEntries() {
			latest = max(latest, e.GetDelta().GetTime())
		}
	case *wire.Replicate_Snapshot:
		for _, e := range body.Snapshot.GetPending() {
			latest = max(latest, e.GetDelta().GetTime())
		}
	}
	if latest > 0 {
		n.observeTime(latest, m.GetFrom())
	}
}
