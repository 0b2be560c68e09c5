package actor

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/legion-go/legion/actor/internal/replica"
	"github.com/legion-go/legion/lattice"
)

// Kind defines one kind of partition: its state S, events E and outputs O (all protobuf
// messages, so that they cross the wire and the disk), and what events do.
//
// Apply and Query must be deterministic: no clock, no randomness, no I/O. Time-based
// logic reads Meta.Time, the hybrid-logical-clock timestamp the origin stamped on the
// event, which is identical on every replica. Apply owns the state it receives (the
// runtime hands it a clone when it must keep the original) and may modify it in place.
type Kind[S, E, O proto.Message] struct {
	// Name identifies the kind across the cluster; required.
	Name string
	// Initial returns the state of a partition no event touched yet. It must return the
	// same value on every node. Nil means the zero message of S.
	Initial func() S
	// Apply folds an event into the state and returns the event's output. An error (or a
	// panic) rejects the event: the state stays as it was and the caller gets the error.
	Apply func(state S, event E, meta lattice.Meta) (S, O, error)
	// Query answers a read-only question about a state without logging an event
	// (optional). It must not modify the state.
	Query func(state S, query E) (O, error)
}

func (k *Kind[S, E, O]) validate() error {
	switch {
	case k == nil:
		return errors.New("actor: nil kind")
	case validateKindName(k.Name) != nil:
		return validateKindName(k.Name)
	case k.Apply == nil:
		return fmt.Errorf("actor: kind %q without Apply", k.Name)
	}
	return nil
}

// KindSpec is what Config.Kinds holds: a *Kind of any type parameters.
type KindSpec interface {
	kindName() string
	folds() func(origin string, self lattice.Peer) replica.Fold
	validate() error
}

func (k *Kind[S, E, O]) kindName() string { return k.Name }

func newMessage[M proto.Message]() M {
	var m M
	return m.ProtoReflect().New().Interface().(M)
}

// folds returns a maker of the kind's empty folds (the node makes one per kind).
func (k *Kind[S, E, O]) folds() func(origin string, self lattice.Peer) replica.Fold {
	spec := &replica.Spec[S, E, O]{Name: k.Name, Behavior: k.behavior(), Initial: k.initial, Query: k.Query}
	return func(origin string, self lattice.Peer) replica.Fold { return replica.NewFold(spec, origin, self) }
}

func (k *Kind[S, E, O]) initial() S {
	if k.Initial != nil {
		return k.Initial()
	}
	return newMessage[S]()
}

func (k *Kind[S, E, O]) behavior() lattice.Behavior[S, E, O] {
	return lattice.Behavior[S, E, O]{
		Apply: k.Apply,
		Clone: func(s S) S { return proto.CloneOf(s) },
	}
}
