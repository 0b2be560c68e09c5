package actor

import (
	"runtime"
	"sync"

	"github.com/legion-go/legion/actor/internal/wire"
	"github.com/legion-go/legion/lattice"
)

// outbox gathers the replication messages this node's replicas send to one peer, so that
// many partitions share one remote message (wire.Batch). A send never waits: the first
// message of a batch starts a sender, which first yields the processor, letting the
// replicas that are ready to run queue theirs, and then sends whatever has gathered.
// An idle node so sends at once; a busy one sends fewer, larger messages.
type outbox struct {
	mu      sync.Mutex
	queue   []*wire.Replicate
	sending bool
}

// maxBatch bounds a batch (a peer that falls behind gets several messages, not one huge
// one that could pass the remote layer's size limit).
const maxBatch = 256

func (n *Node) outboxOf(peer lattice.Peer) *outbox {
	if ob, ok := n.outboxes.Load(peer); ok {
		return ob.(*outbox)
	}
	ob, _ := n.outboxes.LoadOrStore(peer, &outbox{})
	return ob.(*outbox)
}

// post queues m for peer.
func (n *Node) post(peer lattice.Peer, m *wire.Replicate) {
	n.stats.sent.Add(1)
	ob := n.outboxOf(peer)
	ob.mu.Lock()
	ob.queue = append(ob.queue, m)
	start := !ob.sending
	ob.sending = true
	ob.mu.Unlock()
	if start {
		go n.sendOutbox(peer, ob)
	}
}

// sendOutbox sends what has gathered for peer until the outbox is empty.
func (n *Node) sendOutbox(peer lattice.Peer, ob *outbox) {
	for {
		runtime.Gosched()
		ob.mu.Lock()
		q := ob.queue
		if len(q) > maxBatch {
			q = q[:maxBatch:maxBatch]
			ob.queue = ob.queue[maxBatch:]
		} else {
			ob.queue = nil
		}
		if len(q) == 0 {
			ob.sending = false
			ob.mu.Unlock()
			return
		}
		ob.mu.Unlock()
		pid, ok := n.routerOf(peer)
		if !ok {
			continue // membership lost the peer meanwhile: anti-entropy resends later
		}
		n.stats.envelopes.Add(1)
		n.system.Root.Send(pid, n.batch(q))
	}
}

// batch wraps q as one remote message: a frame, which the peer decodes at a fraction of
// the cost of protobuf items (even a single item: it is the decoding that costs), or
// protobuf items should the frame encoder refuse one.
func (n *Node) batch(q []*wire.Replicate) *wire.Batch {
	f, err := wire.EncodeFrame(q)
	if err != nil {
		n.log.Warn("replication batch sent as protobuf items", "err", err)
		return &wire.Batch{Items: q}
	}
	return &wire.Batch{Frame: f}
}
