package lattice

// Event logs a new event created by this replica at time (the origin's timestamp, handed
// to Apply as Meta.Time), acknowledged by this replica only, and returns its id and its
// projected output: Apply's output on the current projection. The projected output is
// provisional: a concurrent event that sorts earlier may still arrive and change the final
// (infimum) output, which Reduce reports once the event folds.
//
// When Apply fails on the projection, the event is logged as an Error delta (it will never
// change the state, on any replica) and the *ApplyError is returned with its id.
func (s *State[S, E, O]) Event(e E, time int64) (EventID, O, error) {
	return s.Request(e, time, "")
}

// Request is Event with an idempotency key (Delta.Req): when an event with the same key
// is already in the history, nothing is logged, and a *DuplicateError names the original
// (with Folded set when its output can no longer be computed here).
func (s *State[S, E, O]) Request(e E, time int64, req string) (EventID, O, error) {
	return s.RequestVersion(e, time, req, 0)
}

// RequestVersion is Request with the kind version stamped on the event (Delta.Version).
func (s *State[S, E, O]) RequestVersion(e E, time int64, req string, version uint32) (EventID, O, error) {
	var zero O
	if !s.Participant() {
		return EventID{}, zero, ErrNotParticipant
	}
	s.extend()
	if err := s.duplicateOf(req); err != nil {
		return err.Of, zero, err
	}
	id := s.nextID()
	d := Delta[E]{Kind: Event, Event: e, Time: time, Req: req, Version: version}
	next, out, err := s.apply(s.proj.value, id, &d)
	if err != nil {
		// The in-place apply may have damaged the cache: rebuild it before going on.
		s.proj = projection[S]{careful: true}
		s.extend()
		d.Kind, d.Err = Error, err.(*ApplyError).Msg
		out = zero
	} else {
		s.proj.value = next
	}
	s.insertLocal(id, d)
	if req != "" && err == nil {
		if s.proj.reqs == nil {
			s.proj.reqs = map[string]EventID{}
		}
		s.proj.reqs[req] = id
	}
	return id, out, err
}

// duplicateOf returns the *DuplicateError of a new request req whose key the history
// holds already (pending, in the dedup window, or held), or nil. The projection must be
// extended.
func (s *State[S, E, O]) duplicateOf(req string) *DuplicateError {
	if req == "" {
		return nil
	}
	if of, ok := s.inWindow(req); ok {
		return &DuplicateError{Of: of, Folded: true}
	}
	if of, ok := s.proj.reqs[req]; ok {
		return &DuplicateError{Of: of}
	}
	if of, ok := s.held.find(req); ok {
		return &DuplicateError{Of: of, Folded: true}
	}
	return nil
}

// Reset logs a Reset delta created by this replica at time, with the request key req
// (empty: none): the partition's state folds back to Behavior.Initial at its id, on
// every replica. The projection starts again from Initial at once. As Request, it logs
// nothing and returns a *DuplicateError when req is in the history already.
func (s *State[S, E, O]) Reset(time int64, req string) (EventID, error) {
	if !s.Participant() {
		return EventID{}, ErrNotParticipant
	}
	s.extend()
	if err := s.duplicateOf(req); err != nil {
		return err.Of, err
	}
	id := s.nextID()
	s.proj.value = s.behavior.initial()
	s.insertLocal(id, Delta[E]{Kind: Reset, Time: time, Req: req})
	if req != "" {
		if s.proj.reqs == nil {
			s.proj.reqs = map[string]EventID{}
		}
		s.proj.reqs[req] = id
	}
	return id, nil
}

// Propose logs a membership change (Join or UnJoin of p) created by this replica.
// Writing UnJoin(p) on behalf of a dead peer p is how a partition ejects it; its cutoff is
// the highest counter among p's deltas this replica knows. A duplicate written by another
// replica is harmless. Propose refuses (ErrLeaving) an UnJoin of a peer that Leaving lists
// already; once that UnJoin is void (a participant acknowledged a delta of p above its
// cutoff), a new one, whose cutoff covers that delta, may be proposed.
//
// Only a replica whose own Join has folded (a participant of its infimum) may propose,
// even while it is leaving: a joiner does not yet know every delta that may fold without
// its ack, so the cutoff of an UnJoin it wrote could drop a delta that another replica
// already folded. A replica that acknowledged an UnJoin of itself proposes nothing more
// (ErrNotParticipant): every new delta of its own would contradict that UnJoin.
func (s *State[S, E, O]) Propose(kind DeltaKind, p Peer) (EventID, error) {
	if kind != Join && kind != UnJoin {
		panic("lattice: Propose takes Join or UnJoin")
	}
	if !s.hasBase || !peers(s.inf.Participants).has(s.self) {
		return EventID{}, ErrNotParticipant
	}
	if s.membership > 0 {
		if s.ackedOwnUnJoin() {
			return EventID{}, ErrNotParticipant
		}
		if kind == UnJoin && s.leaving(p) {
			return EventID{}, ErrLeaving
		}
	}
	id := s.nextID()
	d := Delta[E]{Kind: kind, Peer: p}
	if kind == UnJoin {
		d.Cutoff = s.lastCounter(p)
		if p == s.self {
			d.Cutoff = id.Counter
		}
	}
	s.extend()
	s.insertLocal(id, d)
	return id, nil
}

// lastCounter is the highest counter among p's deltas this replica knows, folded or pending.
func (s *State[S, E, O]) lastCounter(p Peer) uint64 {
	c := s.inf.Last[p]
	for i := range s.pending {
		if id := s.pending[i].ID; id.Peer == p && id.Counter > c {
			c = id.Counter
		}
	}
	return c
}

// insertLocal appends a delta this replica just created; the projection already covers it.
func (s *State[S, E, O]) insertLocal(id EventID, d Delta[E]) {
	acks := make([]Peer, 1, len(s.inf.Participants)+1)
	acks[0] = s.self
	s.insertAt(len(s.pending), Entry[E]{ID: id, Delta: d, Acks: acks})
	if d.Kind == Join || d.Kind == UnJoin {
		s.membership++
	}
	s.see(id)
	s.proj.n = len(s.pending)
}

// Acknowledge records that this replica has seen (and, in the runtime, persisted) every
// pending entry. It returns how many entries it newly acknowledged.
//
// While membership changes are pending it skips entries it must refuse: an UnJoin of u with
// cutoff k and a delta created by u with a counter above k contradict each other, and a
// replica never acknowledges both (its own deltas count as acknowledged by it). The first
// one it acknowledged wins; among entries new at once, the lower id. A joining replica
// acknowledges nothing below its own Join. See docs/lattice.md, "Ejection".
func (s *State[S, E, O]) Acknowledge() int {
	if !s.mayAck(s.self) {
		return 0 // its copy may go at any time: strayacks.go
	}
	if s.forgotOwn() {
		return 0
	}
	if s.membership > 0 {
		return s.acknowledgeCareful()
	}
	n := 0
	for i := range s.pending {
		e := &s.pending[i]
		if !peers(e.Acks).has(s.self) && !s.cutOffAt(i) {
			e.Acks = peers(e.Acks).with(s.self)
			n++
		}
	}
	return n
}
