package lattice

// The infimum digest is a 64-bit FNV-1a hash chain: the genesis hashes the origin and the
// initial participants, and every fold hashes the folded id into it. It lets a replica check
// that it can reproduce a remote infimum from its own log (see State.canProve) without
// comparing user states, which the lattice cannot do.

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	// A terminator keeps ("ab","c") and ("a","bc") apart.
	h ^= 0xff
	h *= fnvPrime
	return h
}

func fnvUint64(h, v uint64) uint64 {
	for i := 0; i < 8; i++ {
		h ^= v & 0xff
		h *= fnvPrime
		v >>= 8
	}
	return h
}

func genesisDigest(origin string, participants []Peer) uint64 {
	h := fnvString(fnvOffset, origin)
	for _, p := range participants {
		h = fnvString(h, string(p))
	}
	return h
}

func chainDigest(h uint64, id EventID) uint64 {
	return fnvString(fnvUint64(h, id.Counter), string(id.Peer))
}
