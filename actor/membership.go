package actor

import (
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/legion-go/legion/discovery"
	"github.com/legion-go/legion/gc"
	"github.com/legion-go/legion/lattice"
)

// members is the node's membership history for garbage collection: every live member of
// the current view, and a tombstone for every peer that left it or that a replica names
// without the view listing it (with when it was first seen gone), so that replicas can
// eject peers that stay gone for EjectAfter, and so that gc's majority counts them.
//
// A tombstone retires (is dropped) once it is known that no replica of this node names
// the peer any more: this node has seen one of its replicas name the peer, and a wake pass
// (every stored replica that can name a peer which is not a live host activated, see
// Node.wakePass) that began after the peer was seen
// gone and after it was last seen named has settled, and still no replica names it. One
// that no replica names is dropped after TombstoneTTL in any case; one still named stays
// listed, so that its partitions can still eject it, but gc no longer counts it. docs/gc.md
// ("What the runtime provides", "Majority") gives the reasons. Safe for concurrent use.
type members struct {
	mu     sync.Mutex
	byPeer map[lattice.Peer]gc.Member
	// named holds, for every peer a sweep found named by one of the node's replicas (as
	// participant, joiner or leaver), when it last did. A peer never found named has no
	// entry, and its tombstone retires only after TombstoneTTL: a node cut off in a
	// minority must not drop the peers it shares no partition with.
	named map[lattice.Peer]time.Time
	// passes are the wake passes that completed and have not settled yet, oldest first;
	// settled is the start of the latest that has.
	passes  []wakePass
	settled time.Time
	// versions holds the kind versions each peer last advertised (versions.go), kept
	// while it has a tombstone.
	versions map[lattice.Peer]map[string]uint32
}

// wakePass is one pass that woke every stored replica that may have work (wakeNeeded): it
// began listing them at start and had sent the last wake at end.
type wakePass struct{ start, end time.Time }

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
		if m.versions == nil {
			m.versions = map[lattice.Peer]map[string]uint32{}
		}
		m.versions[p] = advertisedVersions(x.Meta)
	}
	for p, cur := range m.byPeer {
		if _, ok := live[p]; !ok && cur.Live {
			changed = true
			m.byPeer[p] = gc.Member{Peer: p, Kinds: cur.Kinds, Live: false, Since: now}
		}
	}
	return changed
}

// passed records a wake pass that woke every stored replica, from start to end.
func (m *members) passed(start, end time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.passes = append(m.passes, wakePass{start, end})
}

// sweep takes in the peers the node's replicas name as of now (named: peer -> the kinds
// of the replicas that name it; self left out), as described at their last gc tick. A
// pass counts as settled once settle has passed since its end: by then every replica it
// woke has described itself. sweep adds a tombstone (Since now) for every named peer that
// membership does not list, and drops the tombstones that retire (see members). It returns
// the peers it added and those it dropped.
func (m *members) sweep(named map[lattice.Peer][]string, now time.Time, settle, ttl time.Duration) (added, retired []lattice.Peer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byPeer == nil {
		m.byPeer = map[lattice.Peer]gc.Member{}
	}
	if m.named == nil {
		m.named = map[lattice.Peer]time.Time{}
	}
	for len(m.passes) > 0 && !now.Before(m.passes[0].end.Add(settle)) {
		if m.passes[0].start.After(m.settled) {
			m.settled = m.passes[0].start
		}
		m.passes = m.passes[1:]
	}
	for p, kinds := range named {
		m.named[p] = now
		if _, ok := m.byPeer[p]; !ok {
			// A participant membership does not list (this node restarted since it left,
			// or its tombstone retired before a late Join of it arrived): without a
			// tombstone it would never be ejected.
			m.byPeer[p] = gc.Member{Peer: p, Kinds: slices.Sorted(slices.Values(kinds)), Since: now}
			added = append(added, p)
		}
	}
	for p, x := range m.byPeer {
		if x.Live || named[p] != nil {
			continue
		}
		last, shared := m.named[p]
		resolved := shared && !m.settled.IsZero() && !m.settled.Before(x.Since) && !m.settled.Before(last)
		if resolved || now.Sub(x.Since) >= ttl {
			delete(m.byPeer, p)
			delete(m.named, p)
			delete(m.versions, p)
			retired = append(retired, p)
		}
	}
	slices.Sort(added)
	slices.Sort(retired)
	return added, retired
}

// settle marks the passes begun by start settled.
func (m *members) settle(start time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if start.After(m.settled) {
		m.settled = start
	}
}

// hasSettled reports whether a wake pass has settled: every stored replica has named the
// peers it knows to the sweep.
func (m *members) hasSettled() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return !m.settled.IsZero()
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

// remember adds a tombstone (Since now) for every peer of hosts (kind -> peers: the hosts
// the store recorded at the node's last wake pass) that it does not know: a node that
// restarts knows at once the peers its stored replicas were placed on, and counts those
// that are not back among the members gc's majority needs.
func (m *members) remember(hosts map[string][]lattice.Peer, self lattice.Peer, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byPeer == nil {
		m.byPeer = map[lattice.Peer]gc.Member{}
	}
	for _, kind := range slices.Sorted(maps.Keys(hosts)) {
		for _, p := range hosts[kind] {
			if p == self {
				continue
			}
			x, ok := m.byPeer[p]
			if !ok {
				x = gc.Member{Peer: p, Since: now}
			}
			if !x.Live && !slices.Contains(x.Kinds, kind) {
				x.Kinds = append(slices.Clone(x.Kinds), kind)
			}
			m.byPeer[p] = x
		}
	}
}

// goneWithin returns the peers that are not live and were first seen gone less than d
// before now.
func (m *members) goneWithin(now time.Time, d time.Duration) map[lattice.Peer]bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[lattice.Peer]bool{}
	for p, x := range m.byPeer {
		if !x.Live && now.Sub(x.Since) < d {
			out[p] = true
		}
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

// wakePass wakes the stored replicas that may have work (wakeNeeded: among them, every
// one that can name a peer which is not a live host) and, if it listed them all, records
// the pass for the tombstones' retirement (see members).
func (n *Node) wakePass() {
	start := n.cfg.Clock.Now()
	all, woke := n.wakeNeeded()
	if !all {
		return
	}
	n.members.passed(start, n.cfg.Clock.Now())
	if woke == 0 {
		n.members.settle(start) // no replica to hear from: nothing to wait for
	}
}

// sweepMembers gives members the peers the node's active replicas name, from the
// descriptions they publish in Node.replicas at each gc tick. A replica a pass woke
// describes itself at its first gc tick, GCInterval after it activates; settling a pass
// takes twice that, for the shards' queues.
func (n *Node) sweepMembers() {
	named := map[lattice.Peer][]string{}
	add := func(kind string, ps []lattice.Peer) {
		for _, p := range ps {
			if p != n.peer && !slices.Contains(named[p], kind) {
				named[p] = append(named[p], kind)
			}
		}
	}
	n.replicas.Range(func(_, v any) bool {
		r := v.(gc.Replica)
		add(r.Kind, r.Participants)
		add(r.Kind, r.Joining)
		add(r.Kind, r.Leaving)
		return true
	})
	added, retired := n.members.sweep(named, n.cfg.Clock.Now(), 2*n.cfg.GCInterval, n.cfg.TombstoneTTL)
	for _, p := range added {
		n.log.Info("replicas name a peer membership does not list: keeping a tombstone for it", "peer", p)
	}
	for _, p := range retired {
		n.log.Info("tombstone dropped: no replica names the peer", "peer", p)
	}
	if len(added) > 0 || len(retired) > 0 {
		n.refreshVersions()
	}
}
