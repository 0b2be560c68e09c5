package lattice

import (
	"strings"
	"testing"
)

// TestDoomedWitnessLeaves: a participant that acknowledged a delta of u above an UnJoin's
// cutoff dooms that UnJoin, and lets the others acknowledge the delta at the head of their
// logs although they acknowledged the UnJoin. If that participant then leaves before the
// UnJoin's position, the UnJoin is acknowledged by every peer it still needs. It must still
// never count as confirmed: a delta it cuts off folded (Infimum.Last). A replica that
// counted it confirmed would drop u's later deltas, which fold everywhere else (here, u's
// Join of z).
func TestDoomedWitnessLeaves(t *testing.T) {
	sc := newScenario()
	sc.exec(t, `
		new peers=(u,q,v,w)
		# u's first event reaches q only.
		event peer=u v=1
		diff from=u to=q
		ack peer=q
		# w writes two events, then ejects u, knowing nothing of u (cutoff 0); v learns the
		# ejection from w first.
		event peer=w v=10
		event peer=w v=20
		propose peer=w kind=unjoin target=u
		diff from=w to=v
		ack peer=v
		# q, which acknowledged 1@u, leaves; 2@q sorts between 1@u and the UnJoin 3@w.
		propose peer=q kind=unjoin target=q
		# u hears from w, and refuses the UnJoin: it cuts off u's own 1@u. u may write no
		# event any more (an UnJoin of u is pending in its log), but it proposes a Join:
		# 4@u, cut off by 3@w as well.
		diff from=w to=u
		ack peer=u
		joiner name=z
		propose peer=u kind=join target=z
	`)
	// Everyone hears from everyone; v's and w's acks of 1@u are given at the head of their
	// logs, on q's witness.
	out := sc.exec(t, `
		sync peer=(u,q,v,w,z)
		converged peer=(u,v,w,z)
	`)
	if !strings.Contains(out, "ok:") {
		t.Fatalf("%s", out)
	}
	for _, p := range []Peer{"u", "v", "w", "z"} {
		if st := sc.reps[p].st; st.Base().ID != (EventID{4, "u"}) || len(st.Infimum().Participants) != 4 {
			t.Errorf("%s: infimum %v participants %v, want 4@u (u's Join of z folded) and (u,v,w,z)", p, st.Base().ID, st.Infimum().Participants)
		}
	}
}

// TestUnJoinBeforeJoinCutsNothing: an UnJoin of c written by a replica that had not seen
// c's Join, and that sorts before it, ejects nobody (c is not a participant at its
// position) and cuts off nothing, even once every participant acknowledged it: a replica
// that dropped c's deltas while that UnJoin is pending would disagree with one that
// received them after it folded as a no-op. (The simulation found this with a peer killed
// while it joined: the survivor that ejected it had not heard of its Join.)
func TestUnJoinBeforeJoinCutsNothing(t *testing.T) {
	sc := newScenario()
	sc.exec(t, `
		new peers=(a,b,d)
		# a writes an event that only it has acknowledged (it blocks the fold at a), then
		# c's Join.
		event peer=a v=1
		joiner name=c
		propose peer=a kind=join target=c
		# b, which knows nothing of c's Join, ejects c: 1@b sorts before 2@a. d and a
		# acknowledge it: every participant did.
		propose peer=b kind=unjoin target=c
		diff from=b to=d
		ack peer=d
		diff from=d to=a
		ack peer=a
		# c gets the full state from a, acknowledges its Join and writes.
		merge from=a to=c
		ack peer=c
		event peer=c v=5
		diff from=c to=a
		reduce peer=a
	`)
	a := sc.reps["a"].st
	if _, held := a.find(EventID{3, "c"}); !held {
		t.Fatalf("a dropped c's 3@c, cut off by an UnJoin that sorts before c's Join: %v", a.Pending())
	}
	if l := a.Leaving(); len(l) != 0 {
		t.Errorf("Leaving = %v; an UnJoin before its peer's Join ejects nobody", l)
	}
	out := sc.exec(t, `
		sync peer=(a,b,c,d)
		converged peer=(a,b,c,d)
	`)
	if !strings.Contains(out, "ok:") || !strings.Contains(out, "participants=(a,b,c,d) value=6") {
		t.Fatalf("%s", out)
	}
}

// TestNewCopyTakesItsPendingUnJoin: a peer whose copy folded its own UnJoin, then went (it
// retired), gets a new copy from a replica that still holds that UnJoin pending. The new
// copy must take the UnJoin: it never dropped it. (The rule that kept dropped UnJoins out,
// "one that carries the receiver's own ack", skipped it: the new copy folded past it, and
// its infimum differed from the others' for good; the actor simulation's seeds 1401, 9591
// and 9955 stalled so.)
func TestNewCopyTakesItsPendingUnJoin(t *testing.T) {
	sc := newScenario()
	sc.exec(t, `
		new peers=(a,b,c)
		event peer=b v=1
		propose peer=a kind=unjoin target=a
		diff from=b to=a
		diff from=a to=(b,c)
		ack peer=(b,c)
		diff from=b to=a
		diff from=c to=a
		reduce peer=a
		# a folded its UnJoin and retires; b and c have not heard (their copies lack
		# each other's acks of 1@a). A new copy of a gets b's full state.
		joiner name=a
		merge from=b to=a
	`)
	if _, held := sc.reps["a"].st.find(EventID{1, "a"}); !held {
		t.Fatalf("a's new copy did not take its own pending UnJoin 1@a: %v", sc.reps["a"].st.Pending())
	}
	out := sc.exec(t, `
		sync peer=(a,b,c)
		converged peer=(b,c)
	`)
	if !strings.Contains(out, "ok:") || !strings.Contains(out, "participants=(b,c)") {
		t.Fatalf("%s", out)
	}
}

// TestRefusedUnJoinLetsAnotherBeWritten: a departing peer's own UnJoin and a survivor's
// ejection of it with a lower cutoff contradict each other; each is refused by a replica
// the other needs, and both are void or refused at the survivor, while an event before
// them waits for the departed peer's acknowledgement. The survivor must count the peer
// as not leaving, and write a third UnJoin (whose cutoff covers the departed peer's
// deltas): then everything folds and the peer is gone. Before, Leaving listed the peer by
// its own refused UnJoin, Propose answered ErrLeaving, and the log held for good (the
// simulation's seed 5775).
func TestRefusedUnJoinLetsAnotherBeWritten(t *testing.T) {
	sc := newScenario()
	out := sc.exec(t, `
		new peers=(u,a,b)
		# b writes an event that u never learns of: it needs u's acknowledgement to fold.
		event peer=b v=1
		diff from=b to=a
		# u writes two events and leaves; a acknowledges all three. u is gone for good.
		event peer=u v=10
		event peer=u v=20
		propose peer=u kind=unjoin target=u
		diff from=u to=a
		ack peer=a
		# b, which knows nothing of u's deltas, ejects u (cutoff 0) and then learns of
		# them from a: it refuses them, and u's UnJoin with them; its own ejection is void
		# (a acknowledged deltas it cuts off).
		propose peer=b kind=unjoin target=u
		diff from=a to=b
		ack peer=b
		diff from=b to=a
		ack peer=a
		leaving peer=b
		propose peer=b kind=unjoin target=u
		sync peer=(a,b)
		converged peer=(a,b)
	`)
	if !strings.Contains(out, "b: leaving []") || !strings.Contains(out, "ok:") {
		t.Fatalf("%s", out)
	}
	for _, p := range []Peer{"a", "b"} {
		st := sc.reps[p].st
		if st.Len() != 0 || len(st.Infimum().Participants) != 2 {
			t.Errorf("%s: %d pending, participants %v; want everything folded, (a,b)\n%s", p, st.Len(), st.Infimum().Participants, out)
		}
	}
}
