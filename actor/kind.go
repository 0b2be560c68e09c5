package actor

import (
	"errors"
	"fmt"
	"reflect"

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
	folds() func(origin string, self lattice.Peer) replica.Fold
	validate() error
}

func (k *KindOf[S, E, Q, O]) kindName() string { return k.Name }

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

// folds returns a maker of the kind's empty folds (the node makes one per kind).
func (k *KindOf[S, E, Q, O]) folds() func(origin string, self lattice.Peer) replica.Fold {
	c := k.codec()
	spec := &replica.CodecSpec[S, E, O]{Name: k.Name, Behavior: k.behavior(), Initial: k.InitialState,
		State: typedCodec[S](c), Event: typedCodec[E](c), Output: typedCodec[O](c)}
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
	return lattice.Behavior[S, E, O]{Apply: k.Apply, Clone: k.CloneState, Initial: k.InitialState}
}
