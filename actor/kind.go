package actor

import (
	"cmp"
	"errors"
	"fmt"
	"reflect"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/legion-go/legion/actor/internal/replica"
	"github.com/legion-go/legion/lattice"
)

// KindOf defines one kind of partition: its state S, events E, queries Q and outputs O,
// what events do, and how the values are encoded (Codec), so that they cross the wire and
// the disk. The types may be protobuf messages (the default codec) or plain Go types with
// a codec for them, such as JSON. A kind's calls go through refs (Ref, or RefOf for a
// Kind of protobuf messages). See docs/kinds.md.
//
// Apply and Query must be deterministic: no clock, no randomness, no I/O. Time-based
// logic reads Meta.Time, the hybrid-logical-clock timestamp the origin stamped on the
// event, which is identical on every replica. Apply owns the state it receives (the
// runtime hands it a clone when it must keep the original) and may modify it in place;
// it must not modify its event, nor keep a reference to it or hand one out in its output.
// actortest.CheckKind tests these rules on random events.
type KindOf[S, E, Q, O any] struct {
	// Name identifies the kind across the cluster; required.
	Name string
	// Codec encodes the kind's values. Nil means Protobuf: then S, E, Q and O must be
	// protobuf messages. Every node must use the same codec for the kind.
	Codec Codec
	// Initial returns the state of a partition no event touched yet. It must return the
	// same value on every node. Nil means the zero value of S (for a pointer type, a
	// pointer to a new zero value; for a protobuf message, an empty message).
	Initial func() S
	// Apply folds an event into the state and returns the event's output. An error (or a
	// panic) rejects the event: the state stays as it was and the caller gets the error.
	Apply func(state S, event E, meta lattice.Meta) (S, O, error)
	// Query answers a read-only question about a state without logging an event
	// (optional). It must not modify the state.
	Query func(state S, query Q) (O, error)
	// Clone returns a deep copy of a state that shares nothing mutable with it (optional).
	// Nil means proto.Clone for protobuf messages, else a round trip through Codec: always
	// right, and slower than a hand-written copy.
	Clone func(state S) S
	// Timers returns the state's durable timers (optional): at each timer's At, the
	// runtime logs its Event in the partition, once per schedule (ID, At), whatever
	// fails (docs/kinds.md, "Timers"). Apply schedules a timer by writing its due time
	// into the state, and moves or removes it when the timer's event applies. Timers
	// must be deterministic and must not modify the state; it runs after each change of
	// the partition, so keep it cheap.
	Timers func(state S) []DurableTimer[E]
	// Version is the version of Apply (optional; 0 means 1). Raise it when Apply changes
	// what it computes, and keep the Apply it replaces in Previous: during a rolling
	// upgrade, new events are stamped with the highest version every node hosting the
	// kind supports, and every replica folds each event with the Apply of the version it
	// is stamped with, so that nodes of both versions compute the same states
	// (docs/kinds.md, "Versions and upgrades").
	Version uint32
	// Previous holds the Apply of earlier versions, by version (optional). An event
	// stamped with version v below Version folds with the Apply of the highest version
	// at most v among Previous (and Version's own, Apply); an event stamped with a version
	// below every one of them folds with the lowest. Events logged before the kind had a
	// version count as version 1.
	Previous map[uint32]func(state S, event E, meta lattice.Meta) (S, O, error)
}

// DurableTimer is one of a partition's durable timers (KindOf.Timers): at event time At, the
// runtime logs Event in the partition. One schedule, (ID, At), fires once: the event's
// request key is made of them, so that the replicas that log it (a failover, both sides
// of a network split) log one event and duplicates of it.
type DurableTimer[E any] struct {
	// ID names the timer within its partition.
	ID string
	// At is when it is due, an event time: nanoseconds since the Unix epoch, as
	// lattice.Meta.Time. A timer due in the past fires at once (late, once).
	At int64
	// Event is the event logged when it fires.
	Event E
}

// Kind is a kind of protobuf messages whose queries are events' type: the original form
// of a kind, kept for RefOf. New kinds can choose their own query type with KindOf.
type Kind[S, E, O proto.Message] = KindOf[S, E, E, O]

func (k *KindOf[S, E, Q, O]) validate() error {
	switch {
	case k == nil:
		return errors.New("actor: nil kind")
	case validateKindName(k.Name) != nil:
		return validateKindName(k.Name)
	case k.Apply == nil:
		return fmt.Errorf("actor: kind %q without Apply", k.Name)
	}
	for v, apply := range k.Previous {
		if v == 0 || v >= k.version() || apply == nil {
			return fmt.Errorf("actor: kind %q of version %d: Previous[%d] must be a version from 1 below %d, with an Apply",
				k.Name, k.version(), v, k.version())
		}
	}
	if _, ok := k.codec().(protobufCodec); ok {
		if err := errors.Join(checkProto[S](k.Name, "state"), checkProto[E](k.Name, "event"),
			checkProto[Q](k.Name, "query"), checkProto[O](k.Name, "output")); err != nil {
			return err
		}
	}
	// A state the codec cannot encode would fail its first snapshot (or clone): say so now.
	if _, err := k.codec().Marshal(k.InitialState()); err != nil {
		return fmt.Errorf("actor: kind %q: the initial state does not encode: %w", k.Name, err)
	}
	return nil
}

// KindSpec is what Config.Kinds holds: a *KindOf (or *Kind) of any type parameters.
type KindSpec interface {
	kindName() string
	kindVersion() uint32
	folds(version func() uint32) func(origin string, self lattice.Peer) replica.Fold
	validate() error
}

func (k *KindOf[S, E, Q, O]) kindName() string { return k.Name }

func (k *KindOf[S, E, Q, O]) kindVersion() uint32 { return k.version() }

// version is Version, with 0 read as 1.
func (k *KindOf[S, E, Q, O]) version() uint32 { return max(k.Version, 1) }

func (k *KindOf[S, E, Q, O]) codec() Codec {
	if k.Codec == nil {
		return Protobuf
	}
	return k.Codec
}

// newMessage returns a new empty message of type M.
func newMessage[M proto.Message]() M {
	var m M
	return m.ProtoReflect().New().Interface().(M)
}

// folds returns a maker of the kind's empty folds (the node makes one per kind); version,
// if not nil, is the version to stamp on new events (Node.stampVersion).
func (k *KindOf[S, E, Q, O]) folds(version func() uint32) func(origin string, self lattice.Peer) replica.Fold {
	c := k.codec()
	spec := &replica.CodecSpec[S, E, O]{Name: k.Name, Behavior: k.behavior(), Initial: k.InitialState,
		State: typedCodec[S](c), Event: typedCodec[E](c), Output: typedCodec[O](c), Version: version}
	if _, ok := c.(protobufCodec); ok {
		spec.OutputSize = func(o O) int { return proto.Size(any(o).(proto.Message)) }
		spec.AppendOutput = func(b []byte, o O) ([]byte, error) {
			return proto.MarshalOptions{UseCachedSize: true, Deterministic: true}.MarshalAppend(b, any(o).(proto.Message))
		}
	}
	if timers := k.Timers; timers != nil {
		spec.Timers = func(s S) []replica.TimerOf[E] {
			ts := timers(s)
			out := make([]replica.TimerOf[E], len(ts))
			for i, t := range ts {
				out[i] = replica.TimerOf[E](t)
			}
			return out
		}
	}
	if query := k.Query; query != nil {
		cq := typedCodec[Q](c)
		spec.Query = func(b []byte) (func(S) (O, error), error) {
			q, err := cq.Decode(b)
			if err != nil {
				return nil, err
			}
			return func(s S) (O, error) { return query(s, q) }, nil
		}
	}
	return func(origin string, self lattice.Peer) replica.Fold { return replica.NewCodecFold(spec, origin, self) }
}

// InitialState returns the state of a partition no event touched yet: Initial's, or the
// zero value Initial's documentation describes.
func (k *KindOf[S, E, Q, O]) InitialState() S {
	if k.Initial != nil {
		return k.Initial()
	}
	var s S
	if m, ok := any(s).(proto.Message); ok {
		return emptyLike(m).(S)
	}
	if t := reflect.TypeFor[S](); t.Kind() == reflect.Pointer {
		return reflect.New(t.Elem()).Interface().(S)
	}
	return s
}

// CloneState returns a deep copy of s: Clone's, or the default Clone's documentation
// describes. It panics if s does not survive its codec (a broken kind: CheckKind reports
// it).
func (k *KindOf[S, E, Q, O]) CloneState(s S) S {
	if k.Clone != nil {
		return k.Clone(s)
	}
	if m, ok := any(s).(proto.Message); ok {
		if _, ok := k.codec().(protobufCodec); ok {
			return proto.Clone(m).(S)
		}
	}
	c := k.codec()
	b, err := c.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("actor: kind %q: clone: encode the state: %v", k.Name, err))
	}
	var out S
	if err := c.Unmarshal(b, &out); err != nil {
		panic(fmt.Sprintf("actor: kind %q: clone: decode the state: %v", k.Name, err))
	}
	return out
}

func (k *KindOf[S, E, Q, O]) behavior() lattice.Behavior[S, E, O] {
	return lattice.Behavior[S, E, O]{Apply: k.versionedApply(), Clone: k.CloneState, Initial: k.InitialState}
}

// versionedApply is Apply, or with Previous, the Apply that picks the version's
// (KindOf.Previous).
func (k *KindOf[S, E, Q, O]) versionedApply() func(S, E, lattice.Meta) (S, O, error) {
	if len(k.Previous) == 0 {
		return k.Apply
	}
	type versioned struct {
		v     uint32
		apply func(S, E, lattice.Meta) (S, O, error)
	}
	vs := []versioned{{k.version(), k.Apply}}
	for v, apply := range k.Previous {
		vs = append(vs, versioned{v, apply})
	}
	slices.SortFunc(vs, func(a, b versioned) int { return cmp.Compare(a.v, b.v) })
	return func(s S, e E, m lattice.Meta) (S, O, error) {
		return applyOf(vs, max(m.Version, 1), func(x versioned) uint32 { return x.v }).apply(s, e, m)
	}
}

// applyOf returns the element of vs (sorted by version, not empty) for an event of version
// v: the highest at most v, else the lowest.
func applyOf[T any](vs []T, v uint32, version func(T) uint32) T {
	best := vs[0]
	for _, x := range vs[1:] {
		if version(x) > v {
			break
		}
		best = x
	}
	return best
}
