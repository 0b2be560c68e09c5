package lattice

import (
	"maps"
	"slices"
)

// Snapshot is a replica's full state: what a joining replica receives, what a diff falls
// back to, and what the runtime persists. A Snapshot shares nothing mutable with the
// replica it came from.
type Snapshot[S, E any] struct {
	Origin  string
	Infimum Infimum[S]
	Pending []Entry[E]
	// Held are request keys the replica remembers beyond its dedup window (State.Held).
	Held []Request
	// Voided are the UnJoins above the infimum that the replica dropped void at the head
	// of its log (State.Voided): its own decisions, which Restore restores and Merge
	// ignores.
	Voided []EventID
}

// Snapshot returns a deep copy of the replica's full state.
func (s *State[S, E, O]) Snapshot() Snapshot[S, E] {
	inf := s.inf
	inf.Participants = slices.Clone(inf.Participants)
	inf.Last = maps.Clone(inf.Last)
	inf.Recent = slices.Clone(inf.Recent)
	inf.Value = s.behavior.clone(inf.Value)
	pending := make([]Entry[E], len(s.pending))
	for i := range s.pending {
		pending[i] = s.pending[i].clone()
	}
	return Snapshot[S, E]{Origin: s.origin, Infimum: inf, Pending: pending, Held: slices.Clone(s.held.reqs),
		Voided: s.Voided()}
}

// Restore rebuilds a replica from a snapshot, for example one loaded from disk. The
// snapshot is copied. A snapshot without participants restores a joiner that has no state.
func Restore[S, E, O any](b Behavior[S, E, O], self Peer, snap Snapshot[S, E]) *State[S, E, O] {
	s := NewJoiner(b, snap.Origin, self)
	if snap.Infimum.Participants == nil && snap.Infimum.ID.IsBottom() && snap.Infimum.Digest == 0 {
		return s
	}
	s.hasBase = true
	s.inf = snap.Infimum
	s.inf.Participants = sortedPeers(snap.Infimum.Participants)
	s.inf.Last = maps.Clone(snap.Infimum.Last)
	s.inf.Recent = slices.Clone(snap.Infimum.Recent)
	s.indexRecent()
	s.inf.Value = b.clone(snap.Infimum.Value)
	s.see(s.inf.ID)
	s.union(snap.Pending, false)
	s.dropStrayAcks() // a snapshot stored before strayacks.go may hold some
	s.filterRenegades()
	s.holdKeys(snap.Held)
	s.voided = slices.Clone(snap.Voided)
	return s
}

// Report says what a Merge or ApplyDiff changed, for the runtime to persist and act on.
type Report[E any] struct {
	// Added lists the ids of entries this replica did not hold before.
	Added []EventID
	// Renegades lists this replica's own entries that the merged history dropped: created
	// when, by that history, this peer was not a participant, or cut off by a confirmed
	// ejection of this peer, or left behind by a remote infimum that does not hold them;
	// and own UnJoins that Reduce dropped as void since the last report. The runtime
	// re-proposes their events once the peer is a participant again.
	Renegades []Entry[E]
	// Taken reports that Merge replaced the infimum wholesale with the remote one (it could
	// not fold its own log up to it): what led to it was never in this replica's log, so a
	// runtime that stores the log as deltas over an older infimum must write this one.
	Taken bool
}

// Merge joins a full state into this replica: the higher infimum wins (folding the local
// log up to it when that reproduces it, so that local outputs stay known), pending entries
// are unioned with their acks, entries at or below the infimum and renegade entries are
// dropped.
func (s *State[S, E, O]) Merge(o Snapshot[S, E]) (Report[E], error) {
	if o.Origin != s.origin {
		return Report[E]{}, ErrOrigin
	}
	if o.Infimum.Participants == nil && o.Infimum.ID.IsBottom() && o.Infimum.Digest == 0 {
		return s.mergeEntries(o.Pending, nil, false), nil // a joiner's empty state
	}
	remote := Base{ID: o.Infimum.ID, Digest: o.Infimum.Digest}
	var lost []Entry[E]
	taken := false
	if !s.hasBase || remote.compare(s.Base()) > 0 {
		if !s.hasBase || !s.foldToProof(remote) {
			lost, taken = s.takeInfimum(o.Infimum), true
		}
	}
	r := s.mergeEntries(o.Pending, nil, true)
	r.Renegades = append(lost, r.Renegades...)
	r.Taken = taken
	s.holdKeys(o.Held)
	return r, nil
}

// takeInfimum replaces this replica's infimum wholesale with a remote one that it cannot
// reproduce. Local entries at or below it that the remote history holds are reported as
// folded with unknown outputs. Those it does not hold (their creator's counter is above
// the remote's Last for it: cut off by an ejection, or never seen there) are not folded
// anywhere: this replica's own are returned, lost (the runtime re-proposes them), and
// others' are dropped without a Folded report, their creators re-propose theirs. (They
// were reported folded, and a consistent call waiting on one, a re-proposal answered as a
// duplicate of it, was told its event applied: the actor simulation lost acknowledged
// writes so, seed 3777.)
func (s *State[S, E, O]) takeInfimum(inf Infimum[S]) (lost []Entry[E]) {
	n := 0
	joins := false // a Join that goes unfolded leaves its peer's acks stray (strayacks.go)
	for n < len(s.pending) && !inf.ID.Less(s.pending[n].ID) {
		e := &s.pending[n]
		joins = joins || e.Delta.Kind == Join && !peers(inf.Participants).has(e.Delta.Peer)
		switch {
		case e.ID.Counter <= inf.Last[e.ID.Peer]:
			s.folded = append(s.folded, Folded[O]{ID: e.ID, Kind: e.Delta.Kind, Peer: e.Delta.Peer, Err: ErrOutputUnknown})
		case e.ID.Peer == s.self:
			lost = append(lost, e.clone())
		}
		n++
	}
	s.pending = slices.Delete(s.pending, 0, n)
	s.hasBase = true
	gone := s.inf.Participants
	s.inf = inf
	s.inf.Participants = sortedPeers(inf.Participants)
	s.inf.Last = maps.Clone(inf.Last)
	s.inf.Recent = slices.Clone(inf.Recent)
	s.indexRecent()
	s.inf.Value = s.behavior.clone(inf.Value)
	s.see(inf.ID)
	s.recountMembership()
	for _, p := range gone {
		if !peers(s.inf.Participants).has(p) {
			s.forgetAcks(p)
		}
	}
	if joins {
		s.dropStrayAcks()
	}
	s.proj = projection[S]{}
	return lost
}

// canProve reports whether folding the local log up to remote's id reproduces remote:
// the local pending ids up to it, chained onto the local digest, give remote's digest.
// Failing that, it tries the chain without the pending UnJoins that look void here (a void
// UnJoin is dropped at the head, not folded). It returns which of the two matched; the
// digest is the proof either way: below a remote infimum, what the remote did not fold
// never folds.
func (s *State[S, E, O]) canProve(remote Base) (ok, skipVoid bool) {
	if s.chainTo(remote, false) {
		return true, false
	}
	if s.membership > 0 && s.chainTo(remote, true) {
		return true, true
	}
	return false, false
}

func (s *State[S, E, O]) chainTo(remote Base, skipVoid bool) bool {
	h, last := s.inf.Digest, s.inf.ID
	for i := range s.pending {
		id := s.pending[i].ID
		if remote.ID.Less(id) {
			break
		}
		if skipVoid && s.pending[i].Delta.Kind == UnJoin && s.maybeVoid(i) {
			continue
		}
		h, last = chainDigest(h, id), id
	}
	return last == remote.ID && h == remote.Digest
}

// foldToProof folds the local log up to a remote infimum without checking acks, when the
// local log reproduces it: a remote infimum is proof that everything at or below it was
// acknowledged by every participant. It reports whether it did.
func (s *State[S, E, O]) foldToProof(remote Base) bool {
	ok, skipVoid := s.canProve(remote)
	if !ok {
		return false
	}
	var drop []EventID
	if skipVoid {
		for i := range s.pending {
			if e := &s.pending[i]; !remote.ID.Less(e.ID) && e.Delta.Kind == UnJoin && s.maybeVoid(i) {
				drop = append(drop, e.ID)
			}
		}
	}
	for len(s.pending) > 0 && !remote.ID.Less(s.pending[0].ID) {
		if len(drop) > 0 && s.pending[0].ID == drop[0] {
			drop = drop[1:]
			s.dropHead()
			continue
		}
		s.foldHead()
	}
	return true
}

// mergeEntries unions entries (and ack-only updates) into pending and drops renegades
// (always when force is set, as after the infimum changed hands). It does not insert an
// entry that carries this replica's own ack but that it no longer holds (see union).
func (s *State[S, E, O]) mergeEntries(entries []Entry[E], acks []Ack, force bool) Report[E] {
	r := Report[E]{Renegades: s.takeLost()}
	r.Added = s.union(entries, true)
	stray := false
	for i := range entries {
		stray = stray || s.strayIn(entries[i].Acks)
	}
	for _, a := range acks {
		s.see(a.ID)
		if i, ok := s.find(a.ID); ok {
			e := &s.pending[i]
			e.Acks = peers(e.Acks).union(a.Peers)
			stray = stray || s.strayIn(a.Peers)
		}
	}
	if stray {
		s.dropStrayAcks()
	}
	if force || len(r.Added) > 0 || s.membership > 0 {
		before := len(s.pending)
		r.Renegades = append(r.Renegades, s.filterRenegades()...)
		if len(s.pending) < before { // whoever's they were, dropped entries were not added
			r.Added = slices.DeleteFunc(r.Added, func(id EventID) bool {
				_, ok := s.find(id)
				return !ok
			})
		}
	}
	return r
}

// union inserts entries not held yet (copying their acks) and unions the acks of those
// held. It returns the ids it inserted.
//
// With dropped set (a merge, not a restore), an UnJoin above the infimum that this replica
// dropped without folding it (a void UnJoin at the head of its log: State.Voided) and that
// carries its own ack is not inserted again: that decision stands. A diff never brings
// such an entry back either: it carries only the ack set of an entry its receiver
// acknowledged, which the receiver ignores when it does not hold the entry. Without this
// rule the full merge re-inserted a void UnJoin that the diff did not (docs/lattice.md,
// "Ejection"). The own ack alone used to be the rule, which a new copy of a peer that had
// folded the UnJoin in an earlier copy (then left, and was joined again) also matched: it
// skipped an UnJoin that the others were still to fold, folded past it, and its infimum
// differed from theirs for good (TestNewCopyTakesItsPendingUnJoin; the actor simulation's
// seeds 1401, 9591 and 9955).
func (s *State[S, E, O]) union(entries []Entry[E], dropped bool) []EventID {
	var added []EventID
	var chunk []Peer // ack sets of inserted entries are carved out of it
	for i := range entries {
		in := &entries[i]
		s.see(in.ID)
		if !s.inf.ID.Less(in.ID) {
			continue
		}
		j, ok := s.find(in.ID)
		if ok {
			e := &s.pending[j]
			e.Acks = peers(e.Acks).union(in.Acks)
			continue
		}
		if dropped && in.Delta.Kind == UnJoin && slices.Contains(in.Acks, s.self) && s.wasVoided(in.ID) { // in.Acks may come unsorted
			continue
		}
		// Room for every participant's ack (and a joiner's), so that acknowledging and
		// merging acks later does not reallocate; capped, so that no set grows into the next.
		c := max(len(in.Acks), len(s.inf.Participants)) + 1
		if len(chunk) < c {
			chunk = make([]Peer, c*(len(entries)-i))
		}
		acks := append(chunk[:0:c], in.Acks...)
		chunk = chunk[c:]
		if !slices.IsSorted(acks) {
			slices.Sort(acks)
		}
		acks = slices.Compact(acks)
		s.insertAt(j, Entry[E]{ID: in.ID, Delta: in.Delta, Acks: acks})
		if k := in.Delta.Kind; k == Join || k == UnJoin {
			s.membership++
		}
		s.invalidateFrom(j)
		added = append(added, in.ID)
	}
	return added
}

// filterRenegades drops every entry whose creator was not a participant at its id (by the
// infimum's participants and the Joins pending before it), or that a confirmed UnJoin of
// its creator cuts off (above the cutoff, within the UnJoin's reach). An UnJoin that is
// merely known drops nothing: until it is confirmed, the deltas it cuts off may still be
// acknowledged by a peer whose acknowledgement it needs, and so fold instead of it
// (docs/lattice.md, "Ejection"). Only UnJoins whose writers may write at their position
// count, and dropping entries can confirm more UnJoins, so it repeats until nothing more
// drops. It returns the dropped entries that this replica created.
func (s *State[S, E, O]) filterRenegades() []Entry[E] {
	var own []Entry[E]
	for {
		var confirmed []reach
		if s.membership > 0 {
			_, confirmed = s.ejections()
		}
		dropped := s.filterOnce(confirmed, &own)
		if dropped == 0 {
			return own
		}
		s.recountMembership()
		if s.membership == 0 {
			return own
		}
	}
}

func (s *State[S, E, O]) filterOnce(confirmed []reach, own *[]Entry[E]) int {
	var cut []bool
	for _, r := range confirmed {
		for j := r.lo + 1; j < r.hi; j++ {
			if s.cuts(r, j) {
				if cut == nil {
					cut = make([]bool, len(s.pending))
				}
				cut[j] = true
			}
		}
	}
	cur := peers(s.inf.Participants)
	if s.membership > 0 {
		cur = cur.clone()
	}
	kept := s.pending[:0]
	joins := false // a dropped Join's peer may no longer acknowledge (strayacks.go)
	for i := range s.pending {
		e := s.pending[i]
		if !cur.has(e.ID.Peer) || cut != nil && cut[i] {
			joins = joins || e.Delta.Kind == Join
			if e.ID.Peer == s.self {
				*own = append(*own, e)
			}
			s.invalidateFrom(len(kept))
			continue
		}
		if e.Delta.Kind == Join {
			cur = cur.with(e.Delta.Peer)
		}
		kept = append(kept, e)
	}
	dropped := len(s.pending) - len(kept)
	clear(s.pending[len(kept):])
	s.pending = kept
	if joins {
		// s.membership is recounted by the caller; until then it is too high, which
		// only costs mayAck its shortcut.
		s.dropStrayAcks()
	}
	return dropped
}

func (s *State[S, E, O]) recountMembership() {
	s.membership = 0
	for i := range s.pending {
		if k := s.pending[i].Delta.Kind; k == Join || k == UnJoin {
			s.membership++
		}
	}
}

// Voided returns the UnJoins above the infimum that this replica dropped void at the head
// of its log.
func (s *State[S, E, O]) Voided() []EventID {
	s.wasVoided(EventID{})
	if len(s.voided) == 0 {
		return nil
	}
	return slices.Clone(s.voided)
}

// wasVoided reports whether the UnJoin id was dropped void at the head of a log, forgetting
// those the infimum has passed.
func (s *State[S, E, O]) wasVoided(id EventID) bool {
	s.voided = slices.DeleteFunc(s.voided, func(v EventID) bool { return !s.inf.ID.Less(v) })
	return slices.Contains(s.voided, id)
}
