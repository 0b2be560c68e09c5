package lattice

import (
	"strings"
	"testing"
)

// TestStrayAcks: a replica outside the participants acknowledges nothing, and the acks of
// such a peer are not kept, because it may discard its copy and join again from a state
// that lacks what it acknowledged: its old ack would make every diff leave the entry out,
// and it would fold past an entry it never received. (The actor simulation's seed 8709
// lost two acknowledged fast writes so: two replicas that synced a copy outside the
// participants, then retired, were joined again from another participant's state.)
func TestStrayAcks(t *testing.T) {
	sc := newScenario()
	out := sc.exec(t, `
		new peers=(a,b,c)
		# 1@a: only a holds it.
		event peer=a v=1
		# d, outside the participants, copies a's state and tells a what it holds.
		joiner name=d
		merge from=a to=d
		ack peer=d
		merge from=d to=a
		# d discards its copy; b, which never received 1@a, joins d from its own state.
		joiner name=d
		propose peer=b kind=join target=d
		merge from=b to=d
		ack peer=d
		diff from=b to=a
		diff from=b to=c
		ack peer=(a,c)
		diff from=d to=a
		diff from=a to=b
		diff from=c to=b
		reduce peer=(a,b,c,d)
	`)
	if !strings.Contains(out, "d: acknowledged 0") {
		t.Errorf("d, outside the participants, acknowledged entries:\n%s", out)
	}
	out = sc.exec(t, `
		sync peer=(a,b,c,d)
		converged peer=(a,b,c,d)
	`)
	if !strings.Contains(out, "ok:") || !strings.Contains(out, "value=1") {
		t.Fatalf("1@a lost or replicas diverged:\n%s", out)
	}
}
