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

// realisticItem returns the i-th message of a busy node's batch: a diff of a 3-replica
// partition carrying one new entry (i even) or one ack set (i odd).
func realisticItem(i int) *Replicate {
	peers := []string{"n0~0001", "n1~0002", "n2~0003"}
	key := fmt.Sprint("key-", i)
	d := &Diff{Origin: "counter/" + key, From: peers[0], BaseId: &EventID{Counter: uint64(40 + i), Peer: peers[i%3]},
		BaseDigest: 0x9e3779b97f4a7c15 ^ uint64(i), Peers: peers}
	if i%2 == 0 {
		d.Entries = []*DiffEntry{{Counter: uint64(41 + i), Peer: 0, Acks: 0b001, Delta: &Delta{Kind: uint32(lattice.Event),
			Event: []byte{0x08, byte(i)}, Time: 1_750_000_000_000_000_000 + int64(i), Req: fmt.Sprint("c5a1f0e2-", i)}}}
	} else {
		d.Acks = []*DiffAck{{Counter: uint64(41 + i), Peer: 1, Acks: 0b011}}
	}
	return &Replicate{To: &Target{Kind: "counter", Key: key, Peer: peers[1]}, From: peers[0], Body: &Replicate_Diff{Diff: d}}
}

// BenchmarkBatch: a batch of 20 diffs sent and received, as a frame (EncodeFrame and
// DecodeFrame) and as protobuf items (proto.Marshal and Unmarshal of Batch.items).
func BenchmarkBatch(b *testing.B) {
	items := make([]*Replicate, 20)
	for i := range items {
		items[i] = realisticItem(i)
	}
	b.Run("frame", func(b *testing.B) {
		loop(b, func() error {
			buf, err := EncodeFrame(items)
			if err != nil {
				return err
			}
			b.SetBytes(int64(len(buf)))
			back, err := DecodeFrame(buf)
			if err == nil && len(back) != len(items) {
				err = fmt.Errorf("%d items", len(back))
			}
			return err
		})
	})
	b.Run("proto", func(b *testing.B) {
		loop(b, func() error {
			buf, err := proto.Marshal(&Batch{Items: items})
			if err != nil {
				return err
			}
			b.SetBytes(int64(len(buf)))
			var back Batch
			if err := proto.Unmarshal(buf, &back); err != nil {
				return err
			}
			if len(back.Items) != len(items) {
				return fmt.Errorf("%d items", len(back.Items))
			}
			return nil
		})
	})
}
