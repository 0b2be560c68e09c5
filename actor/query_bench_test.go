package actor

import (
	"fmt"
	"maps"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor/internal/replica"
	"github.com/legion-go/legion/lattice"
)

type benchCart struct {
	Items map[string]int `json:"items"`
}

// BenchmarkQuery is one replica's work for a query (decode it, copy the state, Query,
// encode the output), and "clone" what the copy alone costs: a protobuf counter
// (proto.Clone), and a cart of 100 items as plain structs on JSON, copied by a round trip
// through the codec or by the kind's own Clone.
func BenchmarkQuery(b *testing.B) {
	type i64 = wrapperspb.Int64Value
	counter := &Kind[*i64, *i64, *i64]{Name: "c",
		Apply: func(s, e *i64, _ lattice.Meta) (*i64, *i64, error) { s.Value += e.Value; return s, s, nil },
		Query: func(s, _ *i64) (*i64, error) { return wrapperspb.Int64(s.Value), nil }}
	cart := func(clone bool) *KindOf[benchCart, string, string, int] {
		k := &KindOf[benchCart, string, string, int]{Name: "cart", Codec: JSON,
			Initial: func() benchCart { return benchCart{Items: map[string]int{}} },
			Apply: func(s benchCart, e string, _ lattice.Meta) (benchCart, int, error) {
				s.Items[e]++
				return s, len(s.Items), nil
			},
			Query: func(s benchCart, q string) (int, error) { return s.Items[q], nil }}
		if clone {
			k.Clone = func(s benchCart) benchCart { return benchCart{Items: maps.Clone(s.Items)} }
		}
		return k
	}
	pb, _ := proto.Marshal(wrapperspb.Int64(1))
	q, _ := JSON.Marshal("item-7")
	run := func(b *testing.B, f replica.Fold, events [][]byte, query []byte, clone func()) {
		f.Genesis([]lattice.Peer{"a~1"})
		for i, e := range events {
			if _, _, err := f.Event(e, int64(i), fmt.Sprint(i)); err != nil {
				b.Fatal(err)
			}
			f.Acknowledge()
			f.Reduce()
		}
		b.Run("query", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.Query(query, false); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("clone", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				clone()
			}
		})
	}
	b.Run("protobuf-counter", func(b *testing.B) {
		s := wrapperspb.Int64(5)
		run(b, counter.folds(nil)("c/k", "a~1"), [][]byte{pb}, pb, func() { counter.CloneState(s) })
	})
	var items [][]byte
	state := benchCart{Items: map[string]int{}}
	for i := range 100 {
		e, _ := JSON.Marshal(fmt.Sprint("item-", i))
		items = append(items, e)
		state.Items[fmt.Sprint("item-", i)] = 1
	}
	for _, own := range []bool{false, true} {
		name := "json-cart-100/codec-clone"
		if own {
			name = "json-cart-100/own-clone"
		}
		k := cart(own)
		b.Run(name, func(b *testing.B) {
			run(b, k.folds(nil)("cart/k", "a~1"), items, q, func() { k.CloneState(state) })
		})
	}
}
