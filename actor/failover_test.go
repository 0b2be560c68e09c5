package actor

import (
	"slices"
	"testing"
	"time"

	"github.com/legion-go/legion/lattice"
)

// TestSuspects: a replica that timed out goes after the others until its entry expires or
// it answers; the others keep their order.
func TestSuspects(t *testing.T) {
	var s suspects
	set := []lattice.Peer{"a", "b", "c"}
	now := time.Unix(1000, 0)
	if got := s.order(set, now); !slices.Equal(got, set) {
		t.Fatalf("nothing suspected: %v", got)
	}
	s.timedOut("a", now, time.Minute)
	s.timedOut("b", now, 2*time.Minute)
	if got := s.order(set, now.Add(30*time.Second)); !slices.Equal(got, []lattice.Peer{"c", "a", "b"}) {
		t.Fatalf("a and b suspected: %v", got)
	}
	if !slices.Equal(set, []lattice.Peer{"a", "b", "c"}) {
		t.Fatalf("order modified its argument: %v", set)
	}
	if got := s.order(set, now.Add(time.Minute)); !slices.Equal(got, []lattice.Peer{"a", "c", "b"}) {
		t.Fatalf("a expired: %v", got)
	}
	s.answered("b")
	if got := s.order(set, now.Add(time.Minute)); !slices.Equal(got, set) {
		t.Fatalf("b answered: %v", got)
	}
	if d := suspectFor(2 * time.Second); d != 30*time.Second {
		t.Fatalf("suspectFor(2s) = %v", d)
	}
}
