package lattice

// Reduce is the garbage collection: while the lowest pending delta is acknowledged by
// every peer whose ack it needs, fold it into the infimum. It returns every delta folded
// since the previous call (including those folded by Merge or ApplyDiff on a remote
// infimum's proof), in id order, with its infimum output.
//
// The acks a delta needs: every participant of the infimum, except peers being unjoined
// (they may never ack again, and count as having acknowledged everything), plus, for a
// Join, the joining peer itself (its ack proves it holds the full state). A peer counts as
// being unjoined once an UnJoin of it is confirmed: acknowledged by every other participant
// and every peer joining before it. Each of them either carried the peer's deltas with its
// ack or refuses those above the UnJoin's cutoff, which are then dropped as renegades.
//
// An UnJoin that reaches the head of the log void (a participant acknowledged a delta it
// cuts off, or one folded) can never be confirmed: it is dropped, not folded, on every
// replica. See docs/lattice.md, "Ejection".
func (s *State[S, E, O]) Reduce() []Folded[O] {
	var unjoining peers
	if s.membership > 0 {
		unjoining = s.settle()
	}
	for len(s.pending) > 0 {
		e := &s.pending[0]
		if e.Delta.Kind == UnJoin && s.voidHead() {
			s.dropHead()
			unjoining = s.settle()
			continue
		}
		if !s.fullyAcked(e, unjoining) {
			break
		}
		wasMembership := e.Delta.Kind == Join || e.Delta.Kind == UnJoin
		s.foldHead()
		if wasMembership {
			unjoining = s.settle()
		}
	}
	out := s.folded
	s.folded = nil
	return out
}

func (s *State[S, E, O]) fullyAcked(e *Entry[E], unjoining peers) bool {
	acks := peers(e.Acks)
	for _, p := range s.inf.Participants {
		if !acks.has(p) && !unjoining.has(p) {
			return false
		}
	}
	if e.Delta.Kind == Join && !acks.has(e.Delta.Peer) && !unjoining.has(e.Delta.Peer) {
		return false
	}
	return true
}

// foldHead folds pending[0] into the infimum without checking acks, and records it.
func (s *State[S, E, O]) foldHead() {
	e := s.pending[0]
	f := Folded[O]{ID: e.ID, Kind: e.Delta.Kind, Peer: e.Delta.Peer, Req: e.Delta.Req}
	s.held.folded()
	switch e.Delta.Kind {
	case Join, UnJoin:
		// An UnJoin of a peer that is not a participant (it sorts before the peer's Join)
		// changes nothing, and the acks that peer gave as the joiner stand. Nor does the
		// UnJoin of the last participant: when every participant leaves at once (a whole
		// cluster stopped together), each leaver counts as acknowledging the others'
		// UnJoins, and folding them all would leave the partition with no copy anywhere.
		// The peer whose UnJoin sorts last keeps it, on every replica alike (the infimum
		// they fold it on is the same). A delta another leaver folded without that peer's
		// ack (it counted as leaving) reaches it only if that leaver's replication does
		// before it retires: gc.Handover makes the last participant stay rather than write
		// its UnJoin, so this backstop is for leaves written at the same instant.
		parts := peers(s.inf.Participants)
		left := e.Delta.Kind == UnJoin && parts.has(e.Delta.Peer) && len(parts) > 1
		// Participants may be shared with a Snapshot or a caller: copy before changing.
		s.inf.Participants = applyMembership(parts.clone(), &e.Delta)
		s.membership--
		if e.Delta.Kind == UnJoin && e.ID.Peer != e.Delta.Peer { // an ejection: see held.go
			s.held.keep = heldFor
		}
		if left {
			defer s.forgetAcks(e.Delta.Peer) // once e is off the log: strayacks.go
		}
	case Event, Reset:
		if of, dup := s.inWindow(e.Delta.Req); dup && e.Delta.Req != "" {
			f.Err = &DuplicateError{Of: of, Folded: true}
			if s.proj.valid && s.proj.n > 0 { // the projection skipped it too
				if n := s.proj.skipped[e.Delta.Req]; n > 1 {
					s.proj.skipped[e.Delta.Req] = n - 1
				} else {
					delete(s.proj.skipped, e.Delta.Req)
				}
			}
			break
		}
		if e.Delta.Kind == Reset {
			s.inf.Value = s.behavior.initial() // the old value is gone with everything it held
		} else {
			s.inf.Value, f.Output, f.Err = s.applySafe(s.inf.Value, e.ID, &e.Delta)
		}
		if e.Delta.Req != "" {
			if s.holding() {
				s.held.add(Request{Key: e.Delta.Req, ID: e.ID})
			}
			s.remember(Request{Key: e.Delta.Req, ID: e.ID, Time: e.Delta.Time})
			delete(s.proj.reqs, e.Delta.Req) // the window answers for it now
		}
	case Error:
		f.Err = &ApplyError{ID: e.ID, Msg: e.Delta.Err}
	}
	s.inf.ID = e.ID
	if s.inf.Last == nil {
		s.inf.Last = make(map[Peer]uint64)
	}
	s.inf.Last[e.ID.Peer] = e.ID.Counter
	s.inf.Digest = chainDigest(s.inf.Digest, e.ID)
	s.checkpoint()
	s.folded = append(s.folded, f)

	s.pending[0] = Entry[E]{} // let the event value be collected
	s.pending = s.pending[1:]
	if s.proj.n > 0 {
		s.proj.n--
	} else {
		s.proj.valid = false
	}
}

// inWindow returns the id of the folded request req, if the window holds it.
func (s *State[S, E, O]) inWindow(req string) (EventID, bool) {
	return s.recent.find(s.inf.Recent, req)
}

func (s *State[S, E, O]) indexRecent() { s.recent.rebuild(s.inf.Recent) }
