package gc

import "github.com/legion-go/legion/lattice"

// Placement is rendezvous (highest-random-weight) hashing: every (partition, peer) pair gets
// a pseudo-random 64-bit weight, and a partition's replica set is the r peers with the
// highest weights. The relative order of two peers does not depend on which other peers
// exist, so a peer that joins enters only the sets where it outranks the lowest member, and a
// peer that leaves is replaced in its own sets only: every other replica stays where it is.
//
// The weight function is part of the protocol: every node must compute the same weights, in
// every process and on every platform, forever. It is written out here (FNV-1a over a
// length-prefixed encoding, then the murmur3 64-bit finalizer) instead of borrowed from a
// library whose output could change, and placement_test.go pins known values.

const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

// fnvString feeds s into the FNV-1a state h, preceded by its length as a uvarint so that
// ("ab", "c") and ("a", "bc") hash differently, whatever bytes the strings contain.
func fnvString(h uint64, s string) uint64 {
	n := uint64(len(s))
	for n >= 0x80 {
		h = (h ^ (n&0x7f | 0x80)) * fnvPrime64
		n >>= 7
	}
	h = (h ^ n) * fnvPrime64
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * fnvPrime64
	}
	return h
}

// fmix64 is murmur3's finalizer: it spreads every input bit over every output bit. FNV-1a
// alone mixes its last bytes into the low bits only, and weights that share a (kind, key)
// prefix differ only in their last bytes, so without it the comparison of weights would be
// biased.
func fmix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// partitionHash is the FNV-1a state after (kind, key): shared by every peer's weight.
func partitionHash(kind, key string) uint64 {
	return fnvString(fnvString(fnvOffset64, kind), key)
}

func peerWeight(ph uint64, p lattice.Peer) uint64 { return fmix64(fnvString(ph, string(p))) }

// Weight is the rendezvous weight of peer for the partition (kind, key). It is stable:
// identical in every process, on every platform and in every version of this package.
func Weight(kind, key string, peer lattice.Peer) uint64 {
	return peerWeight(partitionHash(kind, key), peer)
}

type ranked struct {
	w uint64
	p lattice.Peer
}

// before is the placement order: higher weight first, then the smaller peer (two peers
// with equal weights are astronomically unlikely, but the order must still be total).
func before(a, b ranked) bool {
	return a.w > b.w || a.w == b.w && a.p < b.p
}

// ReplicaSet returns the replica set of the partition (kind, key) among peers: the r peers
// with the highest Weight, in descending weight order (ties by peer). When r is at least the
// number of distinct peers it returns them all, ranked; when r <= 0 or peers is empty it
// returns nil. Duplicates in peers count once. The result is a fresh slice.
//
// The first peer of the set is where requests go first; the order is also how gc picks the
// deterministic writer of a partition (see Decide).
func ReplicaSet(kind, key string, peers []lattice.Peer, r int) []lattice.Peer {
	r = min(r, len(peers))
	if r <= 0 {
		return nil
	}
	ph := partitionHash(kind, key)
	// top holds the best r candidates seen so far, in placement order. Insertion costs
	// O(r) per peer, which beats sorting all peers for the small r of replication.
	top := make([]ranked, 0, r)
	for _, p := range peers {
		c := ranked{peerWeight(ph, p), p}
		if len(top) == r && !before(c, top[r-1]) {
			continue // no better than the worst kept (or a duplicate of it)
		}
		i := 0
		for i < len(top) && before(top[i], c) {
			i++
		}
		if i < len(top) && top[i] == c {
			continue // duplicate peer
		}
		if len(top) < r {
			top = append(top, ranked{})
		}
		copy(top[i+1:], top[i:len(top)-1])
		top[i] = c
	}
	out := make([]lattice.Peer, len(top))
	for i, c := range top {
		out[i] = c.p
	}
	return out
}
