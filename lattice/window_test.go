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
				bytes := 0
				for i := range s.inf.Recent {
					bytes += requestBytes(&s.inf.Recent[i])
				}
				if bytes != s.recent.bytes {
					t.Fatalf("step %d: the index counts %d bytes, the window holds %d", step, s.recent.bytes, bytes)
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

// TestDedupHorizon: a fold forgets the oldest requests while they are older than the
// folded one by more than DedupHorizon, or the window is past DedupBytes; the newest
// always stays, and a request whose time is older than a later one's waits until it
// reaches the front.
func TestDedupHorizon(t *testing.T) {
	const minute = int64(60e9)
	var s State[int64, int64, int64]
	s.behavior.DedupHorizon = 10 * minute
	keys := func() (out []string) {
		for _, r := range s.inf.Recent {
			out = append(out, r.Key)
		}
		return out
	}
	fold := func(key string, at int64) {
		t.Helper()
		s.remember(Request{Key: key, ID: EventID{Counter: uint64(len(key)), Peer: "p"}, Time: at})
	}
	fold("a", 0)
	fold("b", 5*minute)
	fold("c", 10*minute) // a is exactly 10 minutes older: kept
	if got := keys(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("window %v, want [a b c]", got)
	}
	fold("d", 2*minute)  // an origin whose clock runs behind: forgets nothing
	fold("e", 16*minute) // b is 11 minutes older
	if got := keys(); !slices.Equal(got, []string{"c", "d", "e"}) {
		t.Fatalf("window %v, want [c d e]", got)
	}
	fold("f", 20*minute+1) // c goes, and d, older still, once it is at the front
	if got := keys(); !slices.Equal(got, []string{"e", "f"}) {
		t.Fatalf("window %v, want [e f]", got)
	}
	fold("g", 60*minute) // an hour idle: the next fold forgets all before it
	if got := keys(); !slices.Equal(got, []string{"g"}) {
		t.Fatalf("window %v, want [g]", got)
	}

	// By bytes: never past DedupBytes, but the newest always stays.
	var b State[int64, int64, int64]
	b.behavior.DedupBytes = 10 * requestBytes(&Request{Key: "k-00", ID: EventID{Peer: "p"}})
	for i := range 30 {
		b.remember(Request{Key: fmt.Sprintf("k-%02d", i), ID: EventID{Counter: uint64(i + 1), Peer: "p"}})
		if n := len(b.inf.Recent); n != min(i+1, 10) {
			t.Fatalf("after %d folds the window holds %d requests, want %d", i+1, n, min(i+1, 10))
		}
	}
	huge := Request{Key: string(make([]byte, 2*b.behavior.DedupBytes)), ID: EventID{Counter: 99, Peer: "p"}}
	b.remember(huge)
	if len(b.inf.Recent) != 1 || b.inf.Recent[0].Key != huge.Key {
		t.Fatalf("a request larger than the cap: the window holds %d requests, want it alone", len(b.inf.Recent))
	}
}

// TestDedupHorizonIsDeterministic: a replica restored from a snapshot midway forgets the
// same requests at the same folds as one that folded everything itself (the horizon is
// part of the fold: replicas that disagree on it fold a late duplicate differently).
func TestDedupHorizonIsDeterministic(t *testing.T) {
	hb := counter
	hb.DedupHorizon, hb.DedupBytes = 400, 20*requestBytes(&Request{Key: "r-000", ID: EventID{Peer: "a"}})
	rng := rand.New(rand.NewPCG(3, 4))
	a := New(hb, "c/k", "a", []Peer{"a"}, 0)
	var b *State[int64, int64, int64]
	at := int64(0)
	for i := range 600 {
		at += rng.Int64N(120) - 20 // mostly forward, sometimes back (clocks disagree)
		if _, _, err := a.Request(1, at, fmt.Sprintf("r-%03d", i)); err != nil {
			t.Fatal(err)
		}
		if b != nil {
			if _, _, err := b.Request(1, at, fmt.Sprintf("r-%03d", i)); err != nil {
				t.Fatal(err)
			}
		}
		a.Acknowledge()
		a.Reduce()
		if b != nil {
			b.Acknowledge()
			b.Reduce()
			if !slices.Equal(a.Infimum().Recent, b.Infimum().Recent) {
				t.Fatalf("fold %d: the restored replica's window differs:\n%v\n%v", i, a.Infimum().Recent, b.Infimum().Recent)
			}
		}
		if i == 200 {
			b = Restore(hb, "a", a.Snapshot())
		}
	}
	if n := len(a.Infimum().Recent); n == 0 || n >= 20 {
		t.Fatalf("the window holds %d requests: the horizon did not slide it by time", n)
	}
}

// TestProjectionFollowsTheHorizon: TestProjectionFollowsTheWindow, with the original
// forgotten by time: the copy pending on the other replica, which the projection skipped
// as a duplicate, applies at the fold, and so in the projection.
func TestProjectionFollowsTheHorizon(t *testing.T) {
	hb := listBehavior
	hb.DedupWindow, hb.DedupHorizon = 0, 100
	ps := []Peer{"p0", "p1"}
	for _, later := range []int64{50, 1000} {
		t.Run(fmt.Sprint("other request at ", later), func(t *testing.T) {
			a, b := New(hb, "counter/k", ps[0], ps, nil), New(hb, "counter/k", ps[1], ps, nil)
			if _, _, err := a.Request(1, 0, "r"); err != nil {
				t.Fatal(err)
			}
			if _, _, err := b.Request(2, later, "other"); err != nil {
				t.Fatal(err)
			}
			if _, _, err := b.Request(3, later, "r"); err != nil { // the retry, on b
				t.Fatal(err)
			}
			syncAll(t, a, b)
			for _, st := range []*State[listState, uint64, uint64]{a, b} {
				if got, want := st.Projection(), st.Infimum().Value; !slices.Equal(got, want) {
					t.Errorf("%s: projection %v, infimum %v", st.Self(), got, want)
				}
			}
			copies := 0
			for _, v := range a.Infimum().Value {
				if v == 1 || v == 3 {
					copies++
				}
			}
			if want := map[int64]int{50: 1, 1000: 2}[later]; copies != want {
				t.Errorf("request applied %d times, want %d", copies, want)
			}
		})
	}
}
