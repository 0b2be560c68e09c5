package actor

import (
	"slices"
	"sync"
	"time"

	"github.com/legion-go/legion/actor/internal/replica"
)

// Divergence is one report of divergence detection: a replica of this node and one on
// Peer folded the same events of a partition, up to ID, into different values
// (docs/kinds.md, "Versions and upgrades"). Divergence is never repaired by itself: which
// value is right is for the operator to decide.
type Divergence struct {
	Kind, Key string
	// Peer holds the other replica.
	Peer string
	// ID is the infimum id both had folded up to ("counter@peer").
	ID string
	// Digest and PeerDigest are the digests of the two values (of their encodings).
	Digest, PeerDigest uint64
	// At is when this node found it (by Config.Clock); Count, how many times it found the
	// partition diverged from Peer since then.
	At    time.Time
	Count int64
}

// maxDivergences bounds the partitions Node.Divergences lists (the first found stay).
const maxDivergences = 64

// divergences is the node's list of divergent partitions. Safe for concurrent use.
type divergences struct {
	mu   sync.Mutex
	list []Divergence
}

// diverged records a divergence a replica of kind and key reported.
func (n *Node) diverged(kind, key string, d replica.Divergence) {
	n.stats.divergences.Add(1)
	n.divergent.mu.Lock()
	defer n.divergent.mu.Unlock()
	i := slices.IndexFunc(n.divergent.list, func(x Divergence) bool {
		return x.Kind == kind && x.Key == key && x.Peer == string(d.Peer)
	})
	if i >= 0 {
		x := &n.divergent.list[i]
		x.Count++
		x.ID, x.Digest, x.PeerDigest = d.ID.String(), d.Mine, d.Theirs
		return
	}
	if len(n.divergent.list) < maxDivergences {
		n.divergent.list = append(n.divergent.list, Divergence{Kind: kind, Key: key, Peer: string(d.Peer),
			ID: d.ID.String(), Digest: d.Mine, PeerDigest: d.Theirs, At: n.cfg.Clock.Now(), Count: 1})
	}
}

// Divergences lists the partitions this node found diverged from another replica, one
// entry per partition and peer (at most 64, the first found), oldest first. Empty in a
// healthy cluster; Stats.Divergences counts every report.
func (n *Node) Divergences() []Divergence {
	n.divergent.mu.Lock()
	defer n.divergent.mu.Unlock()
	return slices.Clone(n.divergent.list)
}
