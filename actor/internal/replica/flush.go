package replica

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/legion-go/legion/actor/internal/errs"
	"github.com/legion-go/legion/actor/internal/wire"
	"github.com/legion-go/legion/lattice"
	"github.com/legion-go/legion/storage"
)

// Ready starts a flush of the replica (its shard flushes its dirty replicas together,
// in one commit): it acknowledges what it received, folds what can be folded, stages into
// b the writes that make the batch durable, and prepares in the returned Ready what may go
// out once b is committed. The shell commits b and calls Advance with the outcome, with no
// other step between.
func (r *Replica) Ready(now time.Time, b *storage.Batch) *Ready {
	r.now = now
	rd := &r.rd
	rd.AfterCommit.reset()
	rd.staged, rd.err = false, nil
	r.out = &rd.AfterCommit
	r.flushQueued = false
	if r.failed != nil {
		rd.err = r.failed
		return rd
	}
	mark := b.Len()
	r.fold.Acknowledge()
	if err := r.stage(b, false, func() {
		r.folds = r.fold.Reduce()
		r.foldsSinceSnapshot += len(r.folds)
		for _, f := range r.folds {
			if f.Kind == lattice.Reset && f.Err == nil {
				r.resetFolded = true // the old state's bytes go now, not after snapshotEvery folds
			}
		}
		// Own events the reduce cut off (this peer's ejection confirmed) are renegades now,
		// stored with this write: the reduce may also have folded this peer's UnJoin, and a
		// copy that retires holds them nowhere else (the simulation lost acknowledged writes
		// so, seed 7158 with queries answered from the initial state).
		r.addRenegades(r.fold.Lost())
	}); err != nil {
		rd.err = err
		return rd
	}
	rd.staged = true
	r.noteDivergences()
	ac := &rd.AfterCommit
	ac.Replies = append(ac.Replies, r.fast...)
	clear(r.fast)
	r.fast = r.fast[:0]
	if len(r.folds) > 0 {
		r.lastAdvance = now
	}
	for _, f := range r.folds {
		if f.Kind == lattice.Join || f.Kind == lattice.UnJoin {
			r.log(LevelDebug, "folded a membership change", "id", f.ID, "kind", f.Kind)
		}
		if f.Kind == lattice.Reset && f.Err == nil {
			// The partition was deleted: the outcomes of its requests go with its state
			// (a retry of one answers ErrOutputUnknown, or is a duplicate by the window).
			r.outputs.forget()
		}
		var dup *lattice.DuplicateError
		var rejected *lattice.ApplyError
		if errors.As(f.Err, &dup) { // the original folded just before: answer with its outcome
			if out, rej, ok := r.outputs.result(f.Req); ok {
				f.Out, f.Err = out, rej
			}
		} else if f.Req != "" && f.Err == nil {
			if f.ID.Peer == r.cfg.Self { // it may hold the projected output onCall added
				r.outputs.put(f.Req, f.Out)
			} else {
				r.outputs.add(f.Req, f.Out)
			}
		} else if f.Req != "" && f.Kind == lattice.Event && errors.As(f.Err, &rejected) {
			// Rejected when it folded (a fast call's OK was provisional): a consistent retry
			// with its request key learns it (docs/calls.md).
			r.outputs.reject(f.Req, &errs.Rejected{Msg: rejected.Msg, Panic: rejected.Panic})
		}
		w, ok := r.waiters[f.ID]
		if !ok {
			continue
		}
		delete(r.waiters, f.ID)
		err := f.Err
		if errors.As(err, &dup) || errors.Is(err, lattice.ErrOutputUnknown) {
			err = errs.OutputUnknown
		} else if ae := (*lattice.ApplyError)(nil); errors.As(err, &ae) {
			err = &errs.Rejected{Msg: ae.Msg, Panic: ae.Panic}
		}
		ac.Replies = append(ac.Replies, Reply{To: w.to,
			Msg: &wire.CallReply{Output: f.Out, Error: errs.ToWire(err), Id: wire.FromID(f.ID), Time: w.time}})
	}
	r.folds = nil
	if b.Len() > mark || len(ac.Replies) > 0 {
		ac.Flushes++ // a batch made durable and answered (a tick's flush that writes nothing is not one)
	}
	r.replicate()
	if invariants {
		st := r.fold.State()
		rd.base, rd.pending = st.Base, st.Pending
	}
	return rd
}

// Advance completes the flush rd with the outcome of its commit: on success it records
// what was written and releases rd.AfterCommit (with whatever else the replica now asks
// for); on failure the replica fails, and every caller waiting on it gets the error.
func (r *Replica) Advance(now time.Time, rd *Ready, err error) *Effects {
	r.now = now
	if rd.err != nil {
		err = rd.err
	}
	ac := &rd.AfterCommit
	r.out = ac
	if err != nil {
		if r.failed == nil {
			r.fail(err)
		}
		// The callers' events may be on disk (a commit that failed may have written them)
		// or replicated (a waiter's, by an earlier flush): their outcome is unknown.
		werr := errs.ToWire(errs.MaybeLogged(refusal(err)))
		replies := ac.Replies[:0]
		for _, p := range ac.Replies {
			if _, ok := p.Msg.(*wire.CallReply); ok {
				replies = append(replies, Reply{To: p.To, Msg: &wire.CallReply{Error: werr}})
			}
		}
		for _, p := range r.fast {
			replies = append(replies, Reply{To: p.To, Msg: &wire.CallReply{Error: werr}})
		}
		for _, id := range r.waiterIDs() {
			replies = append(replies, Reply{To: r.waiters[id].to, Msg: &wire.CallReply{Error: werr}})
			delete(r.waiters, id)
		}
		clear(ac.Replies[min(len(replies), len(ac.Replies)):]) // the old replies past the new ones, if any
		ac.Replies = replies
		clear(ac.Sends)
		ac.Sends = ac.Sends[:0]
		r.fast = r.fast[:0]
		return ac
	}
	if rd.staged {
		r.checkReady(rd)
		r.committed()
	}
	st := r.fold.State()
	if st.Retired {
		if len(r.renegades) == 0 {
			r.life = Leaving
			return ac
		}
		r.resetFold() // the store holds the shell
	}
	r.startRepropose()
	if st.Pending > 0 || len(r.waiters) > 0 {
		r.armTicker()
	}
	r.checkDrain()
	r.armTimers()
	return ac
}

// refusal is what a replica whose store failed answers: its node is stopping (fail-stop),
// so the caller tries the next replica with the same request key. Nothing of the call
// was acknowledged anywhere: the commit that failed held it, and what it would have sent
// waited for that commit. (Answered with the store's error, the caller gave up instead.)
func refusal(err error) error {
	return fmt.Errorf("%w: the replica's store failed: %v", errs.Stopped, err)
}

// persist writes, synchronously (Effects.Write), what changed since the last commit,
// with the infimum; Written completes intent once it is committed.
func (r *Replica) persist(intent writeIntent) {
	b := &r.write
	b.Reset()
	if err := r.stage(b, true, nil); err != nil {
		r.afterWrite = intent
		r.wrote(err)
		return
	}
	r.afterWrite = intent
	r.out.Write = b
}

// Written completes a synchronous write (Effects.Write) with its commit's outcome.
func (r *Replica) Written(now time.Time, err error) *Effects {
	eff := r.begin(now, true)
	if err == nil {
		r.committed()
	}
	r.wrote(err)
	return r.done(eff)
}

func (r *Replica) wrote(err error) {
	intent := r.afterWrite
	r.afterWrite = writeNone
	if err != nil && r.failed == nil {
		r.fail(err)
	}
	switch intent {
	case writePassivate:
		if err != nil {
			r.armGC()
			return
		}
		r.life = Leaving
	case writeDiscard:
		r.discarded(err)
	case writeReproposed:
		if err == nil && len(r.renegades) == 0 {
			r.life = Discarded
		}
	}
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

// stage adds the replica's writes to b, which may hold other replicas' writes; committed
// records them as stored once b is committed. First every entry not stored yet (with
// this replica's ack, if it gave it); then fold, if given, runs (a flush folds there:
// an entry that folds in the flush that acknowledges it is written all the same, since
// the ack and a fast call's answer go out when the flush ends); then, if the infimum is
// due (or force), the writes staged so far give way to it, with exactly the entries
// still pending. If stage fails, what it added to b is taken back.
func (r *Replica) stage(b *storage.Batch, force bool, fold func()) (err error) {
	mark := b.Len()
	defer func() {
		if err != nil {
			b.Truncate(mark)
		}
	}()
	defer func() {
		if err == nil {
			r.stageTimerMark(b) // timers.go
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
	st := r.fold.State()
	moved := st.Base != r.storedBase || st.HasBase != r.storedHas
	// A replica that just got its state (genesis, or a full state as a joiner) writes it
	// at once: its stored deltas mean nothing without it.
	snapshot := st.Retired || st.HasBase != r.storedHas || r.renegadesDirty ||
		(moved && (force || r.resetFolded || r.baseTaken || r.foldsSinceSnapshot >= snapshotEvery && r.deltaBytes >= r.snapshotBytes))
	if !snapshot {
		return nil
	}
	// The infimum replaces what was staged: the entries still pending go with it.
	b.Truncate(mark)
	r.staged = stagedSnapshot
	if err := r.stageEntries(b); err != nil {
		return err
	}
	if st.Retired || !st.HasBase {
		if st.Retired {
			r.markRemoved()
		}
		r.staged = stagedShell
		return r.stageShell(b) // after the entries: it deletes them too
	}
	// Delete what is stored and no longer pending (idBuf is in id order), in id order: a
	// batch is the same whatever the map's order (the golden scripts print it).
	for _, id := range slices.SortedFunc(maps.Keys(r.stored), lattice.EventID.Compare) {
		if _, pending := slices.BinarySearchFunc(r.idBuf, id, lattice.EventID.Compare); !pending {
			b.DeleteDelta(r.part, IDKey(id))
		}
	}
	snap, err := r.fold.Snapshot(false)
	if err != nil {
		return err
	}
	snap.Renegades, snap.Dropped = r.wireRenegades(), r.dropped
	r.wireTombstone(snap) // a copy after a removal keeps refusing what that one saw cut off
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
func (r *Replica) stageEntries(b *storage.Batch) error {
	r.written = r.written[:0]
	r.stagedEntryBytes, r.stagedSnapshotBytes = 0, 0
	r.idBuf = r.fold.IDs(r.idBuf[:0])
	for i, id := range r.idBuf {
		selfAcked := r.fold.SelfAcked(i)
		if acked, ok := r.stored[id]; ok && (acked || !selfAcked) {
			continue
		}
		_, data, err := r.fold.EncodeEntry(i)
		if err != nil {
			return err
		}
		b.PutDelta(r.part, IDKey(id), data)
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
func (r *Replica) committed() {
	switch r.staged {
	case stagedSnapshot: // what is stored now: the infimum and exactly the pending entries
		st := r.fold.State()
		clear(r.stored)
		for i, id := range r.idBuf {
			r.stored[id] = r.fold.SelfAcked(i)
		}
		r.storedBase, r.storedHas, r.foldsSinceSnapshot = st.Base, st.HasBase, 0
		r.deltaBytes, r.snapshotBytes = r.stagedEntryBytes, r.stagedSnapshotBytes
		r.renegadesDirty, r.resetFolded, r.baseTaken = false, false, false
	case stagedShell:
		clear(r.stored)
		r.storedBase, r.storedHas, r.foldsSinceSnapshot = lattice.Base{}, false, 0
		r.deltaBytes, r.snapshotBytes = 0, 0
		r.renegadesDirty, r.resetFolded, r.baseTaken = false, false, false
	case stagedEntries:
		for _, w := range r.written {
			r.stored[w.id] = w.selfAcked
		}
		r.deltaBytes += r.stagedEntryBytes
	}
	r.staged = stagedNone
}

// storedEntry is an entry stage wrote, with whether it was written with this replica's
// ack.
type storedEntry struct {
	id        lattice.EventID
	selfAcked bool
}

// IDKey encodes an event id as a stored delta's key, so that bytewise order is id order.
func IDKey(id lattice.EventID) []byte {
	b := make([]byte, 8, 8+len(id.Peer))
	for i := 7; i >= 0; i-- {
		b[i] = byte(id.Counter >> (8 * (7 - i)))
	}
	return append(b, id.Peer...)
}

// replicate adds diffs (or full states) for the other replicas that need them to r.out;
// it runs in Ready, so they leave after the commit.
func (r *Replica) replicate() {
	st := r.fold.State()
	if !st.HasBase {
		for _, p := range sortedPeers(r.full) { // "I hold nothing": lets a syncing replica stop waiting
			r.sendTo(p, true)
		}
		r.broadcast = false
		clear(r.notify)
		clear(r.full)
		return
	}
	targets := r.targets[:0]
	add := func(p lattice.Peer) {
		if p != r.cfg.Self && !slices.Contains(targets, p) {
			targets = append(targets, p)
		}
	}
	if r.broadcast {
		for _, p := range r.fold.Top() {
			add(p)
		}
		for _, p := range st.Participants {
			add(p)
		}
	}
	for p := range r.notify {
		add(p)
	}
	for p := range r.full {
		add(p)
	}
	slices.Sort(targets) // the effects of a step are a function of its input: no map order
	r.targets = targets
	for _, p := range targets {
		// Flow control: while a diff to p is unanswered, p will hear the rest with its
		// answer (or at the next anti-entropy tick). Under a partition this keeps each
		// flush from re-sending the whole backlog; under load it batches.
		if t, ok := r.outstanding[p]; ok && r.now.Sub(t) < r.cfg.AntiEntropyInterval && !r.full[p] {
			r.deferred[p] = true
			continue
		}
		if !r.env.Reachable(p) {
			continue // no member hosts p: encoding would be wasted
		}
		if r.sendTo(p, r.full[p]) {
			r.outstanding[p] = r.now
		}
	}
	r.broadcast = false
	clear(r.notify)
	clear(r.full)
}

// sendTo sends p a diff (or the full state); it reports whether p will answer (the
// message carries entries p has not acknowledged, whose acks p sends back).
func (r *Replica) sendTo(p lattice.Peer, full bool) bool {
	msg := &wire.Replicate{To: r.target(p), From: string(r.cfg.Self)}
	if asked, ok := r.full[p]; ok && !asked {
		msg.Resync = true // the answer to p's resync (sync.go)
	}
	if !full {
		d, ok, err := r.fold.Diff(p)
		if errors.Is(err, wire.ErrTooManyPeers) {
			ok, err = false, nil // the full state names peers in full
		}
		if err != nil {
			r.log(LevelError, "encode diff", "err", err)
			return false
		}
		if ok {
			msg.Body = &wire.Replicate_Diff{Diff: d}
			r.out.Sends = append(r.out.Sends, Send{To: p, Msg: msg})
			return len(d.Entries) > 0
		}
	}
	snap, err := r.fold.Snapshot(true)
	if err != nil {
		r.log(LevelError, "encode snapshot", "err", err)
		return false
	}
	if !snap.GetInfimum().GetHasBase() && !r.env.Partial() {
		// "I hold nothing", and where this node places it (sync.go). A node whose view may
		// lack members vouches for no placement: the syncing replica then refuses genesis
		// (the simulation's seed 4343: a restarted node that had not yet heard what its
		// replicas name agreed with a new node's placement on the minority side).
		snap.ReplicaSet = peerStrings(r.knownPlacement())
	}
	msg.Body = &wire.Replicate_Snapshot{Snapshot: snap}
	r.out.Sends = append(r.out.Sends, Send{To: p, Msg: msg})
	return len(snap.Pending) > 0
}

// sortedPeers returns the peers of set in order.
func sortedPeers(set map[lattice.Peer]bool) []lattice.Peer {
	out := make([]lattice.Peer, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// waiterIDs returns the ids of the waiting consistent calls, in order.
func (r *Replica) waiterIDs() []lattice.EventID {
	out := make([]lattice.EventID, 0, len(r.waiters))
	for id := range r.waiters {
		out = append(out, id)
	}
	slices.SortFunc(out, lattice.EventID.Compare)
	return out
}
