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
// as this replica knows: participants of the infimum (except peers being unjoined) and
// peers with a pending Join.
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
