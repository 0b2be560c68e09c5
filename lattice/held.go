package lattice

// Held keys: a request retried on another replica while the first was cut off is logged
// twice, once on each side; the dedup window makes the second copy a no-op as long as the
// first is pending or among the last DedupWindow folded requests. An ejected replica's
// copy comes back much later: its replica proposes it again (a renegade) once it learns it
// was ejected, possibly long after the window moved past the other copy. So around an
// ejection a replica remembers more: the keys of the requests it folds while an UnJoin
// written on behalf of another peer is pending in its log (the requests such an ejected
// peer may have logged too can only fold once that UnJoin is confirmed, so they fold then)
// and for heldFor folds after such an UnJoin folds, at most heldCapacity of them, and
// Request treats them as duplicates.
//
// Unlike the window, held keys decide nothing at the fold: they only make Request refuse
// to log a new event, which is a replica's own decision, so replicas may hold different
// ones without diverging. They travel with full states (a joiner learns them) and are
// stored with the snapshot.

const (
	// heldCapacity bounds the held keys of a replica (oldest out).
	heldCapacity = 4096
	// heldFor is how many folds held keys are kept after the last ejection.
	heldFor = 4 * heldCapacity
)

type heldKeys struct {
	reqs  []Request // oldest first
	index map[string]EventID
	keep  int // folds left before the held keys are forgotten
}

func (h *heldKeys) add(r Request) {
	if _, ok := h.index[r.Key]; ok {
		return
	}
	if h.index == nil {
		h.index = map[string]EventID{}
	}
	if len(h.reqs) >= heldCapacity {
		delete(h.index, h.reqs[0].Key)
		h.reqs = h.reqs[1:]
	}
	h.reqs = append(h.reqs, r)
	h.index[r.Key] = r.ID
}

func (h *heldKeys) find(req string) (EventID, bool) {
	id, ok := h.index[req]
	return id, ok
}

// folded counts one fold: the keys are forgotten heldFor folds after the last ejection.
func (h *heldKeys) folded() {
	if h.keep == 0 {
		return
	}
	if h.keep--; h.keep == 0 {
		*h = heldKeys{}
	}
}

// Held returns the request keys this replica holds beyond its dedup window (see held.go),
// oldest first. The slice is shared: read only.
func (s *State[S, E, O]) Held() []Request { return s.held.reqs }

// holding reports whether the replica records the keys it folds: an ejection is pending
// in its log, or one folded less than heldFor folds ago.
func (s *State[S, E, O]) holding() bool {
	if s.held.keep > 0 {
		return true
	}
	if s.membership == 0 {
		return false
	}
	for i := range s.pending {
		if d := &s.pending[i]; d.Delta.Kind == UnJoin && d.ID.Peer != d.Delta.Peer {
			return true
		}
	}
	return false
}

// holdKeys adds keys to the held ones (from a full state or a stored snapshot).
func (s *State[S, E, O]) holdKeys(reqs []Request) {
	if len(reqs) == 0 {
		return
	}
	for _, r := range reqs {
		s.held.add(r)
	}
	s.held.keep = max(s.held.keep, heldFor)
}
