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

// TestTakenInfimumFoldsOnlyWhatItHolds: a replica that takes a remote infimum wholesale
// (it cannot reproduce it) drops the pending entries at or below it; those the remote
// history does not hold (their creator's counter is above its Last) did not fold anywhere,
// so they must not be reported folded. They were, with ErrOutputUnknown, and the runtime
// told a consistent caller waiting on one that its event had applied: the actor
// simulation's seed 3777 lost an acknowledged write so (a re-proposal was answered as a
// duplicate of a copy that the live history had cut off).
func TestTakenInfimumFoldsOnlyWhatItHolds(t *testing.T) {
	ps := []Peer{"a", "b", "c"}
	a := New(counter, "c/k", "a", ps, 0)
	c := New(counter, "c/k", "c", ps, 0)
	if _, _, err := c.Request(1, 0, "from-c"); err != nil {
		t.Fatal(err)
	}
	c.Acknowledge()
	deliverDiff(t, c, a) // a holds 1@c, pending
	if a.Len() != 1 {
		t.Fatalf("a holds %d entries", a.Len())
	}
	// b's history ejected c and folded past 1@c without it: Last[c] is 0.
	remote := a.Snapshot()
	remote.Infimum = Infimum[int64]{ID: EventID{Counter: 5, Peer: "b"}, Participants: []Peer{"a", "b"}, Value: 4,
		Digest: 12345, Lineage: remote.Infimum.Lineage, Last: map[Peer]uint64{"b": 5}}
	remote.Pending = nil
	if _, err := a.Merge(remote); err != nil {
		t.Fatal(err)
	}
	for _, f := range a.Reduce() {
		if f.ID == (EventID{Counter: 1, Peer: "c"}) {
			t.Fatalf("1@c reported folded (%v), but the history a took does not hold it", f.Err)
		}
	}
	if a.Len() != 0 {
		t.Fatalf("a still holds %d entries below the infimum it took", a.Len())
	}
}
