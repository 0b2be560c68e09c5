package actor

import (
	"errors"
	"hash/maphash"
	"slices"
	"time"

	pa "github.com/legion-go/legion/actor/internal/protoactor/actor"
	"google.golang.org/protobuf/proto"

	"github.com/legion-go/legion/actor/internal/wire"
	"github.com/legion-go/legion/gc"
	"github.com/legion-go/legion/lattice"
	"github.com/legion-go/legion/storage"
)

// replica holds one replica of one partition. It is not an actor: its shard runs it, one
// message at a time, and its handlers send through the shard's context. Calls and
// replication messages only change the fold in memory and mark the replica dirty; a
// flush, queued behind whatever is already in the shard's mailbox, then makes the batch
// durable in one commit, answers the fast calls, answers the consistent calls whose
// events folded, and sends diffs to the other replicas. So a burst of calls costs one
// commit and one diff per peer, and nothing is acknowledged (to a caller or a peer)
// before it is on disk.
type replica struct {
	n      *Node
	sh     *shard
	id     partitionID
	kind   KindSpec
	key    string
	origin string
	part   storage.Partition
	fold   foldable
	failed error // the store failed: the replica refuses work rather than lose it

	// stored: the entries on disk, each with whether it was written with this replica's
	// ack (an entry it refused to acknowledge at first, see lattice "Ejection", is written
	// again once it does: an ack is a promise and must survive a restart).
	stored     map[lattice.EventID]bool
	storedBase lattice.Base
	storedHas  bool
	batch      storage.Batch // persist's, reused
	written    []storedEntry // stage's, reused
	idBuf      []lattice.EventID
	// What the last stage wrote, for committed: its kind, and the bytes of its entries
	// and of its infimum.
	staged                                int
	stagedEntryBytes, stagedSnapshotBytes int
	folds                                 []folded // stageFlush's, for finishFlush

	fast        []pendingReply
	outputs     outputCache // outputs of recent requests, for retried calls
	waiters     map[lattice.EventID]waiter
	flushQueued bool
	broadcast   bool                       // send a diff to every other replica at the next flush
	notify      map[lattice.Peer]bool      // send a diff to these at the next flush
	full        map[lattice.Peer]bool      // send the full state to these at the next flush
	outstanding map[lattice.Peer]time.Time // diffs sent and not answered yet
	deferred    map[lattice.Peer]bool      // diffs held back by flow control

	// renegades: events this replica acknowledged that the history dropped, to propose
	// again (renegade.go); renegadesDirty: they changed since they were last written;
	// reproposing: a re-proposal round is under way.
	renegades      []lattice.Entry[[]byte]
	renegadesDirty bool // renegades or dropped changed since they were last written
	reproposing    bool
	dropped        [][]byte // states of another lineage that merges dropped (fork.go)

	targets  []lattice.Peer // replicate's, reused
	targetOf []*wire.Target // see target
	// Passivation: messages received (other than its own timers' and flushes), their
	// count at the last gc tick, and since when the replica has been idle.
	received, receivedAtGC int
	idleSince              time.Time
	// leaving: the replica passivated, retired or was discarded; its shard removes it
	// once the current message is handled.
	leaving bool
	// discarded: the replica deleted its copy (discard); nothing of it may be written.
	discarded bool

	ticker    *time.Timer // sends tickMsg; armed while tickArmed
	tickArmed bool
	lastBase  lattice.Base
	idleTicks int

	// A replica that holds nothing asks the other replicas for their state before it
	// starts the partition from scratch (genesis): the partition may exist already.
	// Membership of the partition (gc): when the infimum last moved, and the joins this
	// replica wrote that have not completed (each counts in the node's handoff limit).
	lastAdvance time.Time
	joins       map[lattice.Peer]time.Time
	// foldsSinceSnapshot counts folds since the infimum was last written; deltaBytes is
	// the size of the entries written since, snapshotBytes the size of that infimum.
	foldsSinceSnapshot        int
	deltaBytes, snapshotBytes int
	gcTimer                   *time.Timer // sends gcTick; armed while gcArmed
	gcArmed                   bool

	// stale: the replica was loaded from disk. It may have been ejected while its node was
	// away, so before it acts it merges a live replica's state (resync).
	stale bool
	// draining, when set, is signalled once every event this replica created is
	// acknowledged by another replica (the node is stopping).
	draining chan<- struct{}

	syncing      bool
	syncSet      []lattice.Peer
	syncWait     map[lattice.Peer]bool
	syncDisagree bool // a replica that holds nothing placed the partition elsewhere
	syncMerged   bool // a replica's state was merged during the sync
	syncTimer    *time.Timer
	stash        []stashed
}

type stashed struct {
	msg    any
	sender *pa.PID
}

// syncTimeout ends a replica's wait for the other replicas' states.
type syncTimeout struct{}

// gcTick makes a replica reconsider the partition's membership, and whether to passivate.
type gcTick struct{}

type pendingReply struct {
	to    *pa.PID
	reply *wire.CallReply
}

type waiter struct {
	to       *pa.PID
	deadline time.Time
}

// tickMsg is the anti-entropy timer's message; flushMsg is the shard's message to
// itself that flushes its dirty replicas.
type flushMsg struct{}
type tickMsg struct{}

func newReplica(n *Node, sh *shard, kind KindSpec, key string) *replica {
	origin := kind.kindName() + "/" + key
	return &replica{n: n, sh: sh, id: partitionID{kind.kindName(), key}, kind: kind, key: key, origin: origin,
		part:    storage.Partition{Kind: kind.kindName(), Key: key},
		fold:    kind.newReplica(origin, n.peer),
		stored:  map[lattice.EventID]bool{},
		waiters: map[lattice.EventID]waiter{},
		notify:  map[lattice.Peer]bool{}, full: map[lattice.Peer]bool{},
		outstanding: map[lattice.Peer]time.Time{}, deferred: map[lattice.Peer]bool{},
		joins: map[lattice.Peer]time.Time{}, lastAdvance: n.cfg.Now()}
}

// start runs when the shard activates the replica, before its first message.
func (r *replica) start(ctx pa.Context) {
	r.load()
	r.armGC()
	if r.stale {
		r.startSync(ctx, r.fold.state().participants)
	}
	r.startRepropose()
}

// stop runs when the shard removes the replica (or stops): it writes what it holds,
// unless it discarded its copy (that is deleted, and must stay so).
func (r *replica) stop() {
	if r.keeps() {
		r.persist(true) // best effort: what is not written is folded again after a restart
	}
	r.release()
}

// keeps reports whether the replica writes what it holds when it stops.
func (r *replica) keeps() bool {
	return r.failed == nil && !r.discarded && (r.fold.state().hasBase || r.renegadesDirty)
}

// release stops the replica's timers (a timer that fired already is dropped by the shard)
// and gives back what it holds of the node's.
func (r *replica) release() {
	if r.ticker != nil {
		r.ticker.Stop()
	}
	if r.syncTimer != nil {
		r.syncTimer.Stop()
	}
	if r.gcTimer != nil {
		r.gcTimer.Stop()
	}
	r.n.replicas.Delete(r.id)
	for p := range r.joins { // handoffs this replica will not see through
		r.n.inFlight.Add(-1)
		delete(r.joins, p)
	}
}

// receive handles one message; ctx is the shard's, and for a call or query its sender is
// the caller. Flushes do not come through here (see shard.flush).
func (r *replica) receive(ctx pa.Context, msg any) {
	switch msg.(type) {
	case tickMsg, gcTick, syncTimeout, reproposed: // its own timers and work
	default:
		r.received++ // see passivateIfIdle
	}
	switch m := msg.(type) {
	case *wake:
	case *drain:
		r.draining = m.done
		r.broadcast = true
		r.replicate()
		r.checkDrain()
	case *resync:
		if st := r.fold.state(); st.hasBase && !r.syncing {
			r.stale = true
			r.startSync(ctx, st.participants)
		}
	case gcTick:
		r.gcArmed = false
		if !r.passivateIfIdle() {
			r.onGC(ctx)
			r.startRepropose()
		}
		r.armGC()
	case reproposed:
		r.onReproposed(ctx, m)
	case *wire.Call, *wire.Query:
		r.handleRequest(ctx, m, ctx.Sender())
	case *wire.Replicate:
		r.onReplicate(ctx, m)
	case syncTimeout:
		if r.syncing {
			r.finishSync(ctx)
		}
	case tickMsg:
		r.onTick(ctx)
	}
}

// passivateIfIdle passivates the replica once it has had nothing pending and received no
// message for PassivateAfter (counted in gc ticks). It reports whether it did. (A
// replica is not an actor, so it has no receive timeout; Proto.Actor's would not do
// anyway: its timer writes the actor's context from the timer's goroutine while the
// mailbox reads it, a data race the race detector reports.)
func (r *replica) passivateIfIdle() bool {
	if r.received != r.receivedAtGC || !r.idle() {
		r.receivedAtGC, r.idleSince = r.received, time.Time{}
		return false
	}
	now := r.n.cfg.Now()
	if r.idleSince.IsZero() {
		r.idleSince = now
	}
	if now.Sub(r.idleSince) < r.n.cfg.PassivateAfter-r.n.cfg.GCInterval {
		return false
	}
	if err := r.persist(true); err != nil {
		r.fail(err)
		return false
	}
	r.leaving = true
	return true
}

func (r *replica) idle() bool {
	st := r.fold.state()
	return st.pending == 0 && len(r.waiters) == 0 && len(r.fast) == 0 && !r.flushQueued && len(r.renegades) == 0
}

// load recovers the replica from the store.
func (r *replica) load() {
	rec, found, err := r.n.store.Load(r.part)
	if err != nil {
		r.fail(err)
		return
	}
	if !found {
		return
	}
	snap := &wire.Snapshot{Origin: r.origin}
	if rec.Snapshot != nil {
		if err := proto.Unmarshal(rec.Snapshot, snap); err != nil {
			r.fail(err)
			return
		}
	}
	r.snapshotBytes = len(rec.Snapshot)
	for _, d := range rec.Deltas {
		r.deltaBytes += len(d.Data)
		e := &wire.Entry{}
		if err := proto.Unmarshal(d.Data, e); err != nil {
			r.fail(err)
			return
		}
		snap.Pending = append(snap.Pending, e)
	}
	if err := r.fold.restore(snap); err != nil {
		r.fail(err)
		return
	}
	r.loadRenegades(snap)
	r.dropped = snap.GetDropped()
	st := r.fold.state()
	for i, id := range r.fold.ids(nil) {
		r.stored[id] = r.fold.selfAcked(i)
	}
	r.storedBase, r.storedHas, r.lastBase = st.base, st.hasBase, st.base
	r.stale = st.hasBase
}

func (r *replica) fail(err error) {
	r.failed = err
	r.n.log.Error("replica failed", "partition", r.origin, "err", err)
}

func (r *replica) queueFlush(ctx pa.Context) {
	if r.syncing {
		return // finishSync queues it
	}
	if !r.flushQueued {
		r.flushQueued = true
		r.sh.queueFlush(ctx, r)
	}
}

// handleRequest runs a call or query once the replica holds a state. A replica that
// holds nothing and is in the caller's replica set first asks the other replicas of that
// set for their state (stashing requests meanwhile), and starts the partition from
// scratch only when none has one.
func (r *replica) handleRequest(ctx pa.Context, m any, sender *pa.PID) {
	if r.failed != nil {
		r.reply(ctx, m, sender, r.failed)
		return
	}
	if r.fold.state().hasBase {
		switch m := m.(type) {
		case *wire.Call:
			r.onCall(ctx, m, sender)
		case *wire.Query:
			r.onQuery(ctx, m, sender)
		}
		return
	}
	if r.syncing {
		r.stash = append(r.stash, stashed{msg: m, sender: sender})
		return
	}
	var set []string
	switch m := m.(type) {
	case *wire.Call:
		set = m.GetReplicaSet()
	case *wire.Query:
		set = m.GetReplicaSet()
	}
	peers := peersOf(set)
	if !slices.Contains(peers, r.n.peer) || r.n.leaving.Load() { // a departing node takes no new replica
		r.reply(ctx, m, sender, ErrNotReplica)
		return
	}
	r.stash = append(r.stash, stashed{msg: m, sender: sender})
	r.startSync(ctx, peers)
}

// startSync asks the other peers of set for their state; requests are stashed and
// nothing is flushed until one answers with a state, all answer, or the wait times out.
func (r *replica) startSync(ctx pa.Context, set []lattice.Peer) {
	r.syncing, r.syncSet, r.syncWait, r.syncDisagree, r.syncMerged = true, set, map[lattice.Peer]bool{}, false, false
	for _, p := range set {
		if p != r.n.peer {
			r.syncWait[p] = true
			r.n.send(p, &wire.Replicate{To: r.target(p), From: string(r.n.peer),
				Body: &wire.Replicate_NeedFull{NeedFull: &wire.NeedFull{}}})
		}
	}
	if len(r.syncWait) == 0 {
		r.finishSync(ctx)
		return
	}
	shard, root, msg := r.sh.self, r.n.system.Root, replicaMsg{r, syncTimeout{}}
	r.syncTimer = time.AfterFunc(r.n.cfg.AttemptTimeout/2, func() { root.Send(shard, msg) })
}

// finishSync starts the partition from scratch if no replica sent a state, then runs the
// stashed requests.
func (r *replica) finishSync(ctx pa.Context) {
	r.syncing = false
	if r.syncTimer != nil {
		r.syncTimer.Stop()
		r.syncTimer = nil
	}
	st := r.fold.state()
	if !st.hasBase {
		if err := r.genesisRefusal(); err != nil {
			// Starting the partition from scratch here could fork it (genesis.go), so
			// the callers try elsewhere or later.
			r.n.log.Debug("not starting a partition", "partition", r.origin, "reason", err)
			for _, s := range r.stash {
				r.reply(ctx, s.msg, s.sender, ErrUnavailable)
			}
			r.stash = nil
			return
		}
		r.fold.genesis(r.syncSet)
	}
	if r.stale {
		r.stale = false
		// Only a live replica's state proves that this copy was ejected: one that is no
		// participant by its own log alone (it wrote its own UnJoin before it stopped)
		// waits for that proof, which anti-entropy brings.
		if r.syncMerged && st.hasBase && !st.participant && !slices.Contains(r.fold.top(), r.n.peer) {
			r.discard(ctx)
			return
		}
	}
	stash := r.stash
	r.stash = nil
	for _, s := range stash {
		r.handleRequest(ctx, s.msg, s.sender)
	}
	r.queueFlush(ctx)
}

// discard handles a replica that learned on its return that it had been ejected: its
// copy is deleted, and the events it had acknowledged that the history dropped stay
// stored (a shell that holds only them) until each is logged again through the
// partition's current replicas (renegade.go). Placement joins this peer again as a new
// participant if it wants it here.
func (r *replica) discard(ctx pa.Context) {
	// Whatever of its own the copy still holds on disk (it may have been acknowledged) goes
	// too: propose it again (a copy the partition holds already is a duplicate there, by
	// its request key). One still in memory only was answered to nobody.
	own := r.fold.ownEvents()
	r.addRenegades(slices.DeleteFunc(own, func(e lattice.Entry[[]byte]) bool {
		_, stored := r.stored[e.ID]
		return !stored
	}))
	r.n.log.Info("discarding the copy of an ejected replica", "partition", r.origin, "renegades", len(r.renegades))
	r.resetFold()
	r.renegadesDirty = true // the shell (or nothing) replaces the copy
	if err := r.persist(true); err != nil {
		r.fail(err)
		return
	}
	for _, s := range r.stash {
		r.reply(ctx, s.msg, s.sender, ErrNotReplica)
	}
	r.stash = nil
	if len(r.renegades) == 0 {
		r.leaving, r.discarded = true, true
		return
	}
	r.startRepropose()
}

// resetFold replaces the fold with one that holds nothing, keeping its Lamport clock: the
// peer's next deltas must not reuse the ids of those it created in the copy it drops (a
// replica holding one of those takes the new delta for it, and the new event is lost).
func (r *replica) resetFold() {
	c := r.fold.clock()
	r.fold = r.kind.newReplica(r.origin, r.n.peer)
	r.fold.witness(c)
}

func (r *replica) reply(ctx pa.Context, m any, to *pa.PID, err error) {
	if _, ok := m.(*wire.Query); ok {
		ctx.Send(to, &wire.QueryReply{Error: toWire(err)})
		return
	}
	ctx.Send(to, &wire.CallReply{Error: toWire(err)})
}

func (r *replica) onCall(ctx pa.Context, m *wire.Call, sender *pa.PID) {
	if dl := deadlineOf(m); !dl.IsZero() && r.n.cfg.Now().After(dl) {
		// The caller gave up (its context ended): it may have retried elsewhere, and this
		// attempt, delivered late (a stalled connection, a stopped process), could then be
		// logged after the dedup window moved past the retry. Its outcome is unknown to the
		// caller either way: log nothing.
		r.reply(ctx, m, sender, ErrUnavailable)
		return
	}
	id, out, err := r.fold.event(m.GetEvent(), r.n.clock.Now(), m.GetReq())
	var rej *RejectedError
	var dup *lattice.DuplicateError
	switch {
	case errors.As(err, &dup):
		r.onDuplicate(ctx, m, sender, dup)
		return
	case err == nil, errors.As(err, &rej):
		// logged: an event, or an Error delta for a rejected one
	case errors.Is(err, lattice.ErrNotParticipant):
		r.reply(ctx, m, sender, ErrNotReplica)
		return
	default: // nothing was logged (undecodable payload)
		r.reply(ctx, m, sender, err)
		return
	}
	if m.GetConsistency() == wire.Consistency_CONSISTENT && err == nil {
		var dl time.Time
		if m.GetDeadline() > 0 {
			dl = time.Unix(0, m.GetDeadline())
		}
		r.waiters[id] = waiter{to: sender, deadline: dl}
	} else {
		r.fast = append(r.fast, pendingReply{to: sender,
			reply: &wire.CallReply{Output: out, Error: toWire(err), Id: wire.FromID(id)}})
		if err == nil { // a new request (a duplicate is onDuplicate's): not cached yet
			r.outputs.add(m.GetReq(), out)
		}
	}
	r.broadcast = true
	r.queueFlush(ctx)
}

// onDuplicate answers a call whose request this partition already holds (an earlier
// attempt of the same call reached another replica): with the original's output when this
// replica knows it, after the original folds for a consistent call.
func (r *replica) onDuplicate(ctx pa.Context, m *wire.Call, sender *pa.PID, dup *lattice.DuplicateError) {
	if m.GetConsistency() == wire.Consistency_CONSISTENT && !dup.Folded {
		r.waiters[dup.Of] = waiter{to: sender, deadline: deadlineOf(m)}
		return
	}
	if out, ok := r.outputs.get(m.GetReq()); ok {
		ctx.Send(sender, &wire.CallReply{Output: out, Id: wire.FromID(dup.Of)})
		return
	}
	ctx.Send(sender, &wire.CallReply{Error: toWire(ErrOutputUnknown), Id: wire.FromID(dup.Of)})
}

func deadlineOf(m *wire.Call) time.Time {
	if m.GetDeadline() > 0 {
		return time.Unix(0, m.GetDeadline())
	}
	return time.Time{}
}

func (r *replica) onQuery(ctx pa.Context, m *wire.Query, sender *pa.PID) {
	out, err := r.fold.query(m.GetQuery(), m.GetLevel() == wire.ReadLevel_STABLE)
	ctx.Send(sender, &wire.QueryReply{Output: out, Error: toWire(err)})
}

func (r *replica) onReplicate(ctx pa.Context, m *wire.Replicate) {
	r.n.stats.received.Add(1)
	if r.failed != nil {
		return
	}
	from := lattice.Peer(m.GetFrom())
	delete(r.outstanding, from)
	if r.deferred[from] {
		delete(r.deferred, from)
		r.notify[from] = true
	}
	var rep report
	var err error
	switch body := m.GetBody().(type) {
	case *wire.Replicate_Diff:
		rep, err = r.fold.applyDiff(body.Diff)
		if errors.Is(err, lattice.ErrNeedFull) {
			r.n.send(from, &wire.Replicate{To: r.target(from), From: string(r.n.peer),
				Body: &wire.Replicate_NeedFull{NeedFull: &wire.NeedFull{}}})
			return
		}
		if err == nil && rep.added == 0 && r.fold.knowsMore(body.Diff) {
			r.notify[from] = true // the sender is behind: our diff lets it catch up
		}
	case *wire.Replicate_Snapshot:
		if forked, dropsOwn := r.fold.forks(body.Snapshot); forked {
			r.onFork(from, body.Snapshot, dropsOwn)
		}
		rep, err = r.fold.merge(body.Snapshot)
		if err == nil && rep.added == 0 && body.Snapshot.GetInfimum().GetHasBase() {
			r.notify[from] = true
		}
		if err == nil && body.Snapshot.GetInfimum().GetHasBase() {
			r.syncMerged = true
		}
		if r.syncing {
			delete(r.syncWait, from)
			if snap := body.Snapshot; !snap.GetInfimum().GetHasBase() &&
				!samePeers(peersOf(snap.GetReplicaSet()), r.syncSet) {
				r.syncDisagree = true
			}
			if body.Snapshot.GetInfimum().GetHasBase() || len(r.syncWait) == 0 {
				defer r.finishSync(ctx)
			}
		}
	case *wire.Replicate_NeedFull:
		r.full[from] = true
	}
	if err != nil {
		r.n.log.Warn("replication message rejected", "partition", r.origin, "from", from, "err", err)
		return
	}
	if rep.added > 0 {
		// Our acks of the new entries go to the sender and to the entries' creators: a
		// creator waits for them to answer its consistent calls, and the sender relays
		// them with its next diffs. The other replicas learn them from those diffs (as
		// acks, or as the base they let fold), or from anti-entropy when the partition
		// goes quiet; sending them to every replica as well cost a third of the messages
		// of each event for nothing any caller waits on.
		r.notify[from] = true
		for _, p := range rep.creators {
			if p != r.n.peer {
				r.notify[p] = true
			}
		}
	}
	r.addRenegades(rep.renegades)
	r.queueFlush(ctx)
}

// target addresses this partition's replica on p. Targets are made once per peer and
// shared by the messages that carry them (nothing modifies a message once sent).
func (r *replica) target(p lattice.Peer) *wire.Target {
	for _, t := range r.targetOf {
		if t.Peer == string(p) {
			return t
		}
	}
	t := &wire.Target{Kind: r.kind.kindName(), Key: r.key, Peer: string(p)}
	if len(r.targetOf) < 8 { // a partition has a few replicas; stop caching if it churns
		r.targetOf = append(r.targetOf, t)
	}
	return t
}

// stageFlush and finishFlush flush the replica's batch (its shard flushes its dirty
// replicas together, see shard.flush). stageFlush folds what can be folded and adds the
// writes that make the batch durable to b; finishFlush, once b is committed, answers and
// replicates. Between the two the replica must get no message.
func (r *replica) stageFlush(b *storage.Batch) error {
	r.n.stats.flushes.Add(1)
	r.flushQueued = false
	r.fold.acknowledge()
	return r.stage(b, false, func() {
		r.folds = r.fold.reduce()
		r.foldsSinceSnapshot += len(r.folds)
	})
}

// finishFlush completes a flush whose writes were committed with the result err.
func (r *replica) finishFlush(ctx pa.Context, err error) {
	folds := r.folds
	r.folds = nil
	if err != nil {
		r.fail(err)
		for _, p := range r.fast {
			ctx.Send(p.to, &wire.CallReply{Error: toWire(err)})
		}
		for id, w := range r.waiters {
			ctx.Send(w.to, &wire.CallReply{Error: toWire(err)})
			delete(r.waiters, id)
		}
		r.fast = nil
		return
	}
	r.committed()
	for _, p := range r.fast {
		ctx.Send(p.to, p.reply)
	}
	r.fast = r.fast[:0]
	if len(folds) > 0 {
		r.lastAdvance = r.n.cfg.Now()
	}
	for _, f := range folds {
		var dup *lattice.DuplicateError
		if errors.As(f.err, &dup) { // the original folded just before: answer with its output
			if out, ok := r.outputs.get(f.req); ok {
				f.out, f.err = out, nil
			}
		} else if f.req != "" && f.err == nil {
			if f.id.Peer == r.n.peer { // it may hold the projected output onCall added
				r.outputs.put(f.req, f.out)
			} else {
				r.outputs.add(f.req, f.out)
			}
		}
		w, ok := r.waiters[f.id]
		if !ok {
			continue
		}
		delete(r.waiters, f.id)
		err := f.err
		if errors.As(err, &dup) {
			err = ErrOutputUnknown
		}
		if errors.Is(err, lattice.ErrOutputUnknown) {
			err = ErrOutputUnknown
		} else if ae := (*lattice.ApplyError)(nil); errors.As(err, &ae) {
			err = &RejectedError{Msg: ae.Msg, Panic: ae.Panic}
		}
		ctx.Send(w.to, &wire.CallReply{Output: f.out, Error: toWire(err), Id: wire.FromID(f.id)})
	}
	r.replicate()
	st := r.fold.state()
	if st.retired {
		if len(r.renegades) == 0 {
			r.leaving = true
			return
		}
		r.resetFold() // the store holds the shell
	}
	r.startRepropose()
	if st.pending > 0 || len(r.waiters) > 0 {
		r.armTicker()
	}
	r.checkDrain()
}

// checkDrain signals a stopping node once no event this replica created waits for its
// first acknowledgement by another replica: then losing this node loses none of them.
func (r *replica) checkDrain() {
	if r.draining == nil || !r.fold.ownAckedElsewhere() {
		return
	}
	select {
	case r.draining <- struct{}{}:
	default: // the node stopped waiting
	}
	r.draining = nil
}

// snapshotEvery is how many folds a replica lets pass, at least, before it rewrites its
// infimum on disk; it also waits until the entries written since weigh as much as the
// infimum did. Until then folded deltas stay stored: a restart folds them again (by the
// other replicas' proof, or by acks), which gives the same infimum. Rewriting the
// infimum at every fold was the largest single cost of a call; and an infimum grows (its
// dedup window alone holds up to 256 request keys), so a fixed count of folds made its
// rewrite cost more per fold the longer a partition lived: 13% of the CPU of a fast
// increment once the windows were full. Weighing them keeps the rewrite's cost per byte
// of entries constant, and the stored entries at most about the infimum's size.
const snapshotEvery = 32

// persist writes what changed since the last commit in one atomic batch: new entries
// (with this replica's ack) and, when forced or as snapshotEvery says, the infimum
// together with the deletion of every stored entry it covers or that was dropped.
func (r *replica) persist(force bool) error {
	b := &r.batch
	b.Reset()
	if err := r.stage(b, force, nil); err != nil {
		return err
	}
	if err := r.n.commit(b); err != nil {
		return err
	}
	r.committed()
	return nil
}

// stage adds persist's writes to b, which may hold other replicas' writes; committed
// records them as stored once b is committed. First every entry not stored yet (with
// this replica's ack, if it gave it); then fold, if given, runs (a flush folds there:
// an entry that folds in the flush that acknowledges it is written all the same, since
// the ack and a fast call's answer go out when the flush ends); then, if the infimum is
// due, the writes staged so far give way to it, with exactly the entries still pending.
// If stage fails, what it added to b is taken back.
func (r *replica) stage(b *storage.Batch, force bool, fold func()) (err error) {
	mark := b.Len()
	defer func() {
		if err != nil {
			b.Truncate(mark)
		}
	}()
	if err := r.stageEntries(b); err != nil {
		return err
	}
	if fold != nil {
		fold()
	}
	r.staged = stagedNone
	if len(r.written) > 0 {
		r.staged = stagedEntries
	}
	st := r.fold.state()
	moved := st.base != r.storedBase || st.hasBase != r.storedHas
	// A replica that just got its state (genesis, or a full state as a joiner) writes it
	// at once: its stored deltas mean nothing without it.
	snapshot := st.retired || st.hasBase != r.storedHas || r.renegadesDirty ||
		(moved && (force || r.foldsSinceSnapshot >= snapshotEvery && r.deltaBytes >= r.snapshotBytes))
	if !snapshot {
		return nil
	}
	// The infimum replaces what was staged: the entries still pending go with it.
	b.Truncate(mark)
	r.staged = stagedSnapshot
	if err := r.stageEntries(b); err != nil {
		return err
	}
	if st.retired || !st.hasBase {
		r.staged = stagedShell
		return r.stageShell(b) // after the entries: it deletes them too
	}
	for id := range r.stored { // delete what is stored and no longer pending (idBuf is in id order)
		if _, pending := slices.BinarySearchFunc(r.idBuf, id, lattice.EventID.Compare); !pending {
			b.DeleteDelta(r.part, idKey(id))
		}
	}
	snap, err := r.fold.snapshot(false)
	if err != nil {
		return err
	}
	snap.Renegades, snap.Dropped = r.wireRenegades(), r.dropped
	data, err := proto.Marshal(snap)
	if err != nil {
		return err
	}
	b.PutSnapshot(r.part, data)
	r.stagedSnapshotBytes = len(data)
	return nil
}

// stageEntries adds to b every pending entry that is not stored, or stored without the
// ack this replica has given since.
func (r *replica) stageEntries(b *storage.Batch) error {
	r.written = r.written[:0]
	r.stagedEntryBytes, r.stagedSnapshotBytes = 0, 0
	r.idBuf = r.fold.ids(r.idBuf[:0])
	for i, id := range r.idBuf {
		selfAcked := r.fold.selfAcked(i)
		if acked, ok := r.stored[id]; ok && (acked || !selfAcked) {
			continue
		}
		_, data, err := r.fold.encodeEntry(i)
		if err != nil {
			return err
		}
		b.PutDelta(r.part, idKey(id), data)
		r.written = append(r.written, storedEntry{id, selfAcked})
		r.stagedEntryBytes += len(data)
	}
	return nil
}

// What the last stage wrote (see committed).
const (
	stagedNone = iota
	stagedEntries
	stagedSnapshot
	stagedShell // the copy deleted, the renegades (if any) kept
)

// committed records what the last stage wrote as stored; the fold must not have changed
// since.
func (r *replica) committed() {
	switch r.staged {
	case stagedSnapshot: // what is stored now: the infimum and exactly the pending entries
		st := r.fold.state()
		clear(r.stored)
		for i, id := range r.idBuf {
			r.stored[id] = r.fold.selfAcked(i)
		}
		r.storedBase, r.storedHas, r.foldsSinceSnapshot = st.base, st.hasBase, 0
		r.deltaBytes, r.snapshotBytes = r.stagedEntryBytes, r.stagedSnapshotBytes
		r.renegadesDirty = false
	case stagedShell:
		clear(r.stored)
		r.storedBase, r.storedHas, r.foldsSinceSnapshot = lattice.Base{}, false, 0
		r.deltaBytes, r.snapshotBytes = 0, 0
		r.renegadesDirty = false
	case stagedEntries:
		for _, w := range r.written {
			r.stored[w.id] = w.selfAcked
		}
		r.deltaBytes += r.stagedEntryBytes
	}
	r.staged = stagedNone
}

// storedEntry is an entry persist wrote, with whether it was written with this replica's
// ack.
type storedEntry struct {
	id        lattice.EventID
	selfAcked bool
}

// idKey encodes an event id so that bytewise order is id order.
func idKey(id lattice.EventID) []byte {
	b := make([]byte, 8, 8+len(id.Peer))
	for i := 7; i >= 0; i-- {
		b[i] = byte(id.Counter >> (8 * (7 - i)))
	}
	return append(b, id.Peer...)
}

// replicate sends diffs (or full states) to the other replicas that need them.
func (r *replica) replicate() {
	st := r.fold.state()
	if !st.hasBase {
		for p := range r.full { // "I hold nothing": lets a syncing replica stop waiting
			r.sendTo(p, true)
		}
		r.broadcast = false
		clear(r.notify)
		clear(r.full)
		return
	}
	targets := r.targets[:0]
	add := func(p lattice.Peer) {
		if p != r.n.peer && !slices.Contains(targets, p) {
			targets = append(targets, p)
		}
	}
	if r.broadcast {
		for _, p := range r.fold.top() {
			add(p)
		}
		for _, p := range st.participants {
			add(p)
		}
	}
	for p := range r.notify {
		add(p)
	}
	for p := range r.full {
		add(p)
	}
	r.targets = targets
	now := time.Now()
	for _, p := range targets {
		// Flow control: while a diff to p is unanswered, p will hear the rest with its
		// answer (or at the next anti-entropy tick). Under a partition this keeps each
		// flush from re-sending the whole backlog; under load it batches.
		if t, ok := r.outstanding[p]; ok && now.Sub(t) < r.n.cfg.AntiEntropyInterval && !r.full[p] {
			r.deferred[p] = true
			continue
		}
		if !r.n.reachable(p) {
			continue // no member hosts p: encoding would be wasted
		}
		if r.sendTo(p, r.full[p]) {
			r.outstanding[p] = now
		}
	}
	r.broadcast = false
	clear(r.notify)
	clear(r.full)
}

// sendTo sends p a diff (or the full state); it reports whether p will answer (the
// message carries entries p has not acknowledged, whose acks p sends back).
func (r *replica) sendTo(p lattice.Peer, full bool) bool {
	msg := &wire.Replicate{To: r.target(p), From: string(r.n.peer)}
	if !full {
		d, ok, err := r.fold.diff(p)
		if errors.Is(err, wire.ErrTooManyPeers) {
			ok, err = false, nil // the full state names peers in full
		}
		if err != nil {
			r.n.log.Error("encode diff", "partition", r.origin, "err", err)
			return false
		}
		if ok {
			msg.Body = &wire.Replicate_Diff{Diff: d}
			r.n.send(p, msg)
			return len(d.Entries) > 0
		}
	}
	snap, err := r.fold.snapshot(true)
	if err != nil {
		r.n.log.Error("encode snapshot", "partition", r.origin, "err", err)
		return false
	}
	if !snap.GetInfimum().GetHasBase() { // "I hold nothing", and where this node places it
		snap.ReplicaSet = peerStrings(r.n.replicaSet(r.kind.kindName(), r.key))
	}
	msg.Body = &wire.Replicate_Snapshot{Snapshot: snap}
	r.n.send(p, msg)
	return len(snap.Pending) > 0
}

func peerStrings(ps []lattice.Peer) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = string(p)
	}
	return out
}

// onTick is anti-entropy: while deltas are pending, re-send them to the peers that owe
// acks (a lost message is retransmitted); after a few ticks without progress, send
// everything to everyone. It also gives up on consistent calls past their deadline.
func (r *replica) onTick(ctx pa.Context) {
	r.tickArmed = false
	now := time.Now()
	for id, w := range r.waiters {
		if !w.deadline.IsZero() && now.After(w.deadline) {
			ctx.Send(w.to, &wire.CallReply{Error: toWire(ErrUnavailable), Id: wire.FromID(id)})
			delete(r.waiters, id)
		}
	}
	st := r.fold.state()
	if st.pending == 0 && len(r.waiters) == 0 {
		return
	}
	if st.base != r.lastBase {
		// The log folded since the last tick: the regular traffic carries what is left.
		r.idleTicks, r.lastBase = 0, st.base
	} else {
		// It did not: re-send to the peers that owe acks (a message may have been lost)
		// and to the creators of pending entries (they hear every ack first, and answer
		// with a diff or the base it lets us fold).
		r.idleTicks++
		for _, o := range r.fold.owed() {
			if o.Peer != r.n.peer {
				r.notify[o.Peer] = true
			}
		}
		for _, id := range r.fold.ids(nil) {
			if id.Peer != r.n.peer {
				r.notify[id.Peer] = true
			}
		}
	}
	for p := range r.deferred {
		r.notify[p] = true
	}
	clear(r.deferred)
	if r.idleTicks >= 5 {
		r.broadcast = true
		r.idleTicks = 0
	}
	r.replicate()
	r.armTicker()
}

func (r *replica) armTicker() { r.arm(&r.ticker, &r.tickArmed, r.n.cfg.AntiEntropyInterval, tickMsg{}) }

func (r *replica) armGC() { r.arm(&r.gcTimer, &r.gcArmed, r.n.cfg.GCInterval, gcTick{}) }

// arm makes *t send msg to the replica (through its shard) after d, unless it is armed
// already. The timer is made once and reset afterwards.
func (r *replica) arm(t **time.Timer, armed *bool, d time.Duration, msg any) {
	if *armed {
		return
	}
	*armed = true
	if *t == nil {
		shard, root, msg := r.sh.self, r.n.system.Root, replicaMsg{r, msg}
		*t = time.AfterFunc(d, func() { root.Send(shard, msg) })
		return
	}
	(*t).Reset(d)
}

// onGC asks gc what this replica should propose: ejections of peers gone too long,
// joins of peers placement now gives the partition (handoffs, each sent a full state),
// and its own leave once its replacement holds the state.
func (r *replica) onGC(ctx pa.Context) {
	st := r.fold.state()
	if r.failed != nil || !st.hasBase || st.retired {
		return
	}
	now := r.n.cfg.Now()
	rep := r.fold.gcReplica(r.kind.kindName(), r.key, r.lastAdvance)
	r.n.replicas.Store(r.id, rep)
	for p, since := range r.joins {
		if slices.Contains(rep.Participants, p) || !slices.Contains(rep.Joining, p) || now.Sub(since) > time.Minute {
			r.n.inFlight.Add(-1)
			delete(r.joins, p)
		}
	}
	var plan gc.Plan
	if r.n.View().Partial {
		return // a view that may lack members is no ground for ejections or handoffs
	}
	if r.n.leaving.Load() {
		cfg := r.n.cfg.gcConfig()
		cfg.MaxHandoffs = max(cfg.MaxHandoffs, handoverHandoffs)
		plan = gc.Handover(r.n.peer, r.n.gcMembers(), []gc.Replica{rep}, int(r.n.inFlight.Load()), cfg)
	} else {
		plan = gc.Decide(now, r.n.peer, r.n.gcMembers(), []gc.Replica{rep}, int(r.n.inFlight.Load()), r.n.cfg.gcConfig())
	}
	joined := true // every join of the plan was written (a handover's leave waits for them)
	for _, a := range plan.Actions {
		switch a.Kind {
		case gc.Eject:
			if _, err := r.fold.propose(lattice.UnJoin, a.Peer); err == nil {
				r.n.log.Info("ejecting peer", "partition", r.origin, "peer", a.Peer)
				r.broadcast = true
			}
		case gc.Join:
			if !r.n.reserveHandoff() {
				joined = false
				continue // another replica of this node took the last slot meanwhile
			}
			if _, err := r.fold.propose(lattice.Join, a.Peer); err != nil {
				r.n.inFlight.Add(-1)
				joined = false
				continue
			}
			r.n.log.Info("handing off", "partition", r.origin, "to", a.Peer)
			r.joins[a.Peer] = now
			r.full[a.Peer] = true
			r.broadcast = true
		case gc.Leave:
			if !joined {
				continue
			}
			if _, err := r.fold.propose(lattice.UnJoin, r.n.peer); err == nil {
				r.n.log.Info("leaving", "partition", r.origin)
				r.broadcast = true
			}
		}
	}
	if r.broadcast {
		r.queueFlush(ctx)
	}
}

// outputCache remembers the outputs of the last requests (by request key), so that a call
// retried after a timeout is answered with its original output. Bounded, oldest out.
//
// It is a ring, not a map: every replica puts the output of every request it folds, but
// looks one up only for a retried call, which is rare. A map paid an insertion and a
// deletion per fold, at every replica, in a map large enough to miss the caches (4.5% of
// the CPU of a fast increment). A put first looks for its key, since the replica that
// handles a fast call puts its projected output and then, once it folds, its final one;
// the look-up scans the keys' hashes, which lie side by side. Every other output is
// added without it: a request folds once.
type outputCache struct {
	hashes []uint64 // hash of each slot's request key
	reqs   []string
	outs   [][]byte
	next   int // the slot the next new key takes, once the ring is full
}

// outputCacheSize covers the requests a retry can be recognised for: the folded ones in
// the dedup window, and as many again still pending. An output older than that is never
// asked for (the retry is not a duplicate any more), so a larger cache only holds memory
// in every active replica.
const outputCacheSize = 2 * lattice.DefaultDedupWindow

var outputSeed = maphash.MakeSeed()

func (c *outputCache) put(req string, out []byte) {
	if req == "" {
		return
	}
	h := maphash.String(outputSeed, req)
	if i := c.find(h, req); i >= 0 {
		c.outs[i] = out
		return
	}
	c.insert(h, req, out)
}

// add caches the output of a request the cache does not hold.
func (c *outputCache) add(req string, out []byte) {
	if req != "" {
		c.insert(maphash.String(outputSeed, req), req, out)
	}
}

func (c *outputCache) insert(h uint64, req string, out []byte) {
	if len(c.reqs) < outputCacheSize {
		c.hashes, c.reqs, c.outs = append(c.hashes, h), append(c.reqs, req), append(c.outs, out)
		return
	}
	c.hashes[c.next], c.reqs[c.next], c.outs[c.next] = h, req, out
	c.next = (c.next + 1) % outputCacheSize
}

func (c *outputCache) get(req string) ([]byte, bool) {
	if i := c.find(maphash.String(outputSeed, req), req); i >= 0 {
		return c.outs[i], true
	}
	return nil, false
}

// find returns the slot of req, whose hash is h, or -1.
func (c *outputCache) find(h uint64, req string) int {
	for i, x := range c.hashes {
		if x == h && c.reqs[i] == req {
			return i
		}
	}
	return -1
}
