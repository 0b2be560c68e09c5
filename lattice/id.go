package lattice

import (
	"cmp"
	"strconv"
)

// Peer is a replica's stable identity in the replication protocol: a node name plus the
// incarnation of its data directory (for example "n1~3f9a2c"). It is not a process or
// actor-system id: a restarted node keeps its peer; a node that lost its data is a new peer.
type Peer string

// EventID names one delta of a partition's log. IDs are ordered by Counter, then by Peer,
// so that concurrent deltas created with the same counter on different peers still have
// a total order that every replica agrees on. The zero EventID is the bottom, below every
// delta ever created.
type EventID struct {
	Counter uint64
	Peer    Peer
}

// Compare returns -1, 0 or +1 as id sorts before, equal to or after o.
func (id EventID) Compare(o EventID) int {
	if c := cmp.Compare(id.Counter, o.Counter); c != 0 {
		return c
	}
	return cmp.Compare(id.Peer, o.Peer)
}

// Less reports whether id sorts before o.
func (id EventID) Less(o EventID) bool { return id.Compare(o) < 0 }

// IsBottom reports whether id is the zero EventID.
func (id EventID) IsBottom() bool { return id.Counter == 0 && id.Peer == "" }

// String renders id as "counter@peer", or "⊥" for the bottom.
func (id EventID) String() string {
	if id.IsBottom() {
		return "⊥"
	}
	return strconv.FormatUint(id.Counter, 10) + "@" + string(id.Peer)
}

// Meta is the deterministic metadata Apply receives with each event: identical on every
// replica that applies it, so that logic depending on it (expiry, ordering) converges.
type Meta struct {
	// ID is the event's id; ID.Peer is the peer that created it.
	ID EventID
	// Time is the timestamp the origin stamped on the event when it was created (the
	// runtime uses a hybrid logical clock, in nanoseconds since the Unix epoch). The
	// lattice never reads a clock: it only carries this value.
	Time int64
	// Version is the kind version the origin stamped on the event (Delta.Version; 0:
	// unversioned).
	Version uint32
}

// Origin is the peer that created the event.
func (m Meta) Origin() Peer { return m.ID.Peer }
