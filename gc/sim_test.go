package gc

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/legion-go/legion/lattice"
)

// This file is a small model of the runtime: every node calls Decide on its replicas, the
// actions are applied to the partitions' membership as the runtime would propose them, and
// pending membership changes fold the way the lattice folds them (a delta folds once every
// full participant whose UnJoin is not confirmed is live to ack it, and a Join once its
// joiner is, too; the first delta that cannot fold blocks the ones after it). Replicas are shared
// by all their holders (replication is instantaneous), which is what the decision logic
// needs: the lattice itself is tested in lattice/.

type simChange struct {
	kind   lattice.DeltaKind // Join or UnJoin (Eject and Leave both write an UnJoin)
	peer   lattice.Peer
	writer lattice.Peer
}

type simPartition struct {
	kind, key string
	full      []lattice.Peer // sorted
	pending   []simChange    // in id order
	// fresh is where this step's changes start in pending: they are concurrent.
	fresh       int
	lastAdvance time.Time
}

func (p *simPartition) joining() []lattice.Peer {
	var out []lattice.Peer
	for _, c := range p.pending {
		if c.kind == lattice.Join {
			out = append(out, c.peer)
		}
	}
	return sortedSet(out)
}

func (p *simPartition) leaving() []lattice.Peer {
	var out []lattice.Peer
	for _, c := range p.pending {
		if c.kind != lattice.Join {
			out = append(out, c.peer)
		}
	}
	return sortedSet(out)
}

type simCluster struct {
	t        *testing.T
	cfg      Config
	now      time.Time
	members  map[lattice.Peer]Member
	history  [][]Member // members as of each step, for lagging views
	lag      map[lattice.Peer]int
	parts    []*simPartition
	inFlight map[lattice.Peer]int
	// joinsFolded counts the handoffs completed (replicas moved).
	joinsFolded int
}

func newSimCluster(t *testing.T, cfg Config, kinds []string, keys int, nodes []Member) *simCluster {
	c := &simCluster{t: t, cfg: cfg.WithDefaults(), now: t0, members: map[lattice.Peer]Member{},
		lag: map[lattice.Peer]int{}, inFlight: map[lattice.Peer]int{}}
	for _, m := range nodes {
		c.members[m.Peer] = m
	}
	for _, kind := range kinds {
		for i := range keys {
			p := &simPartition{kind: kind, key: fmt.Sprint("key-", i), lastAdvance: t0}
			p.full = sortedSet(c.desired(p))
			c.parts = append(c.parts, p)
		}
	}
	return c
}

func (c *simCluster) memberList() []Member {
	var out []Member
	for _, m := range c.members {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b Member) int { return cmpPeer(a.Peer, b.Peer) })
	return out
}

func cmpPeer(a, b lattice.Peer) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (c *simCluster) desired(p *simPartition) []lattice.Peer {
	return ReplicaSet(p.kind, p.key, newMembership(c.memberList()).liveHosts(p.kind), c.cfg.ReplicationFactor)
}

// replicas is what node n stores: every partition it participates in or joins.
func (c *simCluster) replicas(n lattice.Peer) []Replica {
	var out []Replica
	for _, p := range c.parts {
		if !slices.Contains(p.full, n) && !slices.Contains(p.joining(), n) {
			continue
		}
		out = append(out, Replica{Kind: p.kind, Key: p.key, Participants: slices.Clone(p.full),
			Joining: p.joining(), Leaving: p.leaving(), Pending: len(p.pending), LastAdvance: p.lastAdvance})
	}
	return out
}

func (c *simCluster) part(q Partition) *simPartition {
	for _, p := range c.parts {
		if p.kind == q.Kind && p.key == q.Key {
			return p
		}
	}
	c.t.Fatalf("no partition %v", q)
	return nil
}

// step runs one round: every live node decides on the same state, then every action is
// applied, then pending changes fold, then the clock advances by a second.
func (c *simCluster) step() (actions int) {
	c.history = append(c.history, c.memberList())
	type planned struct {
		self lattice.Peer
		view []Member
		plan Plan
	}
	var plans []planned
	for _, m := range c.memberList() {
		if !m.Live {
			continue // a dead node runs nothing
		}
		view := c.history[max(len(c.history)-1-c.lag[m.Peer], 0)]
		plan := Decide(c.now, m.Peer, view, c.replicas(m.Peer), c.inFlight[m.Peer], c.cfg)
		plans = append(plans, planned{m.Peer, view, plan})
	}
	for _, p := range c.parts {
		p.fresh = len(p.pending)
	}
	for _, pl := range plans {
		for _, a := range pl.plan.Actions {
			c.apply(pl.self, pl.view, a)
			actions++
		}
		if c.inFlight[pl.self] > c.cfg.MaxHandoffs {
			c.t.Fatalf("%s has %d joins in flight, MaxHandoffs %d", pl.self, c.inFlight[pl.self], c.cfg.MaxHandoffs)
		}
	}
	for _, p := range c.parts {
		c.dropRenegades(p)
		c.fold(p)
	}
	c.now = c.now.Add(time.Second)
	return actions
}

// apply proposes a in the partition, checking what the lattice would refuse or drop, and
// that an ejection agrees with the view of membership self decided on (a lagging view may
// eject a peer that just came back: it then joins again, as a new participant).
func (c *simCluster) apply(self lattice.Peer, view []Member, a Action) {
	p := c.part(a.Partition)
	old := &simPartition{full: p.full, pending: p.pending[:p.fresh]} // as self saw it
	if !slices.Contains(old.full, self) || slices.Contains(old.leaving(), self) {
		c.t.Fatalf("%s plans %v but is not a full participant free to write (full %v, leaving %v)", self, a, old.full, old.leaving())
	}
	switch a.Kind {
	case Eject:
		m, ok := newMembership(view).byPeer[a.Peer]
		if !ok || m.Live || c.now.Sub(m.Since) < c.cfg.EjectAfter {
			c.t.Fatalf("%s ejects %s, which is not gone for EjectAfter (%+v)", self, a.Peer, m)
		}
		p.pending = append(p.pending, simChange{lattice.UnJoin, a.Peer, self})
	case Join:
		c.inFlight[self]++
		p.pending = append(p.pending, simChange{lattice.Join, a.Peer, self})
	case Leave:
		p.pending = append(p.pending, simChange{lattice.UnJoin, self, self})
	}
}

// confirmed returns the peers whose UnJoin is pending and acknowledged by every other full
// participant and joiner, i.e. all of those are live: only then do their acks count as
// given (docs/lattice.md, "Ejection"). Two dead participants therefore stall a partition
// until one of them returns.
func (c *simCluster) confirmed(p *simPartition) []lattice.Peer {
	var out []lattice.Peer
	others := sortedSet(slices.Concat(p.full, p.joining()))
	for _, u := range p.leaving() {
		if !slices.ContainsFunc(others, func(q lattice.Peer) bool { return q != u && !c.members[q].Live }) {
			out = append(out, u)
		}
	}
	return out
}

// dropRenegades drops this step's changes written by a peer that another peer ejected in
// the same step (a lagging view can eject a peer that just came back): in the lattice, the
// ejection's cutoff is below the concurrent write, which every replica then drops as a
// renegade. (Two peers that eject each other concurrently are both dropped here; the
// lattice keeps the first in id order. Either way, the next step decides again.)
func (c *simCluster) dropRenegades(p *simPartition) {
	ejected := map[lattice.Peer]bool{}
	for _, ch := range p.pending[p.fresh:] {
		if ch.kind == lattice.UnJoin && ch.writer != ch.peer {
			ejected[ch.peer] = true
		}
	}
	fresh := slices.DeleteFunc(p.pending[p.fresh:], func(ch simChange) bool {
		drop := ejected[ch.writer]
		if drop && ch.kind == lattice.Join {
			c.inFlight[ch.writer]--
		}
		return drop
	})
	p.pending = append(p.pending[:p.fresh], fresh...)
	p.fresh = len(p.pending)
}

// fold folds p's pending changes in order, like the lattice's Reduce.
func (c *simCluster) fold(p *simPartition) {
	folded := false
	for len(p.pending) > 0 {
		unjoining := c.confirmed(p)
		ok := func(q lattice.Peer) bool { return c.members[q].Live || slices.Contains(unjoining, q) }
		head := p.pending[0]
		blocked := slices.ContainsFunc(p.full, func(q lattice.Peer) bool { return !ok(q) }) ||
			head.kind == lattice.Join && !ok(head.peer)
		if blocked {
			break
		}
		p.pending = p.pending[1:]
		folded = true
		if head.kind == lattice.Join {
			p.full = sortedSet(append(p.full, head.peer))
			c.inFlight[head.writer]--
			c.joinsFolded++
		} else {
			p.full = slices.DeleteFunc(p.full, func(q lattice.Peer) bool { return q == head.peer })
		}
	}
	if folded {
		p.lastAdvance = c.now
	}
	if len(p.full) == 0 {
		c.t.Fatalf("%s/%s has no full participant left", p.kind, p.key)
	}
}

// converged reports whether every partition has exactly its desired replica set and
// nothing is pending or in flight.
func (c *simCluster) converged() bool {
	for _, p := range c.parts {
		if len(p.pending) > 0 || !slices.Equal(p.full, sortedSet(c.desired(p))) {
			return false
		}
	}
	for _, n := range c.inFlight {
		if n != 0 {
			return false
		}
	}
	return true
}

// run steps until converged, at most limit steps; it returns the steps taken.
func (c *simCluster) run(limit int) int {
	for i := range limit {
		if c.converged() {
			return i
		}
		c.step()
	}
	if !c.converged() {
		for _, p := range c.parts {
			if d := sortedSet(c.desired(p)); len(p.pending) > 0 || !slices.Equal(p.full, d) {
				c.t.Errorf("%s/%s: full %v pending %v, desired %v", p.kind, p.key, p.full, p.pending, d)
				break
			}
		}
		c.t.Fatalf("not converged after %d steps (in flight %v)", limit, c.inFlight)
	}
	return limit
}

// sets snapshots every partition's desired set.
func (c *simCluster) sets() map[*simPartition][]lattice.Peer {
	out := map[*simPartition][]lattice.Peer{}
	for _, p := range c.parts {
		out[p] = c.desired(p)
	}
	return out
}

// minimalMoves is how many replicas must move from before to after: the peers that
// entered each partition's set.
func minimalMoves(before, after map[*simPartition][]lattice.Peer) int {
	n := 0
	for p, b := range before {
		n += len(diff(after[p], b))
	}
	return n
}

func simNodes(n int, kinds ...string) []Member {
	var out []Member
	for _, p := range testPeers(n) {
		out = append(out, Member{Peer: p, Kinds: kinds, Live: true, Since: t0.Add(-time.Hour)})
	}
	return out
}

// TestSimNodeJoins: a node joins a converged cluster; the cluster converges to the new
// replica sets, and only the replicas the new node takes move: about 1/(N+1) of them, the
// minimum rendezvous hashing allows.
func TestSimNodeJoins(t *testing.T) {
	for _, n := range []int{3, 5, 9} {
		t.Run(fmt.Sprint("nodes=", n), func(t *testing.T) {
			const keys, r = 600, 3
			nodes := simNodes(n+1, "k")
			c := newSimCluster(t, Config{ReplicationFactor: r, MaxHandoffs: 4}, []string{"k"}, keys, nodes[:n])
			before := c.sets()
			c.members[nodes[n].Peer] = nodes[n]
			steps := c.run(1000)
			moved, minimal := c.joinsFolded, minimalMoves(before, c.sets())
			frac := float64(moved) / float64(keys*r)
			t.Logf("%d nodes + 1: %d of %d replicas moved (%.3f; 1/(N+1) = %.3f) in %d steps", n, moved, keys*r, frac, 1/float64(n+1), steps)
			if moved != minimal {
				t.Errorf("moved %d replicas, the minimum is %d", moved, minimal)
			}
			if want := 1 / float64(n+1); frac < 0.8*want || frac > 1.2*want {
				t.Errorf("moved fraction %.3f, want about %.3f", frac, want)
			}
			// With 4 handoffs per node, the joining node's replicas arrive from n writers.
			if lower := minimal / (n * 4); steps < lower {
				t.Errorf("converged in %d steps, faster than the throttle allows (%d)", steps, lower)
			}
		})
	}
}

// TestSimNodeDies: a node dies; nothing is ejected before EjectAfter; then its partitions
// eject it and each gains one replacement, and the cluster converges.
func TestSimNodeDies(t *testing.T) {
	const keys, r = 300, 3
	nodes := simNodes(5, "k")
	c := newSimCluster(t, Config{ReplicationFactor: r, EjectAfter: 10 * time.Second, MaxHandoffs: 2}, []string{"k"}, keys, nodes)
	before := c.sets()
	victim := nodes[2].Peer
	c.members[victim] = Member{Peer: victim, Kinds: []string{"k"}, Since: c.now}
	// Nothing happens before EjectAfter: the ejections wait, and so do the replacements
	// (they could not fold while the victim is a participant).
	for range 10 {
		if n := c.step(); n > 0 {
			t.Fatalf("%d actions after %v, before EjectAfter", n, c.now.Sub(t0))
		}
	}
	c.run(1000)
	if moved, minimal := c.joinsFolded, minimalMoves(before, c.sets()); moved != minimal {
		t.Errorf("moved %d replicas, the minimum is %d", moved, minimal)
	}
	for _, p := range c.parts {
		if slices.Contains(p.full, victim) {
			t.Fatalf("%s still in %s/%s", victim, p.kind, p.key)
		}
	}
}

// TestSimTwoDie: two nodes die at once. Partitions holding only one of them recover (the
// stalled ones do not hold handoff slots); those holding both stall untouched (the lattice
// cannot confirm either ejection without the other's ack) until one comes back, and then
// every partition converges.
func TestSimTwoDie(t *testing.T) {
	nodes := simNodes(7, "k")
	c := newSimCluster(t, Config{ReplicationFactor: 3, EjectAfter: 2 * time.Second}, []string{"k"}, 200, nodes)
	a, b := nodes[1].Peer, nodes[4].Peer
	for _, p := range []lattice.Peer{a, b} {
		c.members[p] = Member{Peer: p, Kinds: []string{"k"}, Since: c.now}
	}
	for range 60 {
		c.step()
	}
	stalled := 0
	for _, p := range c.parts {
		both := slices.Contains(p.full, a) && slices.Contains(p.full, b)
		if both {
			// Nothing is written: the peer that returns keeps its replica.
			if len(p.pending) > 0 {
				t.Fatalf("%s/%s holds both dead peers, yet has pending changes %v", p.kind, p.key, p.pending)
			}
			stalled++
			continue
		}
		if d := sortedSet(c.desired(p)); !slices.Equal(p.full, d) || len(p.pending) > 0 {
			t.Fatalf("%s/%s holds one dead peer but did not recover: full %v pending %v", p.kind, p.key, p.full, p.pending)
		}
	}
	t.Logf("%d of %d partitions held both dead peers and stalled", stalled, len(c.parts))
	if stalled == 0 {
		t.Fatal("no partition held both: pick other victims")
	}
	c.members[a] = Member{Peer: a, Kinds: []string{"k"}, Live: true, Since: c.now}
	c.run(1000)
}

// TestSimRandom is a property test: random clusters go through random membership changes
// (a node joins, dies, comes back before or after being ejected, stops or starts hosting
// a kind), some nodes seeing membership one step late. After each change the cluster must
// converge to every partition having exactly its desired replica set, with never more than
// MaxHandoffs joins in flight per node, never a partition without a full participant, no
// write by a replica that may not write, and no ejection before EjectAfter (the model
// checks these at every step).
func TestSimRandom(t *testing.T) {
	seeds := uint64(40)
	if testing.Short() {
		seeds = 8
	}
	for seed := range seeds {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			t.Logf("seed %d", seed)
			simRandom(t, rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)))
		})
	}
}

func simRandom(t *testing.T, rng *rand.Rand) {
	kinds := []string{"a", "b"}
	n := 3 + rng.IntN(4)
	cfg := Config{ReplicationFactor: 2 + rng.IntN(2), EjectAfter: time.Duration(1+rng.IntN(5)) * time.Second, MaxHandoffs: 1 + rng.IntN(3)}
	all := simNodes(n+3, kinds...)
	c := newSimCluster(t, cfg, kinds, 40, all[:n])
	for _, m := range all {
		if rng.IntN(3) == 0 {
			c.lag[m.Peer] = 1
		}
	}
	t.Logf("%d nodes, %+v, lagging %v", n, c.cfg, c.lag)
	for range 12 {
		what := c.randomChange(rng, all)
		steps := c.run(2000)
		t.Logf("%s: converged in %d steps", what, steps)
		c.forgetEjected()
	}
}

// randomChange applies one membership change that keeps the cluster able to converge: at
// most one node is dead at a time, a majority stays live, and every kind keeps a host.
func (c *simCluster) randomChange(rng *rand.Rand, all []Member) string {
	for {
		m := all[rng.IntN(len(all))]
		cur, known := c.members[m.Peer]
		switch rng.IntN(4) {
		case 0: // join (or come back)
			if known && cur.Live {
				continue
			}
			m.Since = c.now
			c.members[m.Peer] = m
			return "up " + string(m.Peer)
		case 1: // die
			if !known || !cur.Live || c.dead() > 0 || c.live() <= 3 {
				continue
			}
			cur.Live, cur.Since = false, c.now
			c.members[m.Peer] = cur
			return "down " + string(m.Peer)
		case 2: // blip: die and come back after a few steps, before or after the ejection
			if !known || !cur.Live || c.dead() > 0 || c.live() <= 3 {
				continue
			}
			cur.Live, cur.Since = false, c.now
			c.members[m.Peer] = cur
			down := rng.IntN(int(c.cfg.EjectAfter/time.Second) + 3)
			for range down {
				c.step()
			}
			cur.Live, cur.Since = true, c.now
			c.members[m.Peer] = cur
			return fmt.Sprintf("blip %s for %ds (EjectAfter %v)", m.Peer, down, c.cfg.EjectAfter)
		case 3: // stop or start hosting a kind
			if !known || !cur.Live {
				continue
			}
			kinds := []string{"a", "b"}
			if len(cur.Kinds) == 2 {
				kinds = []string{[]string{"a", "b"}[rng.IntN(2)]}
			}
			cur.Kinds = kinds
			c.members[m.Peer] = cur
			if c.hosts("a") < 2 || c.hosts("b") < 2 {
				cur.Kinds = []string{"a", "b"}
				c.members[m.Peer] = cur
				continue
			}
			return fmt.Sprintf("%s hosts %v", m.Peer, kinds)
		}
	}
}

func (c *simCluster) live() (n int) {
	for _, m := range c.members {
		if m.Live {
			n++
		}
	}
	return n
}

func (c *simCluster) dead() int { return len(c.members) - c.live() }

func (c *simCluster) hosts(kind string) (n int) {
	for _, m := range c.members {
		if m.Live && m.hosts(kind) {
			n++
		}
	}
	return n
}

// forgetEjected drops the tombstones of dead peers that no partition lists any more, as a
// runtime may once a gone peer is ejected everywhere.
func (c *simCluster) forgetEjected() {
	for p, m := range c.members {
		if m.Live {
			continue
		}
		listed := false
		for _, q := range c.parts {
			listed = listed || slices.Contains(q.full, p) || slices.Contains(q.joining(), p)
		}
		if !listed {
			delete(c.members, p)
		}
	}
}
