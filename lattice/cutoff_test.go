package lattice

import (
	"slices"
	"strings"
	"testing"
)

// revivedByStaleU is the scenario of the tests below: u writes an event that reaches
// nobody and is cut off; ejector ejects it, and a and b fold the ejection; b's copy is then
// deleted and made again, empty, with what the old one kept, and u, back with its stale
// copy, sends b its state.
func revivedByStaleU(ejector Peer) string {
	return `
		new peers=(u,a,b)
		event peer=a v=1
		diff from=a to=(u,b)
		ack peer=(u,b)
		event peer=u v=5
		propose peer=` + string(ejector) + ` kind=unjoin target=u
		sync peer=(a,b)
		remove peer=b
		merge from=u to=b
		ack peer=b
	`
}

// TestRemovedCopyRefusesWhatItSawCutOff: b folds a's ejection of u, whose last event
// reached nobody; b's copy is then deleted (as the runtime deletes a retired or discarded
// copy) and made again, empty, with what the old one kept (RemovalCutOff, SetCutOff). u,
// back with its stale copy, sends b its state, which lists b as a participant: b takes it
// (a lagging live replica sends the same kind of state, and may need b's
// acknowledgements), acknowledges everything but u's event, which the ejection it folded
// cut off. Before, b acknowledged it too, and with u folded it in a history the live one
// then dropped (the runtime's simulation, seed 7101).
func TestRemovedCopyRefusesWhatItSawCutOff(t *testing.T) {
	sc := newScenario()
	out := sc.exec(t, revivedByStaleU("a"))
	b := sc.reps["b"].st
	if !b.HasBase() || !slices.Contains(b.Infimum().Participants, "b") {
		t.Fatalf("b did not take u's state:\n%s", out)
	}
	for _, e := range b.Pending() {
		acked := slices.Contains(e.Acks, "b")
		if e.ID.Peer == "u" && e.Delta.Kind == Event && acked {
			t.Errorf("b acknowledged %v, which the ejection it folded cut off:\n%s", e.ID, out)
		}
		if e.ID.Peer != "u" && !acked {
			t.Errorf("b did not acknowledge %v:\n%s", e.ID, out)
		}
	}
	if !strings.Contains(out, "b: removed at") {
		t.Fatalf("%s", out)
	}
}

// TestNewCopyThatForgotItsOwnAcksNothing: as above, but b itself wrote the ejection of u,
// which folded. The stale state u sends lacks it: b's new copy, which forgot a delta of its
// own that the removal's history folded, acknowledges nothing until it has it back. An
// entry it acknowledged could fold there before the forgotten one, which sorts before it,
// into an infimum with the live one's id and another digest (the runtime's simulation,
// seed 4941 with pauses, lost a write so).
func TestNewCopyThatForgotItsOwnAcksNothing(t *testing.T) {
	sc := newScenario()
	out := sc.exec(t, revivedByStaleU("b"))
	b := sc.reps["b"].st
	if !b.HasBase() {
		t.Fatalf("b did not take u's state:\n%s", out)
	}
	for _, e := range b.Pending() {
		if slices.Contains(e.Acks, "b") {
			t.Errorf("b acknowledged %v while it lacks its own ejection of u:\n%s", e.ID, out)
		}
	}
	// a, which holds the live history, brings it back: then b acknowledges again.
	out += sc.exec(t, `
		merge from=a to=b
		ack peer=b
	`)
	if b := sc.reps["b"].st; b.forgotOwn() {
		t.Fatalf("b still lacks its own delta after a's state:\n%s", out)
	}
}
