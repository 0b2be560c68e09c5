package actor

import (
	"errors"
	"fmt"
	"slices"

	"github.com/legion-go/legion/gc"
	"github.com/legion-go/legion/lattice"
)

// Genesis: a replica that holds nothing, asked for a partition, first asks the other
// replicas of its caller's replica set for their state (startSync); it starts the
// partition from scratch only when all of these hold:
//
//   - every other replica of the set answered, and none holds a state (one that did not
//     answer may hold the partition);
//   - each of them, and this node, places the partition on the same peers as the caller
//     (a node whose membership view is incomplete or lags, such as one that just started,
//     computes another set, whose peers may all hold nothing while the partition lives
//     elsewhere);
//   - this node's membership sees a strict majority of the known members that host a kind,
//     itself included, live (gc's majority rule: the same that lets it eject peers), and
//     its view is not partial (a gossip member whose seeds have not answered yet sees only
//     itself: by itself, a majority of one).
//
// Two replicas that start a partition from the same set start the same state (genesis is
// deterministic), so concurrent starts on one side are harmless. Starts on two sides of a
// split are what would fork a partition into two lineages whose merge drops one side's
// folded events: the majority rule lets only the side that sees a majority start new
// partitions; the other side answers ErrUnavailable for partitions it has never held
// (docs/decisions/0006-one-lineage.md gives the argument and its limits).

// genesisRefusal returns why the replica may not start the partition from scratch now, or
// nil if it may. It runs at the end of a sync that found no state.
func (r *replica) genesisRefusal() error {
	if r.n.View().Partial {
		return errors.New("this node's membership has not reached the cluster yet")
	}
	if len(r.syncWait) > 0 {
		return errors.New("a replica of the set did not answer: it may hold the partition")
	}
	if r.syncDisagree {
		return errors.New("a replica of the set places the partition on other peers")
	}
	if own := r.n.replicaSet(r.kind.kindName(), r.key); !samePeers(own, r.syncSet) {
		return fmt.Errorf("this node places the partition on %v, the caller on %v", own, r.syncSet)
	}
	if held := gc.Decide(r.n.cfg.Now(), r.n.peer, r.n.gcMembers(), nil, 0, r.n.cfg.gcConfig()).Held; held != nil {
		return held
	}
	return nil
}

// samePeers reports whether a and b hold the same peers, in any order.
func samePeers(a, b []lattice.Peer) bool {
	if len(a) != len(b) {
		return false
	}
	for _, p := range a {
		if !slices.Contains(b, p) {
			return false
		}
	}
	return true
}

// peersOf converts peer names from the wire.
func peersOf(ss []string) []lattice.Peer {
	out := make([]lattice.Peer, len(ss))
	for i, s := range ss {
		out[i] = lattice.Peer(s)
	}
	return out
}
