package actor

import (
	"fmt"
	"runtime"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/legion-go/legion/actor/internal/protoactor/remote"
	"github.com/legion-go/legion/actor/internal/wire"
	"github.com/legion-go/legion/lattice"
)

// outbox gathers the replication messages this node's replicas send to one peer, so that
// many partitions share one remote message (wire.Batch). A send never waits: the first
// message of a batch starts a sender, which first yields the processor, letting the
// replicas that are ready to run queue theirs, and then sends whatever has gathered.
// An idle node so sends at once; a busy one sends fewer, larger messages.
type outbox struct {
	peer    *peerMetrics // nil without metrics
	mu      sync.Mutex
	queue   []*wire.Replicate
	sending bool
}

// maxBatch bounds a batch by count, maxBatchBytes by encoded size: a peer that falls
// behind gets several messages, not one huge one. The remote layer refuses a message over
// its limit (remote.DefaultMaxMessageBytes, 4 MiB): a batch of a quarter of it leaves
// room for the envelope, and the endpoint writer splits what it sends at the limit.
// maxItemBytes is the largest single replication message that can be sent at all; one
// larger is dropped (logged, and counted in Stats.Dropped).
const (
	maxBatch      = 256
	maxBatchBytes = remote.DefaultMaxMessageBytes / 4
	maxItemBytes  = remote.DefaultMaxMessageBytes - 64<<10
	// maxPayloadLimit bounds Config.MaxPayloadBytes: an event travels in a call, and
	// again in the diffs that replicate it, beside others.
	maxPayloadLimit = remote.DefaultMaxMessageBytes / 2
)

func (n *Node) outboxOf(peer lattice.Peer) *outbox {
	if ob, ok := n.outboxes.Load(peer); ok {
		return ob.(*outbox)
	}
	fresh := &outbox{}
	if n.metrics != nil {
		fresh.peer = n.metrics.peer(peer)
	}
	ob, _ := n.outboxes.LoadOrStore(peer, fresh)
	return ob.(*outbox)
}

// post queues m for peer.
func (n *Node) post(peer lattice.Peer, m *wire.Replicate) {
	n.stats.sent.Add(1)
	ob := n.outboxOf(peer)
	if ob.peer != nil {
		ob.peer.sent[replicateType(m)].Inc()
	}
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
		for _, b := range n.batches(q) {
			n.stats.envelopes.Add(1)
			if ob.peer != nil {
				ob.peer.envelopes.Inc()
				ob.peer.bytesSent.Add(float64(envelopeBytes(b)))
			}
			n.system.Root.Send(pid, b)
		}
	}
}

// batches wraps q as remote messages of at most maxBatchBytes each: frames, which the
// peer decodes at a fraction of the cost of protobuf items (even a single item: it is the
// decoding that costs). Usually that is one frame. A frame too large, or one the encoder
// refuses, is split in halves until each fits; then a lone item the frame encoder refuses
// goes as a protobuf item, and one that cannot be encoded or is over maxItemBytes is
// dropped alone, never with the others.
func (n *Node) batches(q []*wire.Replicate) []*wire.Batch {
	f, err := wire.EncodeFrame(q)
	switch {
	case err == nil && len(f) <= maxBatchBytes:
		return []*wire.Batch{{Frame: f}}
	case len(q) > 1:
		h := len(q) / 2
		return append(n.batches(q[:h:h]), n.batches(q[h:])...)
	case err == nil && len(f) <= maxItemBytes:
		return []*wire.Batch{{Frame: f}}
	case err == nil:
		n.dropItem(q[0], fmt.Errorf("%d bytes, over the transport's limit of %d", len(f), maxItemBytes))
		return nil
	}
	b := &wire.Batch{Items: q}
	if size := proto.Size(b); size > maxItemBytes {
		n.dropItem(q[0], fmt.Errorf("%d bytes, over the transport's limit of %d", size, maxItemBytes))
		return nil
	}
	if _, merr := proto.Marshal(b); merr != nil { // the endpoint writer would fail the same way
		n.dropItem(q[0], fmt.Errorf("%w; as protobuf: %v", err, merr))
		return nil
	}
	n.log.Warn("replication message sent as a protobuf item", "to", q[0].GetTo().GetPeer(), "err", err)
	return []*wire.Batch{b}
}

// dropItem gives up on one replication message that cannot be sent (the replica's
// anti-entropy may make it again).
func (n *Node) dropItem(m *wire.Replicate, err error) {
	n.stats.dropped.Add(1)
	t := m.GetTo()
	n.log.Error("replication message dropped: cannot be sent", "kind", t.GetKind(), "key", t.GetKey(), "to", t.GetPeer(), "err", err)
}

// envelopeBytes is the encoded size of b's payload: its frame, or its protobuf items.
func envelopeBytes(b *wire.Batch) int {
	if f := b.GetFrame(); len(f) > 0 {
		return len(f)
	}
	return proto.Size(b)
}
