package lattice

import "testing"

// TestForks: two starts of a partition from scratch with different participants are two
// lineages, and a merge between them is reported (after either has folded events, or
// not); replicas of one start, or a replica and its joiner, are one lineage; a state from
// before lineages (zero) is never reported.
func TestForks(t *testing.T) {
	fold := func(s *State[int64, int64, int64], events int) {
		for range events {
			if _, _, err := s.Request(1, 0, ""); err != nil {
				t.Fatal(err)
			}
		}
		s.Acknowledge()
		s.Reduce()
	}
	a := New(counter, "c/k", "a", []Peer{"a"}, 0)
	b := New(counter, "c/k", "b", []Peer{"b"}, 0)
	fold(a, 10)
	fold(b, 7)
	if !a.Forks(b.Infimum()) || !b.Forks(a.Infimum()) {
		t.Fatalf("lineages %x and %x: no fork reported", a.Infimum().Lineage, b.Infimum().Lineage)
	}
	if a.Wins(b.Infimum()) == b.Wins(a.Infimum()) {
		t.Fatal("both sides, or neither, keep the other's infimum")
	}
	a2 := New(counter, "c/k", "a2", []Peer{"a"}, 0) // the same start as a's
	if a2.Forks(a.Infimum()) || a.Forks(a2.Infimum()) {
		t.Fatal("one lineage reported as a fork")
	}
	joiner := NewJoiner(counter, "c/k", "c")
	if _, err := joiner.Merge(a.Snapshot()); err != nil {
		t.Fatal(err)
	}
	if joiner.Forks(a.Infimum()) || joiner.Infimum().Lineage != a.Infimum().Lineage {
		t.Fatal("a joiner does not take its lineage from the state it joins")
	}
	old := b.Infimum()
	old.Lineage = 0
	if a.Forks(old) {
		t.Fatal("a state without a lineage reported as a fork")
	}
}
