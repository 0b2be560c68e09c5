package lattice

// Ejection: an UnJoin and the deltas it cuts off never both take effect. The rules, and why
// they are safe, are in docs/lattice.md, "Ejection". In short, with X an UnJoin of u with
// cutoff k:
//
//   - X cuts off u's deltas with a counter above k, within its reach (reachOf): X and
//     each of them contradict each other. A replica never acknowledges both (Acknowledge
//     refuses the second); its own deltas count as acknowledged by it.
//   - X is confirmed once every required confirmer acknowledged it (confirmedAt), and no
//     delta it cuts off folded. Only then do u's implicit acks count and the deltas it
//     cuts off become renegades.
//   - X is void once a required confirmer acknowledged a delta it cuts off (or one folded:
//     Infimum.Last[u] > k). A void X is dropped when it reaches the head of the log, where
//     the required confirmers are exactly the infimum's participants.
//
// Everything here runs only when a membership change is pending (State.membership > 0).

// contradicts reports whether the delta with id y is one of x's peer's, above x's cutoff.
func contradicts[E any](x *Delta[E], y EventID) bool {
	return y.Peer == x.Peer && y.Counter > x.Cutoff
}

// reach is the part of the log an UnJoin acts on: its peer's deltas between the pending
// Joins of that peer around it (a Join of the peer after it starts a new membership). An
// UnJoin whose peer is not a participant at its position (not of the infimum, and not
// joining before it) ejects nobody and acts on nothing: it was written by a replica that
// did not know the peer's Join, and sorts before it.
type reach struct {
	i, lo, hi int // the UnJoin's index; it acts on indices strictly between lo and hi
	active    bool
}

func (s *State[S, E, O]) reachOf(i int) reach {
	u := s.pending[i].Delta.Peer
	r := reach{i: i, lo: -1, hi: len(s.pending), active: peers(s.inf.Participants).has(u)}
	for j := i - 1; j >= 0; j-- {
		if d := &s.pending[j].Delta; d.Kind == Join && d.Peer == u {
			r.lo, r.active = j, true
			break
		}
	}
	for j := i + 1; j < len(s.pending); j++ {
		if d := &s.pending[j].Delta; d.Kind == Join && d.Peer == u {
			r.hi = j
			break
		}
	}
	return r
}

// cuts reports whether the UnJoin of r cuts off pending[j].
func (s *State[S, E, O]) cuts(r reach, j int) bool {
	return r.active && j != r.i && r.lo < j && j < r.hi && contradicts(&s.pending[r.i].Delta, s.pending[j].ID)
}

// confirmedAt reports whether the UnJoin of r is acknowledged by all its required
// confirmers: every participant of the infimum and every peer joining before it (joins
// lists the indices of the pending Joins before it), other than the unjoined peer. A Join
// that the UnJoin cuts off does not count: if the UnJoin is confirmed, that Join is a
// renegade. That set contains every peer that can be a participant at the UnJoin's
// position (a Join before it that this replica does not know yet was written by a peer that
// acknowledged the UnJoin after writing it, and an acknowledgement travels with the
// acknowledger's entries), so a replica that counts the UnJoin confirmed knows that each
// of them refuses the deltas it cuts off.
func (s *State[S, E, O]) confirmedAt(r reach, joins []int) bool {
	x := &s.pending[r.i]
	acks, u := peers(x.Acks), x.Delta.Peer
	for _, p := range s.inf.Participants {
		if p != u && !acks.has(p) {
			return false
		}
	}
	for _, j := range joins {
		if e := &s.pending[j]; e.Delta.Peer != u && !acks.has(e.Delta.Peer) && !s.cuts(r, j) {
			return false
		}
	}
	return true
}

// ejections returns the peers with a confirmed UnJoin (their acks are implicit) and the
// reaches of the confirmed UnJoins (the deltas they cut off are renegades). An UnJoin
// counts only if it is active, its writer may write at its position (a participant of the
// infimum or a peer joining before it), and no delta it cuts off folded: then it is void
// for good, whatever its acks say (a replica may acknowledge both an UnJoin and a delta it
// cuts off once the UnJoin is doomed: see refuses).
func (s *State[S, E, O]) ejections() (unjoining peers, confirmed []reach) {
	var joins []int
	for i := range s.pending {
		e := &s.pending[i]
		switch e.Delta.Kind {
		case Join:
			joins = append(joins, i)
		case UnJoin:
			if !s.mayWriteAt(e.ID.Peer, joins) || s.inf.Last[e.Delta.Peer] > e.Delta.Cutoff {
				continue
			}
			r := s.reachOf(i)
			if !r.active || !s.confirmedAt(r, joins) {
				continue
			}
			unjoining = unjoining.with(e.Delta.Peer)
			confirmed = append(confirmed, r)
		}
	}
	return unjoining, confirmed
}

// mayWriteAt reports whether w is a participant of the infimum or joins by one of joins.
func (s *State[S, E, O]) mayWriteAt(w Peer, joins []int) bool {
	if peers(s.inf.Participants).has(w) {
		return true
	}
	for _, j := range joins {
		if s.pending[j].Delta.Peer == w {
			return true
		}
	}
	return false
}

// unjoining returns the peers with a confirmed UnJoin: they count as having acknowledged
// everything.
func (s *State[S, E, O]) unjoining() peers {
	u, _ := s.ejections()
	return u
}

// voidBy reports whether the UnJoin pending[i] is void as far as this replica can tell with
// need as the peers whose acknowledgements it needs: one of them acknowledged a pending
// delta it cuts off, or a delta it cuts off folded already.
func (s *State[S, E, O]) voidBy(i int, need peers) bool {
	x := &s.pending[i].Delta
	if s.inf.Last[x.Peer] > x.Cutoff {
		return true
	}
	r := s.reachOf(i)
	for j := range s.pending {
		if !s.cuts(r, j) {
			continue
		}
		for _, q := range s.pending[j].Acks {
			if q != x.Peer && need.has(q) {
				return true
			}
		}
	}
	return false
}

// voidHead reports whether pending[0], an UnJoin, is void. At the head, the peers whose
// acknowledgements it needs are exactly the participants of the infimum, which every
// replica that reaches this point agrees on; and none of them ever acknowledges both it and
// a delta it cuts off. So a void head is never confirmed anywhere, and dropping it is the
// same decision on every replica.
func (s *State[S, E, O]) voidHead() bool {
	return s.voidBy(0, s.inf.Participants)
}

// maybeVoid is voidHead's estimate for an UnJoin anywhere in the log, with every peer it may
// need (participants of the infimum and peers joining before it). Propose and Leaving use
// it: it decides nothing but whether to write another UnJoin, and a duplicate is harmless.
func (s *State[S, E, O]) maybeVoid(i int) bool {
	need := peers(s.inf.Participants)
	if s.membership > 1 {
		need = need.clone()
		r := s.reachOf(i)
		for j := 0; j < i; j++ {
			if e := &s.pending[j]; e.Delta.Kind == Join && !s.cuts(r, j) {
				need = need.with(e.Delta.Peer)
			}
		}
	}
	return s.voidBy(i, need)
}

// leavingAt reports whether the UnJoin pending[i] ejects or removes its peer as far as
// this replica can tell: it is active, not void, and not one this replica refuses. This
// replica is a participant whose acknowledgement the UnJoin needs, and a refused one
// folds only if it reaches the head with the UnJoin that made this replica refuse it
// doomed; a delta before it may wait for the very peer it removes. Two contradicting
// UnJoins of a peer, each refused by a replica the other needs and both void, held the
// log for good so (the simulation's seed 5775: a departing node's own UnJoin, and a
// survivor's ejection of it with a lower cutoff); a new UnJoin, whose cutoff covers both,
// lets it go on, and a duplicate is harmless.
func (s *State[S, E, O]) leavingAt(i int) bool {
	if s.pending[i].Delta.Kind != UnJoin || !s.reachOf(i).active || s.maybeVoid(i) {
		return false
	}
	if peers(s.pending[i].Acks).has(s.self) {
		return true
	}
	var unjoins []reach
	for j := range s.pending {
		if s.pending[j].Delta.Kind == UnJoin {
			unjoins = append(unjoins, s.reachOf(j))
		}
	}
	return !s.refuses(i, unjoins)
}

// Leaving returns, sorted, the peers with a pending UnJoin that is not void (as far as this
// replica can tell): the peers being ejected or leaving. An UnJoin that is void will never
// fold; its peer is not leaving, and a new UnJoin (whose cutoff covers what the void one
// cut off) may be proposed. An UnJoin written before its peer's Join ejects nobody, and
// does not count either.
func (s *State[S, E, O]) Leaving() []Peer {
	var out peers
	if s.membership == 0 {
		return nil
	}
	for i := range s.pending {
		if d := &s.pending[i].Delta; d.Kind == UnJoin && !out.has(d.Peer) && s.leavingAt(i) {
			out = out.with(d.Peer)
		}
	}
	return out
}

// leaving reports whether Leaving lists p.
func (s *State[S, E, O]) leaving(p Peer) bool {
	for i := range s.pending {
		if d := &s.pending[i].Delta; d.Kind == UnJoin && d.Peer == p && s.leavingAt(i) {
			return true
		}
	}
	return false
}

// refuses reports whether this replica must not acknowledge pending[i] because it
// acknowledged a delta that contradicts it. unjoins are the reaches of the pending UnJoins.
func (s *State[S, E, O]) refuses(i int, unjoins []reach) bool {
	e := &s.pending[i]
	if e.Delta.Kind == UnJoin {
		// An UnJoin is refused when this replica acknowledged a delta it cuts off.
		if s.inf.Last[e.Delta.Peer] > e.Delta.Cutoff {
			return true
		}
		for _, r := range unjoins {
			if r.i != i {
				continue
			}
			for j := range s.pending {
				if s.cuts(r, j) && peers(s.pending[j].Acks).has(s.self) {
					return true
				}
			}
		}
	}
	// Any delta is refused when this replica acknowledged an UnJoin that cuts it off,
	// unless the delta is at the head of the log and every such UnJoin is doomed: then none
	// of them can ever be confirmed, and the delta must be able to fold.
	for _, r := range unjoins {
		if !s.cuts(r, i) || !peers(s.pending[r.i].Acks).has(s.self) {
			continue
		}
		if i != 0 || !s.doomed(r) {
			return true
		}
	}
	return false
}

// doomed reports whether the UnJoin of r can never be confirmed, as this replica can tell
// while the head of its log is a delta the UnJoin cuts off: a delta it cuts off folded, or
// one was acknowledged by a peer whose acknowledgement the UnJoin needs on every replica
// that has not resolved the head yet. Such a peer is a participant of the infimum (at the
// head, exactly the participants there), or a peer joining before the UnJoin whose Join
// this replica acknowledged and which the UnJoin does not cut off (so the Join cannot be
// dropped by an ejection that this replica's acknowledgement is needed for). That peer
// refuses the UnJoin for good. (A replica past the head folded it, and then the UnJoin is
// void by Infimum.Last: ejections never counts it confirmed.)
func (s *State[S, E, O]) doomed(r reach) bool {
	x := &s.pending[r.i].Delta
	if s.inf.Last[x.Peer] > x.Cutoff {
		return true
	}
	for m := range s.pending {
		if !s.cuts(r, m) {
			continue
		}
		for _, q := range s.pending[m].Acks {
			if q != x.Peer && (peers(s.inf.Participants).has(q) || s.joinAcked(q, r)) {
				return true
			}
		}
	}
	return false
}

// joinAcked reports whether a Join of q that the UnJoin of r does not cut off is pending
// before it, acknowledged by this replica.
func (s *State[S, E, O]) joinAcked(q Peer, r reach) bool {
	for m := 0; m < r.i; m++ {
		e := &s.pending[m]
		if e.Delta.Kind == Join && e.Delta.Peer == q && !s.cuts(r, m) && peers(e.Acks).has(s.self) {
			return true
		}
	}
	return false
}

// acknowledgeCareful is Acknowledge when membership changes are pending: it refuses
// contradicting deltas (whichever this replica acknowledged first wins; among new ones, the
// lower id), and a peer that is joining acknowledges nothing below its own Join (no fold
// there needs its acknowledgement, and it must not refuse an UnJoin for a delta whose fold
// never needed it).
func (s *State[S, E, O]) acknowledgeCareful() int {
	start := 0
	if !peers(s.inf.Participants).has(s.self) {
		for i := range s.pending {
			if d := &s.pending[i].Delta; d.Kind == Join && d.Peer == s.self {
				start = i
				break
			}
		}
	}
	var unjoins []reach
	for i := range s.pending {
		if s.pending[i].Delta.Kind == UnJoin {
			unjoins = append(unjoins, s.reachOf(i))
		}
	}
	n := 0
	for i := start; i < len(s.pending); i++ {
		e := &s.pending[i]
		if peers(e.Acks).has(s.self) || s.refuses(i, unjoins) || s.cutOffAt(i) {
			continue
		}
		e.Acks = peers(e.Acks).with(s.self)
		n++
	}
	return n
}

// ackedOwnUnJoin reports whether this replica acknowledged a pending UnJoin of itself: then
// it may create no delta any more (every new one would contradict it).
func (s *State[S, E, O]) ackedOwnUnJoin() bool {
	for i := range s.pending {
		e := &s.pending[i]
		if e.Delta.Kind == UnJoin && e.Delta.Peer == s.self && peers(e.Acks).has(s.self) {
			return true
		}
	}
	return false
}

// dropHead removes pending[0] without folding it (a void UnJoin); an own entry is kept for
// the next Report.
func (s *State[S, E, O]) dropHead() {
	e := s.pending[0]
	if e.ID.Peer == s.self {
		s.lost = append(s.lost, e)
	}
	if k := e.Delta.Kind; k == Join || k == UnJoin {
		s.membership--
	}
	if e.Delta.Kind == UnJoin {
		s.voided = append(s.voided, e.ID)
	}
	s.pending[0] = Entry[E]{}
	s.pending = s.pending[1:]
	switch {
	case e.Delta.Kind == UnJoin && s.proj.n > 0:
		s.proj.n-- // an UnJoin changed nothing in the projection
	default:
		s.invalidateFrom(0)
	}
}

// settle drops the renegades (keeping own ones for the next Report) and returns the peers
// being unjoined.
func (s *State[S, E, O]) settle() peers {
	if s.membership == 0 {
		return nil
	}
	s.lost = append(s.lost, s.filterRenegades()...)
	if s.membership == 0 {
		return nil
	}
	return s.unjoining()
}

// TakeLost returns this replica's own entries that were dropped outside a merge or a
// diff (by Reduce: cut off by a confirmed ejection of this peer, or own UnJoins dropped
// void) since the last Report, and forgets them: the next Report no longer carries them.
// A runtime that reduces and may drop its copy before its next merge (its own UnJoin
// folded in the same Reduce) takes them here, or they are lost.
func (s *State[S, E, O]) TakeLost() []Entry[E] { return s.takeLost() }

// takeLost returns the own entries dropped outside a merge, and forgets them.
func (s *State[S, E, O]) takeLost() []Entry[E] {
	l := s.lost
	s.lost = nil
	return l
}
