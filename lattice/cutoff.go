package lattice

import (
	"maps"
	"slices"
)

// A replica never acknowledges both an UnJoin and a delta it cuts off. A runtime that
// deletes a replica's copy once the replica is removed from the partition (its own UnJoin
// folded, or it learned it was ejected) forgets which UnJoins it acknowledged; if a stale
// replica of the same lineage, from before the removal, then sends that node its state,
// listing it as a participant, the new copy takes it and would acknowledge the stale
// replica's deltas that the removal's history cut off: fold them with it, and when the two
// histories meet, the higher infimum wins and the other's folded events are lost (the
// runtime's simulation, seed 7101). Refusing such a state altogether is no answer: a
// lagging replica of the live history sends the same kind of state, and may need the new
// copy's acknowledgements of everything else to go on.
//
// So the runtime keeps, with the removed copy, what RemovalCutOff returns, and gives it to
// the copy that may come after (SetCutOff): the removal's infimum, its participants, and
// per peer the highest counter of its deltas folded there. Every later delta of a peer
// that is not a participant there was cut off (or never belonged to the history): by the
// UnJoin that removed it, which this replica folded, so acknowledged. The new copy refuses
// to acknowledge those deltas, unless a Join of the peer sorts before them in its log (a
// new membership), or its infimum is above the removal's and lists the peer (the peer was
// joined again since). It acknowledges everything else.
type cutOff struct {
	set          bool
	at           EventID
	lineage      uint64
	participants peers
	last         map[Peer]uint64
}

// RemovalCutOff returns what a runtime keeps when it deletes this replica's copy (see
// above): the infimum's id, lineage and participants, and its Last.
func (s *State[S, E, O]) RemovalCutOff() (at EventID, lineage uint64, participants []Peer, last map[Peer]uint64) {
	return s.inf.ID, s.inf.Lineage, slices.Clone(s.inf.Participants), maps.Clone(s.inf.Last)
}

// SetCutOff has this replica refuse the deltas a removed copy of it saw cut off (see
// above): the arguments are what RemovalCutOff returned there. It applies only to states
// of that lineage.
func (s *State[S, E, O]) SetCutOff(at EventID, lineage uint64, participants []Peer, last map[Peer]uint64) {
	s.cut = cutOff{set: true, at: at, lineage: lineage, participants: sortedPeers(participants), last: maps.Clone(last)}
}

// forgotOwn reports whether this replica, a new copy after a removal (SetCutOff), lacks
// deltas of its own that the removal's history folded: its infimum and its log hold none
// of its own above a counter below the removal's Last for it. It then acknowledges
// nothing: an entry it acknowledged could fold here before those it forgot, which sort
// before it, into an infimum with the live one's id and another digest (the runtime's
// simulation, seed 4941 with pauses: a retired copy revived by a stale replica's full
// state folded a peer's event without its own, under the live id, and the live replicas
// then took that infimum). A live replica's state, or its diffs (ApplyDiff's forgot), bring
// them back.
func (s *State[S, E, O]) forgotOwn() bool {
	if !s.cut.set || s.inf.Lineage != s.cut.lineage {
		return false
	}
	own := s.inf.Last[s.self]
	for i := range s.pending {
		if id := s.pending[i].ID; id.Peer == s.self && id.Counter > own {
			own = id.Counter
		}
	}
	return own < s.cut.last[s.self]
}

// cutOffAt reports whether pending[i] is a delta this replica must not acknowledge by
// SetCutOff.
func (s *State[S, E, O]) cutOffAt(i int) bool {
	if !s.cut.set || s.inf.Lineage != s.cut.lineage {
		return false
	}
	id := s.pending[i].ID
	if id.Peer == s.self || s.cut.participants.has(id.Peer) || id.Counter <= s.cut.last[id.Peer] {
		return false
	}
	if s.cut.at.Less(s.inf.ID) && peers(s.inf.Participants).has(id.Peer) {
		return false // joined again since the removal
	}
	for j := 0; j < i; j++ {
		if d := &s.pending[j].Delta; d.Kind == Join && d.Peer == id.Peer {
			return false
		}
	}
	return true
}
