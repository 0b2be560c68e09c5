package main

import (
	"errors"
	"math"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/lattice"
)

// Counter is the example's kind: each partition is one counter. Its state (the count),
// its event (an increment) and its output (the new count) are protobuf's well-known
// Int64Value, so the example needs no generated code.
var Counter = &actor.Kind[*wrapperspb.Int64Value, *wrapperspb.Int64Value, *wrapperspb.Int64Value]{
	Name: "counter",
	// Apply folds one increment into the count. Every replica runs it on the same events
	// in the same order, so it must be deterministic: no clock (meta.Time is the event's
	// timestamp), no randomness, no I/O. An error rejects the increment on every replica.
	Apply: func(count, by *wrapperspb.Int64Value, _ lattice.Meta) (*wrapperspb.Int64Value, *wrapperspb.Int64Value, error) {
		switch {
		case by.GetValue() <= 0:
			return count, nil, errors.New("increments must be positive")
		case count.GetValue() > math.MaxInt64-by.GetValue():
			return count, nil, errors.New("the counter would overflow")
		}
		count.Value += by.Value
		return count, wrapperspb.Int64(count.Value), nil
	},
	// Query reads the count without logging an event (its argument is unused).
	Query: func(count, _ *wrapperspb.Int64Value) (*wrapperspb.Int64Value, error) {
		return wrapperspb.Int64(count.GetValue()), nil
	},
}
