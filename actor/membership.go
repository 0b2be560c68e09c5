package actor

import (
	"slices"
	"sync"
	"time"

	"github.com/legion-go/legion/discovery"
	"github.com/legion-go/legion/gc"
	"github.com/legion-go/legion/lattice"
)

// members is the node's membership history for garbage collection: every live member of
// the current view, and a tombstone for every peer that left it (with when it was first
// seen gone), so that replicas can eject peers that stay gone for EjectAfter. Safe for
// concurrent use.
type members struct {
	mu     sync.Mutex
	byPeer map[lattice.Peer]gc.Member
}

// update records a new view; it reports whether the set of live peers changed.
func (m *members) update(v discovery.View, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byPeer == nil {
		m.byPeer = map[lattice.Peer]gc.Member{}
	}
	live := map[lattice.Peer]discovery.Member{}
	for _, x := range v.Members {
		live[lattice.Peer(x.Peer)] = x
	}
	changed := false
	for p, x := range live {
		cur, ok := m.byPeer[p]
		if !ok || !cur.Live {
			changed = true
			cur = gc.Member{Peer: p, Live: true, Since: now}
		}
		cur.Kinds = slices.Clone(x.Kinds)
		m.byPeer[p] = cur
	}
	for p, cur := range m.byPeer {
		if _, ok := live[p]; !ok && cur.Live {
			changed = true
			m.byPeer[p] = gc.Member{Peer: p, Kinds: cur.Kinds, Live: false, Since: now}
		}
	}
	return changed
}

func (m *members) list() []gc.Member {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]gc.Member, 0, len(m.byPeer))
	for _, x := range m.byPeer {
		out = append(out, x)
	}
	return out
}

// anyGone reports whether some known peer is not live.
func (m *members) anyGone() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, x := range m.byPeer {
		if !x.Live {
			return true
		}
	}
	return false
}
