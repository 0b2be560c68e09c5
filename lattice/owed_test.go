package lattice

import (
	"strings"
	"testing"
)

// TestOwedConfirmations: a joiner whose own ejection is confirmed still owes its
// acknowledgement of the ejection its Join was written for, and Owed says so, so that the
// runtime keeps sending it the log (and a full state, once it answers it holds none). Owed
// left it out, and the partition stalled for good when the joiner went before it received
// its state and was ejected in turn (the actor simulation's seed 3948).
func TestOwedConfirmations(t *testing.T) {
	sc := newScenario()
	out := sc.exec(t, `
		new peers=(a,b)
		# a ejects b, joining c first (two participants: c must confirm it too); c never
		# gets its state, and a ejects c as well, which b confirms.
		propose peer=a kind=join target=c
		propose peer=a kind=unjoin target=b
		propose peer=a kind=unjoin target=c
		diff from=a to=b
		ack peer=b
		diff from=b to=a
		state peer=a
	`)
	i := strings.LastIndex(out, "a: participant")
	if i < 0 || !strings.Contains(out[i:], "unjoin c") {
		t.Fatalf("want a holding both ejections:\n%s", out)
	}
	if !strings.Contains(out[i:], "c from 2@a (1)") {
		t.Fatalf("c owes its confirmation of 2@a (the ejection of b), and Owed does not say so:\n%s", out[i:])
	}
	// Once c holds the log and acknowledges, both ejections fold.
	out = sc.exec(t, `
		joiner name=c
		merge from=a to=c
		ack peer=c
		diff from=c to=(a,b)
		sync peer=(a,b,c)
		state peer=a
	`)
	i = strings.LastIndex(out, "a: participant")
	if i < 0 || strings.Contains(out[i:], "pending") || !strings.Contains(out[i:], "participants=(a)") {
		t.Fatalf("want both ejections folded at a:\n%s", out[i:])
	}
}
