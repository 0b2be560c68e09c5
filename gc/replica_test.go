package gc

import (
	"slices"
	"testing"
	"time"

	"github.com/legion-go/legion/lattice"
)

var counter = lattice.Behavior[int, int, int]{
	Apply: func(s, e int, _ lattice.Meta) (int, int, error) { return s + e, s + e, nil },
}

// TestReplicaOf describes real lattice states, then feeds them to Decide: the plan must
// be proposable (lattice.State.Propose accepts it).
func TestReplicaOf(t *testing.T) {
	st := lattice.New(counter, "k/a", "n1", ps("n3", "n1", "n2"), 0)
	if _, _, err := st.Event(5, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Propose(lattice.Join, "n4"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Propose(lattice.UnJoin, "n3"); err != nil {
		t.Fatal(err)
	}
	r := ReplicaOf(st, "k", "a", t0)
	if !slices.Equal(r.Participants, ps("n1", "n2", "n3")) || !slices.Equal(r.Joining, ps("n4")) ||
		!slices.Equal(r.Leaving, ps("n3")) || r.Pending != 3 || r.Retired || r.Kind != "k" || r.Key != "a" || !r.LastAdvance.Equal(t0) {
		t.Fatalf("ReplicaOf = %+v", r)
	}
	if r.OwnJoins != 1 || InFlight([]Replica{r, r}) != 2 {
		t.Errorf("OwnJoins %d, InFlight of two %d; want 1 and 2", r.OwnJoins, InFlight([]Replica{r, r}))
	}
	if len(r.Owed) == 0 || r.Owed[0].Peer != "n2" {
		t.Errorf("owed %v, want n2 first", r.Owed)
	}
	// The description shares nothing with the state.
	r.Participants[0] = "x"
	if st.Infimum().Participants[0] == "x" {
		t.Fatal("ReplicaOf shares the participants")
	}

	// n1 alone leaves: its UnJoin folds at once, as a no-op (the last participant keeps
	// the partition: lattice's TestLastParticipantStays), and the replica does not retire.
	solo := lattice.New(counter, "k/b", "n1", ps("n1"), 0)
	if _, err := solo.Propose(lattice.UnJoin, "n1"); err != nil {
		t.Fatal(err)
	}
	solo.Reduce()
	if r := ReplicaOf(solo, "k", "b", t0); r.Retired || r.Pending != 0 || !slices.Equal(r.Participants, ps("n1")) {
		t.Fatalf("after the leave folded: %+v", r)
	}
}

// TestDecideOnLattice runs a handoff end to end on real lattice states of three peers: n4
// joins a partition held by n1, n2, n3 in which n4 outranks n3; Decide's actions are
// proposed, states exchanged with Merge, and Decide called again until n3 has retired.
func TestDecideOnLattice(t *testing.T) {
	key := keyRanked(t, "k", "n1", "n4", "n2", "n3")
	members := []Member{live("n1"), live("n2"), live("n3"), live("n4")}
	states := map[lattice.Peer]*lattice.State[int, int, int]{}
	for _, p := range ps("n1", "n2", "n3") {
		states[p] = lattice.New(counter, "k/"+key, p, ps("n1", "n2", "n3"), 0)
	}
	if _, _, err := states["n2"].Event(7, 0); err != nil {
		t.Fatal(err)
	}
	now := t0
	for round := range 20 {
		// Every peer decides on its own state and proposes what it planned.
		for _, p := range ps("n1", "n2", "n3", "n4") {
			st := states[p]
			if st == nil || !st.HasBase() {
				continue
			}
			replicas := []Replica{ReplicaOf(st, "k", key, now)}
			plan := Decide(now, p, members, replicas, InFlight(replicas), Config{})
			for _, a := range plan.Actions {
				kind := lattice.UnJoin
				if a.Kind == Join {
					kind = lattice.Join
					states[a.Peer] = lattice.NewJoiner(counter, "k/"+key, a.Peer)
				}
				if _, err := st.Propose(kind, a.Peer); err != nil {
					t.Fatalf("round %d: %s cannot propose %v: %v", round, p, a, err)
				}
				t.Logf("round %d: %s: %v", round, p, a)
			}
		}
		gossip(t, states)
		for p, st := range states {
			st.Reduce()
			if st.Retired() {
				t.Logf("round %d: %s retired", round, p)
				delete(states, p)
			}
		}
		now = now.Add(time.Second)
		if states["n3"] == nil && len(states) == 3 {
			for p, st := range states {
				if got := st.Infimum().Participants; !slices.Equal(got, ps("n1", "n2", "n4")) || st.Len() != 0 {
					t.Fatalf("%s: participants %v, %d pending", p, got, st.Len())
				}
				if st.Infimum().Value != 7 {
					t.Fatalf("%s: value %d, want 7", p, st.Infimum().Value)
				}
			}
			if n := ReplicaOf(states["n1"], "k", key, now).OwnJoins; n != 0 {
				t.Fatalf("n1 has %d joins in flight after they folded", n)
			}
			return
		}
	}
	t.Fatalf("did not converge: %d states", len(states))
}

// gossip merges every state into every other, twice (acks travel back), acknowledging.
func gossip(t *testing.T, states map[lattice.Peer]*lattice.State[int, int, int]) {
	for range 2 {
		for _, from := range states {
			if !from.HasBase() {
				continue
			}
			for _, to := range states {
				if to == from {
					continue
				}
				if _, err := to.Merge(from.Snapshot()); err != nil {
					t.Fatal(err)
				}
				to.Acknowledge()
			}
		}
	}
}
