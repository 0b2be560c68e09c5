package lattice

import (
	"errors"
	"fmt"
	"testing"
)

// TestHeldKeysOutliveTheWindow: a request logged on the side that ejected a cut-off peer,
// while the ejection is pending, is still recognised after the dedup window moved past it
// (the ejected peer's own copy of the request, proposed again much later, must not apply
// twice); and a request folded with no ejection around is forgotten with the window, as
// before.
func TestHeldKeysOutliveTheWindow(t *testing.T) {
	ps := []Peer{"a", "b", "c"}
	a := New(counter, "c/k", "a", ps, 0)
	b := New(counter, "c/k", "b", ps, 0)
	round := func() {
		t.Helper()
		a.Acknowledge()
		deliverDiff(t, a, b)
		b.Acknowledge()
		deliverDiff(t, b, a)
		a.Reduce()
		b.Reduce()
	}
	// c is cut off: a request the caller retried on a (its first attempt went to c) waits
	// for c's ack, and a ejects c.
	if _, _, err := a.Request(1, 0, "retried"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Propose(UnJoin, "c"); err != nil {
		t.Fatal(err)
	}
	round()
	round()
	if ps := a.Infimum().Participants; len(ps) != 2 {
		t.Fatalf("c not ejected: participants %v", ps)
	}
	// Later traffic moves the window past it.
	for i := range DefaultDedupBytes/24 + 50 { // each request counts 24 bytes at least
		if _, _, err := a.Request(1, 0, fmt.Sprint("later-", i)); err != nil {
			t.Fatal(err)
		}
	}
	round()
	if _, ok := a.inWindow("retried"); ok {
		t.Fatal("the window still holds the request: the test proves nothing")
	}
	for _, s := range []*State[int64, int64, int64]{a, b} {
		var dup *DuplicateError
		if _, _, err := s.Request(1, 0, "retried"); !errors.As(err, &dup) {
			t.Fatalf("%s: the request logged during the ejection applied again (%v)", s.Self(), err)
		}
	}
	// A joiner learns the held keys with the full state.
	j := NewJoiner(counter, "c/k", "d")
	if _, err := j.Merge(a.Snapshot()); err != nil {
		t.Fatal(err)
	}
	if len(j.Held()) == 0 {
		t.Fatal("a joiner does not learn the held keys")
	}

	// Without an ejection, nothing is held.
	x := New(counter, "c/k", "x", []Peer{"x"}, 0)
	for i := range DefaultDedupBytes/24 + 50 { // each request counts 24 bytes at least
		if _, _, err := x.Request(1, 0, fmt.Sprint("k-", i)); err != nil {
			t.Fatal(err)
		}
	}
	x.Acknowledge()
	x.Reduce()
	if len(x.Held()) != 0 {
		t.Fatalf("%d keys held with no ejection", len(x.Held()))
	}
	if _, _, err := x.Request(1, 0, "k-0"); err != nil {
		t.Fatalf("a request the window forgot: %v", err)
	}
}
