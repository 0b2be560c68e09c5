package lattice

import "slices"

// An acknowledgement is evidence that its peer holds the entry (or folded it). Only a peer
// whose acknowledgement a fold can need gives one, and an acknowledgement is kept only
// while its peer is one: a participant of the infimum, or a peer a pending Join joins. A
// replica that is neither may discard its copy at any time (a replica that retires, or
// that discards an ejected copy) and join the partition again later with a full state that
// lacks entries it once acknowledged. Its old acknowledgements would then lie: a diff
// leaves out what its receiver acknowledged, and a fold counts them, so the peer would fold
// past entries it never received. (The actor simulation's seed 8709 lost two acknowledged
// writes so: two replicas outside the participants acknowledged a partitioned replica's
// entries, retired, and were joined again from a state without them.)

// mayAck reports whether p's acknowledgements count: p is a participant of the infimum or
// the peer of a pending Join.
func (s *State[S, E, O]) mayAck(p Peer) bool {
	if peers(s.inf.Participants).has(p) {
		return true
	}
	if s.membership == 0 {
		return false
	}
	for i := range s.pending {
		if d := &s.pending[i].Delta; d.Kind == Join && d.Peer == p {
			return true
		}
	}
	return false
}

// dropStrayAcks removes from every pending entry the acknowledgements of peers that may not
// give one. It returns how many it removed.
func (s *State[S, E, O]) dropStrayAcks() int {
	n := 0
	for i := range s.pending {
		e := &s.pending[i]
		for j := 0; j < len(e.Acks); {
			if s.mayAck(e.Acks[j]) {
				j++
				continue
			}
			e.Acks = slices.Delete(e.Acks, j, j+1)
			n++
		}
	}
	return n
}

// forgetAcks removes p's acknowledgements from every pending entry: p left the
// participants (its UnJoin folded, or an infimum without it was taken), and a Join of it
// that may be pending gave it a state that need not hold what it acknowledged before.
func (s *State[S, E, O]) forgetAcks(p Peer) {
	for i := range s.pending {
		s.pending[i].Acks = peers(s.pending[i].Acks).without(p)
	}
}

// strayIn reports whether an ack set names a peer outside the infimum's participants (a
// joiner, or a stray), so that dropStrayAcks has work to look at.
func (s *State[S, E, O]) strayIn(acks []Peer) bool {
	for _, p := range acks {
		if !peers(s.inf.Participants).has(p) {
			return true
		}
	}
	return false
}
