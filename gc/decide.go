package gc

import (
	"slices"
	"time"

	"github.com/legion-go/legion/lattice"
)

// Decide plans the membership changes this node (self) should propose now in the replicas
// it stores, given the membership it sees, its replicas (one per partition, any order), and
// the number of joins it wrote that have not folded yet (inFlight). It is pure: the same
// arguments give the same plan, and it modifies none of them. The runtime proposes each
// action in its replica, counts the joins as in flight until they fold, and calls Decide
// again whenever membership, a replica's membership or inFlight changes, and after
// EjectAfter has passed for a gone peer (or simply on a period shorter than EjectAfter).
//
// cfg is completed with WithDefaults; Decide panics if it then fails Validate (check it
// with Validate when the configuration is read).
//
// Rules (docs/gc.md gives the reasons):
//
//   - Self live: if membership does not report self live, nothing is planned
//     (Held = ErrSelfNotLive): a view that leaves out the node itself is not one to act on.
//   - Majority: nothing is planned unless a strict majority of the members that count
//     are live (Held = ErrNoMajority). A member counts if it hosts a kind and is live, or
//     is a tombstone gone for less than TombstoneTTL. A node cut off in a minority must
//     not eject the majority, nor move replicas to the few peers it can see; it cannot
//     while it counts every peer alive on the other side, since two disjoint groups
//     cannot both hold more than half of the live peers. So the runtime drops a
//     tombstone only once none of its replicas names the peer (it left its partitions or
//     was ejected from them), and TombstoneTTL bounds how long peers that left without
//     being ejected can hold a majority back. Without consensus on membership, peers
//     that join one side during a split count on that side only, and can give both
//     sides a majority (docs/gc.md, "Majority").
//   - Writer: in each partition, only one replica writes Ejects and Joins: the first peer
//     of the desired replica set that is a live full participant and not leaving; when
//     there is none, the live full participant, not leaving, that ranks first by Weight.
//     Nodes that see the same membership agree on it, so there are no duplicate writes;
//     nodes that disagree may duplicate one, which the lattice tolerates.
//   - Eject: the writer ejects a full participant or joiner that membership has reported
//     gone (listed with Live false) for at least EjectAfter, provided it is the only one of
//     them not live and is not already leaving. A peer that is not listed at all is never
//     ejected: its absence does not say since when it is gone. A peer that came back (Live
//     again) is not ejected. The writer never ejects itself, so at least one full
//     participant always remains. Nor does it eject while another joiner has not
//     acknowledged its own Join (JoinUnacked): an UnJoin written after a pending Join
//     needs the joiner's acknowledgement to be confirmed or voided, and a joiner that
//     was already gone (a view that still listed it) would hold it, and the log behind
//     it, for ever; its own ejection sorts after it (the simulation's seed 483). Once the
//     joiner acknowledged, it takes part; once membership reports it gone, it is the one
//     ejected (or, with the first peer, the partition is Blocked until one returns).
//   - Blocked: when two or more of a partition's full participants and joiners are not
//     live, its writer plans nothing there and counts it in Blocked: the lattice could
//     confirm neither ejection, nor fold a join, until one of them returns.
//   - Join: desired = ReplicaSet(kind, key, live members hosting kind, R). The writer
//     writes Join(p) for every desired p that is neither a full participant nor joining
//     (a desired peer that is still leaving is joined again once its UnJoin folds), once
//     every full participant and joiner is live or leaving (or ejected by this plan): a
//     join could not fold before that, and would hold a handoff slot. At most
//     MaxHandoffs - inFlight joins are planned per call, in partition order (kind, key);
//     the rest are counted in Deferred.
//   - Leave: self leaves (UnJoin(self)) when it is a full participant not already leaving,
//     not desired, no Join is pending in the replica, the desired set is not empty, and
//     every desired peer is a full participant that is not leaving: the replacement holds
//     the state before the old copy goes.
//   - Nothing is planned for a retired replica, nor for one in which self is not a full
//     participant (only those may propose).
func Decide(now time.Time, self lattice.Peer, members []Member, replicas []Replica, inFlight int, cfg Config) Plan {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		panic(err.Error())
	}
	m := newMembership(members)
	if !m.isLive(self) {
		return Plan{Held: ErrSelfNotLive}
	}
	if !m.majority(now, cfg.TombstoneTTL) {
		return Plan{Held: ErrNoMajority}
	}
	d := decider{now: now, self: self, m: m, cfg: cfg, budget: max(cfg.MaxHandoffs-inFlight, 0)}
	order := make([]int, len(replicas))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(i, j int) int {
		return replicas[i].Partition().Compare(replicas[j].Partition())
	})
	for _, i := range order {
		d.partition(&replicas[i])
	}
	return d.plan
}

type decider struct {
	now    time.Time
	self   lattice.Peer
	m      *membership
	cfg    Config
	budget int // joins this call may still plan
	plan   Plan
}

func (d *decider) partition(r *Replica) {
	if r.Retired || !slices.Contains(r.Participants, d.self) {
		return
	}
	desired := ReplicaSet(r.Kind, r.Key, d.m.liveHosts(r.Kind), d.cfg.ReplicationFactor)
	if d.writer(r, desired) == d.self {
		d.write(r, desired)
	}
	d.leave(r, desired)
}

// write plans the writer's ejection and joins (see Decide). Self, the writer, is a live full
// participant that is not leaving and is never ejected, so at least one full participant
// always remains.
func (d *decider) write(r *Replica, desired []lattice.Peer) {
	var gone []lattice.Peer // full participants and joiners membership does not report live
	for _, p := range sortedSet(slices.Concat(r.Participants, r.Joining)) {
		if !d.m.isLive(p) {
			gone = append(gone, p)
		}
	}
	switch {
	case len(gone) > 1:
		// The lattice confirms an ejection only once every other participant and joiner
		// acknowledged it: with two peers gone, neither can be, nor can a join fold. Wait
		// for one to return rather than force it to rejoin.
		d.plan.Blocked++
		return
	case len(gone) == 1 && !slices.Contains(r.Leaving, gone[0]):
		if !d.ejectable(gone[0]) || slices.ContainsFunc(r.JoinUnacked, func(p lattice.Peer) bool { return p != gone[0] }) {
			return // joins could not fold before the ejection: keep the budget
		}
		d.add(Eject, r, gone[0])
	}
	d.join(r, desired)
}

// ejectable reports whether membership lists p as gone for at least EjectAfter. A peer
// that is not listed at all is never ejectable: nothing says since when it is gone.
func (d *decider) ejectable(p lattice.Peer) bool {
	gone, ok := d.m.goneFor(p, d.now)
	return ok && gone >= d.cfg.EjectAfter
}

// writer returns the peer that writes the partition's Ejects and Joins (see Decide), or ""
// when no live full participant is free to write. A leaving peer is skipped: its deltas
// after its own UnJoin are dropped as renegades.
func (d *decider) writer(r *Replica, desired []lattice.Peer) lattice.Peer {
	can := func(p lattice.Peer) bool {
		return slices.Contains(r.Participants, p) && !slices.Contains(r.Leaving, p) && d.m.isLive(p)
	}
	for _, p := range desired {
		if can(p) {
			return p
		}
	}
	var free []lattice.Peer
	for _, p := range r.Participants {
		if can(p) {
			free = append(free, p)
		}
	}
	if best := ReplicaSet(r.Kind, r.Key, free, 1); len(best) == 1 {
		return best[0]
	}
	return ""
}

// join plans the handoffs to the desired peers the partition lacks, within the budget.
func (d *decider) join(r *Replica, desired []lattice.Peer) {
	for _, p := range desired {
		if slices.Contains(r.Participants, p) || slices.Contains(r.Joining, p) {
			continue
		}
		if d.budget == 0 {
			d.plan.Deferred++
			continue
		}
		d.budget--
		d.add(Join, r, p)
	}
}

// leave plans self's departure once the desired set holds the partition without it.
func (d *decider) leave(r *Replica, desired []lattice.Peer) {
	if slices.Contains(desired, d.self) || slices.Contains(r.Leaving, d.self) ||
		len(r.Joining) > 0 || len(desired) == 0 {
		return
	}
	for _, p := range desired {
		if !slices.Contains(r.Participants, p) || slices.Contains(r.Leaving, p) {
			return
		}
	}
	d.add(Leave, r, d.self)
}

func (d *decider) add(k ActionKind, r *Replica, p lattice.Peer) {
	d.plan.Actions = append(d.plan.Actions, Action{Kind: k, Partition: r.Partition(), Peer: p})
}
