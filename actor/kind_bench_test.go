package actor

import (
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor/internal/replica"
	"github.com/legion-go/legion/lattice"
)

type benchCount struct {
	N int64 `json:"n"`
}

// BenchmarkFold is one replica's work for an event that folds at once (a partition of one
// participant): decode, Apply, log, reduce, encode the output. "spec" is the protobuf
// fold as it was before kinds had codecs (replica.NewFold), "kind" a Kind of protobuf
// messages, "json" a KindOf of plain structs on the JSON codec.
func BenchmarkFold(b *testing.B) {
	type i64 = wrapperspb.Int64Value
	apply := func(s, e *i64, _ lattice.Meta) (*i64, *i64, error) {
		s.Value += e.Value
		return s, wrapperspb.Int64(s.Value), nil
	}
	spec := &replica.Spec[*i64, *i64, *i64]{Name: "c", Initial: func() *i64 { return &i64{} },
		Behavior: lattice.Behavior[*i64, *i64, *i64]{Apply: apply, Clone: func(s *i64) *i64 { return proto.CloneOf(s) }}}
	kind := &Kind[*i64, *i64, *i64]{Name: "c", Apply: apply}
	plain := &KindOf[benchCount, benchCount, benchCount, benchCount]{Name: "c", Codec: JSON,
		Apply: func(s, e benchCount, _ lattice.Meta) (benchCount, benchCount, error) { s.N += e.N; return s, s, nil }}
	pb, _ := proto.Marshal(wrapperspb.Int64(1))
	js, _ := JSON.Marshal(benchCount{N: 1})
	for _, c := range []struct {
		name  string
		fold  func() replica.Fold
		event []byte
	}{
		{"spec", func() replica.Fold { return replica.NewFold(spec, "c/k", "a~1") }, pb},
		{"kind", func() replica.Fold { return kind.folds(nil)("c/k", "a~1") }, pb},
		{"json", func() replica.Fold { return plain.folds(nil)("c/k", "a~1") }, js},
	} {
		b.Run(c.name, func(b *testing.B) {
			f := c.fold()
			f.Genesis([]lattice.Peer{"a~1"})
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if _, _, err := f.Event(c.event, int64(i), fmt.Sprint(i)); err != nil {
					b.Fatal(err)
				}
				f.Acknowledge()
				if out := f.Reduce(); len(out) != 1 || out[0].Err != nil {
					b.Fatalf("reduce: %+v", out)
				}
			}
		})
	}
}
