package lattice

import (
	"fmt"
	"testing"
)

var counter = Behavior[int64, int64, int64]{
	Apply: func(s int64, e int64, _ Meta) (int64, int64, error) { return s + e, s + e, nil },
}

func counterReplicas(n int) []*State[int64, int64, int64] {
	var ps []Peer
	for i := range n {
		ps = append(ps, Peer(fmt.Sprintf("n%d~0001", i)))
	}
	out := make([]*State[int64, int64, int64], n)
	for i, p := range ps {
		out[i] = New(counter, "counter/k", p, ps, 0)
	}
	return out
}

// exchange sends a diff from every replica to every other, acknowledges and reduces.
func exchange(b *testing.B, rs []*State[int64, int64, int64]) {
	for _, from := range rs {
		for _, to := range rs {
			if from == to {
				continue
			}
			deliverDiff(b, from, to)
		}
	}
}

// deliverDiff sends to the diff from has for it; to acknowledges and reduces. (No
// tb.Helper: benchmarks call it in their loops.)
func deliverDiff[S, E, O any](tb testing.TB, from, to *State[S, E, O]) {
	d, ok := from.Diff(to.Self())
	if !ok {
		tb.Fatal("diff refused")
	}
	if _, err := to.ApplyDiff(d); err != nil {
		tb.Fatal(err)
	}
	to.Acknowledge()
	to.Reduce()
}

// BenchmarkLocalEventAckReduce: the work of the replica that handles the calls of a
// 3-participant counter, per event: create it (with its projected output), take the acks
// of the two other participants (one ack diff from each per batch), and fold it. The other
// replicas' work is not timed: it runs on their own nodes.
func BenchmarkLocalEventAckReduce(b *testing.B) {
	for _, batch := range []int{1, 16, 128} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			rs := counterReplicas(3)
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				if _, _, err := rs[0].Event(1, int64(n)); err != nil {
					b.Fatal(err)
				}
				n++
				if n%batch != 0 {
					continue
				}
				b.StopTimer()
				var acks [2]Diff[int64]
				for i, r := range rs[1:] {
					d, _ := rs[0].Diff(r.Self())
					if _, err := r.ApplyDiff(d); err != nil {
						b.Fatal(err)
					}
					r.Acknowledge()
					acks[i], _ = r.Diff(rs[0].Self())
				}
				b.StartTimer()
				for _, d := range acks {
					if _, err := rs[0].ApplyDiff(d); err != nil {
						b.Fatal(err)
					}
				}
				rs[0].Reduce()
			}
			b.StopTimer()
			if got := rs[0].Infimum().Value + int64(rs[0].Len()); got != int64(n) {
				b.Fatalf("lost events: %d of %d", got, n)
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkEventAckReduce: events created on one replica of a 3-participant counter,
// replicated to the other two in batches, acknowledged, and folded everywhere: the whole
// protocol cost per event summed over the three replicas, on one core (no I/O).
func BenchmarkEventAckReduce(b *testing.B) {
	for _, batch := range []int{1, 16, 128} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			rs := counterReplicas(3)
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				if _, _, err := rs[0].Event(1, int64(n)); err != nil {
					b.Fatal(err)
				}
				n++
				if n%batch == 0 {
					exchange(b, rs)
				}
			}
			exchange(b, rs)
			exchange(b, rs)
			if got := rs[2].Infimum().Value; got != int64(n) {
				b.Fatalf("folded %d of %d events", got, n)
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkLocalEvent: creating an event and its projected output, nothing else.
func BenchmarkLocalEvent(b *testing.B) {
	rs := counterReplicas(3)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		rs[0].Event(1, int64(n))
		n++
		if n%1024 == 0 { // keep pending bounded, as the runtime's replication would
			exchange(b, rs)
		}
	}
}

// BenchmarkDiffApply100: the diff of 100 pending events for a peer, and its application.
func BenchmarkDiffApply100(b *testing.B) {
	rs := counterReplicas(3)
	for i := range 100 {
		rs[0].Event(1, int64(i))
	}
	base := rs[1].Snapshot()
	b.ReportAllocs()
	for b.Loop() {
		d, _ := rs[0].Diff(rs[1].Self())
		b.StopTimer()
		to := Restore(counter, rs[1].Self(), base)
		b.StartTimer()
		if _, err := to.ApplyDiff(d); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProjectionOutOfOrder: 1,000 pending events, then one that sorts first arrives,
// and the projection is read: a replay from the infimum.
func BenchmarkProjectionOutOfOrder(b *testing.B) {
	rs := counterReplicas(3)
	late, _, _ := rs[1].Event(7, 0) // counter 1 on n1: sorts before everything n0 makes next
	d, _ := rs[1].Diff(rs[0].Self())
	_ = late
	for i := range 1000 {
		rs[0].Event(1, int64(i))
	}
	base := rs[0].Snapshot()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		s := Restore(counter, rs[0].Self(), base)
		s.Projection() // warm the cache: only the late arrival forces the replay
		b.StartTimer()
		if _, err := s.ApplyDiff(d); err != nil {
			b.Fatal(err)
		}
		if got := s.Projection(); got != 1007 {
			b.Fatalf("projection %d", got)
		}
	}
}

// BenchmarkRequestAckReduce: BenchmarkEventAckReduce/batch=1 with a request key on every
// event, as the runtime's calls carry: the dedup window (256 keys) fills and slides.
func BenchmarkRequestAckReduce(b *testing.B) {
	rs := counterReplicas(3)
	keys := make([]string, 4096)
	for i := range keys {
		keys[i] = fmt.Sprint("req-", i)
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if _, _, err := rs[0].Request(1, int64(n), keys[n%len(keys)]); err != nil {
			b.Fatal(err)
		}
		n++
		exchange(b, rs)
	}
	exchange(b, rs)
	if got := rs[2].Infimum().Value; got != int64(n) {
		b.Fatalf("folded %d of %d events", got, n)
	}
}
