package lattice

// Owed says what one peer still owes this replica's log: the acks that hold garbage
// collection back. The runtime sends such a peer diffs (anti-entropy) and, when the peer
// is dead, ejects it.
type Owed struct {
	Peer Peer
	// From is the lowest pending id the peer has not acknowledged.
	From EventID
	// Count is how many pending entries it has not acknowledged.
	Count int
}

// Owed lists, in peer order, every peer whose ack some pending entry still needs, as far
// as this replica knows: participants of the infimum and peers with a pending Join; a peer
// being unjoined only for the ejections of others it must confirm (owedConfirmations).
func (s *State[S, E, O]) Owed() []Owed {
	if len(s.pending) == 0 {
		return nil
	}
	need := peers(s.inf.Participants) // read only, unless membership changes are pending
	// A joining peer owes acks from its Join on: what came before folds without it.
	var start map[Peer]int
	var unjoining peers
	if s.membership > 0 {
		need = need.clone()
		start = map[Peer]int{}
		unjoining = s.unjoining()
		for i := range s.pending {
			if d := &s.pending[i].Delta; d.Kind == Join && !need.has(d.Peer) {
				need = need.with(d.Peer)
				start[d.Peer] = i
			}
		}
	}
	var out []Owed
	for _, p := range need {
		if unjoining.has(p) {
			join, ok := start[p]
			if !ok {
				join = -1 // a participant of the infimum
			}
			if o := s.owedConfirmations(p, join); o.Count > 0 {
				out = append(out, o)
			}
			continue
		}
		o := Owed{Peer: p}
		for i := start[p]; i < len(s.pending); i++ {
			e := &s.pending[i]
			if !peers(e.Acks).has(p) {
				if o.Count == 0 {
					o.From = e.ID
				}
				o.Count++
			}
		}
		if o.Count > 0 {
			out = append(out, o)
		}
	}
	return out
}

// owedConfirmations is what p, a peer whose own UnJoin is confirmed, still owes: its
// acknowledgement of the UnJoins of other peers after its Join (at index join, or -1 for
// a participant of the infimum), which it must confirm (confirmedAt) although its acks
// count as implicit everywhere else.
// Left out of Owed, it was sent nothing: a joiner that went before it received its state
// (it crashed), and was ejected in turn, never confirmed the ejection its Join was written
// for, and that ejection held the log back for good (the actor simulation's seed 3948).
func (s *State[S, E, O]) owedConfirmations(p Peer, join int) Owed {
	o := Owed{Peer: p}
	for i := join + 1; i < len(s.pending); i++ {
		e := &s.pending[i]
		if e.Delta.Kind != UnJoin || e.Delta.Peer == p || peers(e.Acks).has(p) {
			continue
		}
		if r := s.reachOf(i); !r.active || join >= 0 && s.cuts(r, join) {
			continue
		}
		if o.Count == 0 {
			o.From = e.ID
		}
		o.Count++
	}
	return o
}
