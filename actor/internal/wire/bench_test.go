package wire

import (
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/legion-go/legion/lattice"
)

var benchBehavior = lattice.Behavior[int64, string, int64]{
	Apply: func(s int64, e string, _ lattice.Meta) (int64, int64, error) { return s + int64(len(e)), s, nil },
}

// benchReplicas returns 3 replicas of a partition where replica 0 holds one entry that
// replica 1 acknowledged and n more that it has not: Diff(peer 1) carries n entries and one
// ack set, the realistic size of a diff under load.
func benchReplicas(b testing.TB, n int) []*lattice.State[int64, string, int64] {
	ps := []lattice.Peer{"n0~0001", "n1~0002", "n2~0003"}
	rs := make([]*lattice.State[int64, string, int64], len(ps))
	for i, p := range ps {
		rs[i] = lattice.New(benchBehavior, "counter/key-17", p, ps, 0)
	}
	if _, _, err := rs[0].Request("+1", 1, "req-0"); err != nil {
		b.Fatal(err)
	}
	d, _ := rs[0].Diff(ps[1])
	if _, err := rs[1].ApplyDiff(d); err != nil {
		b.Fatal(err)
	}
	rs[1].Acknowledge()
	d, _ = rs[1].Diff(ps[0])
	if _, err := rs[0].ApplyDiff(d); err != nil {
		b.Fatal(err)
	}
	for i := range n {
		if _, _, err := rs[0].Request("+1", int64(i+2), fmt.Sprint("req-", i+1)); err != nil {
			b.Fatal(err)
		}
	}
	return rs
}

// BenchmarkDiffRoundTrip: what the runtime does with one diff: build it from the sender's
// state and encode it (typedFold.diff), marshal, unmarshal, decode (typedFold.applyDiff).
func BenchmarkDiffRoundTrip(b *testing.B) {
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			rs := benchReplicas(b, n)
			to := rs[1].Self()
			b.ReportAllocs()
			for b.Loop() {
				m, ok, err := DiffOf(rs[0], to, stringCodec)
				if !ok || err != nil {
					b.Fatal(ok, err)
				}
				buf, err := proto.Marshal(m)
				if err != nil {
					b.Fatal(err)
				}
				var back Diff
				if err := proto.Unmarshal(buf, &back); err != nil {
					b.Fatal(err)
				}
				d, err := ToDiff(&back, stringCodec)
				if err != nil || len(d.Entries) != n || len(d.Acks) != 1 {
					b.Fatal(err, d)
				}
			}
		})
	}
}

// BenchmarkDiffEncode: the sender's side alone (state to wire message, no marshal).
func BenchmarkDiffEncode(b *testing.B) {
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			rs := benchReplicas(b, n)
			to := rs[1].Self()
			loop(b, func() error {
				if _, ok, err := DiffOf(rs[0], to, stringCodec); !ok || err != nil {
					return fmt.Errorf("ok %v: %v", ok, err)
				}
				return nil
			})
		})
	}
}

// BenchmarkDiffDecode: the receiver's side alone (wire message to lattice diff).
func BenchmarkDiffDecode(b *testing.B) {
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			rs := benchReplicas(b, n)
			m, _, err := DiffOf(rs[0], rs[1].Self(), stringCodec)
			if err != nil {
				b.Fatal(err)
			}
			loop(b, func() error { _, err := ToDiff(m, stringCodec); return err })
		})
	}
}

// BenchmarkEntryMarshal: an entry encoded for the store (typedFold.encodeEntry).
func BenchmarkEntryMarshal(b *testing.B) {
	rs := benchReplicas(b, 1)
	e := &rs[0].Pending()[1]
	loop(b, func() error { _, err := MarshalEntry(e, stringCodec); return err })
}

// loop runs op until the benchmark ends, reporting allocations; an error ends it.
func loop(b *testing.B, op func() error) {
	b.ReportAllocs()
	for b.Loop() {
		if err := op(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSnapshotEncode: a full state without pending entries, as persisted every few
// folds, with a full dedup window (256 request keys).
func BenchmarkSnapshotEncode(b *testing.B) {
	rs := benchReplicas(b, 0)
	for i := range 300 {
		if _, _, err := rs[0].Request("+1", int64(i), fmt.Sprint("fold-", i)); err != nil {
			b.Fatal(err)
		}
	}
	for range 2 {
		for _, r := range rs[1:] {
			d, _ := rs[0].Diff(r.Self())
			if _, err := r.ApplyDiff(d); err != nil {
				b.Fatal(err)
			}
			r.Acknowledge()
			d, _ = r.Diff(rs[0].Self())
			if _, err := rs[0].ApplyDiff(d); err != nil {
				b.Fatal(err)
			}
		}
		rs[0].Reduce()
	}
	if n := len(rs[0].Infimum().Recent); n != 256 {
		b.Fatalf("%d recent requests", n)
	}
	c := Codec[int64]{Encode: func(v int64) ([]byte, error) { return []byte(fmt.Sprint(v)), nil }}
	b.ReportAllocs()
	for b.Loop() {
		m, err := SnapshotOf(rs[0], false, c, stringCodec)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := proto.Marshal(m); err != nil {
			b.Fatal(err)
		}
	}
}
