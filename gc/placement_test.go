package gc

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/legion-go/legion/lattice"
)

// testPeers returns n peers named like real ones: node name plus incarnation.
func testPeers(n int) []lattice.Peer {
	ps := make([]lattice.Peer, n)
	for i := range ps {
		ps[i] = lattice.Peer(fmt.Sprintf("node-%d~%04x", i+1, (i*7919+13)%65536))
	}
	return ps
}

// TestWeightStable pins the weight function: placement must be identical in every process,
// on every platform and in every version. The values were checked against an independent
// implementation of the same definition (Python). If this test fails, the change would move every
// replica of every cluster on upgrade: revert it.
func TestWeightStable(t *testing.T) {
	for _, c := range []struct {
		kind, key string
		peer      lattice.Peer
		want      uint64
	}{
		{"", "", "", 0x6bc537b46c7f7baf},
		{"counter", "a", "n1", 0x33239ea24a8a7fb2},
		{"counter", "a", "n2", 0xdebdba03bd687a56},
		{"counter", "user:42", "n1~3f9a2c", 0xca059badbf1f5983},
		{"ab", "c", "p", 0x64684838b1543c7d},
		{"a", "bc", "p", 0xf37a963fa827c47b},
		{"k", strings.Repeat("x", 200), "p", 0x83a322abab2ce14d}, // two-byte length prefix
	} {
		if got := Weight(c.kind, c.key, c.peer); got != c.want {
			t.Errorf("Weight(%q, %q, %q) = %#x, want %#x", c.kind, c.key, c.peer, got, c.want)
		}
	}
}

// TestWeightLengthPrefix: the encoding is unambiguous, so moving bytes between kind, key and
// peer changes the weight.
func TestWeightLengthPrefix(t *testing.T) {
	ws := map[uint64]string{}
	for _, parts := range [][3]string{{"ab", "c", "p"}, {"a", "bc", "p"}, {"abc", "", "p"}, {"", "abc", "p"}, {"a", "b", "cp"}, {"a", "", "bcp"}} {
		w := Weight(parts[0], parts[1], lattice.Peer(parts[2]))
		if prev, ok := ws[w]; ok {
			t.Errorf("%q and %s have the same weight", parts, prev)
		}
		ws[w] = fmt.Sprintf("%q", parts)
	}
}

// naiveReplicaSet is the reference implementation: rank every distinct peer, take r.
func naiveReplicaSet(kind, key string, peers []lattice.Peer, r int) []lattice.Peer {
	ps := slices.Clone(peers)
	slices.Sort(ps)
	ps = slices.Compact(ps)
	slices.SortFunc(ps, func(a, b lattice.Peer) int {
		wa, wb := Weight(kind, key, a), Weight(kind, key, b)
		switch {
		case wa > wb:
			return -1
		case wa < wb:
			return 1
		}
		return 0
	})
	if r <= 0 || len(ps) == 0 {
		return nil
	}
	return ps[:min(r, len(ps))]
}

// TestReplicaSetReference checks the top-r selection against sorting every peer, on
// random peer lists with duplicates and random r, and that the input order does not matter.
func TestReplicaSetReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	all := testPeers(40)
	for i := range 2000 {
		peers := make([]lattice.Peer, rng.IntN(20))
		for j := range peers {
			peers[j] = all[rng.IntN(len(all))]
		}
		r := rng.IntN(8) - 1
		key := fmt.Sprint("k", i)
		got := ReplicaSet("kind", key, peers, r)
		want := naiveReplicaSet("kind", key, peers, r)
		if !slices.Equal(got, want) {
			t.Fatalf("ReplicaSet(%v, r=%d) = %v, want %v", peers, r, got, want)
		}
		rng.Shuffle(len(peers), func(a, b int) { peers[a], peers[b] = peers[b], peers[a] })
		if again := ReplicaSet("kind", key, peers, r); !slices.Equal(again, got) {
			t.Fatalf("input order changed the set: %v then %v", got, again)
		}
	}
}

func TestReplicaSetEdges(t *testing.T) {
	ps := testPeers(5)
	if got := ReplicaSet("k", "a", ps, 0); got != nil {
		t.Errorf("r=0: %v, want nil", got)
	}
	if got := ReplicaSet("k", "a", ps, -1); got != nil {
		t.Errorf("r=-1: %v, want nil", got)
	}
	if got := ReplicaSet("k", "a", nil, 3); got != nil {
		t.Errorf("no peers: %v, want nil", got)
	}
	got := ReplicaSet("k", "a", ps, 9)
	if len(got) != 5 {
		t.Fatalf("r > len: %v, want all 5", got)
	}
	for i := 1; i < len(got); i++ {
		if Weight("k", "a", got[i-1]) < Weight("k", "a", got[i]) {
			t.Errorf("not in descending weight: %v", got)
		}
	}
	dup := append(slices.Clone(ps), ps...)
	if got2 := ReplicaSet("k", "a", dup, 9); !slices.Equal(got2, got) {
		t.Errorf("duplicates: %v, want %v", got2, got)
	}
	// The result is fresh: modifying it changes nothing for the next call.
	got[0] = "x"
	if ReplicaSet("k", "a", ps, 9)[0] == "x" {
		t.Error("result shares storage")
	}
}

// TestReplicaSetMinimalMovement is the rendezvous property: removing one peer changes each
// partition's set by at most that peer and one replacement; adding one changes it by at
// most the added peer and the one it displaces. Property test over random peer sets.
func TestReplicaSetMinimalMovement(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	all := testPeers(30)
	for i := range 3000 {
		n := 1 + rng.IntN(12)
		perm := rng.Perm(len(all))
		peers := make([]lattice.Peer, n)
		for j := range peers {
			peers[j] = all[perm[j]]
		}
		extra := all[perm[n]]
		r := 1 + rng.IntN(5)
		key := fmt.Sprint("key-", i)
		before := ReplicaSet("k", key, peers, r)

		gone := peers[rng.IntN(n)]
		after := ReplicaSet("k", key, slices.DeleteFunc(slices.Clone(peers), func(p lattice.Peer) bool { return p == gone }), r)
		checkMove(t, "remove "+string(gone), before, after, gone, true)

		grown := ReplicaSet("k", key, append(slices.Clone(peers), extra), r)
		checkMove(t, "add "+string(extra), before, grown, extra, false)
	}
}

// checkMove checks that after differs from before by at most changed (leaving when removed,
// entering otherwise) and one other peer going the other way, and that the surviving peers
// keep their relative order.
func checkMove(t *testing.T, what string, before, after []lattice.Peer, changed lattice.Peer, removed bool) {
	t.Helper()
	out := diff(before, after) // left the set
	in := diff(after, before)  // entered it
	if removed {
		out, in = in, out
	}
	// Now "in" must be {changed} or empty, and "out" at most one peer.
	if len(in) > 1 || len(in) == 1 && in[0] != changed || len(out) > 1 {
		t.Fatalf("%s: %v -> %v moves too much", what, before, after)
	}
	if len(in) == 0 && !slices.Equal(before, after) {
		t.Fatalf("%s: %v -> %v changed though %s is not in the set", what, before, after, changed)
	}
	keep := func(ps []lattice.Peer) []lattice.Peer {
		return slices.DeleteFunc(slices.Clone(ps), func(p lattice.Peer) bool { return !slices.Contains(before, p) || !slices.Contains(after, p) })
	}
	if !slices.Equal(keep(before), keep(after)) {
		t.Fatalf("%s: %v -> %v reorders the peers that stay", what, before, after)
	}
}

// diff returns the peers of a that are not in b.
func diff(a, b []lattice.Peer) []lattice.Peer {
	var out []lattice.Peer
	for _, p := range a {
		if !slices.Contains(b, p) {
			out = append(out, p)
		}
	}
	return out
}

// TestReplicaSetBalance: 10,000 keys over 5 peers with r=3 give each peer 3/5 of the keys,
// within ±10%; each peer is also first (where requests go) for 1/5 of them, within ±10%.
func TestReplicaSetBalance(t *testing.T) {
	const keys, r = 10000, 3
	peers := testPeers(5)
	held := map[lattice.Peer]int{}
	first := map[lattice.Peer]int{}
	for i := range keys {
		set := ReplicaSet("counter", fmt.Sprint("user:", i), peers, r)
		first[set[0]]++
		for _, p := range set {
			held[p]++
		}
	}
	want := float64(keys) * r / float64(len(peers))
	for _, p := range peers {
		if got := float64(held[p]); got < 0.9*want || got > 1.1*want {
			t.Errorf("%s holds %v replicas, want %v ± 10%%", p, got, want)
		}
		if got := float64(first[p]); got < 0.9*keys/5 || got > 1.1*keys/5 {
			t.Errorf("%s is first for %v keys, want %v ± 10%%", p, got, keys/5)
		}
		t.Logf("%s holds %d (%.1f%% of %v), first for %d", p, held[p], 100*float64(held[p])/want, want, first[p])
	}
}

// FuzzReplicaSetRemove checks the minimal-movement property on arbitrary names.
func FuzzReplicaSetRemove(f *testing.F) {
	f.Add("counter", "a", "n1", "n2", "n3", "n4", uint8(2))
	f.Add("", "", "", "x", "y", "z", uint8(3))
	f.Fuzz(func(t *testing.T, kind, key, a, b, c, d string, r uint8) {
		peers := []lattice.Peer{lattice.Peer(a), lattice.Peer(b), lattice.Peer(c), lattice.Peer(d)}
		got := ReplicaSet(kind, key, peers, int(r%6))
		if want := naiveReplicaSet(kind, key, peers, int(r%6)); !slices.Equal(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		rest := slices.DeleteFunc(slices.Clone(peers), func(p lattice.Peer) bool { return p == peers[0] })
		checkMove(t, "remove", got, ReplicaSet(kind, key, rest, int(r%6)), peers[0], true)
	})
}

func BenchmarkReplicaSet(b *testing.B) {
	for _, n := range []int{5, 20, 100} {
		peers := testPeers(n)
		keys := make([]string, 1024)
		for i := range keys {
			keys[i] = fmt.Sprint("user:", i)
		}
		b.Run(fmt.Sprintf("peers=%d/r=3", n), func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				ReplicaSet("counter", keys[i&1023], peers, 3)
				i++
			}
		})
	}
}

func BenchmarkWeight(b *testing.B) {
	for b.Loop() {
		Weight("counter", "user:123456", "node-1~3f9a2c")
	}
}
