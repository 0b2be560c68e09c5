package lattice

// Forks reports whether merging a full state with infimum o would join two histories of
// the partition (two lineages: it was started from scratch twice, by replicas that did not
// know of each other). Merge then keeps the higher infimum, as always: that is what makes
// every replica converge, but the folded events of the other history are dropped. The
// runtime's genesis rules exist to make this impossible; Forks lets it tell when they
// failed, so that the loss is loud and the dropped state kept for an operator, not silent.
// Entries pending on either side are not lost: each replica proposes its own that the kept
// history does not hold again (Report.Renegades).
func (s *State[S, E, O]) Forks(o Infimum[S]) bool {
	return s.hasBase && o.Participants != nil && s.inf.Lineage != 0 && o.Lineage != 0 && s.inf.Lineage != o.Lineage
}

// Wins reports whether a merge of a full state with infimum o keeps o's infimum rather
// than this replica's (for a fork, whose history is dropped).
func (s *State[S, E, O]) Wins(o Infimum[S]) bool {
	return !s.hasBase || Base{ID: o.ID, Digest: o.Digest}.compare(s.Base()) > 0
}
