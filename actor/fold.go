package actor

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/legion-go/legion/actor/internal/wire"
	"github.com/legion-go/legion/gc"
	"github.com/legion-go/legion/lattice"
)

// foldable is one replica's event fold with the user's types erased to bytes: the replica
// actor works on it without knowing S, E and O. Not safe for concurrent use.
type foldable interface {
	state() foldState
	// top returns the participants after pending membership changes, joiners included.
	top() []lattice.Peer
	genesis(participants []lattice.Peer)
	restore(snap *wire.Snapshot) error
	event(event []byte, time int64, req string) (lattice.EventID, []byte, error)
	query(q []byte, stable bool) ([]byte, error)
	propose(kind lattice.DeltaKind, p lattice.Peer) (lattice.EventID, error)
	// diff encodes what peer to lacks: every entry it has not acknowledged travels with
	// the acks, never an ack alone (docs/lattice.md: knowledge of an ack travels with the
	// acknowledger's entries; a receiver that learned an ack without the entries below it
	// could fold past an entry it never saw).
	diff(to lattice.Peer) (*wire.Diff, bool, error)
	snapshot(withPending bool) (*wire.Snapshot, error)
	applyDiff(d *wire.Diff) (report, error)
	merge(s *wire.Snapshot) (report, error)
	acknowledge() int
	reduce() []folded
	encodeEntry(i int) (lattice.EventID, []byte, error)
	// ids appends the pending entries' ids to dst.
	ids(dst []lattice.EventID) []lattice.EventID
	// selfAcked reports whether this replica acknowledged pending entry i.
	selfAcked(i int) bool
	knowsMore(d *wire.Diff) bool
	owed() []lattice.Owed
	// ownAckedElsewhere reports whether every pending entry this replica created is
	// acknowledged by at least one other peer.
	ownAckedElsewhere() bool
	gcReplica(kind, key string, lastAdvance time.Time) gc.Replica
	// forks reports whether merging m would join another lineage of the partition
	// (lattice.State.Forks), and whether the merge would drop this replica's infimum.
	forks(m *wire.Snapshot) (forked, dropsOwn bool)
	// clock and witness read and raise the fold's Lamport clock (lattice.State.Clock).
	clock() uint64
	witness(counter uint64)
	// ownEvents returns this replica's own pending events (with request keys), encoded.
	ownEvents() []lattice.Entry[[]byte]
}

// foldState is a summary of the fold for the replica's decisions.
type foldState struct {
	hasBase      bool
	base         lattice.Base
	pending      int
	participant  bool
	retired      bool
	participants []lattice.Peer // infimum participants (shared with the fold: read only)
}

type folded struct {
	id   lattice.EventID
	kind lattice.DeltaKind
	req  string
	out  []byte
	err  error
}

type report struct {
	added     int
	creators  []lattice.Peer // the peers that created the added entries, each once
	renegades []lattice.Entry[[]byte]
}

// typedFold implements foldable for one kind.
type typedFold[S, E, O proto.Message] struct {
	k  *Kind[S, E, O]
	st *lattice.State[S, E, O]
	cs wire.Codec[S]
	ce wire.Codec[E]
}

func (k *Kind[S, E, O]) newReplica(origin string, self lattice.Peer) foldable {
	return &typedFold[S, E, O]{k: k, st: lattice.NewJoiner(k.behavior(), origin, self), cs: codec[S](), ce: codec[E]()}
}

func (f *typedFold[S, E, O]) state() foldState {
	inf := f.st.Infimum()
	return foldState{hasBase: f.st.HasBase(), base: f.st.Base(), pending: f.st.Len(),
		participant: f.st.Participant(), retired: f.st.Retired(), participants: inf.Participants}
}

func (f *typedFold[S, E, O]) top() []lattice.Peer { return f.st.Participants() }

func (f *typedFold[S, E, O]) genesis(participants []lattice.Peer) {
	c := f.st.Clock()
	f.st = lattice.New(f.k.behavior(), f.st.Origin(), f.st.Self(), participants, f.k.initial())
	f.st.Witness(c)
}

func (f *typedFold[S, E, O]) clock() uint64 { return f.st.Clock() }

func (f *typedFold[S, E, O]) witness(c uint64) { f.st.Witness(c) }

func (f *typedFold[S, E, O]) restore(m *wire.Snapshot) error {
	snap, err := wire.ToSnapshot(m, f.cs, f.ce)
	if err != nil {
		return err
	}
	if snap.Origin != f.st.Origin() {
		return fmt.Errorf("actor: stored replica of %q found under %q", snap.Origin, f.st.Origin())
	}
	c := f.st.Clock()
	f.st = lattice.Restore(f.k.behavior(), f.st.Self(), snap)
	f.st.Witness(c)
	return nil
}

// event decodes and logs a new event. A payload that does not decode is ErrBadPayload;
// an event Apply rejects is logged as an Error delta and returned as *RejectedError.
func (f *typedFold[S, E, O]) event(b []byte, time int64, req string) (lattice.EventID, []byte, error) {
	e, err := f.ce.Decode(b)
	if err != nil {
		return lattice.EventID{}, nil, fmt.Errorf("%w: %v", ErrBadPayload, err)
	}
	id, out, err := f.st.Request(e, time, req)
	if err != nil {
		var ae *lattice.ApplyError
		if errors.As(err, &ae) {
			return id, nil, &RejectedError{Msg: ae.Msg, Panic: ae.Panic}
		}
		return id, nil, err
	}
	ob, err := proto.Marshal(out)
	if err != nil {
		return id, nil, fmt.Errorf("actor: encode output: %w", err)
	}
	return id, ob, nil
}

func (f *typedFold[S, E, O]) query(b []byte, stable bool) (out []byte, err error) {
	if f.k.Query == nil {
		return nil, fmt.Errorf("%w: kind %q has no Query", ErrBadPayload, f.k.Name)
	}
	q, err := f.ce.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPayload, err)
	}
	s := f.st.Projection()
	if stable {
		s = f.st.Infimum().Value
	}
	defer func() {
		if r := recover(); r != nil {
			err = &RejectedError{Msg: fmt.Sprint(r), Panic: true}
		}
	}()
	o, err := f.k.Query(s, q)
	if err != nil {
		return nil, &RejectedError{Msg: err.Error()}
	}
	return proto.Marshal(o)
}

func (f *typedFold[S, E, O]) propose(kind lattice.DeltaKind, p lattice.Peer) (lattice.EventID, error) {
	return f.st.Propose(kind, p)
}

func (f *typedFold[S, E, O]) diff(to lattice.Peer) (*wire.Diff, bool, error) {
	// Encoded straight from the log: no intermediate copy of the entries and ack sets.
	return wire.DiffOf(f.st, to, f.ce)
}

func (f *typedFold[S, E, O]) snapshot(withPending bool) (*wire.Snapshot, error) {
	// Encoded straight from the state: no deep copy (nor clone of the user's state) first.
	return wire.SnapshotOf(f.st, withPending, f.cs, f.ce)
}

func (f *typedFold[S, E, O]) applyDiff(m *wire.Diff) (report, error) {
	d, err := wire.ToDiff(m, f.ce)
	if err != nil {
		return report{}, err
	}
	r, err := f.st.ApplyDiff(d)
	return f.report(r), err
}

func (f *typedFold[S, E, O]) merge(m *wire.Snapshot) (report, error) {
	snap, err := wire.ToSnapshot(m, f.cs, f.ce)
	if err != nil {
		return report{}, err
	}
	r, err := f.st.Merge(snap)
	return f.report(r), err
}

func (f *typedFold[S, E, O]) report(r lattice.Report[E]) report {
	out := report{added: len(r.Added)}
	for _, id := range r.Added {
		if !slices.Contains(out.creators, id.Peer) {
			out.creators = append(out.creators, id.Peer)
		}
	}
	for _, e := range r.Renegades {
		if e.Delta.Kind != lattice.Event {
			continue
		}
		b, err := f.ce.Encode(e.Delta.Event)
		if err != nil {
			continue
		}
		out.renegades = append(out.renegades, lattice.Entry[[]byte]{ID: e.ID,
			Delta: lattice.Delta[[]byte]{Kind: e.Delta.Kind, Event: b, Time: e.Delta.Time, Req: e.Delta.Req}})
	}
	return out
}

func (f *typedFold[S, E, O]) acknowledge() int { return f.st.Acknowledge() }

func (f *typedFold[S, E, O]) reduce() []folded {
	fs := f.st.Reduce()
	out := make([]folded, len(fs))
	// The outputs are marshalled into one array, each capped so that none can grow into
	// the next: one allocation per reduce instead of one per output.
	size := 0
	for i := range fs {
		if x := &fs[i]; x.Kind == lattice.Event && x.Err == nil {
			size += proto.Size(x.Output)
		}
	}
	buf := make([]byte, 0, size)
	for i := range fs {
		x := &fs[i]
		out[i] = folded{id: x.ID, kind: x.Kind, req: x.Req, err: x.Err}
		if x.Kind != lattice.Event || x.Err != nil {
			continue
		}
		start := len(buf)
		b, err := proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(buf, x.Output)
		if err != nil {
			out[i].err = err
			continue
		}
		buf = b
		out[i].out = buf[start:len(buf):len(buf)]
	}
	return out
}

func (f *typedFold[S, E, O]) encodeEntry(i int) (lattice.EventID, []byte, error) {
	e := &f.st.Pending()[i]
	b, err := wire.MarshalEntry(e, f.ce)
	return e.ID, b, err
}

func (f *typedFold[S, E, O]) selfAcked(i int) bool {
	return f.st.Pending()[i].Acked(f.st.Self())
}

func (f *typedFold[S, E, O]) owed() []lattice.Owed { return f.st.Owed() }

func (f *typedFold[S, E, O]) ownAckedElsewhere() bool {
	self := f.st.Self()
	for _, e := range f.st.Pending() {
		if e.ID.Peer == self && len(e.Acks) < 2 {
			return false
		}
	}
	return true
}

func (f *typedFold[S, E, O]) gcReplica(kind, key string, lastAdvance time.Time) gc.Replica {
	return gc.ReplicaOf(f.st, kind, key, lastAdvance)
}

func (f *typedFold[S, E, O]) forks(m *wire.Snapshot) (forked, dropsOwn bool) {
	in := m.GetInfimum()
	if !in.GetHasBase() {
		return false, false
	}
	inf := lattice.Infimum[S]{ID: wire.ToID(in.GetId()), Digest: in.GetDigest(), Lineage: in.GetLineage(),
		Participants: []lattice.Peer{}}
	return f.st.Forks(inf), f.st.Wins(inf)
}

func (f *typedFold[S, E, O]) ownEvents() []lattice.Entry[[]byte] {
	var own []lattice.Entry[E]
	for _, e := range f.st.Pending() {
		if e.ID.Peer == f.st.Self() && e.Delta.Kind == lattice.Event {
			own = append(own, e)
		}
	}
	return f.report(lattice.Report[E]{Renegades: own}).renegades
}

func (f *typedFold[S, E, O]) ids(dst []lattice.EventID) []lattice.EventID {
	for _, e := range f.st.Pending() {
		dst = append(dst, e.ID)
	}
	return dst
}

// knowsMore reports whether this replica knows something the sender of d did not: a
// higher infimum, which lets the sender fold (and drop) what it still holds. Then the
// sender should hear back even if d brought nothing new here. (Acks a replica lacks reach
// it with the next diff of a replica that has them, or by anti-entropy.)
func (f *typedFold[S, E, O]) knowsMore(d *wire.Diff) bool {
	return f.st.Base().ID.Compare(wire.ToID(d.GetBaseId())) > 0
}
