package lattice_test

import (
	"fmt"

	"github.com/legion-go/legion/lattice"
)

// A counter: the state is a total, an event adds to it, and its output is the new total.
var counter = lattice.Behavior[int64, int64, int64]{
	Apply: func(total, n int64, _ lattice.Meta) (int64, int64, error) {
		return total + n, total + n, nil
	},
}

// Three replicas of one counter partition take concurrent writes, exchange diffs and
// acknowledgements, and fold the events into the same infimum, with the same final
// outputs everywhere.
func Example() {
	peers := []lattice.Peer{"a", "b", "c"}
	var replicas []*lattice.State[int64, int64, int64]
	for _, p := range peers {
		replicas = append(replicas, lattice.New(counter, "counter/visits", p, peers, 0))
	}
	a, b, c := replicas[0], replicas[1], replicas[2]

	// a and b write at the same time. Each answers at once with its projected output,
	// computed on what it knows: neither has seen the other's event.
	id, out, _ := a.Event(5, 1)
	fmt.Println(id, "projected", out)
	id, out, _ = b.Event(10, 2)
	fmt.Println(id, "projected", out)

	// Anti-entropy: every replica sends every other a diff (what the receiver has not
	// acknowledged, and the acks of the rest); each acknowledges what it holds. The
	// first round spreads the events, the second the acks.
	for range 2 {
		for _, from := range replicas {
			for _, to := range replicas {
				if to == from {
					continue
				}
				d, _ := from.Diff(to.Self()) // ok: to is a participant
				if _, err := to.ApplyDiff(d); err != nil {
					fmt.Println(err)
				}
			}
		}
		for _, r := range replicas {
			r.Acknowledge()
		}
	}

	// Every participant has acknowledged both events: Reduce folds them into the
	// infimum, in id order (1@a before 1@b), with their final outputs. b's event was
	// projected at 10; its final output is 15.
	for _, f := range c.Reduce() {
		fmt.Println("folded", f.ID, "output", f.Output)
	}
	a.Reduce()
	b.Reduce()
	for _, r := range replicas {
		inf := r.Infimum()
		fmt.Println(r.Self(), "infimum", inf.ID, inf.Participants, inf.Value, "pending", r.Len())
	}
	// Output:
	// 1@a projected 5
	// 1@b projected 10
	// folded 1@a output 5
	// folded 1@b output 15
	// a infimum 1@b [a b c] 15 pending 0
	// b infimum 1@b [a b c] 15 pending 0
	// c infimum 1@b [a b c] 15 pending 0
}
