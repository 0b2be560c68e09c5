package actor

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/legion-go/legion/gc"
	"github.com/legion-go/legion/lattice"
)

// An operator's eject: a peer that membership reports gone is ejected from the node's
// partitions EjectAfter after it was first seen gone (docs/gc.md, rule 4). An operator
// who knows the peer is dead for good (its machine is lost) need not wait: Node.Eject
// makes the peer's tombstone as old as EjectAfter at once, so the node's replicas eject
// it at their next gc tick, by the same rules as any ejection (gc.Decide: a strict
// majority of the members that count is live, the node's view lists itself, one writer
// per partition, never two gone participants of one partition at once). It changes
// nothing else: the node's replicas are woken to decide, the tombstone is the one the
// node keeps anyway, and if the peer comes back, membership lists it live again and it
// rejoins as any ejected peer does (it discards its copy and is joined anew).
//
// Each partition's ejection is written by its writer, the first live full participant of
// its replica set, which may be another node: an operator ejects a peer on every live
// node (each then ejects it where it writes); the others' replicas eject it anyway once
// their own EjectAfter has passed.

// ErrEjectRefused is wrapped by the errors of Node.Eject that refuse the request: the peer
// is this node, unknown to it or live, or the node may not eject (no majority, a view
// that does not list it or is partial, replicas not resynchronised yet).
var ErrEjectRefused = errors.New("actor: eject refused")

// EjectResult is what Node.Eject did.
type EjectResult struct {
	// Peer is the peer declared dead.
	Peer lattice.Peer
	// Partitions is how many of the node's active replicas (as of their last gc tick)
	// will write the peer's ejection: those in which this node is the writer. The
	// replicas not in memory are woken and decide too; they are not counted.
	Partitions int
	// Others is how many active replicas name the peer (as participant or joiner, not
	// yet leaving) but will not eject it here: another node writes their ejections (run
	// Eject there too), or another of their participants is gone as well (gc.Plan.Blocked:
	// they wait for one of the two to return).
	Others int
}

// Eject declares peer dead: the node's replicas eject it now rather than EjectAfter after
// membership reported it gone. It refuses (ErrEjectRefused) unless membership reports the
// peer gone (the node keeps a tombstone for it) and the node may eject at all: its view
// lists it, is complete, its recovered replicas are resynchronised, and a strict majority
// of the members that count is live (gc's rules, the same that every ejection obeys). It
// returns ErrStopped on a stopped node. It does not wait for the ejections: they are
// written at the replicas' next gc tick (Config.GCInterval) and fold once the partition's
// other replicas acknowledge them (Node.Replicas shows them as Leaving until then).
func (n *Node) Eject(peer lattice.Peer) (EjectResult, error) {
	res := EjectResult{Peer: peer}
	if n.stopped.Load() || n.Err() != nil {
		return res, ErrStopped
	}
	if peer == n.peer {
		return res, fmt.Errorf("%w: %s is this node (stop it instead: it hands its replicas over)", ErrEjectRefused, peer)
	}
	if n.View().Partial || !n.members.hasSettled() {
		return res, fmt.Errorf("%w: this node's membership has not reached the cluster, or its recovered replicas are not resynchronised yet", ErrEjectRefused)
	}
	now := n.cfg.Clock.Now()
	members := n.gcMembers()
	i := slices.IndexFunc(members, func(m gc.Member) bool { return m.Peer == peer })
	switch {
	case i < 0:
		return res, fmt.Errorf("%w: %s is not a peer this node knows (neither a member nor a tombstone)", ErrEjectRefused, peer)
	case members[i].Live:
		return res, fmt.Errorf("%w: membership lists %s live: stop it, or wait until membership reports it gone", ErrEjectRefused, peer)
	}
	if held := gc.Decide(now, n.peer, members, nil, 0, n.cfg.gcConfig()).Held; held != nil {
		return res, fmt.Errorf("%w: %w", ErrEjectRefused, held)
	}
	if !n.members.declareGone(peer, now.Add(-n.cfg.EjectAfter)) {
		return res, fmt.Errorf("%w: %s came back meanwhile", ErrEjectRefused, peer)
	}
	n.log.Warn("operator ejects a peer", "peer", peer)

	// What the active replicas will do, as of their last description.
	reps := n.Replicas()
	plan := gc.Decide(now, n.peer, n.gcMembers(), reps, n.Handoffs(), n.cfg.gcConfig())
	for _, a := range plan.Actions {
		if a.Kind == gc.Eject && a.Peer == peer {
			res.Partitions++
		}
	}
	for _, r := range reps {
		if (slices.Contains(r.Participants, peer) || slices.Contains(r.Joining, peer)) && !slices.Contains(r.Leaving, peer) {
			res.Others++
		}
	}
	res.Others = max(res.Others-res.Partitions, 0)
	// Passivated replicas decide once woken (rebalance's wake pass). Two more passes, once
	// the ejections had time to fold, let the tombstone retire (members: a settled pass
	// that began after the last replica naming the peer stopped naming it): until then
	// placement over the known members still counts the peer, and a partition that never
	// existed cannot start (docs/decisions/0006-one-lineage.md).
	n.rewakeNow()
	for _, d := range ejectRepasses {
		n.cfg.Clock.AfterFunc(d*n.cfg.GCInterval, n.rewakeNow)
	}
	return res, nil
}

// ejectRepasses are when, in GCIntervals after an operator's eject, the node wakes its
// stored replicas again: an ejection is written at the writer's next gc tick and folds
// once the other replicas acknowledge it.
var ejectRepasses = []time.Duration{3, 10}

// rewakeNow asks rebalance for a wake pass; it never blocks (one request pending is
// enough), and does nothing once the node stopped.
func (n *Node) rewakeNow() {
	select {
	case n.rewake <- struct{}{}:
	default:
	}
}

// declareGone makes p's tombstone gone since at the latest: it reports false when p has
// no tombstone (it is live, or unknown).
func (m *members) declareGone(p lattice.Peer, since time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	x, ok := m.byPeer[p]
	if !ok || x.Live {
		return false
	}
	if !x.Since.IsZero() && x.Since.After(since) { // the zero Since is ejectable already
		x.Since = since
		m.byPeer[p] = x
	}
	return true
}
