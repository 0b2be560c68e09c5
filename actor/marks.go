package actor

import (
	"github.com/legion-go/legion/actor/internal/replica"
	"github.com/legion-go/legion/gc"
	"github.com/legion-go/legion/lattice"
	"github.com/legion-go/legion/storage"
)

// The reasons of the marks the node keeps in its store (storage.Mark): the index of the
// partitions a node wakes at start and on a membership change, so that the others stay on
// disk until a call arrives.
const (
	// markPending (Due 0): the partition's stored state holds pending deltas (events not
	// yet folded, hence acks owed or awaited) or renegades: it must resume replicating
	// after a restart. Written with the flush that makes it so, removed with the one that
	// writes the partition idle.
	markPending storage.Reason = 1
	// markPlacement (Due 0): the partition was written with participants other than its
	// placement (a departed peer, a joiner's handoff not complete): it is woken on every
	// membership change, whether or not the change moves its placement.
	markPlacement storage.Reason = 2
	// markHost (Due 0, Partition{Kind: kind, Key: peer}): the hosts of each kind as of the
	// node's last completed wake pass, to compute at the next one which partitions'
	// placement moved without loading them.
	markHost storage.Reason = 3
	// markTimer (Due: the Unix nanosecond the timer is due): a durable timer of the
	// partition's; the node wakes the partition once it is due (reserved for kinds'
	// durable timers, #23).
	markTimer storage.Reason = 4
)

// What a hosted replica last wrote of its marks (hosted.marks): marksKnown is unset until
// its first write of them in this activation (the store may hold either).
const (
	marksKnown uint8 = 1 << iota
	marksPending
	marksPlacement
)

// placement is the hosts of each kind as of the node's last completed wake pass (what
// markHost records); nil until the node knows them. Replicas check their participants
// against it, not against the current view, so that every stored replica without a
// markPlacement was written with its placement under it: a wake pass then finds the ones
// a membership change moved by comparing placements, without loading any.
type placement map[string][]lattice.Peer

// marksOf is what h's state calls for: markPending while it holds pending deltas or
// renegades, markPlacement while its participants are not its placement.
func (n *Node) marksOf(h *hosted) uint8 {
	want := marksKnown
	st := h.core.Fold().State()
	if len(h.core.Renegades()) > 0 || st.Pending > 0 && !st.Retired {
		want |= marksPending
	}
	// A retired copy is deleted from the store (with its marks): it holds no placement.
	if st.HasBase && !st.Retired && !n.placed(h.id.kind, h.id.key, h.core.Fold().Top()) {
		want |= marksPlacement
	}
	return want
}

// placed reports whether peers are the partition's placement under the hosts of the last
// wake pass (false while the node does not know them).
func (n *Node) placed(kind, key string, peers []lattice.Peer) bool {
	pl := n.placement.Load()
	if pl == nil {
		return false
	}
	return replica.SamePeers(peers, gc.ReplicaSet(kind, key, (*pl)[kind], n.cfg.ReplicationFactor))
}

// stageMarks adds to b the writes of the marks h's state calls for, where they differ
// from what h last wrote. b is a batch of h's that the shard commits (a commit that fails
// stops the node, so what h last wrote is what it staged).
func (s *shard) stageMarks(h *hosted, b *storage.Batch) {
	want := s.n.marksOf(h)
	if h.marks == want {
		return
	}
	p := storage.Partition{Kind: h.id.kind, Key: h.id.key}
	for _, m := range []struct {
		bit    uint8
		reason storage.Reason
	}{{marksPending, markPending}, {marksPlacement, markPlacement}} {
		known := h.marks&marksKnown != 0
		switch {
		case want&m.bit != 0 && (!known || h.marks&m.bit == 0):
			b.Mark(m.reason, 0, p)
		case want&m.bit == 0 && (!known || h.marks&m.bit != 0):
			b.Unmark(m.reason, 0, p)
		}
	}
	h.marks = want
}

// clearMarks removes the marks of a replica a wake pass woke for nothing (its state calls
// for no mark: the mark was stale, or its placement moved back) unless a flush of it is
// queued, which writes them: each wake pass would wake it again otherwise.
func (s *shard) clearMarks(h *hosted) {
	if s.replicas[h.id] != h || h.core.Dirty() || s.n.marksOf(h) != marksKnown {
		return
	}
	b := &s.single
	b.Reset()
	s.stageMarks(h, b)
	if s.n.commitMarks(b) != nil {
		h.marks = 0
	}
}
