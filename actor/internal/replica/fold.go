package replica

import (
	"time"

	"github.com/legion-go/legion/actor/internal/wire"
	"github.com/legion-go/legion/gc"
	"github.com/legion-go/legion/lattice"
)

// Fold is one replica's event fold (a lattice.State) with the user's types erased to
// bytes: the core works on it without knowing S, E and O. package actor implements it for
// each kind. Not safe for concurrent use.
type Fold interface {
	State() FoldState
	// Top returns the participants after pending membership changes, joiners included.
	Top() []lattice.Peer
	Genesis(participants []lattice.Peer)
	Restore(snap *wire.Snapshot) error
	// Event decodes and logs a new event. A payload that does not decode is
	// errs.BadPayload; an event Apply rejects is logged as an Error delta and returned as
	// *errs.Rejected.
	Event(event []byte, time int64, req string) (lattice.EventID, []byte, error)
	// Reset logs a delete of the partition (a lattice.Reset delta), with the request key
	// req; a *lattice.DuplicateError when req is in the history already.
	Reset(time int64, req string) (lattice.EventID, error)
	Query(q []byte, stable bool) ([]byte, error)
	Propose(kind lattice.DeltaKind, p lattice.Peer) (lattice.EventID, error)
	// Diff encodes what peer to lacks: every entry it has not acknowledged travels with
	// the acks, never an ack alone (docs/lattice.md: knowledge of an ack travels with the
	// acknowledger's entries; a receiver that learned an ack without the entries below it
	// could fold past an entry it never saw).
	Diff(to lattice.Peer) (*wire.Diff, bool, error)
	Snapshot(withPending bool) (*wire.Snapshot, error)
	ApplyDiff(d *wire.Diff) (Report, error)
	Merge(s *wire.Snapshot) (Report, error)
	Acknowledge() int
	Reduce() []Folded
	// Lost returns (and forgets) this replica's own events that a Reduce dropped (cut off
	// by a confirmed ejection of this peer), encoded: renegades, which a merge's Report
	// would otherwise carry (lattice.State.TakeLost).
	Lost() []lattice.Entry[[]byte]
	// Divergences returns (and forgets) the divergences found since the last call: a
	// replica whose infimum value differs from this one's at the same id (divergence.go).
	Divergences() []Divergence
	EncodeEntry(i int) (lattice.EventID, []byte, error)
	// IDs appends the pending entries' ids to dst.
	IDs(dst []lattice.EventID) []lattice.EventID
	// SelfAcked reports whether this replica acknowledged pending entry i.
	SelfAcked(i int) bool
	KnowsMore(d *wire.Diff) bool
	Owed() []lattice.Owed
	// OwnAckedElsewhere reports whether every pending entry this replica created is
	// acknowledged by at least one other peer.
	OwnAckedElsewhere() bool
	GCReplica(kind, key string, lastAdvance time.Time) gc.Replica
	// Forks reports whether merging m would join another lineage of the partition
	// (lattice.State.Forks), and whether the merge would drop this replica's infimum.
	Forks(m *wire.Snapshot) (forked, dropsOwn bool)
	// Clock and Witness read and raise the fold's Lamport clock (lattice.State.Clock).
	Clock() uint64
	Witness(counter uint64)
	// RemovalCutOff and SetCutOff are lattice.State's: what a removed copy keeps, and
	// what the copy after it refuses to acknowledge (tombstone.go).
	RemovalCutOff() (at lattice.EventID, lineage uint64, participants []lattice.Peer, last map[lattice.Peer]uint64)
	SetCutOff(at lattice.EventID, lineage uint64, participants []lattice.Peer, last map[lattice.Peer]uint64)
	// OwnEvents returns this replica's own pending events (with request keys), encoded.
	OwnEvents() []lattice.Entry[[]byte]
	// Timers returns the timers of the projection that have not fired (no event with
	// their key is in the history), earliest first (timers.go).
	Timers() []Due
}

// FoldState is a summary of the fold for the replica's decisions.
type FoldState struct {
	HasBase      bool
	Base         lattice.Base
	Pending      int
	Participant  bool
	Retired      bool
	Participants []lattice.Peer // infimum participants (shared with the fold: read only)
	Lineage      uint64         // the infimum's (lattice.Infimum.Lineage)
}

// Folded is one entry a reduce folded into the infimum, with its outcome.
type Folded struct {
	ID   lattice.EventID
	Kind lattice.DeltaKind
	Req  string
	Out  []byte
	Err  error
}

// Report is what a merge or diff added.
type Report struct {
	Added     int
	Creators  []lattice.Peer // the peers that created the added entries, each once
	Renegades []lattice.Entry[[]byte]
	Taken     bool // lattice.Report.Taken: the merge took the remote infimum wholesale
}
