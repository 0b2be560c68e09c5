package replica

import (
	"slices"

	"github.com/legion-go/legion/actor/internal/wire"
	"github.com/legion-go/legion/lattice"
)

// A tombstone is what this node's copy of the partition had seen cut off when it was
// removed (its own UnJoin folded: it retired; or it learned it was ejected: it discarded
// its copy), kept with the shell record (wire.Snapshot.removed_at and the fields after it)
// and with every state a
// later copy stores, so that it survives the copy and restarts.
//
// Without it, a copy that holds no state took any full state that listed it as a
// participant, as it must (a lagging replica of the live history may need its
// acknowledgements to go on: refusing such states stalled 27 seeds of 10,000); but a
// stale replica of the same lineage, from before the removal (a node that was down or
// cut off, back with its old copy), sends the same kind of state, and the copy then
// acknowledged, and with the stale replica folded, deltas that the live history had cut
// off by an ejection this node had itself acknowledged. When the two histories met, the
// higher infimum won and the other's folded events were lost (the simulation's seed 7101:
// n1 left k1, and n0, ejected meanwhile and restarted on its old copy, revived n1's copy
// with its state; the two folded n0's fast writes, which the live history then dropped).
// The lattice now refuses those deltas in the copy after it (lattice/cutoff.go).
type tombstone struct {
	set          bool
	at           lattice.EventID
	lineage      uint64
	participants []lattice.Peer
	last         map[lattice.Peer]uint64
}

// markRemoved records the tombstone from the fold's state, which still holds the infimum
// at the removal, if that infimum no longer lists this node: the removal folded. (A copy
// discarded because its peer is no participant once the pending changes are counted, its
// ejection pending, keeps the tombstone it had.)
func (r *Replica) markRemoved() {
	if st := r.fold.State(); st.HasBase && !slices.Contains(st.Participants, r.cfg.Self) {
		at, lineage, ps, last := r.fold.RemovalCutOff()
		r.removed = tombstone{set: true, at: at, lineage: lineage, participants: ps, last: last}
	}
}

// OnlyTombstone reports whether all the store keeps of the partition for this replica is
// its tombstone: no state, no renegade to propose again.
func (r *Replica) OnlyTombstone() bool {
	return r.removed.set && !r.fold.State().HasBase && len(r.renegades) == 0 && !r.renegadesDirty
}

// applyTombstone gives the tombstone to the fold (a new one, or one just loaded).
func (r *Replica) applyTombstone() {
	if t := r.removed; t.set {
		r.fold.SetCutOff(t.at, t.lineage, t.participants, t.last)
	}
}

// wireTombstone sets a stored record's tombstone fields.
func (r *Replica) wireTombstone(s *wire.Snapshot) {
	t := r.removed
	if !t.set {
		return
	}
	s.RemovedAt, s.RemovedLineage = wire.FromID(t.at), t.lineage
	s.RemovedParticipants = make([]string, len(t.participants))
	for i, p := range t.participants {
		s.RemovedParticipants[i] = string(p)
	}
	s.RemovedLast = make(map[string]uint64, len(t.last))
	for p, c := range t.last {
		s.RemovedLast[string(p)] = c
	}
}

// loadTombstone reads a stored record's tombstone and gives it to the fold.
func (r *Replica) loadTombstone(s *wire.Snapshot) {
	at := s.GetRemovedAt()
	if at == nil {
		return
	}
	t := tombstone{set: true, at: wire.ToID(at), lineage: s.GetRemovedLineage(),
		last: make(map[lattice.Peer]uint64, len(s.GetRemovedLast()))}
	for _, p := range s.GetRemovedParticipants() {
		t.participants = append(t.participants, lattice.Peer(p))
	}
	for p, c := range s.GetRemovedLast() {
		t.last[lattice.Peer(p)] = c
	}
	r.removed = t
	r.applyTombstone()
}
