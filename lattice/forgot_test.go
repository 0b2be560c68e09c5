package lattice

import (
	"strings"
	"testing"
)

// TestNewCopyAsksForWhatItForgot: b acknowledged a's event; b's copy is then deleted and
// made again from a stale state that does not hold the event (as a retired copy revived by
// a restarted peer's state). a's next diff to b lists b's acknowledgement of the event and
// leaves the event out (b acknowledged it): b must not apply it, and asks for the full
// state instead, which brings the event back. Applied, such diffs had b fold the entries
// they bring without what it forgot, into an infimum with the live one's id and another
// digest (the runtime's simulation, seed 1518, lost a consistent write so).
func TestNewCopyAsksForWhatItForgot(t *testing.T) {
	sc := newScenario()
	out := sc.exec(t, `
		new peers=(a,b,c)
		event peer=a v=1
		diff from=a to=b
		ack peer=b
		diff from=b to=a
		remove peer=b
		merge from=c to=b
		diff from=a to=b
	`)
	if !strings.Contains(out, "b: "+ErrNeedFull.Error()) {
		t.Fatalf("b applied a diff that left out what it forgot:\n%s", out)
	}
	if _, ok := sc.reps["b"].st.find(EventID{Counter: 1, Peer: "a"}); !ok {
		t.Fatalf("the full state did not bring back 1@a:\n%s", out)
	}
}
