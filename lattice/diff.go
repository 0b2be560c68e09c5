package lattice

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
	acked, total := 0, 0
	for i := range s.pending {
		if peers(s.pending[i].Acks).has(q) {
			acked++
		}
		total += len(s.pending[i].Acks)
	}
	// Every ack set is copied into one array, each capped so that none grows into the next.
	sets := make([]Peer, 0, total)
	clone := func(ps []Peer) []Peer {
		start := len(sets)
		sets = append(sets, ps...)
		return sets[start:len(sets):len(sets)]
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
			d.Acks = append(d.Acks, Ack{ID: e.ID, Peers: clone(e.Acks)})
		} else {
			c := *e
			c.Acks = clone(e.Acks)
			d.Entries = append(d.Entries, c)
		}
	}
	return d, true
}

// DiffView is Diff without its copies, for an encoder that converts the diff at once: it
// returns the diff's header (Origin, From and Base; no Entries, no Acks) and the pending
// entries it is built from. Diff(q) carries, in id order, each entry q has not
// acknowledged (!Entry.Acked(q)) in Entries, and the ack set of each other one in Acks.
// The entries are shared with the replica: read them, never modify them, and do not keep
// them (nor their ack sets) past the next call on the replica. ok is as for Diff.
func (s *State[S, E, O]) DiffView(q Peer) (head Diff[E], pending []Entry[E], ok bool) {
	if !s.hasBase || !s.knows(q) {
		return Diff[E]{}, nil, false
	}
	return Diff[E]{Origin: s.origin, From: s.self, Base: s.Base()}, s.pending, true
}

// forgot reports whether d lists this replica's acknowledgement of an entry above its
// infimum that it does not hold (nor dropped void at the head of its log): this copy is a
// new one, made after the one that acknowledged it was deleted (a retired or discarded
// copy, revived by another replica's state). A diff leaves out what the receiver
// acknowledged; applied, it would have this copy fold the entries it brings without those,
// into an infimum with the live one's id and another digest (the runtime's simulation,
// seed 1518, lost a consistent write so). A full state brings them back.
func (s *State[S, E, O]) forgot(d Diff[E]) bool {
	for _, a := range d.Acks {
		if !s.inf.ID.Less(a.ID) || !peers(a.Peers).has(s.self) {
			continue
		}
		if _, ok := s.find(a.ID); !ok && !s.wasVoided(a.ID) {
			return true
		}
	}
	return false
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
	if !s.hasBase || s.forgot(d) {
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
