package lattice

import (
	"strings"
	"testing"
)

// TestLastParticipantStays: every participant leaves at once (a whole cluster stopped
// together: each node hands its replicas over, and each sees the others as the
// replacements). The UnJoins all confirm one another, since each leaver counts as
// acknowledging everything. Folding them all would leave a partition with no participant:
// every copy retired, its state nowhere (and a node would send an infimum without
// participants, which receivers reject as malformed: deploy's TestStatefulSetProcesses
// showed it). The UnJoin of the last participant folds as a no-op: that peer keeps the
// partition, on every replica alike.
func TestLastParticipantStays(t *testing.T) {
	sc := newScenario()
	out := sc.exec(t, `
		new peers=(a,b,c)
		event peer=a v=5
		propose peer=a kind=unjoin target=a
		propose peer=b kind=unjoin target=b
		propose peer=c kind=unjoin target=c
		merge from=a to=(b,c)
		merge from=b to=(a,c)
		merge from=c to=(a,b)
		ack peer=(a,b,c)
		merge from=a to=(b,c)
		merge from=b to=(a,c)
		merge from=c to=(a,b)
		reduce peer=(a,b,c)
		state peer=(a,b,c)
	`)
	if strings.Contains(out, "participants=()") {
		t.Fatalf("every participant folded out:\n%s", out)
	}
	// a's UnJoin (2@a) sorts last: a keeps the partition, everywhere.
	if n := strings.Count(out, "participants=(a) value=5"); n != 3 {
		t.Fatalf("want a, the last to leave, kept as the participant on all three replicas (%d):\n%s", n, out)
	}
}
