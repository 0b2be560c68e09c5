package lattice

// projection caches the infimum value with pending[:n] applied, in id order. A new entry
// that sorts after pending[n-1] extends it in place; one that sorts before invalidates it,
// and the next read replays from a clone of the infimum. Folding the head of pending keeps
// it valid: the fold computes exactly what the projection already applied, with one
// exception, which skipped handles.
type projection[S any] struct {
	value S
	n     int
	valid bool
	// careful is set after an Apply failed while extending in place (it may have left the
	// value half-mutated): the cache is rebuilt cloning before every Apply.
	careful bool
	// reqs maps the request keys of the pending events applied so far to their ids.
	reqs map[string]EventID
	// skipped counts, by request key, the pending events the projection skipped as
	// duplicates. The fold skips such an event too, as long as its original is pending or
	// in the infimum's dedup window when it folds; if the original leaves the window
	// first (as many other events fold in between as the window holds), the fold applies
	// the event, so remember invalidates the projection when a key in skipped leaves it.
	// A skipped event that folds as the duplicate it is leaves skipped (foldHead).
	skipped map[string]int
}

// Projection returns the infimum value with every pending event applied in id order:
// what this replica currently believes, including events not yet acknowledged by all.
// The value is shared with the replica's cache: read it, never modify it.
func (s *State[S, E, O]) Projection() S {
	s.extend()
	return s.proj.value
}

// invalidateFrom records that pending[i] changed (inserted or removed).
func (s *State[S, E, O]) invalidateFrom(i int) {
	if i < s.proj.n {
		s.proj.valid = false
	}
}

// extend brings the projection up to date with every pending entry.
func (s *State[S, E, O]) extend() {
	if !s.proj.valid {
		s.proj = projection[S]{value: s.behavior.clone(s.inf.Value), valid: true, careful: s.proj.careful}
	}
	for s.proj.n < len(s.pending) {
		e := &s.pending[s.proj.n]
		if (e.Delta.Kind == Event || e.Delta.Kind == Reset) && s.duplicate(e) {
			if s.proj.skipped == nil {
				s.proj.skipped = map[string]int{}
			}
			s.proj.skipped[e.Delta.Req]++
			s.proj.n++
			continue
		}
		switch e.Delta.Kind {
		case Event:
			if !s.extendOne(e) {
				return // extendOne restarted the projection in careful mode
			}
		case Reset:
			s.proj.value = s.behavior.initial()
		}
		s.proj.n++
	}
	s.proj.careful = false
}

// extendOne applies e to the projection. It reports false when the in-place apply failed
// and the projection had to be restarted (then extend starts over, carefully).
func (s *State[S, E, O]) extendOne(e *Entry[E]) bool {
	if s.proj.careful {
		s.proj.value, _, _ = s.applySafe(s.proj.value, e.ID, &e.Delta)
		return true
	}
	next, _, err := s.apply(s.proj.value, e.ID, &e.Delta)
	if err != nil {
		s.proj = projection[S]{careful: true}
		s.extend()
		return false
	}
	s.proj.value = next
	return true
}

// duplicate reports, while the projection is being extended over e, whether e repeats the
// request of an earlier event, and records e's request otherwise.
func (s *State[S, E, O]) duplicate(e *Entry[E]) bool {
	req := e.Delta.Req
	if req == "" {
		return false
	}
	if _, ok := s.inWindow(req); ok {
		return true
	}
	if id, ok := s.proj.reqs[req]; ok && id != e.ID {
		return true
	}
	if s.proj.reqs == nil {
		s.proj.reqs = map[string]EventID{}
	}
	s.proj.reqs[req] = e.ID
	return false
}
