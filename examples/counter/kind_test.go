package main

import (
	"math"
	"math/rand/v2"
	"testing"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor/actortest"
)

// TestCounterKind: the counter follows the rules of a kind (actortest.CheckKind), on
// increments it accepts and ones it rejects (non-positive, overflowing).
func TestCounterKind(t *testing.T) {
	actortest.CheckKind(t, Counter, actortest.Gen[*wrapperspb.Int64Value, *wrapperspb.Int64Value]{
		Event: func(r *rand.Rand) *wrapperspb.Int64Value {
			switch r.IntN(8) {
			case 0:
				return wrapperspb.Int64(-r.Int64N(3)) // rejected: not positive
			case 1:
				return wrapperspb.Int64(math.MaxInt64 - r.Int64N(3)) // overflows after anything
			}
			return wrapperspb.Int64(1 + r.Int64N(100))
		},
		Query: func(*rand.Rand) *wrapperspb.Int64Value { return &wrapperspb.Int64Value{} },
	})
}
