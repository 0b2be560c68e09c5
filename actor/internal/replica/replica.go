// Package replica is the replication protocol of one replica of one partition, as a
// deterministic state machine: after etcd raft's RawNode, it reads no clock (the time is
// an input), starts no goroutine, sends nothing and logs nothing. Its shell (package
// actor's shard) steps it with inputs (a call, a replication message, a timer's firing)
// and performs the Effects each step returns; a flush is a Ready, whose writes the shell
// commits, and an Advance with the commit's outcome, which releases what may leave only
// once the batch is durable (Ready.AfterCommit). So "nothing is acknowledged, to a caller
// or a peer, before it is on disk" is a property of the types, and the simulation in
// actor/internal/sim drives the same code the nodes run.
//
// A Replica is not safe for concurrent use: its shard steps it from one goroutine.
package replica

import (
	"errors"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/legion-go/legion/actor/internal/errs"
	"github.com/legion-go/legion/actor/internal/wire"
	"github.com/legion-go/legion/lattice"
	"github.com/legion-go/legion/storage"
)

// Life is where a replica is in its lifecycle.
type Life uint8

const (
	// Loading: made, not started (Start loads it from the store).
	Loading Life = iota
	// Active: it serves (it may hold no state yet: a request then starts a sync).
	Active
	// Syncing: it waits for the other replicas' states before it serves; requests are
	// stashed meanwhile.
	Syncing
	// Leaving: it passivated or retired; the shell removes it after this step (writing
	// what it holds).
	Leaving
	// Discarded: it deleted its copy (an ejected replica's); the shell removes it and
	// nothing of it may be written.
	Discarded
	// Failed: the store failed; it refuses work rather than lose it.
	Failed
)

func (l Life) String() string {
	return [...]string{"loading", "active", "syncing", "leaving", "discarded", "failed"}[l]
}

// Gone reports whether the shell must remove the replica.
func (l Life) Gone() bool { return l == Leaving || l == Discarded }

// Replica is one replica of one partition (see the package doc).
type Replica struct {
	cfg     *Config
	env     Env
	kind    string
	key     string
	origin  string
	part    storage.Partition
	newFold func() Fold
	fold    Fold
	life    Life
	failed  error // the store failed (Life Failed)
	now     time.Time

	// The persistence mirror. stored: the entries on disk, each with whether it was
	// written with this replica's ack (an entry it refused to acknowledge at first, see
	// lattice "Ejection", is written again once it does: an ack is a promise and must
	// survive a restart).
	stored     map[lattice.EventID]bool
	storedBase lattice.Base
	storedHas  bool
	written    []storedEntry // stage's, reused
	idBuf      []lattice.EventID
	// What the last stage wrote, for committed: its kind, and the bytes of its entries
	// and of its infimum.
	staged                                int
	stagedEntryBytes, stagedSnapshotBytes int
	folds                                 []Folded // Ready's
	// foldsSinceSnapshot counts folds since the infimum was last written; deltaBytes is
	// the size of the entries written since, snapshotBytes the size of that infimum.
	foldsSinceSnapshot        int
	deltaBytes, snapshotBytes int
	// A synchronous write (Effects.Write) and what to do once it is committed.
	write      storage.Batch
	afterWrite writeIntent

	// Callers: fast replies waiting for the flush; consistent callers waiting for their
	// events to fold; outputs of recent requests, for retried calls; requests stashed
	// while syncing.
	fast    []Reply
	outputs outputCache
	waiters map[lattice.EventID]waiter
	stash   []stashed

	// Replication and flow control: what the next flush sends to whom; diffs sent and
	// not answered yet; diffs held back by flow control.
	flushQueued bool
	broadcast   bool
	notify      map[lattice.Peer]bool
	full        map[lattice.Peer]bool // asked for the state: true, in full; false, a diff will do (sync.go)
	outstanding map[lattice.Peer]time.Time
	deferred    map[lattice.Peer]bool
	targets     []lattice.Peer // replicate's, reused
	targetOf    []*wire.Target // see target

	// Renegades: events this replica acknowledged that the history dropped, to propose
	// again (renegade.go); renegadesDirty: they (or dropped) changed since they were last
	// written; reproposing: a round is under way.
	renegades      []lattice.Entry[[]byte]
	renegadesDirty bool
	reproposing    bool
	dropped        [][]byte // states of another lineage that merges dropped (fork.go)
	// resetFolded: a delete of the partition (lattice.Reset) folded since the infimum was
	// last written; the next flush rewrites it, so that the old state's bytes go at once.
	resetFolded bool
	// baseTaken: a full state's merge took a remote infimum wholesale since the infimum
	// was last written. The deltas that lead to it were never stored here (it holds them
	// folded): the next flush writes it, or a restart would fold the stored deltas over the
	// old infimum with a gap, into a history nobody else has, and its merges would then
	// drop the true one (the simulation's seed 4434: a joiner whose ejected copy still had
	// a state kept the handoff's infimum in memory only; after it and the writer crashed,
	// four acknowledged writes were lost, one of them consistent).
	baseTaken bool
	// removed: where this node's copy was removed, if it was (tombstone.go).
	removed tombstone

	// Passivation: inputs received (other than its own timers' and flushes), their count
	// at the last gc tick, and since when the replica has been idle.
	received, receivedAtGC int
	idleSince              time.Time

	// Timers (the shell arms them on request; armed: one is due), and the partition's own
	// (timers.go).
	tickArmed, gcArmed bool
	timers             timers
	lastBase           lattice.Base
	idleTicks          int

	// Membership of the partition (gc): when the infimum last moved, and the joins this
	// replica wrote that have not completed (each holds one of the node's handoff slots).
	lastAdvance time.Time
	joins       map[lattice.Peer]bool

	// stale: the replica was loaded from disk. It may have been ejected while its node was
	// away, so before it acts it merges a live replica's state (resync).
	stale bool
	// draining: the node is stopping; Effects.Drained once every event this replica
	// created is acknowledged by another replica.
	draining bool

	// The sync before genesis or after a load (sync.go).
	syncSet      []lattice.Peer
	syncWait     map[lattice.Peer]bool
	syncAsked    map[lattice.Peer]bool // peers of syncWait that resync from this replica (mutualResync)
	syncDisagree bool                  // a replica that holds nothing placed the partition elsewhere
	syncMerged   bool                  // a replica's state was merged during the sync
	syncWide     bool                  // the sync asks the kind's other live hosts too (a query's, sync.go)
	syncGen      uint64

	eff Effects // the current step's
	rd  Ready   // the current flush's
	out *Effects
}

type stashed struct {
	query bool
	call  *wire.Call
	q     *wire.Query
	from  ReplyTo
	time  int64
}

type waiter struct {
	to       ReplyTo
	deadline time.Time
	time     int64 // the event's time, for the reply (0 for a duplicate's waiter)
}

// writeIntent is what a synchronous write was for.
type writeIntent uint8

const (
	writeNone writeIntent = iota
	writePassivate
	writeDiscard
	writeReproposed
)

// New makes the replica of the partition (kind, key) on cfg.Self; newFold makes an empty
// fold of the kind. Start must be its first step.
func New(cfg *Config, env Env, kind, key string, newFold func() Fold) *Replica {
	return &Replica{cfg: cfg, env: env, kind: kind, key: key, origin: kind + "/" + key,
		part: storage.Partition{Kind: kind, Key: key}, newFold: newFold, fold: newFold(),
		stored: map[lattice.EventID]bool{}, waiters: map[lattice.EventID]waiter{},
		notify: map[lattice.Peer]bool{}, full: map[lattice.Peer]bool{},
		outstanding: map[lattice.Peer]time.Time{}, deferred: map[lattice.Peer]bool{},
		joins: map[lattice.Peer]bool{}, outputs: newOutputCache(cfg.Outputs)}
}

// ResumeOutputs has the replica, before Start, take over the outputs a replica of the same
// partition cached before it left memory (OutputsOwner returned owner), so that a call
// retried across the passivation or eviction is answered with its first attempt's output,
// not ErrOutputUnknown.
func (r *Replica) ResumeOutputs(owner uint64) { r.outputs.resume(owner) }

// OutputsOwner returns the number the replica's outputs are cached under, and whether the
// next replica of the partition may take them over (ResumeOutputs) once the shell removed
// this one and wrote what it holds: it leaves idle, so every output it cached is final
// (nothing pending, no call waiting or answered provisionally), and its copy stands (not
// discarded, retired, or failed).
func (r *Replica) OutputsOwner() (uint64, bool) {
	ok := r.failed == nil && r.life != Discarded && !r.fold.State().Retired && r.idle()
	return r.outputs.owner, ok
}

// Key and Origin name the partition.
func (r *Replica) Key() string    { return r.key }
func (r *Replica) Origin() string { return r.origin }

// Life returns where the replica is in its lifecycle.
func (r *Replica) Life() Life { return r.life }

// Fold returns the replica's fold, for inspection (tests, the simulation's checks).
func (r *Replica) Fold() Fold { return r.fold }

// begin starts a step at now: the step's effects replace the last's.
func (r *Replica) begin(now time.Time, own bool) *Effects {
	r.now = now
	r.eff.reset()
	r.out = &r.eff
	if !own {
		r.received++ // see passivateIfIdle
	}
	return r.out
}

// Start loads the replica from what the store holds for it (rec, found, err: the store's
// Load), then, if it held a state, resyncs it with the other replicas.
func (r *Replica) Start(now time.Time, rec storage.Replica, found bool, err error) *Effects {
	eff := r.begin(now, true)
	r.life = Active
	r.lastAdvance = now
	r.load(rec, found, err)
	if f, ok := r.env.(CounterFloor); ok {
		r.fold.Witness(f.CounterFloor())
	}
	r.armGC()
	r.report() // the peers it names, before any sync (gc.go)
	if r.stale && r.life == Active {
		r.startSync(r.fold.State().Participants)
	}
	r.startRepropose()
	r.armTimers()
	return r.done(eff)
}

// Keeps reports whether the replica writes what it holds when the shell removes it.
func (r *Replica) Keeps() bool {
	return r.failed == nil && r.life != Discarded && (r.fold.State().HasBase || r.renegadesDirty)
}

// Final stages into b what the replica holds, for its removal (or the node's stop); if it
// returns true, the shell calls Committed once b is committed. Best effort: what is not
// written is folded again after a restart.
func (r *Replica) Final(b *storage.Batch) bool {
	return r.Keeps() && r.stage(b, true, nil) == nil
}

// Committed records the writes Final staged as stored.
func (r *Replica) Committed() { r.committed() }

// Release gives back the node's handoff slots the replica holds (it is being removed).
func (r *Replica) Release() {
	for p := range r.joins { // handoffs this replica will not see through
		r.env.ReleaseHandoff()
		delete(r.joins, p)
	}
}

// Wake activates the replica for no request (the node wakes stored replicas that may have
// work: membership changed).
func (r *Replica) Wake(now time.Time) *Effects { return r.begin(now, false) }

// Drain asks the replica to report (Effects.Drained) once every event it created is
// acknowledged by another replica: the node is stopping.
func (r *Replica) Drain(now time.Time) *Effects {
	eff := r.begin(now, false)
	r.draining = true
	r.broadcast = true
	r.queueFlush()
	r.checkDrain()
	return r.done(eff)
}

// Resync has a replica that holds a state merge a live replica's before it acts again
// (the node was cut off from its peers).
func (r *Replica) Resync(now time.Time) *Effects {
	eff := r.begin(now, false)
	if st := r.fold.State(); st.HasBase && r.life == Active {
		r.stale = true
		r.startSync(st.Participants)
	}
	return r.done(eff)
}

// GCTick reconsiders the partition's membership, and whether to passivate.
func (r *Replica) GCTick(now time.Time) *Effects {
	eff := r.begin(now, true)
	r.gcArmed = false
	if r.passivateIfIdle() {
		return r.done(eff)
	}
	r.onGC()
	r.startRepropose()
	r.armGC()
	r.armTimers() // the placement may have changed: this replica may fire sooner
	return r.done(eff)
}

// SyncTimeout ends the sync of generation gen, if it still runs.
func (r *Replica) SyncTimeout(now time.Time, gen uint64) *Effects {
	eff := r.begin(now, true)
	if r.life == Syncing && gen == r.syncGen {
		r.finishSync()
	}
	return r.done(eff)
}

// passivateIfIdle passivates the replica once it has had nothing pending and received no
// input for PassivateAfter (counted in gc ticks). It reports whether it started to (the
// write; Written completes it).
func (r *Replica) passivateIfIdle() bool {
	if r.life != Active || r.received != r.receivedAtGC || !r.idle() {
		r.receivedAtGC, r.idleSince = r.received, time.Time{}
		return false
	}
	if r.holdsNothing() {
		// Nothing to write, nothing to lose: it goes after a gc interval without input,
		// not PassivateAfter. Each host asked about a key nobody wrote (sync.go) kept an
		// empty replica in memory for PassivateAfter (a minute by default) before.
		r.life = Leaving
		return true
	}
	if r.idleSince.IsZero() {
		r.idleSince = r.now
	}
	if r.now.Sub(r.idleSince) < r.cfg.PassivateAfter-r.cfg.GCInterval {
		return false
	}
	r.persist(writePassivate)
	return true
}

// Evictable reports whether the shell may remove the replica now, writing what it holds
// (Final), although it has not been idle for PassivateAfter: the node holds more active
// replicas than its budget (Config.MaxActiveReplicas). It may when no peer still needs
// it in memory: nothing pending (so no ack is owed either way), no call, sync, handoff,
// state request, re-proposal or write under way. A message that comes later activates it
// again from the store, as after a passivation.
func (r *Replica) Evictable() bool {
	return r.life == Active && r.failed == nil && r.afterWrite == writeNone && r.idle() &&
		len(r.joins) == 0 && len(r.full) == 0 && len(r.stash) == 0 && len(r.dropped) == 0 &&
		!r.draining && !r.reproposing
}

func (r *Replica) idle() bool {
	st := r.fold.State()
	return st.Pending == 0 && len(r.waiters) == 0 && len(r.fast) == 0 && !r.flushQueued && len(r.renegades) == 0
}

// load recovers the replica from the store's record.
func (r *Replica) load(rec storage.Replica, found bool, err error) {
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
	if err := r.fold.Restore(snap); err != nil {
		r.fail(err)
		return
	}
	r.loadRenegades(snap)
	r.loadTombstone(snap)
	r.dropped = snap.GetDropped()
	st := r.fold.State()
	for i, id := range r.fold.IDs(nil) {
		r.stored[id] = r.fold.SelfAcked(i)
	}
	r.storedBase, r.storedHas, r.lastBase = st.Base, st.HasBase, st.Base
	r.stale = st.HasBase
}

func (r *Replica) fail(err error) {
	r.failed = err
	r.life = Failed
	r.log(LevelError, "replica failed", "err", err)
}

func (r *Replica) log(level Level, msg string, args ...any) {
	r.out.Logs = append(r.out.Logs, Log{Level: level, Msg: msg, Args: args})
}

// queueFlush marks the replica dirty: the shell calls Ready soon. While it syncs,
// finishSync queues it.
func (r *Replica) queueFlush() {
	if r.life == Syncing {
		return
	}
	if !r.flushQueued {
		r.flushQueued = true
		r.out.Flush = true
	}
}

func (r *Replica) replyErr(to ReplyTo, query bool, err error) {
	if query {
		r.out.Replies = append(r.out.Replies, Reply{To: to, Msg: &wire.QueryReply{Error: errs.ToWire(err)}})
		return
	}
	r.out.Replies = append(r.out.Replies, Reply{To: to, Msg: &wire.CallReply{Error: errs.ToWire(err)}})
}

// Call handles a call from a caller; eventTime is the time its event would carry (the
// node's hybrid logical clock), unless the call is a re-proposal that carries its
// event's original time (wire.Call.EventTime).
func (r *Replica) Call(now time.Time, m *wire.Call, from ReplyTo, eventTime int64) *Effects {
	eff := r.begin(now, false)
	r.handleRequest(stashed{call: m, from: from, time: eventTime})
	return r.done(eff)
}

// Query handles a query from a caller.
func (r *Replica) Query(now time.Time, m *wire.Query, from ReplyTo) *Effects {
	eff := r.begin(now, false)
	r.handleRequest(stashed{query: true, q: m, from: from})
	return r.done(eff)
}

// handleRequest runs a call or query once the replica holds a state. A replica that
// holds nothing and is in the caller's replica set first asks the other replicas of that
// set for their state (stashing requests meanwhile), and starts the partition from
// scratch only when none has one (sync.go).
func (r *Replica) handleRequest(s stashed) {
	if r.failed != nil {
		r.replyErr(s.from, s.query, refusal(r.failed))
		return
	}
	if r.life == Syncing {
		r.stash = append(r.stash, s)
		return
	}
	if r.life != Active { // leaving or discarded within this step
		r.replyErr(s.from, s.query, errs.NotReplica)
		return
	}
	if r.fold.State().HasBase {
		if s.query {
			r.onQuery(s.q, s.from)
		} else {
			r.onCall(s.call, s.from, s.time)
		}
		return
	}
	set := s.call.GetReplicaSet()
	if s.query {
		set = s.q.GetReplicaSet()
	}
	peers := peersOf(set)
	if !slices.Contains(peers, r.cfg.Self) || r.env.Leaving() { // a departing node takes no new replica
		r.replyErr(s.from, s.query, errs.NotReplica)
		return
	}
	r.stash = append(r.stash, s)
	r.startSync(peers)
}

func (r *Replica) onCall(m *wire.Call, from ReplyTo, eventTime int64) {
	if r.env.Leaving() {
		// A departing node takes no new write: one it logged now would have to reach
		// another replica before the node goes, and its copy may be one the handover is
		// retiring (the simulation lost such writes, seed 216). The caller tries the next
		// replica.
		r.replyErr(from, false, errs.NotReplica)
		return
	}
	if dl := deadlineOf(m); !dl.IsZero() && r.now.After(dl) {
		// The caller gave up (its context ended): it may have retried elsewhere, and this
		// attempt, delivered late (a stalled connection, a stopped process), could then be
		// logged after the dedup window moved past the retry. Its outcome is unknown to the
		// caller either way: log nothing.
		r.replyErr(from, false, errs.Unavailable)
		return
	}
	if t := m.GetEventTime(); t > 0 { // a renegade keeps the time it was created at
		eventTime = t
	}
	var id lattice.EventID
	var out []byte
	var err error
	if m.GetDelete() {
		id, err = r.fold.Reset(eventTime, m.GetReq())
	} else {
		id, out, err = r.fold.Event(m.GetEvent(), eventTime, m.GetReq())
	}
	var rej *errs.Rejected
	var dup *lattice.DuplicateError
	switch {
	case errors.As(err, &dup):
		r.onDuplicate(m, from, dup)
		return
	case err == nil, errors.As(err, &rej):
		// logged: an event, or an Error delta for a rejected one
	case errors.Is(err, lattice.ErrNotParticipant):
		r.replyErr(from, false, errs.NotReplica)
		return
	default: // nothing was logged (undecodable payload)
		r.replyErr(from, false, err)
		return
	}
	if m.GetConsistency() == wire.Consistency_CONSISTENT && err == nil {
		r.waiters[id] = waiter{to: from, deadline: deadlineOf(m), time: eventTime}
	} else {
		r.fast = append(r.fast, Reply{To: from,
			Msg: &wire.CallReply{Output: out, Error: errs.ToWire(err), Id: wire.FromID(id), Time: eventTime}})
		if err == nil { // a new request (a duplicate is onDuplicate's): not cached yet
			r.outputs.add(m.GetReq(), out)
		}
	}
	r.broadcast = true
	r.queueFlush()
}

// onDuplicate answers a call whose request this partition already holds (an earlier
// attempt of the same call reached another replica): with the original's output when this
// replica knows it, after the original folds for a consistent call.
//
// A fast duplicate is answered at once: the original is durable here (a replica holds an
// entry in memory only between a step and the flush that writes it, and a duplicate found
// in that window is answered after that flush, see below).
func (r *Replica) onDuplicate(m *wire.Call, from ReplyTo, dup *lattice.DuplicateError) {
	if m.GetConsistency() == wire.Consistency_CONSISTENT && !dup.Folded {
		r.waiters[dup.Of] = waiter{to: from, deadline: deadlineOf(m)}
		return
	}
	reply := &wire.CallReply{Error: errs.ToWire(errs.OutputUnknown), Id: wire.FromID(dup.Of)}
	if out, rej, ok := r.outputs.result(m.GetReq()); ok {
		reply = &wire.CallReply{Output: out, Error: errs.ToWire(rej), Id: wire.FromID(dup.Of)}
	}
	if r.flushQueued {
		// The original may be in memory only (it came in since the last flush): answer
		// once it is durable.
		r.fast = append(r.fast, Reply{To: from, Msg: reply})
		return
	}
	r.out.Replies = append(r.out.Replies, Reply{To: from, Msg: reply})
}

func deadlineOf(m *wire.Call) time.Time {
	if m.GetDeadline() > 0 {
		return time.Unix(0, m.GetDeadline())
	}
	return time.Time{}
}

func (r *Replica) onQuery(m *wire.Query, from ReplyTo) {
	out, err := r.fold.Query(m.GetQuery(), m.GetLevel() == wire.ReadLevel_STABLE)
	r.out.Replies = append(r.out.Replies, Reply{To: from, Msg: &wire.QueryReply{Output: out, Error: errs.ToWire(err)}})
}

// Replicate handles a replication message from another replica.
func (r *Replica) Replicate(now time.Time, m *wire.Replicate) *Effects {
	eff := r.begin(now, false)
	eff.Received++
	if r.failed != nil || r.life != Active && r.life != Syncing {
		return r.done(eff)
	}
	from := lattice.Peer(m.GetFrom())
	delete(r.outstanding, from)
	if r.deferred[from] {
		delete(r.deferred, from)
		r.notify[from] = true
	}
	var rep Report
	var err error
	switch body := m.GetBody().(type) {
	case *wire.Replicate_Diff:
		rep, err = r.fold.ApplyDiff(body.Diff)
		if errors.Is(err, lattice.ErrNeedFull) {
			r.needFull(from)
			return r.done(eff)
		}
		if err == nil && rep.Added == 0 && r.fold.KnowsMore(body.Diff) {
			r.notify[from] = true // the sender is behind: our diff lets it catch up
		}
		if err == nil && r.resynced(from, m.GetResync()) {
			defer r.finishSync()
		}
	case *wire.Replicate_Snapshot:
		if forked, dropsOwn := r.fold.Forks(body.Snapshot); forked {
			r.onFork(from, body.Snapshot, dropsOwn)
		}
		rep, err = r.fold.Merge(body.Snapshot)
		if rep.Taken {
			r.baseTaken = true
		}
		hasBase := body.Snapshot.GetInfimum().GetHasBase()
		if err == nil && rep.Added == 0 && hasBase {
			r.notify[from] = true
		}
		if err == nil && hasBase {
			r.syncMerged = true
		}
		if r.life == Syncing {
			delete(r.syncWait, from)
			if !hasBase && !SamePeers(peersOf(body.Snapshot.GetReplicaSet()), r.syncSet) {
				r.syncDisagree = true
			}
			if hasBase || len(r.syncWait) == 0 {
				defer r.finishSync()
			}
		}
	case *wire.Replicate_NeedFull:
		r.onNeedFull(from, m.GetResync())
		if r.mutualResync(from, m.GetResync()) {
			defer r.finishSync()
		}
	}
	r.noteDivergences()
	if err != nil {
		r.log(LevelWarn, "replication message rejected", "from", from, "err", err)
		return r.done(eff)
	}
	if rep.Added > 0 {
		// Our acks of the new entries go to the sender and to the entries' creators: a
		// creator waits for them to answer its consistent calls, and the sender relays
		// them with its next diffs. The other replicas learn them from those diffs (as
		// acks, or as the base they let fold), or from anti-entropy when the partition
		// goes quiet; sending them to every replica as well cost a third of the messages
		// of each event for nothing any caller waits on.
		r.notify[from] = true
		for _, p := range rep.Creators {
			if p != r.cfg.Self {
				r.notify[p] = true
			}
		}
	}
	r.addRenegades(rep.Renegades)
	r.queueFlush()
	return r.done(eff)
}

// needFull asks p for the partition's full state (it carries nothing of ours: it may go
// at once).
func (r *Replica) needFull(p lattice.Peer) {
	r.out.Sends = append(r.out.Sends, Send{To: p, Msg: &wire.Replicate{To: r.target(p), From: string(r.cfg.Self),
		Body: &wire.Replicate_NeedFull{NeedFull: &wire.NeedFull{}}}})
}

// target addresses this partition's replica on p. Targets are made once per peer and
// shared by the messages that carry them (nothing modifies a message once sent).
func (r *Replica) target(p lattice.Peer) *wire.Target {
	for _, t := range r.targetOf {
		if t.Peer == string(p) {
			return t
		}
	}
	t := &wire.Target{Kind: r.kind, Key: r.key, Peer: string(p)}
	if len(r.targetOf) < 8 { // a partition has a few replicas; stop caching if it churns
		r.targetOf = append(r.targetOf, t)
	}
	return t
}

// checkDrain reports a stopping node's drain once no event this replica created waits
// for its first acknowledgement by another replica, and it has no renegade left to
// propose again: then losing this node loses none of them.
func (r *Replica) checkDrain() {
	if !r.draining || !r.fold.OwnAckedElsewhere() || len(r.renegades) > 0 {
		return
	}
	r.out.Drained = true
	r.draining = false
}

// Tick is anti-entropy: while deltas are pending, re-send them to the peers that owe
// acks (a lost message is retransmitted); after a few ticks without progress, send
// everything to everyone. It also gives up on consistent calls past their deadline.
// What it sends goes with a flush (it may acknowledge entries not written yet).
func (r *Replica) Tick(now time.Time) *Effects {
	eff := r.begin(now, true)
	r.tickArmed = false
	for _, id := range r.waiterIDs() {
		if w := r.waiters[id]; !w.deadline.IsZero() && now.After(w.deadline) {
			eff.Replies = append(eff.Replies, Reply{To: w.to,
				Msg: &wire.CallReply{Error: errs.ToWire(errs.MaybeLogged(errs.Unavailable)), Id: wire.FromID(id)}})
			delete(r.waiters, id)
		}
	}
	st := r.fold.State()
	if st.Pending == 0 && len(r.waiters) == 0 || r.life != Active {
		return r.done(eff)
	}
	if st.Base != r.lastBase {
		// The log folded since the last tick: the regular traffic carries what is left.
		r.idleTicks, r.lastBase = 0, st.Base
	} else {
		// It did not: re-send to the peers that owe acks (a message may have been lost)
		// and to the creators of pending entries (they hear every ack first, and answer
		// with a diff or the base it lets us fold).
		r.idleTicks++
		for _, o := range r.fold.Owed() {
			if o.Peer != r.cfg.Self {
				r.notify[o.Peer] = true
			}
		}
		for _, id := range r.fold.IDs(nil) {
			if id.Peer != r.cfg.Self {
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
	r.queueFlush()
	r.armTicker()
	return r.done(eff)
}

func (r *Replica) armTicker() {
	if !r.tickArmed {
		r.tickArmed = true
		r.out.Timers = append(r.out.Timers, Timer{Kind: TickTimer, After: r.cfg.AntiEntropyInterval})
	}
}

func (r *Replica) armGC() {
	if !r.gcArmed {
		r.gcArmed = true
		r.out.Timers = append(r.out.Timers, Timer{Kind: GCTimer, After: r.cfg.GCInterval})
	}
}

// SamePeers reports whether a and b hold the same peers, in any order.
func SamePeers(a, b []lattice.Peer) bool {
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

func peerStrings(ps []lattice.Peer) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = string(p)
	}
	return out
}

// Dirty reports whether the replica asked for a flush (Effects.Flush) that has not run.
func (r *Replica) Dirty() bool { return r.flushQueued }
