package lattice

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

// withResets runs f with simResets set: about 3% of the random histories' events are
// Reset deltas (a delete of the partition) instead.
func withResets(t *testing.T, f func(t *testing.T)) {
	simResets = true
	defer func() { simResets = false }()
	f(t)
}

// TestLawsWithResets checks laws 2 to 5 over random histories in which the partition is
// deleted now and then (Reset), against the reference fold (which starts again from the
// initial value at a Reset, and keeps its dedup window), law 1 on their states, and the
// projection against the naive replay.
func TestLawsWithResets(t *testing.T) {
	withResets(t, func(t *testing.T) {
		resets := 0
		for i := range 40 {
			seed := 5100 + uint64(i)
			peersN := 2 + i%4
			t.Run(fmt.Sprintf("random/seed=%d/peers=%d", seed, peersN), func(t *testing.T) {
				s := runSim(t, seed, peersN, *flagSteps)
				for _, d := range s.created {
					if d.Kind == Reset {
						resets++
					}
				}
			})
		}
		if resets < 20 {
			t.Fatalf("only %d resets in the histories", resets)
		}
		var n lawCounts
		for i, seed := range lawSeeds() {
			peersN := 2 + i%4
			t.Run(fmt.Sprintf("merge/seed=%d/peers=%d", seed, peersN), func(t *testing.T) {
				checkMergeLaws(t, reachable(t, seed, peersN, 300, 12), &n)
			})
		}
		for i, seed := range lawSeeds() {
			s := newSim(t, seed, 2+i%4)
			for step := range 400 {
				s.step()
				for _, p := range s.order {
					if st := s.reps[p].st; st.HasBase() {
						if got, want := st.Projection(), naiveProjection(st); !slices.Equal(got, want) {
							t.Fatalf("seed %d step %d: projection of %s is %v, the naive replay gives %v", seed, step, p, got, want)
						}
					}
				}
			}
		}
	})
}

// TestReset plays a delete on two replicas: the events before it are gone with the state,
// those after it apply to the initial value, a retry of its request key logs nothing, and
// a replica that missed it (its copy restored from an older snapshot, as from its disk)
// folds it when it merges and does not bring the old value back.
func TestReset(t *testing.T) {
	b := listBehavior
	b.Initial = func() listState { return listState{} }
	ps := []Peer{"a", "b"}
	a, bb := New(b, "cart/1", "a", ps, nil), New(b, "cart/1", "b", ps, nil)
	sync := func() {
		for range 3 {
			for _, x := range []*State[listState, uint64, uint64]{a, bb} {
				y := bb
				if x == bb {
					y = a
				}
				if _, err := y.Merge(x.Snapshot()); err != nil {
					t.Fatal(err)
				}
				y.Acknowledge()
				y.Reduce()
			}
		}
	}
	for i := range uint64(4) {
		if _, _, err := a.Request(i+1, int64(i+1), fmt.Sprintf("r%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	a.Acknowledge()
	sync()
	old := bb.Snapshot() // b's disk, before the delete
	if got := a.Infimum().Value; !slices.Equal(got, listState{1, 2, 3, 4}) {
		t.Fatalf("before the delete: %v", got)
	}
	id, err := a.Reset(10, "del")
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Projection(); len(got) != 0 {
		t.Fatalf("projection after Reset: %v, want the initial value", got)
	}
	if _, err := a.Reset(11, "del"); !errors.As(err, new(*DuplicateError)) {
		t.Fatalf("a retried Reset: %v, want a *DuplicateError", err)
	}
	if _, _, err := a.Request(5, 12, "r5"); err != nil {
		t.Fatal(err)
	}
	a.Acknowledge()
	sync()
	for _, x := range []*State[listState, uint64, uint64]{a, bb} {
		if got := x.Infimum().Value; !slices.Equal(got, listState{5}) {
			t.Fatalf("%s after the delete folded: %v, want [5]", x.Self(), got)
		}
		if x.Infimum().ID.Less(id) {
			t.Fatalf("%s: the delete %v did not fold", x.Self(), id)
		}
	}
	// A request folded before the delete is still in the dedup window: a retry of it is a
	// duplicate (the documented rule), not an event of the new incarnation.
	if _, _, err := a.Request(3, 13, "r2"); !errors.As(err, new(*DuplicateError)) {
		t.Fatalf("a retry of a request folded before the delete: %v, want a *DuplicateError", err)
	}
	if _, err := a.Reset(14, "del"); !errors.As(err, new(*DuplicateError)) {
		t.Fatalf("a Reset retried after it folded: %v, want a *DuplicateError", err)
	}
	// b comes back from its old copy: the merge folds the delete over the old value.
	back := Restore(b, "b", cloneSnap(old))
	if _, err := back.Merge(a.Snapshot()); err != nil {
		t.Fatal(err)
	}
	back.Acknowledge()
	back.Reduce()
	if got := back.Projection(); !slices.Equal(got, listState{5}) {
		t.Fatalf("b restored from before the delete, after a merge: %v, want [5]", got)
	}
	// and a's state does not take the old value from it either.
	if _, err := a.Merge(cloneSnap(old)); err != nil {
		t.Fatal(err)
	}
	if got := a.Projection(); !slices.Equal(got, listState{5}) {
		t.Fatalf("a after merging b's old copy: %v, want [5]", got)
	}
}
