package actortest_test

import (
	"math/rand/v2"
	"testing"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor/actortest"
)

// A kind's test: random increments, some of them rejected, and queries. On failure it
// names the broken rule, the event, and the seed: LEGION_CHECK_SEED=<seed> go test -run
// '^TestCounterKind$' replays it. (An example has no *testing.T: in a test, t is the
// test's.)
func ExampleCheckKind() {
	var t *testing.T
	actortest.CheckKind(t, counter, actortest.Gen[*i64, *i64]{
		Event: func(r *rand.Rand) *i64 { return wrapperspb.Int64(r.Int64N(10) - 2) },
		Query: func(*rand.Rand) *i64 { return &i64{} },
	})
}
