package lattice

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestPendingWindow: inserting anywhere into pending and dropping its head, in any mix,
// keeps exactly the entries a plain slice would, and leaves the log's array zero outside
// the window.
func TestPendingWindow(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s := &State[int64, int64, int64]{}
	var model []uint64
	next, most := uint64(1), 0
	for step := range 20000 {
		if len(model) > 0 && rng.IntN(100) < 48+len(model)%5 {
			s.pending[0] = Entry[int64]{}
			s.pending = s.pending[1:]
			model = model[1:]
		} else {
			j := len(model)
			if rng.IntN(4) == 0 {
				j = rng.IntN(len(model) + 1)
			}
			s.insertAt(j, Entry[int64]{ID: EventID{Counter: next}, Acks: []Peer{"a"}})
			model = slices.Insert(model, j, next)
			next++
		}
		most = max(most, len(model))
		got := make([]uint64, len(s.pending))
		for i, e := range s.pending {
			got[i] = e.ID.Counter
		}
		if !slices.Equal(got, model) {
			t.Fatalf("step %d: pending %v, want %v", step, got, model)
		}
		if !inLog(s) {
			t.Fatalf("step %d: pending is not a window of the log", step)
		}
		off := cap(s.log) - cap(s.pending)
		for i := range s.log {
			if (i < off || i >= off+len(s.pending)) && s.log[i].ID.Counter != 0 {
				t.Fatalf("step %d: log[%d] outside the window is %v", step, i, s.log[i].ID)
			}
		}
	}
	if cap(s.log) > 2*most {
		t.Fatalf("log grew to %d entries for a window of at most %d", cap(s.log), most)
	}
}

// inLog reports whether pending is a window of log's array (a zero-cap window counts as
// one: it cannot be told apart from an empty window of any array).
func inLog[S, E, O any](s *State[S, E, O]) bool {
	c := cap(s.pending)
	if c == 0 || len(s.log) == 0 {
		return c == 0
	}
	return &s.pending[:c][c-1] == &s.log[len(s.log)-1]
}
