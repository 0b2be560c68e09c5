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

// TestCutOffJoinersAcksDropped: a peer whose pending Join turns out to be cut off (its
// writer's ejection is confirmed) may no longer acknowledge, and the acks it gave while
// its Join was pending are dropped with the Join, on every path that drops it. Merges
// kept them when the Join was dropped by the confirmation a merge brought (only incoming
// stray acks were looked at), so that the result of three merges depended on their order
// (TestMergeLaws, seed 784082 from -lattice.seed0=777000).
func TestCutOffJoinersAcksDropped(t *testing.T) {
	sc := newScenario()
	out := sc.exec(t, `
		new peers=(a,b,c)
		# b joins d; c learns of the Join and logs 2@c after it; d copies c's state and
		# acknowledges both.
		propose peer=b kind=join target=d
		diff from=b to=c
		event peer=c v=1
		joiner name=d
		merge from=c to=d
		ack peer=d
		# a, which has not heard of the Join, ejects b (cutoff 0: the Join is cut off).
		propose peer=a kind=unjoin target=b
		merge from=d to=a
		diff from=a to=c
		ack peer=c
		diff from=c to=a
		state peer=a
	`)
	i := strings.LastIndex(out, "a: participant")
	if i < 0 || strings.Contains(out[i:], "1@b") || !strings.Contains(out[i:], "2@c") {
		t.Fatalf("want the Join 1@b cut off at a, 2@c pending:\n%s", out)
	}
	if strings.Contains(out[i:], ",d)") {
		t.Fatalf("a kept the acks of d, whose Join was cut off:\n%s", out[i:])
	}
}

// TestNoOpUnJoinKeepsJoinersAcks: an UnJoin of a peer that is not a participant where it
// sorts (before the peer's Join) changes nothing when it folds, and the acks the peer gave
// as the joiner of its pending Join stand. The fold dropped them, and a replica that took
// an infimum past that UnJoin kept them, so that the result of three merges depended on
// their order (TestMergeLaws, seed 784132 from -lattice.seed0=777000).
func TestNoOpUnJoinKeepsJoinersAcks(t *testing.T) {
	sc := newScenario()
	out := sc.exec(t, `
		new peers=(a,b,c)
		propose peer=a kind=unjoin target=d
		diff from=a to=(b,c)
		ack peer=(b,c)
		diff from=b to=a
		diff from=c to=a
		propose peer=b kind=join target=d
		joiner name=d
		merge from=b to=d
		ack peer=d
		merge from=d to=a
		reduce peer=a
		state peer=a
	`)
	i := strings.LastIndex(out, "a: participant")
	if i < 0 || !strings.Contains(out[i:], "join d acks=(b,d)") {
		t.Fatalf("want a to fold the UnJoin and keep d's ack of its Join:\n%s", out)
	}
}
