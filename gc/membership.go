package gc

import (
	"slices"
	"time"

	"github.com/legion-go/legion/lattice"
)

// Member is one peer as this node's membership sees it. The runtime builds the list: the
// live members of the current discovery view, plus a tombstone (Live false) for every peer
// that vanished from it, kept until no replica of the node names the peer any more, or, for
// one still named, as long as it may still have to be ejected (see docs/gc.md, "What the
// runtime provides").
type Member struct {
	Peer lattice.Peer
	// Kinds are the kinds the peer hosts (for a tombstone: hosted when last seen). A peer
	// with no kinds (a client) holds no replicas and does not count towards the majority.
	Kinds []string
	// Live is whether membership reports the peer up.
	Live bool
	// Since is when Live last changed; for a peer that is not live, when it was first seen
	// gone. Decide compares it with now, EjectAfter (when to eject) and TombstoneTTL (until
	// when the tombstone counts towards the majority); a tombstone with the zero Since
	// counts as gone since forever: ejectable, and not counted.
	Since time.Time
}

func (m Member) hosts(kind string) bool { return slices.Contains(m.Kinds, kind) }

// membership is the members list digested for Decide: one entry per peer, and the live
// hosts of each kind.
type membership struct {
	byPeer map[lattice.Peer]Member
	hosts  map[string][]lattice.Peer // kind -> live peers hosting it (filled lazily)
}

// newMembership indexes members. A peer listed more than once gets one merged entry, the
// same whatever the order of the list: it is live if any entry is live; its Kinds are the
// union of those of the entries with that liveness, and Since the latest of theirs (for a
// gone peer, the latest Since delays ejection: the conservative choice).
func newMembership(members []Member) *membership {
	m := &membership{byPeer: make(map[lattice.Peer]Member, len(members)), hosts: map[string][]lattice.Peer{}}
	for _, x := range members {
		cur, ok := m.byPeer[x.Peer]
		switch {
		case !ok || x.Live && !cur.Live:
			x.Kinds = slices.Clone(x.Kinds)
			m.byPeer[x.Peer] = x
		case x.Live == cur.Live:
			for _, k := range x.Kinds {
				if !cur.hosts(k) {
					cur.Kinds = append(cur.Kinds, k)
				}
			}
			if x.Since.After(cur.Since) {
				cur.Since = x.Since
			}
			m.byPeer[x.Peer] = cur
		}
	}
	return m
}

// majority reports whether a strict majority of the members that count at now are live.
// A member counts if it hosts a kind and is live, or is a tombstone gone for less than ttl
// (Decide gives the reasons).
func (m *membership) majority(now time.Time, ttl time.Duration) bool {
	known, live := 0, 0
	for _, x := range m.byPeer {
		switch {
		case len(x.Kinds) == 0:
		case x.Live:
			known++
			live++
		case now.Sub(x.Since) < ttl:
			known++
		}
	}
	return 2*live > known
}

func (m *membership) isLive(p lattice.Peer) bool { return m.byPeer[p].Live }

// goneFor reports for how long membership has reported p gone. ok is false when p is live
// or not listed at all: an unlisted peer is never considered gone (see Decide).
func (m *membership) goneFor(p lattice.Peer, now time.Time) (d time.Duration, ok bool) {
	x, listed := m.byPeer[p]
	if !listed || x.Live {
		return 0, false
	}
	return now.Sub(x.Since), true
}

// liveHosts returns the live peers that host kind, sorted. The result is shared: read only.
func (m *membership) liveHosts(kind string) []lattice.Peer {
	if ps, ok := m.hosts[kind]; ok {
		return ps
	}
	var ps []lattice.Peer
	for p, x := range m.byPeer {
		if x.Live && x.hosts(kind) {
			ps = append(ps, p)
		}
	}
	slices.Sort(ps)
	m.hosts[kind] = ps
	return ps
}
