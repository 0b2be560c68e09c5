package actor_test

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/lattice"
)

type i64 = wrapperspb.Int64Value

// counterKind is the test kind: the state is a count, an event adds to it, the output is
// the new count. Adding 13 is rejected by Apply; adding 666 makes Apply panic.
var counterKind = &actor.Kind[*i64, *i64, *i64]{
	Name: "counter",
	Apply: func(s *i64, e *i64, _ lattice.Meta) (*i64, *i64, error) {
		switch e.Value {
		case 13:
			return s, nil, errors.New("unlucky")
		case 666:
			panic("the number of the beast")
		}
		s.Value += e.Value
		return s, wrapperspb.Int64(s.Value), nil
	},
	Query: func(s *i64, _ *i64) (*i64, error) { return wrapperspb.Int64(s.Value), nil },
}

func key(i int) string { return fmt.Sprintf("c%03d", i) }
