package lattice

import (
	"testing"
)

// TestCheckpoints: two replicas that fold the same events sample the same folds, and their
// checkpoints agree when their Apply does and differ when it does not (the value is all
// that differs: the infimum digests stay equal). Apply sees the version the origin stamped.
func TestCheckpoints(t *testing.T) {
	sum := func(k int) Behavior[int, int, int] {
		return Behavior[int, int, int]{
			Apply:       func(s, e int, m Meta) (int, int, error) { return s + k*e + int(m.Version), s, nil },
			ValueDigest: func(s int) uint64 { return uint64(s)*0x9e3779b97f4a7c15 | 1 },
		}
	}
	run := func(kb int) (a, b *State[int, int, int]) {
		ps := []Peer{"a", "b"}
		a, b = New(sum(1), "o", "a", ps, 0), New(sum(kb), "o", "b", ps, 0)
		for i := range 200 {
			if _, _, err := a.RequestVersion(i, int64(i), "", uint32(i%2)); err != nil {
				t.Fatal(err)
			}
			for range 2 { // a's event to b, b's ack back: both fold it
				d, _ := a.Diff("b")
				if _, err := b.ApplyDiff(d); err != nil {
					t.Fatal(err)
				}
				b.Acknowledge()
				b.Reduce()
				d, _ = b.Diff("a")
				if _, err := a.ApplyDiff(d); err != nil {
					t.Fatal(err)
				}
				a.Reduce()
			}
		}
		if a.Base() != b.Base() {
			t.Fatalf("bases %v and %v", a.Base(), b.Base())
		}
		return a, b
	}
	a, b := run(1)
	if len(a.Checkpoints()) == 0 {
		t.Fatalf("no checkpoint in 200 folds (base %v)", a.Base())
	}
	for _, c := range a.Checkpoints() {
		if o, ok := b.CheckpointAt(c.ID); !ok || o != c {
			t.Errorf("same Apply: %v here, %v (%v) there", c, o, ok)
		}
	}
	a, b = run(2)
	for _, c := range a.Checkpoints() {
		if o, ok := b.CheckpointAt(c.ID); !ok || o.Digest == c.Digest {
			t.Errorf("different Apply: %v here, %v (%v) there", c, o, ok)
		}
	}
}

// TestCheckpointSampling: about one fold in CheckpointEvery is sampled, whoever folds
// (the low bits of the FNV chain alone never sampled one peer's folds).
func TestCheckpointSampling(t *testing.T) {
	for _, p := range []Peer{"a", "n1~0123456789abcdef", "b"} {
		h, n := genesisDigest("o", []Peer{p}), 0
		const folds = 16000
		for c := range uint64(folds) {
			h = chainDigest(h, EventID{Counter: c + 1, Peer: p})
			if sampled(h) {
				n++
			}
		}
		if want := folds / CheckpointEvery; n < want/2 || n > want*2 {
			t.Errorf("peer %s: %d of %d folds sampled, want about %d", p, n, folds, want)
		}
	}
}
