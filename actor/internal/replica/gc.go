package replica

import (
	"slices"

	"github.com/legion-go/legion/gc"
	"github.com/legion-go/legion/lattice"
)

// onGC asks gc what this replica should propose: ejections of peers gone too long,
// joins of peers placement now gives the partition (handoffs, each sent a full state),
// and its own leave once its replacement holds the state.
func (r *Replica) onGC() {
	if r.life == Syncing {
		r.report() // it names its peers while it waits for them (see report)
		return
	}
	st := r.fold.State()
	if r.failed != nil || !st.HasBase || st.Retired || r.life != Active {
		return
	}
	now := r.now
	rep := r.fold.GCReplica(r.kind, r.key, r.lastAdvance)
	r.out.Report = &rep
	// The node's handoff count is gc's InFlight over its replicas, kept as it changes: a
	// join holds its slot from its proposal until it is no longer pending in this log
	// (completed, or dropped with its joiner's ejection), or the replica goes (Release).
	for p := range r.joins {
		if slices.Contains(rep.Participants, p) || !slices.Contains(rep.Joining, p) {
			r.env.ReleaseHandoff()
			delete(r.joins, p)
		}
	}
	if r.env.Partial() {
		return // a view that may lack members is no ground for ejections or handoffs
	}
	var plan gc.Plan
	if r.env.Leaving() {
		cfg := r.cfg.GC
		cfg.MaxHandoffs = max(cfg.MaxHandoffs, r.cfg.HandoverHandoffs)
		plan = gc.Handover(r.cfg.Self, r.env.Members(), []gc.Replica{rep}, r.env.Handoffs(), cfg)
	} else {
		plan = gc.Decide(now, r.cfg.Self, r.env.Members(), []gc.Replica{rep}, r.env.Handoffs(), r.cfg.GC)
	}
	joined := true // every join of the plan was written (a handover's leave waits for them)
	if soleConfirmer(rep, r.cfg.Self) {
		// The lattice confirms an UnJoin once every other participant and every peer
		// joining before it acknowledged it. Of two participants, each alone would confirm
		// the other's ejection on its side of a split: both fold what they wrote after it,
		// and the heal keeps one history (the simulation's seed 9335 lost an acknowledged
		// write so). So there the joins are proposed first, and the joiners confirm the
		// ejection too. A joiner that goes before it acknowledged holds the ejection back
		// until it comes back and confirms it, even once it is ejected itself (lattice's
		// Owed keeps naming it, so anti-entropy reaches it and it gets its state; before,
		// the partition stalled for good: seed 3948).
		//
		// The ejection never goes in the same tick: it waits until the joiners
		// acknowledged their Joins (Decide holds it until then), when they make this
		// replica no sole confirmer. A joiner that a lagging view still listed although it
		// was gone for good held it, and the log, for ever (seed 483). With no join to
		// write, it does not eject alone either: gc plans none when every live host of the
		// placement is a participant already (one whose own ejection is still pending),
		// and the peer it would eject, living on with a stale state (a split, a pause),
		// could eject it in turn behind a join of its own: two contradicting ejections
		// with no confirmer in common, and the heal keeps one history (seed 8118 with
		// -sim.pauses lost three acknowledged writes so). It waits for the peer to come
		// back, or for a host to join.
		joins := plan.Count(gc.Join) > 0
		plan.Actions = slices.DeleteFunc(plan.Actions, func(a gc.Action) bool {
			if a.Kind == gc.Eject && !joins {
				r.log(LevelDebug, "not ejecting alone", "peer", a.Peer)
			}
			return a.Kind == gc.Eject
		})
		slices.SortStableFunc(plan.Actions, func(a, b gc.Action) int { return actionOrder(a.Kind) - actionOrder(b.Kind) })
	}
	for _, a := range plan.Actions {
		switch a.Kind {
		case gc.Eject:
			if _, err := r.fold.Propose(lattice.UnJoin, a.Peer); err == nil {
				r.log(LevelInfo, "ejecting peer", "peer", a.Peer)
				r.broadcast = true
			}
		case gc.Join:
			if !r.env.ReserveHandoff() {
				joined = false
				continue // another replica of this node took the last slot meanwhile
			}
			if _, err := r.fold.Propose(lattice.Join, a.Peer); err != nil {
				r.env.ReleaseHandoff()
				joined = false
				continue
			}
			r.log(LevelInfo, "handing off", "to", a.Peer)
			r.joins[a.Peer] = true
			r.full[a.Peer] = true
			r.broadcast = true
		case gc.Leave:
			if !joined {
				continue
			}
			if _, err := r.fold.Propose(lattice.UnJoin, r.cfg.Self); err == nil {
				r.log(LevelInfo, "leaving")
				r.broadcast = true
			}
		}
	}
	if r.broadcast {
		r.queueFlush()
	}
}

// report describes the replica to its node (Effects.Report) if it holds a state: at its
// start from the store, and at each gc tick while it syncs, not only once it serves. The
// node keeps a tombstone for every peer its replicas name that its membership does not
// list, and counts itself settled (it vouches for placements, starts partitions, ejects)
// a fixed time (2 GCIntervals) after its first wake pass, by when every replica it woke is
// taken to have described itself (actor's members.sweep). A restarted node cut off from
// its peers is where that matters, and there its stored replicas sync with peers that do
// not answer: reporting only at the first gc tick after the sync timed out, they reported
// at the deadline, and the node settled without tombstones for the peers it had known. It
// then placed a partition it did not hold over the peers it saw, and a new node that saw
// only it started that partition again (the simulation's seed 6487 with deletes lost
// eight acknowledged writes so; testdata/restart_report.txt).
func (r *Replica) report() {
	if st := r.fold.State(); r.failed == nil && st.HasBase && !st.Retired {
		rep := r.fold.GCReplica(r.kind, r.key, r.lastAdvance)
		r.out.Report = &rep
	}
}

// actionOrder ranks a plan's actions as onGC proposes them: joins, then the ejection, then
// the leave.
func actionOrder(k gc.ActionKind) int {
	switch k {
	case gc.Join:
		return 0
	case gc.Eject:
		return 1
	}
	return 2
}

// soleConfirmer reports whether self would confirm an ejection alone: it is the only full
// participant that is not leaving besides, at most, one other, and nobody is joining.
func soleConfirmer(rep gc.Replica, self lattice.Peer) bool {
	others := 0
	for _, p := range rep.Participants {
		if p != self && !slices.Contains(rep.Leaving, p) {
			others++
		}
	}
	return others <= 1 && len(rep.Joining) == 0
}
