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
	return Snapshot[S, E]{Origin: s.origin, Infimum: inf, Pending: pending}
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
	s.union(snap.Pending)
	s.filterRenegades()
	return s
}

// Report says what a Merge or ApplyDiff changed, for the runtime to persist and act on.
type Report[E any] struct {
	// Added lists the ids of entries this replica did not hold before.
	Added []EventID
	// Renegades lists this replica's own entries that the merged history dropped: created
	// when, by that history, this peer was no longer a participant (it had been ejected),
	// or left behind by a remote infimum that does not hold them. The runtime re-proposes
	// their events once the peer is a participant again.
	Renegades []Entry[E]
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
	if !s.hasBase || remote.compare(s.Base()) > 0 {
		if !s.hasBase || !s.foldToProof(remote) {
			lost = s.takeInfimum(o.Infimum)
		}
	}
	r := s.mergeEntries(o.Pending, nil, true)
	r.Renegades = append(lost, r.Renegades...)
	return r, nil
}

// takeInfimum replaces this replica's infimum wholesale with a remote one that it cannot
// reproduce. Local entries at or below it are reported as folded with unknown outputs, but
// this replica's own entries that the remote history does not hold are returned: they
// were lost (the runtime re-proposes them).
func (s *State[S, E, O]) takeInfimum(inf Infimum[S]) (lost []Entry[E]) {
	n := 0
	for n < len(s.pending) && !inf.ID.Less(s.pending[n].ID) {
		e := &s.pending[n]
		if e.ID.Peer == s.self && e.ID.Counter > inf.Last[s.self] {
			lost = append(lost, e.clone())
		} else {
			s.folded = append(s.folded, Folded[O]{ID: e.ID, Kind: e.Delta.Kind, Peer: e.Delta.Peer, Err: ErrOutputUnknown})
		}
		n++
	}
	s.pending = slices.Delete(s.pending, 0, n)
	s.hasBase = true
	s.inf = inf
	s.inf.Participants = sortedPeers(inf.Participants)
	s.inf.Last = maps.Clone(inf.Last)
	s.inf.Recent = slices.Clone(inf.Recent)
	s.indexRecent()
	s.inf.Value = s.behavior.clone(inf.Value)
	s.see(inf.ID)
	s.recountMembership()
	s.proj = projection[S]{}
	return lost
}

// canProve reports whether folding the local log up to remote's id reproduces remote:
// the local pending ids up to it, chained onto the local digest, give remote's digest.
func (s *State[S, E, O]) canProve(remote Base) bool {
	h, last := s.inf.Digest, s.inf.ID
	for i := range s.pending {
		id := s.pending[i].ID
		if remote.ID.Less(id) {
			break
		}
		h, last = chainDigest(h, id), id
	}
	return last == remote.ID && h == remote.Digest
}

// foldToProof folds the local log up to a remote infimum without checking acks, when the
// local log reproduces it: a remote infimum is proof that everything at or below it was
// acknowledged by every participant. It reports whether it did.
func (s *State[S, E, O]) foldToProof(remote Base) bool {
	if !s.canProve(remote) {
		return false
	}
	for len(s.pending) > 0 && !remote.ID.Less(s.pending[0].ID) {
		s.foldHead()
	}
	return true
}

// mergeEntries unions entries (and ack-only updates) into pending and drops renegades
// (always when force is set, as after the infimum changed hands).
func (s *State[S, E, O]) mergeEntries(entries []Entry[E], acks []Ack, force bool) Report[E] {
	var r Report[E]
	r.Added = s.union(entries)
	for _, a := range acks {
		s.see(a.ID)
		if i, ok := s.find(a.ID); ok {
			e := &s.pending[i]
			e.Acks = peers(e.Acks).union(a.Peers)
		}
	}
	if force || len(r.Added) > 0 || s.membership > 0 {
		before := len(s.pending)
		r.Renegades = s.filterRenegades()
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
func (s *State[S, E, O]) union(entries []Entry[E]) []EventID {
	var added []EventID
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
		s.pending = slices.Insert(s.pending, j, Entry[E]{ID: in.ID, Delta: in.Delta, Acks: sortedPeers(in.Acks)})
		if k := in.Delta.Kind; k == Join || k == UnJoin {
			s.membership++
		}
		s.invalidateFrom(j)
		added = append(added, in.ID)
	}
	return added
}

// filterRenegades drops every entry whose creator was not a participant at its id (by the
// infimum's participants and the membership changes pending before it), or whose creator
// has a pending UnJoin with a cutoff below it. Only UnJoins that survive the filter
// themselves set cutoffs (an UnJoin written by a peer that had itself been ejected is a
// renegade, not an ejection), so it repeats until nothing more drops. It returns the
// dropped entries that this replica created.
func (s *State[S, E, O]) filterRenegades() []Entry[E] {
	var own []Entry[E]
	for {
		var cutoff map[Peer]uint64
		if s.membership > 0 {
			cutoff = s.cutoffs()
		}
		dropped := s.filterOnce(cutoff, &own)
		if dropped == 0 {
			return own
		}
		s.recountMembership()
		if s.membership == 0 {
			return own
		}
	}
}

func (s *State[S, E, O]) filterOnce(cutoff map[Peer]uint64, own *[]Entry[E]) int {
	cur := peers(s.inf.Participants)
	if s.membership > 0 {
		cur = cur.clone()
	}
	kept := s.pending[:0]
	for i := range s.pending {
		e := s.pending[i]
		c, cut := cutoff[e.ID.Peer]
		if !cur.has(e.ID.Peer) || (cut && e.ID.Counter > c) {
			if e.ID.Peer == s.self {
				*own = append(*own, e)
			}
			s.invalidateFrom(len(kept))
			continue
		}
		if e.Delta.Kind == Join || e.Delta.Kind == UnJoin {
			cur = applyMembership(cur, &e.Delta)
		}
		kept = append(kept, e)
	}
	dropped := len(s.pending) - len(kept)
	clear(s.pending[len(kept):])
	s.pending = kept
	return dropped
}

// cutoffs maps each peer with a pending UnJoin to the lowest cutoff among its UnJoins,
// counting only UnJoins whose writers were participants when they wrote them.
func (s *State[S, E, O]) cutoffs() map[Peer]uint64 {
	var out map[Peer]uint64
	cur := peers(s.inf.Participants).clone()
	for i := range s.pending {
		e := &s.pending[i]
		valid := cur.has(e.ID.Peer)
		if !valid {
			continue
		}
		if e.Delta.Kind == Join || e.Delta.Kind == UnJoin {
			cur = applyMembership(cur, &e.Delta)
		}
		if e.Delta.Kind != UnJoin {
			continue
		}
		if out == nil {
			out = make(map[Peer]uint64)
		}
		if c, ok := out[e.Delta.Peer]; !ok || e.Delta.Cutoff < c {
			out[e.Delta.Peer] = e.Delta.Cutoff
		}
	}
	return out
}

func (s *State[S, E, O]) recountMembership() {
	s.membership = 0
	for i := range s.pending {
		if k := s.pending[i].Delta.Kind; k == Join || k == UnJoin {
			s.membership++
		}
	}
}
