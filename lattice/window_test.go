package lattice

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestRecentIndex: the window's index finds exactly the keys the window holds, with the
// ids they were folded with, as the window slides and after a rebuild; with a hash that
// makes most keys collide as well as with the real one.
func TestRecentIndex(t *testing.T) {
	real := reqHash
	defer func() { reqHash = real }()
	for name, hash := range map[string]func(string) uint64{
		"real":      real,
		"colliding": func(k string) uint64 { return uint64(len(k) % 3) },
	} {
		t.Run(name, func(t *testing.T) {
			reqHash = hash
			rng := rand.New(rand.NewPCG(1, 2))
			const window = 16
			var s State[int64, int64, int64]
			s.behavior.DedupWindow = window
			check := func(step int) {
				for k := range 300 {
					key := fmt.Sprint("req-", k)
					var want EventID
					held := false
					for _, r := range s.inf.Recent {
						if r.Key == key {
							want, held = r.ID, true
						}
					}
					got, ok := s.inWindow(key)
					if ok != held || got != want {
						t.Fatalf("step %d, %s: found %v %v, window holds %v %v", step, key, got, ok, want, held)
					}
				}
			}
			next := 0
			for step := range 400 {
				// Keys are fresh, as folded requests are, with gaps of random length.
				next += 1 + rng.IntN(3)
				s.remember(Request{Key: fmt.Sprint("req-", next%300), ID: EventID{Counter: uint64(step + 1), Peer: "p"}})
				if step%50 == 49 { // a merge or a restore replaces the window and rebuilds
					s.inf.Recent = append([]Request(nil), s.inf.Recent...)
					s.indexRecent()
				}
				check(step)
			}
		})
	}
}
