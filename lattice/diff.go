package lattice

import "slices"

// Ack is an ack-only update: the peers known to have acknowledged one entry.
type Ack struct {
	ID    EventID
	Peers []Peer
}

// Diff is what one replica sends another instead of its full state: the entries the
// receiver has not acknowledged (with payload) and the ack sets of the others, on top of
// the sender's infimum base.
type Diff[E any] struct {
	Origin string
	From   Peer
	Base   Base
	// Entries are pending entries the receiver has not acknowledged, in id order.
	Entries []Entry[E]
	// Acks are the ack sets of the pending entries the receiver has acknowledged.
	Acks []Ack
}

// Diff returns what peer q needs from this replica, going by what this replica knows of
// q's acks. ok is false when q cannot have the base the diff builds on (q is not a
// participant, nor joining, by this replica's log): send a Snapshot instead.
func (s *State[S, E, O]) Diff(q Peer) (d Diff[E], ok bool) {
	if !s.hasBase || !s.knows(q) {
		return Diff[E]{}, false
	}
	d = Diff[E]{Origin: s.origin, From: s.self, Base: s.Base()}
	acked := 0
	for i := range s.pending {
		if peers(s.pending[i].Acks).has(q) {
			acked++
		}
	}
	if acked > 0 {
		d.Acks = make([]Ack, 0, acked)
	}
	if n := len(s.pending) - acked; n > 0 {
		d.Entries = make([]Entry[E], 0, n)
	}
	for i := range s.pending {
		e := &s.pending[i]
		if peers(e.Acks).has(q) {
			d.Acks = append(d.Acks, Ack{ID: e.ID, Peers: slices.Clone(e.Acks)})
		} else {
			d.Entries = append(d.Entries, e.clone())
		}
	}
	return d, true
}

// knows reports whether q is a participant of the infimum. A joining peer is not: until its
// Join folds, it is sent full states (it may have missed anything before its Join).
func (s *State[S, E, O]) knows(q Peer) bool {
	return peers(s.inf.Participants).has(q)
}

// ApplyDiff applies a diff from another replica. It returns ErrNeedFull, changing nothing,
// when this replica lacks the base the diff needs: it holds no state yet, or the sender's
// infimum is ahead and this replica's own log does not reproduce it.
func (s *State[S, E, O]) ApplyDiff(d Diff[E]) (Report[E], error) {
	if d.Origin != s.origin {
		return Report[E]{}, ErrOrigin
	}
	if !s.hasBase {
		return Report[E]{}, ErrNeedFull
	}
	moved := false
	if d.Base.compare(s.Base()) > 0 {
		if !s.foldToProof(d.Base) {
			return Report[E]{}, ErrNeedFull
		}
		moved = true
	}
	s.see(d.Base.ID)
	return s.mergeEntries(d.Entries, d.Acks, moved), nil
}
