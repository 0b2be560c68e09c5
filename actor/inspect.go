package actor

import (
	"cmp"
	"slices"
	"time"

	"github.com/legion-go/legion/discovery"
	"github.com/legion-go/legion/lattice"
)

// Read-only snapshots of what a node knows of itself and its cluster, for an operator's
// tools (actor/admin serves them over HTTP). Each method is safe for concurrent use, does
// not block on the node's actors, and returns a copy the caller may keep.

// Health is what a node knows of its own state: whether it runs, and whether it is ready
// to serve (see Ready).
type Health struct {
	// Running is whether the node has started and has neither stopped nor failed.
	Running bool
	// Err is the store failure that stopped the node (Node.Err), or nil.
	Err error
	// Joined is whether the node's membership view lists the node itself.
	Joined bool
	// Partial is whether the view is partial: the provider has not reached the cluster
	// yet (a gossip member whose seeds have not answered sees only itself).
	Partial bool
	// Resynced is whether the node's first pass over its stored replicas has settled:
	// every replica it recovered from its store was activated (each resynchronises with
	// the partition's other replicas) and has described itself. Until then the node does
	// not know every peer its replicas name, and starts no partition from scratch. A node
	// that stores nothing is resynced from the start.
	Resynced bool
	// Leaving is whether the node is handing its replicas over to leave (Node.Stop).
	Leaving bool
	// Members is the number of live members in the view (this node included).
	Members int
}

// Ready reports whether the node runs, has joined a complete membership view, has
// resynchronised the replicas it recovered, and is not leaving: the readiness an
// orchestrator's probe asks for.
func (h Health) Ready() bool {
	return h.Running && h.Joined && !h.Partial && h.Resynced && !h.Leaving
}

// Health returns the node's health.
func (n *Node) Health() Health {
	v := n.View()
	_, joined := v.Lookup(string(n.peer))
	err := n.Err()
	return Health{
		Running:  !n.stopped.Load() && err == nil,
		Err:      err,
		Joined:   joined,
		Partial:  v.Partial,
		Resynced: n.members.hasSettled(),
		Leaving:  n.leaving.Load(),
		Members:  len(v.Members),
	}
}

// PeerInfo is one peer as the node's garbage collection knows it: a live member of the
// membership view, or a tombstone of one that membership reports gone and that the node
// still counts or that its replicas still name (docs/gc.md, "What the runtime provides").
type PeerInfo struct {
	Peer lattice.Peer
	// Kinds are the kinds the peer hosts (for a tombstone: when last seen).
	Kinds []string
	// Live is whether membership reports the peer up.
	Live bool
	// Since is when Live last changed (for a tombstone: when the peer was first seen
	// gone, or the moment an operator's Eject made it ejectable).
	Since time.Time
	// Departing is whether the peer announced a planned departure (it hands its replicas
	// over and placement gives it none).
	Departing bool
	// Member is the peer's membership entry (address, name, metadata) while it is live.
	Member *discovery.Member
}

// Peers returns every peer the node knows, live members and tombstones, in peer order.
func (n *Node) Peers() []PeerInfo {
	view := n.View()
	departing := n.departing.since(n.cfg.Clock.Now().Add(-n.departingFor()))
	list := n.members.list()
	out := make([]PeerInfo, 0, len(list))
	for _, m := range list {
		p := PeerInfo{Peer: m.Peer, Kinds: slices.Clone(m.Kinds), Live: m.Live, Since: m.Since,
			Departing: slices.Contains(departing, m.Peer)}
		if dm, ok := view.Lookup(string(m.Peer)); ok {
			dm = dm.Clone()
			p.Member = &dm
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b PeerInfo) int { return cmp.Compare(a.Peer, b.Peer) })
	return out
}

// ReplicaSet returns the replica set of the partition (kind, key) by the node's current
// view: the peers placement gives it, the first being where calls go first.
func (n *Node) ReplicaSet(kind, key string) []lattice.Peer {
	return slices.Clone(n.replicaSet(kind, key))
}

// Now is the time by the node's clock (Config.Clock), against which the times in
// Replicas, Stalls and Peers are to be read.
func (n *Node) Now() time.Time { return n.cfg.Clock.Now() }
