package lattice

import "slices"

// peers is a small sorted set of peers. Replica sets are tiny (3 to 5), so a sorted slice
// beats a map on both speed and allocation.
type peers []Peer

func (s peers) has(p Peer) bool {
	for _, q := range s {
		if q == p {
			return true
		}
		if q > p {
			return false
		}
	}
	return false
}

// with returns s with p added, reusing s's storage when possible.
func (s peers) with(p Peer) peers {
	i, found := slices.BinarySearch(s, p)
	if found {
		return s
	}
	return slices.Insert(s, i, p)
}

// without returns s with p removed (in place).
func (s peers) without(p Peer) peers {
	i, found := slices.BinarySearch(s, p)
	if !found {
		return s
	}
	return slices.Delete(s, i, i+1)
}

// union returns s with every peer of o added.
func (s peers) union(o peers) peers {
	for _, p := range o {
		s = s.with(p)
	}
	return s
}

func (s peers) clone() peers { return slices.Clone(s) }

// sortedPeers returns a sorted, deduplicated copy of ps.
func sortedPeers(ps []Peer) peers {
	out := slices.Clone(ps)
	slices.Sort(out)
	return slices.Compact(out)
}
