package lattice

import "testing"

// TestRejoinerGetsBackWhatItForgot: a peer whose copy went (its runtime retired it, or
// discarded an ejected copy) and that joins the partition again holds none of the entries
// it acknowledged before, while the others still hold them with its ack. The full state it
// joins with must give them back: skipped, the rejoiner folds past them and the event is
// lost (TestNodeJoinsUnderLoad and TestEjectionAndComeback lost increments so while Merge
// skipped every entry carrying the receiver's ack that it did not hold).
func TestRejoinerGetsBackWhatItForgot(t *testing.T) {
	ps := []Peer{"a", "b", "c"} // c never acknowledges: nothing folds
	a := New(counter, "c/k", "a", ps, 0)
	b := New(counter, "c/k", "b", ps, 0)
	if _, _, err := a.Request(1, 0, "r1"); err != nil {
		t.Fatal(err)
	}
	a.Acknowledge()
	deliverDiff(t, a, b) // b holds 1@a and acknowledges it; a does not know that yet
	snap := b.Snapshot()
	if len(snap.Pending) != 1 || !snap.Pending[0].Acked("b") {
		t.Fatalf("b's state: %+v", snap.Pending)
	}
	// b's copy goes and b joins again: it starts from nothing and merges the state that
	// still carries its ack.
	again := NewJoiner(counter, "c/k", "b")
	if _, err := again.Merge(snap); err != nil {
		t.Fatal(err)
	}
	if again.Len() != 1 {
		t.Fatalf("the rejoined replica holds %d entries, want the one it acknowledged before", again.Len())
	}
}
