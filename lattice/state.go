package lattice

import (
	"errors"
	"slices"
)

// Behavior is what a user supplies for one kind of partition: a pure, deterministic
// Apply and, when the state holds references, a Clone.
//
// The ownership contract: Apply receives a state it owns and may mutate it in place and
// return it; the lattice never hands Apply the infimum's value or any other value it still
// needs, but a Clone of it. So Clone must return a deep copy that shares nothing mutable
// with its argument. A state that is a plain value (numbers, strings, structs and arrays of
// them) needs no Clone: Go's assignment already copies it. A large state can make Clone
// cheap with a persistent or copy-on-write structure.
type Behavior[S, E, O any] struct {
	// Apply folds event into state and returns the new state and the event's output. It
	// must be deterministic: no clock, no randomness, no I/O, no goroutines; everything it
	// may depend on is in its arguments (Meta carries the event's id, origin and origin
	// timestamp). An error (or a panic) rejects the event: the state stays as it was.
	Apply func(state S, event E, meta Meta) (S, O, error)
	// Clone returns an independent deep copy of state. Nil means assignment copies.
	Clone func(state S) S
	// Initial returns the state a Reset delta folds to: the partition's state before any
	// event (every replica must return the same value, a fresh one each time). Nil means
	// the zero S.
	Initial func() S
	// The dedup horizon: which folded request keys (Delta.Req) the infimum remembers to
	// recognise duplicates (Infimum.Recent, window.go). Every replica of a partition must
	// use the same values: the horizon decides folds, and each snapshot carries it.
	//
	// DedupHorizon is how long a folded request is remembered, in nanoseconds of event
	// time (Delta.Time): a fold forgets the oldest requests while they are older than
	// the folding request by more than this. Zero: DefaultDedupHorizon; negative: no
	// limit of time.
	DedupHorizon int64
	// DedupBytes bounds the size of the remembered requests (each counts its key, its
	// id's peer and 24 bytes), oldest out. Zero: DefaultDedupBytes; negative: no limit.
	DedupBytes int
	// DedupWindow, if positive, also bounds how many requests are remembered. Zero: no
	// limit of count.
	DedupWindow int
	// ValueDigest, if set, hashes a state (the runtime hashes its encoding) for divergence
	// detection: the lattice calls it after the folds it samples and keeps the last few
	// (State.Checkpoints; checkpoint.go). It must be deterministic and must not modify the
	// state.
	ValueDigest func(state S) uint64
}

func (b *Behavior[S, E, O]) initial() S {
	if b.Initial == nil {
		var zero S
		return zero
	}
	return b.Initial()
}

func (b *Behavior[S, E, O]) clone(s S) S {
	if b.Clone == nil {
		return s
	}
	return b.Clone(s)
}

// Errors callers branch on.
var (
	// ErrOrigin: a diff or state of another partition was offered to this one.
	ErrOrigin = errors.New("lattice: states of different origins")
	// ErrNeedFull: a diff cannot apply because this replica lacks the base it needs (it
	// holds no state yet, or its infimum is behind the sender's in a way it cannot prove
	// from its own log). The sender should send its full state instead.
	ErrNeedFull = errors.New("lattice: diff needs a full state")
	// ErrNotParticipant: this replica may not create deltas because its peer is not (or no
	// longer) a participant of the partition.
	ErrNotParticipant = errors.New("lattice: peer is not a participant")
	// ErrLeaving: Propose(UnJoin, p) while an UnJoin of p that is not void is pending
	// already (State.Leaving lists p). Nothing is logged.
	ErrLeaving = errors.New("lattice: an UnJoin of the peer is pending already")
	// ErrOutputUnknown is the error of a Folded entry this replica did not fold itself: a
	// remote infimum it could not reproduce from its own log replaced its own.
	ErrOutputUnknown = errors.New("lattice: delta folded by another replica; output unknown here")
)

// Infimum is the consensus part of a replica: every delta up to ID has been acknowledged
// by every participant and folded into Value, in id order.
type Infimum[S any] struct {
	ID EventID
	// Participants is sorted; the peers whose acks the next fold needs.
	Participants []Peer
	Value        S
	// Digest is a hash chain over the partition's genesis and every folded id. Two
	// infima with the same ID and Digest folded the same deltas.
	Digest uint64
	// Lineage names the history the infimum belongs to: the digest of the partition's
	// genesis (origin and first participants), the same for every infimum of that history.
	// Two infima of one origin with different lineages come from two starts of the
	// partition from scratch (a fork, see Forks). Zero: unknown (a state recorded before
	// lineages were).
	Lineage uint64
	// Last maps each peer that created a folded delta to the highest counter among its
	// folded deltas. A peer's deltas reach every replica together with all its earlier
	// ones (a diff carries every entry the receiver has not acknowledged), so a peer's own
	// delta at or below the infimum is in the folded history exactly when its counter is at
	// most Last[peer]: that is how an ejected peer learns which of its events were lost.
	Last map[Peer]uint64
	// Recent are the request keys of the last folded requests (Delta.Req), oldest first,
	// within the dedup horizon (Behavior.DedupHorizon, DedupBytes and DedupWindow).
	Recent []Request
}

// Request is a folded request key, the id of the event that carried it, and that
// event's time (Delta.Time).
type Request struct {
	Key  string
	ID   EventID
	Time int64
}

// DuplicateError is the outcome of an event whose request key an earlier event carried:
// it changed nothing; Of is the original.
type DuplicateError struct {
	Of EventID
	// Folded reports whether the original had already folded.
	Folded bool
}

func (e *DuplicateError) Error() string {
	return "lattice: duplicate of request " + e.Of.String()
}

// Base is the part of an infimum that a diff carries: enough for a receiver to check
// that it can reproduce the sender's infimum from its own log.
type Base struct {
	ID     EventID
	Digest uint64
}

func (b Base) compare(o Base) int {
	if c := b.ID.Compare(o.ID); c != 0 {
		return c
	}
	switch {
	case b.Digest < o.Digest:
		return -1
	case b.Digest > o.Digest:
		return 1
	}
	return 0
}

// Folded reports one delta that reached the infimum, with its infimum output: final and
// identical on every replica.
type Folded[O any] struct {
	ID   EventID
	Kind DeltaKind
	// Peer is the joining or unjoining peer (Join, UnJoin).
	Peer Peer
	// Req is the event's request key (Delta.Req).
	Req string
	// Output is Apply's output (Event only; a Reset has none).
	Output O
	// Err is set for an Error delta, an Event whose Apply failed at the infimum (an
	// *ApplyError), or ErrOutputUnknown.
	Err error
}

// State is one replica of one partition: the event fold. It is not safe for concurrent
// use: a replica is owned by one actor, which serialises every call (like etcd raft's
// RawNode). Every method is deterministic and performs no I/O.
type State[S, E, O any] struct {
	behavior Behavior[S, E, O]
	origin   string
	self     Peer

	hasBase bool
	inf     Infimum[S]
	// pending is sorted by ID; every entry is above inf.ID and was created by a peer
	// that was a participant at its id.
	pending []Entry[E]
	// log is the whole array pending is a window of (len(log) == cap(log)); its elements
	// outside the window are zero. Folding moves the window forward; insertAt moves it
	// back to the start (or to a larger array) when it reaches the end, so that a log that
	// folds as fast as it grows does not allocate.
	log []Entry[E]
	// membership counts pending Join and UnJoin entries (renegade checks are trivial
	// when it is zero).
	membership int
	// maxCounter is the highest counter this replica has seen (Lamport clock).
	maxCounter uint64
	// voided are the UnJoins above the infimum that this replica dropped void at the head
	// of its log (union does not take them back).
	voided []EventID
	// cut: deltas a removed copy of this replica had seen cut off (cutoff.go).
	cut cutOff

	proj   projection[S]
	folded []Folded[O]
	// lost are own entries dropped outside a merge (by Reduce), for the next Report.
	lost []Entry[E]
	// recent indexes inf.Recent by key.
	recent recentIndex
	// held are request keys remembered beyond the window around ejections (held.go).
	held heldKeys
	// checkpoints are the last value digests at sampled folds, oldest first (checkpoint.go).
	checkpoints []Checkpoint
}

// New returns the genesis replica of a partition: an empty log over initial, with the
// given participants. Every replica created with the same origin, participants and initial
// value is the same state; initial must not depend on the replica.
func New[S, E, O any](b Behavior[S, E, O], origin string, self Peer, participants []Peer, initial S) *State[S, E, O] {
	ps := sortedPeers(participants)
	return &State[S, E, O]{
		behavior: b,
		origin:   origin,
		self:     self,
		hasBase:  true,
		inf:      Infimum[S]{Participants: ps, Value: initial, Digest: genesisDigest(origin, ps), Lineage: genesisDigest(origin, ps)},
	}
}

// NewJoiner returns a replica that holds nothing yet: it waits for a full state (Merge)
// from a participant that wrote a Join for it.
func NewJoiner[S, E, O any](b Behavior[S, E, O], origin string, self Peer) *State[S, E, O] {
	return &State[S, E, O]{behavior: b, origin: origin, self: self}
}

// Origin is the partition's identity.
func (s *State[S, E, O]) Origin() string { return s.origin }

// Self is this replica's peer.
func (s *State[S, E, O]) Self() Peer { return s.self }

// HasBase reports whether the replica holds a state (false for a joiner that has not
// received its full state yet).
func (s *State[S, E, O]) HasBase() bool { return s.hasBase }

// Infimum returns the consensus state. Its Value and Participants are shared with the
// replica: read them, never modify them.
func (s *State[S, E, O]) Infimum() Infimum[S] { return s.inf }

// Base returns the infimum's id and digest.
func (s *State[S, E, O]) Base() Base { return Base{ID: s.inf.ID, Digest: s.inf.Digest} }

// Pending returns the pending entries in id order. They are shared with the replica: read
// them, never modify them, and do not keep them past the next call on the replica.
func (s *State[S, E, O]) Pending() []Entry[E] { return s.pending }

// Len returns the number of pending entries.
func (s *State[S, E, O]) Len() int { return len(s.pending) }

// find returns the index of id in pending, or where it would be inserted.
func (s *State[S, E, O]) find(id EventID) (int, bool) {
	n := len(s.pending)
	if n == 0 || s.pending[n-1].ID.Less(id) {
		return n, false // the common case: a new id sorts last
	}
	return slices.BinarySearchFunc(s.pending, id, func(e Entry[E], id EventID) int { return e.ID.Compare(id) })
}

// insertAt inserts e into pending at index j.
func (s *State[S, E, O]) insertAt(j int, e Entry[E]) {
	n := len(s.pending)
	if n == cap(s.pending) {
		s.regrow()
	}
	s.pending = s.pending[:n+1]
	copy(s.pending[j+1:], s.pending[j:n])
	s.pending[j] = e
}

// regrow makes room past the end of a full pending window: it moves the window back to the
// start of its array when at least as much room was freed before it as the window holds
// (so that each move is paid for by as many inserts), and to a new array twice as large
// otherwise.
func (s *State[S, E, O]) regrow() {
	n := len(s.pending)
	if free := cap(s.log) - cap(s.pending); free > 0 && free >= n {
		copy(s.log, s.pending)
		clear(s.log[n : free+n])
		s.pending = s.log[:n]
		return
	}
	s.log = make([]Entry[E], max(2*n, 2))
	copy(s.log, s.pending)
	s.pending = s.log[:n]
}

// Clock returns the highest counter this replica has seen: its Lamport clock, below which
// it creates no new delta.
func (s *State[S, E, O]) Clock() uint64 { return s.maxCounter }

// Witness raises the replica's Lamport clock to at least counter. A runtime that replaces
// a replica's state with a new one (a discarded copy that joins again, a restored shell)
// carries the clock over with it: a peer must never create two deltas with one id, since
// every replica that holds the first takes the second for it.
func (s *State[S, E, O]) Witness(counter uint64) {
	if counter > s.maxCounter {
		s.maxCounter = counter
	}
}

func (s *State[S, E, O]) see(id EventID) {
	if id.Counter > s.maxCounter {
		s.maxCounter = id.Counter
	}
}

// nextID is the Lamport clock: one past every counter seen, with this peer as tie-break.
func (s *State[S, E, O]) nextID() EventID {
	c := max(s.maxCounter, s.inf.ID.Counter) + 1
	return EventID{Counter: c, Peer: s.self}
}

// participantsAtTop returns the participants after every pending membership change.
func (s *State[S, E, O]) participantsAtTop() peers {
	cur := peers(s.inf.Participants)
	if s.membership == 0 {
		return cur
	}
	cur = cur.clone()
	for i := range s.pending {
		cur = applyMembership(cur, &s.pending[i].Delta)
	}
	return cur
}

func applyMembership[E any](cur peers, d *Delta[E]) peers {
	switch d.Kind {
	case Join:
		return cur.with(d.Peer)
	case UnJoin:
		if len(cur) == 1 && cur[0] == d.Peer {
			return cur // the last participant stays (reduce.go, foldHead)
		}
		return cur.without(d.Peer)
	}
	return cur
}

// Participant reports whether this replica's peer is a participant once every pending
// membership change is taken into account.
func (s *State[S, E, O]) Participant() bool {
	return s.hasBase && s.participantsAtTop().has(s.self)
}

// Retired reports whether this replica is done: it holds a state in which its peer is not
// a participant of the infimum and is not joining (its UnJoin folded). A retired replica
// is deleted by the runtime. A replica that is still a participant of its infimum keeps
// replicating, even after it proposed its own UnJoin, until that UnJoin folds.
func (s *State[S, E, O]) Retired() bool {
	if !s.hasBase || peers(s.inf.Participants).has(s.self) {
		return false
	}
	for i := range s.pending {
		if d := &s.pending[i].Delta; d.Kind == Join && d.Peer == s.self {
			return false
		}
	}
	return true
}

// Participants returns the participants once every pending membership change is taken
// into account (a fresh slice).
func (s *State[S, E, O]) Participants() []Peer {
	return s.participantsAtTop().clone()
}
