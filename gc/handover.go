package gc

import (
	"slices"

	"github.com/legion-go/legion/lattice"
)

// Handover plans a planned departure: how self hands each replica it stores to the peers
// that will own it once self is gone, before self leaves membership. In each replica in
// which self is a full participant and not already leaving, it plans a Join of every peer
// of the replica set that placement gives the partition among the live members hosting
// its kind other than self, that is neither a full participant nor joining, and then
// self's Leave, in that order. The runtime writes them in that order, so the Join sorts
// before the UnJoin: the UnJoin folds only after the new replica acknowledged its Join,
// having received the full state, and self's copy goes only once its replacement holds
// it. Meanwhile no replica decides that the newcomer should leave again (Decide's Leave
// waits until no desired peer is leaving, and self is).
//
// A replica with no replacement to join (the kind has no other live host beyond its
// participants) just leaves. One that no other peer would hold once self is gone stays:
// its other participants are all leaving, or none of them is a live host (departing
// peers host nothing), and there is no peer to join. So when a whole cluster stops at
// once, the last holder keeps the partition rather than leave it to no one. At most MaxHandoffs - inFlight joins are planned per call,
// in partition order; a replica whose joins do not fit is planned in a later call
// (Deferred counts its joins). Unlike Decide, Handover needs no majority: a peer may
// always leave, and a join it writes folds only once every participant acknowledged it.
// It is pure, like Decide.
func Handover(self lattice.Peer, members []Member, replicas []Replica, inFlight int, cfg Config) Plan {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		panic(err.Error())
	}
	m := newMembership(members)
	budget := max(cfg.MaxHandoffs-inFlight, 0)
	order := make([]int, len(replicas))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(i, j int) int {
		return replicas[i].Partition().Compare(replicas[j].Partition())
	})
	var plan Plan
	for _, i := range order {
		r := &replicas[i]
		if r.Retired || !slices.Contains(r.Participants, self) || slices.Contains(r.Leaving, self) {
			continue
		}
		others := slices.DeleteFunc(slices.Clone(m.liveHosts(r.Kind)), func(p lattice.Peer) bool { return p == self })
		var joins []lattice.Peer
		for _, p := range ReplicaSet(r.Kind, r.Key, others, cfg.ReplicationFactor) {
			if !slices.Contains(r.Participants, p) && !slices.Contains(r.Joining, p) {
				joins = append(joins, p)
			}
		}
		if !heldAfter(r, self, others, joins) {
			continue // no peer to hand it to: the partition stays with self
		}
		if len(joins) > budget {
			plan.Deferred += len(joins)
			continue
		}
		budget -= len(joins)
		for _, p := range joins {
			plan.Actions = append(plan.Actions, Action{Kind: Join, Partition: r.Partition(), Peer: p})
		}
		plan.Actions = append(plan.Actions, Action{Kind: Leave, Partition: r.Partition(), Peer: self})
	}
	return plan
}

// heldAfter reports whether a peer other than self holds r once self is gone: a peer to
// join, or a participant that is a live host (others) and not leaving.
func heldAfter(r *Replica, self lattice.Peer, others, joins []lattice.Peer) bool {
	if len(joins) > 0 {
		return true
	}
	for _, p := range r.Participants {
		if p != self && slices.Contains(others, p) && !slices.Contains(r.Leaving, p) {
			return true
		}
	}
	return false
}
