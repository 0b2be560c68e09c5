package lattice

import (
	"fmt"
	"math/rand/v2"
	"slices"
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

// syncAll exchanges diffs between two replicas, acknowledging and reducing, until nothing
// is pending on either.
func syncAll(t *testing.T, a, b *State[listState, uint64, uint64]) {
	t.Helper()
	for range 20 {
		for _, pair := range [][2]*State[listState, uint64, uint64]{{a, b}, {b, a}} {
			deliverDiff(t, pair[0], pair[1])
			pair[1].Projection() // keep the cache current, as a replica that answers calls does
		}
		if len(a.Pending())+len(b.Pending()) == 0 {
			return
		}
	}
	t.Fatal("still pending after 20 exchanges")
}

// TestProjectionFollowsTheWindow: the same request logged on two replicas (a retry) is
// skipped by the projection as a duplicate. If as many other events fold between the two
// as the window holds, the original leaves the window first and the fold applies the
// copy: the projection must too. If not, the copy folds as a duplicate, and the
// projection forgets that it skipped it.
func TestProjectionFollowsTheWindow(t *testing.T) {
	ps := []Peer{"p0", "p1"}
	for _, between := range []int{0, 3, 2 * listBehavior.DedupWindow} {
		t.Run(fmt.Sprint(between, " events between"), func(t *testing.T) {
			a, b := New(listBehavior, "counter/k", ps[0], ps, nil), New(listBehavior, "counter/k", ps[1], ps, nil)
			if _, _, err := a.Request(1, 0, "r"); err != nil {
				t.Fatal(err)
			}
			for i := range between { // b's counter runs ahead, so its copy sorts after them all
				if _, _, err := b.Request(2, int64(i), fmt.Sprint("other-", i)); err != nil {
					t.Fatal(err)
				}
			}
			if _, _, err := b.Request(3, 0, "r"); err != nil { // the retry, on b
				t.Fatal(err)
			}
			syncAll(t, a, b)
			for _, st := range []*State[listState, uint64, uint64]{a, b} {
				if got, want := st.Projection(), st.Infimum().Value; !slices.Equal(got, want) {
					t.Errorf("%s: projection %v, infimum %v", st.Self(), got, want)
				}
				if len(st.proj.skipped) > 0 {
					t.Errorf("%s: nothing pending, yet skipped holds %v", st.Self(), st.proj.skipped)
				}
			}
			copies := 0
			for _, v := range a.Infimum().Value {
				if v == 1 || v == 3 {
					copies++
				}
			}
			if want := 1 + min(1, between/listBehavior.DedupWindow); copies != want {
				t.Errorf("request applied %d times, want %d", copies, want)
			}
		})
	}
}
