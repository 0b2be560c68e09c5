package replica

import (
	"errors"
	"fmt"
	"slices"

	"github.com/legion-go/legion/actor/internal/errs"
	"github.com/legion-go/legion/actor/internal/wire"
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
// partitions; the other side answers errs.Unavailable for partitions it has never held
// (docs/decisions/0006-one-lineage.md gives the argument and its limits).

// startSync asks the other peers of set for their state; requests are stashed and
// nothing is flushed until one answers with a state, all answer, or the wait times out.
//
// A replica that holds a state (it was loaded from the store, or its node was cut off)
// asks for a diff: each peer answers with what this replica lacks by that peer's
// knowledge of its acks (nothing but the peer's base when nothing changed), and with its
// full state only when no diff can apply (the peer no longer counts this one among the
// participants, it holds nothing, or this replica cannot reproduce the peer's infimum
// from its own log: then this replica asks again for the full state, as for any diff).
// Reactivating an unchanged partition used to cost every peer's full state: its value,
// dedup window and pending entries.
func (r *Replica) startSync(set []lattice.Peer) {
	r.life, r.syncSet, r.syncWait, r.syncDisagree, r.syncMerged, r.syncWide = Syncing, set, map[lattice.Peer]bool{}, false, false, false
	clear(r.syncAsked)
	r.syncGen++
	resync := r.fold.State().HasBase
	for _, p := range set {
		if p != r.cfg.Self {
			r.syncWait[p] = true
			r.askState(p, resync)
		}
	}
	if len(r.syncWait) == 0 {
		r.finishSync()
		return
	}
	r.out.Timers = append(r.out.Timers, Timer{Kind: SyncTimer, After: r.cfg.AttemptTimeout / 2, Gen: r.syncGen})
}

// askState asks p for the partition's state: a diff will do when resync (see startSync),
// its full state otherwise.
func (r *Replica) askState(p lattice.Peer, resync bool) {
	if !resync {
		r.needFull(p)
		return
	}
	r.out.Sends = append(r.out.Sends, Send{To: p, Msg: &wire.Replicate{To: r.target(p), From: string(r.cfg.Self),
		Body: &wire.Replicate_NeedFull{NeedFull: &wire.NeedFull{}}, Resync: true}})
}

// onNeedFull records that p asked for the partition's state (resync: a diff will do);
// the next flush answers.
func (r *Replica) onNeedFull(p lattice.Peer, resync bool) {
	if resync && r.fold.State().HasBase {
		if !r.full[p] { // a full state asked for already stays asked for
			r.full[p] = false // a diff if one can apply (sendTo), marked as the answer
		}
		return
	}
	r.full[p] = true
}

// mutualResync records that p, which this replica's resync waits on, resyncs from it in
// turn (a diff will do: p holds a state, loaded from its store or cut off), and reports
// whether every peer the resync waits on does so: then the sync ends now, as its timer
// would end it later. A replica that resyncs answers nothing until its own sync ends (it
// does not flush), so when a call activates a partition whose every replica passivated,
// each replica it activates is stale and waits on the others: none of them could answer
// before the timers, and every call on a cold partition took AttemptTimeout/2 (1 s by
// default; docs/performance.md, "At scale"). Ending the sync early is what the timeout
// does, with nothing that could have come meanwhile: only the peers waited on answer a
// resync, and they all wait too. Each then flushes and answers the others' requests
// (onNeedFull recorded them), so the partition serves after one round trip.
func (r *Replica) mutualResync(p lattice.Peer, resync bool) bool {
	if !resync || r.life != Syncing || !r.syncWait[p] || !r.fold.State().HasBase {
		return false
	}
	if r.syncAsked == nil {
		r.syncAsked = map[lattice.Peer]bool{}
	}
	r.syncAsked[p] = true
	for q := range r.syncWait {
		if !r.syncAsked[q] {
			return false
		}
	}
	return true
}

// resynced reports whether the diff just applied from p answers this replica's resync
// (startSync): it is a live replica's view, as a full state would be, and p's answer.
func (r *Replica) resynced(p lattice.Peer, answer bool) bool {
	if !answer || r.life != Syncing || !r.syncWait[p] {
		return false
	}
	delete(r.syncWait, p)
	r.syncMerged = true
	return true
}

// finishSync starts the partition from scratch if no replica sent a state and the
// genesis rules allow it, then runs the stashed requests.
func (r *Replica) finishSync() {
	r.life = Active
	st := r.fold.State()
	if !st.HasBase {
		if err := r.genesisRefusal(); err != nil {
			// Starting the partition from scratch here could fork it, so the callers try
			// elsewhere or later.
			r.log(LevelDebug, "not starting a partition", "reason", err)
			for _, s := range r.stash {
				r.replyErr(s.from, s.query, errs.Unavailable)
			}
			r.stash = nil
			return
		}
		if others := r.otherHosts(); !r.syncWide && len(others) > 0 {
			r.widenSync(others)
			return
		}
		if !slices.ContainsFunc(r.stash, func(s stashed) bool { return !s.query }) {
			r.answerFromInitial()
			return
		}
		r.log(LevelDebug, "starting the partition from scratch", "participants", r.syncSet)
		r.fold.Genesis(r.syncSet)
	}
	if r.stale {
		r.stale = false
		// Only a live replica's state proves that this copy was ejected: one that is no
		// participant by its own log alone (it wrote its own UnJoin before it stopped)
		// waits for that proof, which anti-entropy brings.
		if r.syncMerged && st.HasBase && !st.Participant && !slices.Contains(r.fold.Top(), r.cfg.Self) {
			r.discard()
			return
		}
	}
	stash := r.stash
	r.stash = nil
	for _, s := range stash {
		r.handleRequest(s)
	}
	r.queueFlush()
}

// A query of a partition that does not exist (docs/calls.md, "A query of a key nobody
// wrote") starts nothing: once the sync establishes that no replica holds a state, and the
// genesis rules would let a call start the partition here, stashed queries alone are
// answered from the kind's initial state, and the replica, which holds nothing, goes.
// Looking up keys nobody wrote then stores nothing, on any node.
//
// "No replica of the set holds it" is not enough for a query: a partition whose every
// replica moved (several hosts joined at once, so the whole set changed before the
// handoffs) lives on peers outside the set. Before answering from the initial state, the
// sync also asks every other live host of the kind (widenSync); one that holds a state
// answers with it, which is merged, and the query is answered from it as after any sync.
// One that does not answer, or places the partition elsewhere, makes the queries fail
// with errs.Unavailable (genesisRefusal), as a call would. A call is held to the same:
// the first call on a set that moved whole would otherwise start a second lineage beside
// the old replicas' (testdata/genesis_moved.txt; docs/decisions/0006-one-lineage.md).

// otherHosts returns the live hosts of the kind other than the sync's set, in order.
func (r *Replica) otherHosts() []lattice.Peer {
	var out []lattice.Peer
	for _, m := range r.env.Members() {
		if m.Live && slices.Contains(m.Kinds, r.kind) && !slices.Contains(r.syncSet, m.Peer) &&
			m.Peer != r.cfg.Self && !slices.Contains(out, m.Peer) {
			out = append(out, m.Peer)
		}
	}
	slices.Sort(out)
	return out
}

// widenSync asks the peers others for their state too, the set's having answered that
// they hold nothing: the stashed queries wait for them (finishSync again).
func (r *Replica) widenSync(others []lattice.Peer) {
	r.life, r.syncWide = Syncing, true
	r.syncGen++
	for _, p := range others {
		r.syncWait[p] = true
		r.askState(p, false)
	}
	r.out.Timers = append(r.out.Timers, Timer{Kind: SyncTimer, After: r.cfg.AttemptTimeout / 2, Gen: r.syncGen})
}

// answerFromInitial answers the stashed queries from the kind's initial state, on a fold
// of its own, and lets the replica go: it holds nothing (unless it keeps renegades, or
// owes a peer its answer, which the next flush sends: then it goes at a gc tick, as the
// replicas it asked do, passivateIfIdle).
func (r *Replica) answerFromInitial() {
	initial := r.newFold()
	initial.Genesis(r.syncSet)
	for _, s := range r.stash {
		out, err := initial.Query(s.q.GetQuery(), s.q.GetLevel() == wire.ReadLevel_STABLE)
		r.out.Replies = append(r.out.Replies, Reply{To: s.from, Msg: &wire.QueryReply{Output: out, Error: errs.ToWire(err), Initial: err == nil}})
	}
	r.stash = nil
	switch {
	case len(r.full) > 0: // peers asked for this replica's state while it synced
		r.queueFlush()
	case r.holdsNothing():
		r.life = Leaving
	}
}

// holdsNothing reports whether the replica is active and holds nothing that it must keep
// in memory: no state, no entries, no renegades, no request or peer waiting on it. Such a
// replica goes after a gc interval without input (it answered a sync's "I hold nothing"),
// or at once when it answered queries from the initial state: the next message for the
// partition activates it again, as after a passivation.
func (r *Replica) holdsNothing() bool {
	st := r.fold.State()
	return r.life == Active && !st.HasBase && st.Pending == 0 && len(r.renegades) == 0 && !r.renegadesDirty &&
		len(r.dropped) == 0 && len(r.stash) == 0 && len(r.waiters) == 0 && len(r.fast) == 0 &&
		len(r.joins) == 0 && len(r.full) == 0 && !r.flushQueued && !r.draining && !r.reproposing
}

// genesisRefusal returns why the replica may not start the partition from scratch now, or
// nil if it may. It runs at the end of a sync that found no state.
func (r *Replica) genesisRefusal() error {
	if r.env.Partial() {
		return errors.New("this node's membership has not reached the cluster yet")
	}
	if len(r.syncWait) > 0 && r.syncWide {
		return errors.New("a host of the kind did not answer: it may hold the partition")
	}
	if len(r.syncWait) > 0 {
		return errors.New("a replica of the set did not answer: it may hold the partition")
	}
	if r.syncDisagree {
		return errors.New("a replica of the set places the partition on other peers")
	}
	if own := r.knownPlacement(); !SamePeers(own, r.syncSet) {
		return fmt.Errorf("this node places the partition on %v, the caller on %v", own, r.syncSet)
	}
	if held := gc.Decide(r.now, r.cfg.Self, r.env.Members(), nil, 0, r.cfg.GC).Held; held != nil {
		return held
	}
	return nil
}

// discard handles a replica that learned on its return that it had been ejected: its
// copy is deleted, and the events it had acknowledged that the history dropped stay
// stored (a shell that holds only them) until each is logged again through the
// partition's current replicas (renegade.go). Placement joins this peer again as a new
// participant if it wants it here.
func (r *Replica) discard() {
	// Whatever of its own the copy still holds on disk (it may have been acknowledged) goes
	// too: propose it again (a copy the partition holds already is a duplicate there, by
	// its request key). One still in memory only was answered to nobody.
	own := r.fold.OwnEvents()
	r.addRenegades(slices.DeleteFunc(own, func(e lattice.Entry[[]byte]) bool {
		_, stored := r.stored[e.ID]
		return !stored
	}))
	r.log(LevelInfo, "discarding the copy of an ejected replica", "renegades", len(r.renegades))
	r.markRemoved()
	r.resetFold()
	r.renegadesDirty = true // the shell (or nothing) replaces the copy
	r.persist(writeDiscard)
}

// discarded completes discard once its write is committed.
func (r *Replica) discarded(err error) {
	refusal := errs.NotReplica
	if err != nil {
		refusal = err
	}
	for _, s := range r.stash {
		r.replyErr(s.from, s.query, refusal)
	}
	r.stash = nil
	if err != nil {
		return
	}
	if len(r.renegades) == 0 {
		r.life = Discarded
		return
	}
	r.startRepropose()
}

// resetFold replaces the fold with one that holds nothing, keeping its Lamport clock: the
// peer's next deltas must not reuse the ids of those it created in the copy it drops (a
// replica holding one of those takes the new delta for it, and the new event is lost).
func (r *Replica) resetFold() {
	c := r.fold.Clock()
	r.fold = r.newFold()
	r.fold.Witness(c)
	r.applyTombstone()
}

// knownPlacement is where the partition goes over every member this node knows of that
// hosts the kind, live or gone (a tombstone): the peers that may hold it. A partition
// whose replicas are all cut off from this side of a split is placed on this side's peers
// by the live members, and those hold nothing; starting it there would fork it (the
// simulation found acknowledged writes lost so, seed 30). Placed over the known members,
// it lands on the peers that are gone, which do not answer, and genesis is refused until
// they come back or their tombstones retire (docs/decisions/0006-one-lineage.md).
func (r *Replica) knownPlacement() []lattice.Peer {
	var hosts []lattice.Peer
	for _, m := range r.env.Members() {
		if slices.Contains(m.Kinds, r.kind) && !slices.Contains(hosts, m.Peer) {
			hosts = append(hosts, m.Peer)
		}
	}
	return gc.ReplicaSet(r.kind, r.key, hosts, r.cfg.GC.ReplicationFactor)
}
