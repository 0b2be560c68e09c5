package lattice

import (
	"fmt"
	"slices"
)

// DeltaKind says what a delta does when it folds.
type DeltaKind uint8

const (
	// Join adds Delta.Peer to the participants. The joining peer must itself acknowledge
	// its Join (proof that it holds the full state) before the Join folds.
	Join DeltaKind = iota + 1
	// UnJoin removes Delta.Peer from the participants. It may be written by the peer itself
	// (graceful handoff) or by a surviving participant on behalf of a dead peer (ejection).
	// Once an UnJoin of p is confirmed (acknowledged by every other participant and every
	// peer joining before it), p counts as having acknowledged everything, and p's deltas
	// above the UnJoin's Cutoff are renegades. See Delta.Cutoff.
	UnJoin
	// Event applies Delta.Event to the state.
	Event
	// Error is an event that failed at its origin (Apply panicked or returned an error
	// there). It never changes the state; its output is an error on every replica.
	Error
	// Reset deletes the partition's state: it folds the state back to Behavior.Initial
	// (Apply never sees it). Events that sort before it applied to the old state and are
	// gone with it; events that sort after it apply to the fresh one. It carries a request
	// key (Req) and a Time like an Event, and deduplicates as one does. The log, the
	// participants and the dedup window go on: a Reset is an entry of the same history,
	// so a replica that missed it (it was down, or a message carrying older entries
	// arrives late) folds it in its place and cannot bring the old state back.
	Reset
)

func (k DeltaKind) String() string {
	switch k {
	case Join:
		return "join"
	case UnJoin:
		return "unjoin"
	case Event:
		return "event"
	case Error:
		return "error"
	case Reset:
		return "reset"
	}
	return fmt.Sprintf("DeltaKind(%d)", uint8(k))
}

// Delta is one entry of a partition's log: a membership change or a user event.
type Delta[E any] struct {
	Kind DeltaKind
	// Peer is the peer that joins or unjoins (Join, UnJoin only).
	Peer Peer
	// Event is the user's event (Event and Error only).
	Event E
	// Time is the origin's timestamp, handed to Apply as Meta.Time.
	Time int64
	// Version (Event and Error only) is the version of the kind's Apply the origin
	// stamped on the event, handed to Apply as Meta.Version (0: unversioned). The lattice
	// only carries it; the runtime picks the Apply by it, so that every replica folds the
	// event alike whichever version of the code it runs (docs/kinds.md, "Versions and
	// upgrades").
	Version uint32
	// Req (Event and Reset only) is an idempotency key chosen by the caller. An Event whose Req
	// equals that of an Event earlier in the history (by id; pending, or among the last
	// Behavior.DedupWindow folded) is a duplicate: it changes nothing, and its infimum
	// output is a *DuplicateError naming the original. A call retried on another replica
	// after a timeout is so applied once.
	Req string
	// Err is the failure message of an Error delta.
	Err string
	// Cutoff (UnJoin only) is the highest counter among Peer's deltas that the writer of
	// the UnJoin knew. The UnJoin cuts off Peer's deltas above the cutoff (up to a later
	// Join of Peer, if any; an UnJoin that sorts before Peer's Join cuts off nothing): it
	// and each of them contradict each other, and no replica acknowledges both of two
	// contradicting deltas (the first one it acknowledged wins; its own deltas count as
	// acknowledged by it). Once the UnJoin is confirmed, the deltas it cuts off are dropped
	// as renegades: none can ever fold, since a peer whose acknowledgement it needs
	// confirmed the UnJoin, so dropping them everywhere is consistent, and the implicit acks
	// of the unjoining peer cover exactly the deltas it is known to have made. Until then, an
	// UnJoin that is merely known cuts nothing off. An UnJoin is void once a peer whose
	// acknowledgement it needs acknowledged a delta it cuts off (or one folded): it is never
	// confirmed, and is dropped, not folded, when it reaches the head of the log. See
	// docs/lattice.md, "Ejection".
	Cutoff uint64
}

// Entry is a pending delta with its id and the set of peers known to have seen it.
type Entry[E any] struct {
	ID    EventID
	Delta Delta[E]
	// Acks is sorted and duplicate-free. Callers must not modify it.
	Acks []Peer
}

// Acked reports whether p is known to have acknowledged the entry.
func (e *Entry[E]) Acked(p Peer) bool { return peers(e.Acks).has(p) }

// clone returns a copy of e that shares nothing mutable with it (the user's event value is
// never mutated by the lattice, so it is shared).
func (e Entry[E]) clone() Entry[E] {
	e.Acks = slices.Clone(e.Acks)
	return e
}
