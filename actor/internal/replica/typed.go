package replica

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/legion-go/legion/actor/internal/errs"
	"github.com/legion-go/legion/actor/internal/wire"
	"github.com/legion-go/legion/gc"
	"github.com/legion-go/legion/lattice"
)

// Spec is what a fold needs of a kind of protobuf messages, with the query an E.
type Spec[S, E, O proto.Message] struct {
	Name     string
	Behavior lattice.Behavior[S, E, O]
	Initial  func() S
	// Query, if not nil, answers a query (an E) from a state it must not modify.
	Query func(state S, query E) (O, error)
}

// CodecSpec is what a fold needs of a kind of any types (package actor's Kind): its
// behaviour and the codecs of its state, events and outputs. Its query type is hidden in
// Query, which decodes a query itself.
type CodecSpec[S, E, O any] struct {
	Name     string
	Behavior lattice.Behavior[S, E, O]
	Initial  func() S
	State    wire.Codec[S]
	Event    wire.Codec[E]
	Output   wire.Codec[O]
	// OutputSize and AppendOutput, if both set, are an output's encoded size and what
	// appends its encoding computed with that size (protobuf's cached size): Reduce then
	// encodes a reduce's outputs into one array.
	OutputSize   func(O) int
	AppendOutput func([]byte, O) ([]byte, error)
	// Query, if not nil, decodes a query and returns the function that answers it from a
	// state it must not modify. A decoding error is the caller's: a bad payload.
	Query func(query []byte) (func(state S) (O, error), error)
	// Timers, if not nil, returns a state's timers (timers.go); it must not modify it.
	Timers func(state S) []TimerOf[E]
	// Version, if not nil, is the kind version to stamp on each new event
	// (lattice.Delta.Version): the version every node hosting the kind supports. It must
	// return at once. Nil stamps 0 (unversioned).
	Version func() uint32
}

// typedFold implements Fold for one kind.
type typedFold[S, E, O any] struct {
	name     string
	behavior lattice.Behavior[S, E, O]
	initial  func() S
	query    func([]byte) (func(S) (O, error), error)
	st       *lattice.State[S, E, O]
	cs       wire.Codec[S]
	ce       wire.Codec[E]
	co       wire.Codec[O]
	// outSize, if not nil, is an output's encoded size and outAppend appends its encoding
	// (protobuf's cached size): Reduce then encodes all outputs into one array.
	outSize   func(O) int
	outAppend func([]byte, O) ([]byte, error)
	timers    func(S) []TimerOf[E]
	version   func() uint32
	// Divergence detection (divergence.go).
	checks checks
}

// NewFold returns an empty fold of the protobuf kind k for the partition origin on self.
func NewFold[S, E, O proto.Message](k *Spec[S, E, O], origin string, self lattice.Peer) Fold {
	cs := ProtoCodec[S]()
	b := withValueDigest(withInitial(k.Behavior, k.Initial), cs)
	f := &typedFold[S, E, O]{name: k.Name, behavior: b, initial: k.Initial,
		st: lattice.NewJoiner(b, origin, self), cs: cs, ce: ProtoCodec[E](), co: ProtoCodec[O](),
		outSize:   func(o O) int { return proto.Size(o) },
		outAppend: func(b []byte, o O) ([]byte, error) { return cachedSize.MarshalAppend(b, o) },
	}
	if q := k.Query; q != nil {
		f.query = func(b []byte) (func(S) (O, error), error) {
			e, err := f.ce.Decode(b)
			if err != nil {
				return nil, err
			}
			return func(s S) (O, error) { return q(s, e) }, nil
		}
	}
	return f
}

// NewCodecFold returns an empty fold of the kind k for the partition origin on self.
func NewCodecFold[S, E, O any](k *CodecSpec[S, E, O], origin string, self lattice.Peer) Fold {
	b := withValueDigest(withInitial(k.Behavior, k.Initial), k.State)
	f := &typedFold[S, E, O]{name: k.Name, behavior: b, initial: k.Initial, query: k.Query,
		st: lattice.NewJoiner(b, origin, self), cs: k.State, ce: k.Event, co: k.Output, timers: k.Timers,
		version: k.Version}
	if k.OutputSize != nil && k.AppendOutput != nil {
		f.outSize, f.outAppend = k.OutputSize, k.AppendOutput
	}
	return f
}

// withInitial returns b with Initial set to initial, unless b sets one: the state a delete
// (lattice.Reset) folds to is the kind's initial state.
func withInitial[S, E, O any](b lattice.Behavior[S, E, O], initial func() S) lattice.Behavior[S, E, O] {
	if b.Initial == nil {
		b.Initial = initial
	}
	return b
}

// cachedSize marshals a message whose size proto.Size just computed, with maps in key
// order.
var cachedSize = proto.MarshalOptions{UseCachedSize: true, Deterministic: true}

// ProtoCodec is the protobuf codec of M (maps in key order).
func ProtoCodec[M proto.Message]() wire.Codec[M] {
	return wire.Codec[M]{
		Encode: func(m M) ([]byte, error) { return proto.MarshalOptions{Deterministic: true}.Marshal(m) },
		Decode: func(b []byte) (M, error) {
			var m M
			m = m.ProtoReflect().New().Interface().(M)
			return m, proto.Unmarshal(b, m)
		},
	}
}

func (f *typedFold[S, E, O]) State() FoldState {
	inf := f.st.Infimum()
	return FoldState{HasBase: f.st.HasBase(), Base: f.st.Base(), Pending: f.st.Len(),
		Participant: f.st.Participant(), Retired: f.st.Retired(), Participants: inf.Participants,
		Lineage: inf.Lineage}
}

func (f *typedFold[S, E, O]) Top() []lattice.Peer { return f.st.Participants() }

func (f *typedFold[S, E, O]) Genesis(participants []lattice.Peer) {
	c := f.st.Clock()
	f.st = lattice.New(f.behavior, f.st.Origin(), f.st.Self(), participants, f.initial())
	f.st.Witness(c)
}

func (f *typedFold[S, E, O]) Clock() uint64 { return f.st.Clock() }

func (f *typedFold[S, E, O]) Witness(c uint64) { f.st.Witness(c) }

func (f *typedFold[S, E, O]) RemovalCutOff() (lattice.EventID, uint64, []lattice.Peer, map[lattice.Peer]uint64) {
	return f.st.RemovalCutOff()
}

func (f *typedFold[S, E, O]) SetCutOff(at lattice.EventID, lineage uint64, participants []lattice.Peer, last map[lattice.Peer]uint64) {
	f.st.SetCutOff(at, lineage, participants, last)
}

func (f *typedFold[S, E, O]) Restore(m *wire.Snapshot) error {
	snap, err := wire.ToSnapshot(m, f.cs, f.ce)
	if err != nil {
		return err
	}
	if snap.Origin != f.st.Origin() {
		return fmt.Errorf("actor: stored replica of %q found under %q", snap.Origin, f.st.Origin())
	}
	c := f.st.Clock()
	f.st = lattice.Restore(f.behavior, f.st.Self(), snap)
	f.st.Witness(c)
	return nil
}

// event decodes and logs a new event. A payload that does not decode is errs.BadPayload;
// an event Apply rejects is logged as an Error delta and returned as *RejectedError.
func (f *typedFold[S, E, O]) Event(b []byte, time int64, req string) (lattice.EventID, []byte, error) {
	e, err := f.ce.Decode(b)
	if err != nil {
		return lattice.EventID{}, nil, fmt.Errorf("%w: %v", errs.BadPayload, err)
	}
	var v uint32
	if f.version != nil {
		v = f.version()
	}
	id, out, err := f.st.RequestVersion(e, time, req, v)
	if err != nil {
		var ae *lattice.ApplyError
		if errors.As(err, &ae) {
			return id, nil, &errs.Rejected{Msg: ae.Msg, Panic: ae.Panic}
		}
		return id, nil, err
	}
	ob, err := f.co.Encode(out)
	if err != nil {
		return id, nil, fmt.Errorf("actor: encode output: %w", err)
	}
	return id, ob, nil
}

func (f *typedFold[S, E, O]) Reset(time int64, req string) (lattice.EventID, error) {
	return f.st.Reset(time, req)
}

func (f *typedFold[S, E, O]) Query(b []byte, stable bool) (out []byte, err error) {
	if f.query == nil {
		return nil, fmt.Errorf("%w: kind %q has no Query", errs.BadPayload, f.name)
	}
	answer, err := f.query(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errs.BadPayload, err)
	}
	s := f.st.Projection()
	if stable {
		s = f.st.Infimum().Value
	}
	defer func() {
		if r := recover(); r != nil {
			err = &errs.Rejected{Msg: fmt.Sprint(r), Panic: true}
		}
	}()
	if f.behavior.Clone != nil {
		// Query gets a copy: one that modifies its state (against the rules, and nothing
		// catches it at compile time) would otherwise corrupt this replica only, silently.
		s = f.behavior.Clone(s)
	}
	o, err := answer(s)
	if err != nil {
		return nil, &errs.Rejected{Msg: err.Error()}
	}
	return f.co.Encode(o)
}

func (f *typedFold[S, E, O]) Propose(kind lattice.DeltaKind, p lattice.Peer) (lattice.EventID, error) {
	return f.st.Propose(kind, p)
}

func (f *typedFold[S, E, O]) Diff(to lattice.Peer) (*wire.Diff, bool, error) {
	// Encoded straight from the log: no intermediate copy of the entries and ack sets.
	d, ok, err := wire.DiffOf(f.st, to, f.ce)
	if d != nil && ok && err == nil {
		d.Checkpoint = f.checks.toSend(to, f.st.Checkpoints())
	}
	return d, ok, err
}

func (f *typedFold[S, E, O]) Snapshot(withPending bool) (*wire.Snapshot, error) {
	// Encoded straight from the state: no deep copy (nor clone of the user's state) first.
	return wire.SnapshotOf(f.st, withPending, f.cs, f.ce)
}

func (f *typedFold[S, E, O]) ApplyDiff(m *wire.Diff) (Report, error) {
	d, err := wire.ToDiff(m, f.ce)
	if err != nil {
		return Report{}, err
	}
	r, err := f.st.ApplyDiff(d)
	if err == nil {
		f.checks.claim(lattice.Peer(m.GetFrom()), m.GetCheckpoint(), f.st)
		f.checks.settle(f.st)
	}
	return f.report(r), err
}

func (f *typedFold[S, E, O]) Merge(m *wire.Snapshot) (Report, error) {
	snap, err := wire.ToSnapshot(m, f.cs, f.ce)
	if err != nil {
		return Report{}, err
	}
	r, err := f.st.Merge(snap)
	if err == nil {
		f.checks.settle(f.st)
	}
	return f.report(r), err
}

func (f *typedFold[S, E, O]) report(r lattice.Report[E]) Report {
	out := Report{Added: len(r.Added), Taken: r.Taken}
	for _, id := range r.Added {
		if !slices.Contains(out.Creators, id.Peer) {
			out.Creators = append(out.Creators, id.Peer)
		}
	}
	for _, e := range r.Renegades {
		if e.Delta.Kind == lattice.Reset {
			out.Renegades = append(out.Renegades, lattice.Entry[[]byte]{ID: e.ID,
				Delta: lattice.Delta[[]byte]{Kind: lattice.Reset, Time: e.Delta.Time, Req: e.Delta.Req}})
			continue
		}
		if e.Delta.Kind != lattice.Event {
			continue
		}
		b, err := f.ce.Encode(e.Delta.Event)
		if err != nil {
			continue
		}
		out.Renegades = append(out.Renegades, lattice.Entry[[]byte]{ID: e.ID,
			Delta: lattice.Delta[[]byte]{Kind: e.Delta.Kind, Event: b, Time: e.Delta.Time, Req: e.Delta.Req}})
	}
	return out
}

func (f *typedFold[S, E, O]) Acknowledge() int { return f.st.Acknowledge() }

func (f *typedFold[S, E, O]) Divergences() []Divergence { return f.checks.take() }

func (f *typedFold[S, E, O]) Reduce() []Folded {
	fs := f.st.Reduce()
	if len(fs) > 0 {
		f.checks.settle(f.st)
	}
	out := make([]Folded, len(fs))
	// With protobuf, the outputs are marshalled into one array, each capped so that none
	// can grow into the next: one allocation per reduce instead of one per output.
	var buf []byte
	if f.outSize != nil {
		size := 0
		for i := range fs {
			if x := &fs[i]; x.Kind == lattice.Event && x.Err == nil {
				size += f.outSize(x.Output)
			}
		}
		buf = make([]byte, 0, size)
	}
	for i := range fs {
		x := &fs[i]
		out[i] = Folded{ID: x.ID, Kind: x.Kind, Req: x.Req, Err: x.Err}
		if x.Kind != lattice.Event || x.Err != nil {
			continue
		}
		if f.outAppend == nil {
			b, err := f.co.Encode(x.Output)
			out[i].Out, out[i].Err = b, err
			continue
		}
		start := len(buf)
		b, err := f.outAppend(buf, x.Output)
		if err != nil {
			out[i].Err = err
			continue
		}
		buf = b
		out[i].Out = buf[start:len(buf):len(buf)]
	}
	return out
}

func (f *typedFold[S, E, O]) EncodeEntry(i int) (lattice.EventID, []byte, error) {
	e := &f.st.Pending()[i]
	b, err := wire.MarshalEntry(e, f.ce)
	return e.ID, b, err
}

func (f *typedFold[S, E, O]) SelfAcked(i int) bool {
	return f.st.Pending()[i].Acked(f.st.Self())
}

func (f *typedFold[S, E, O]) Owed() []lattice.Owed { return f.st.Owed() }

func (f *typedFold[S, E, O]) OwnAckedElsewhere() bool {
	self := f.st.Self()
	for _, e := range f.st.Pending() {
		if e.ID.Peer == self && len(e.Acks) < 2 {
			return false
		}
	}
	return true
}

func (f *typedFold[S, E, O]) GCReplica(kind, key string, lastAdvance time.Time) gc.Replica {
	return gc.ReplicaOf(f.st, kind, key, lastAdvance)
}

func (f *typedFold[S, E, O]) Forks(m *wire.Snapshot) (forked, dropsOwn bool) {
	in := m.GetInfimum()
	if !in.GetHasBase() {
		return false, false
	}
	inf := lattice.Infimum[S]{ID: wire.ToID(in.GetId()), Digest: in.GetDigest(), Lineage: in.GetLineage(),
		Participants: []lattice.Peer{}}
	return f.st.Forks(inf), f.st.Wins(inf)
}

func (f *typedFold[S, E, O]) Lost() []lattice.Entry[[]byte] {
	lost := f.st.TakeLost()
	if len(lost) == 0 {
		return nil
	}
	return f.report(lattice.Report[E]{Renegades: lost}).Renegades
}

func (f *typedFold[S, E, O]) OwnEvents() []lattice.Entry[[]byte] {
	var own []lattice.Entry[E]
	for _, e := range f.st.Pending() {
		if k := e.Delta.Kind; e.ID.Peer == f.st.Self() && (k == lattice.Event || k == lattice.Reset) {
			own = append(own, e)
		}
	}
	return f.report(lattice.Report[E]{Renegades: own}).Renegades
}

func (f *typedFold[S, E, O]) IDs(dst []lattice.EventID) []lattice.EventID {
	for _, e := range f.st.Pending() {
		dst = append(dst, e.ID)
	}
	return dst
}

// knowsMore reports whether this replica knows something the sender of d did not: a
// higher infimum, which lets the sender fold (and drop) what it still holds. Then the
// sender should hear back even if d brought nothing new here. (Acks a replica lacks reach
// it with the next diff of a replica that has them, or by anti-entropy.)
func (f *typedFold[S, E, O]) KnowsMore(d *wire.Diff) bool {
	return f.st.Base().ID.Compare(wire.ToID(d.GetBaseId())) > 0
}
