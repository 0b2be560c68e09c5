package lattice

import (
	"slices"
	"strings"
	"testing"
)

// TestRemovedCopyRefusesWhatItSawCutOff: b folds the ejection of u, whose last event
// reached nobody; b's copy is then deleted (as the runtime deletes a retired or discarded
// copy) and made again, empty, with what the old one kept (RemovalCutOff, SetCutOff). u,
// back with its stale copy, sends b its state, which lists b as a participant: b takes it
// (a lagging live replica sends the same kind of state, and may need b's
// acknowledgements), acknowledges everything but u's event, which the ejection it folded
// cut off. Before, b acknowledged it too, and with u folded it in a history the live one
// then dropped (the runtime's simulation, seed 7101).
func TestRemovedCopyRefusesWhatItSawCutOff(t *testing.T) {
	sc := newScenario()
	out := sc.exec(t, `
		new peers=(u,a,b)
		event peer=a v=1
		diff from=a to=(u,b)
		ack peer=(u,b)
		# u writes an event that reaches nobody, then is cut off; b ejects it.
		event peer=u v=5
		propose peer=b kind=unjoin target=u
		sync peer=(a,b)
		remove peer=b
		merge from=u to=b
		ack peer=b
	`)
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
