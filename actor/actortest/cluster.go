package actortest

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/discovery"
	"github.com/legion-go/legion/discovery/memory"
	"github.com/legion-go/legion/lattice"
	"github.com/legion-go/legion/storage"
	memstore "github.com/legion-go/legion/storage/memory"
)

// Cluster is a set of nodes sharing an in-memory membership registry. Nodes[i] is the
// node at position i, the number every method takes; Crash leaves the stopped node there
// and Restart replaces it.
type Cluster struct {
	t        testing.TB
	Registry *memory.Registry
	Nodes    []*actor.Node

	logs *logSink

	mu     sync.Mutex
	links  map[[2]lattice.Peer]link // from, to
	rng    *rand.Rand               // draws the drops, under mu
	slots  []*slot                  // by position, under mu (the slot's fields have their own rules)
	byName map[string]int           // node name -> position
	byPeer map[lattice.Peer]int     // peer -> position
	// Membership faults, by position: see views.go.
	split   bool
	groups  map[int]int          // position -> group while split (absent: the group of the unnamed)
	hidden  map[[2]int]bool      // viewer, member: the viewer's view does not list the member
	partial map[int]map[int]bool // viewer -> the only members its view lists (itself included)
}

// slot is what the cluster keeps of the node at one position, across its restarts. The
// fields are written by the test's goroutine (AddNode, Crash, Restart) only; provider and
// down are written and read under Cluster.mu.
type slot struct {
	pos      int
	index    int // AddNode's i: names the node, passed to Configure and Options.Store
	name     string
	opts     Options
	peer     lattice.Peer
	provider *viewProvider
	store    *crashStore   // the running incarnation's, wrapping base
	base     storage.Store // the store under it
	ownBase  bool          // opened by Options.Store: the cluster closes it
	mem      storage.Store // the cluster's own in-memory store, kept across restarts
	down     bool          // crashed and not restarted; under Cluster.mu
}

// link is the state of the traffic from one node to another.
type link struct {
	cut   bool
	delay time.Duration
	drop  float64
}

// Options tune the nodes a Cluster starts.
type Options struct {
	// Config is the base configuration of every node; Name, Membership and (unless set
	// here or by Configure) Store and Logger are set by the cluster. Kinds must be set.
	Config actor.Config
	// Configure, if set, adjusts node i's configuration before it starts (again at each
	// Restart).
	Configure func(i int, c *actor.Config)
	// Store, if set, opens node i's store (named name) at its first start and again at
	// each Restart; the cluster closes it when the node crashes or stops at the end of the
	// test. PebbleStores opens pebble stores in temporary directories. When neither Store
	// nor Config/Configure set one, each node gets an in-memory store that the cluster
	// keeps across Crash and Restart (the restarted node is the same peer).
	Store func(i int, name string) (storage.Store, error)
	// LogLevel is the least level of the node logs written to the test's log (see
	// NoLogs). The zero value is slog.LevelInfo.
	LogLevel slog.Level
	// NoLogs discards the nodes' logs. Otherwise each node whose Config.Logger is unset
	// logs through t.Log, each line prefixed with the node's name (shown with -v or when
	// the test fails), and nothing once the test is over.
	NoLogs bool
}

// Start starts n nodes, waits until each sees all of them, and stops them when the test
// ends.
func Start(t testing.TB, n int, opts Options) *Cluster {
	t.Helper()
	c := &Cluster{t: t, Registry: memory.NewRegistry(), links: map[[2]lattice.Peer]link{},
		rng: rand.New(rand.NewPCG(1, 2)), byName: map[string]int{}, byPeer: map[lattice.Peer]int{},
		hidden: map[[2]int]bool{}, partial: map[int]map[int]bool{}}
	c.logs = newLogSink(t) // registered first, so it closes after every node stopped
	for i := range n {
		c.AddNode(opts, i)
	}
	c.WaitConverged()
	return c
}

// NodeOption adjusts one node that AddNode or Restart starts.
type NodeOption func(*nodeOptions)

type nodeOptions struct {
	partial []int // nil: a full view
}

// AddNode starts one more node and returns it. i names it ("n<i>"; Configure receives i);
// it takes the next position in Nodes, which is i when nodes are added in order, as Start
// does. It does not wait for the others to see it (WaitConverged does).
func (c *Cluster) AddNode(opts Options, i int, nodeOpts ...NodeOption) *actor.Node {
	c.t.Helper()
	name := fmt.Sprintf("n%d", i)
	c.mu.Lock()
	s := &slot{pos: len(c.slots), index: i, name: name, opts: opts}
	c.slots = append(c.slots, s)
	c.mu.Unlock()
	node := c.start(s, i, nodeOpts)
	c.Nodes = append(c.Nodes, node)
	return node
}

// start starts the node of slot s (named by i), on its store.
func (c *Cluster) start(s *slot, i int, nodeOpts []NodeOption) *actor.Node {
	c.t.Helper()
	var no nodeOptions
	for _, o := range nodeOpts {
		o(&no)
	}
	cfg := s.opts.Config
	cfg.Name = s.name
	if s.opts.Configure != nil {
		s.opts.Configure(i, &cfg)
	}
	if s.name != cfg.Name && s.mem != nil {
		c.t.Fatalf("node %d renamed %s by Configure, was %s", s.pos, cfg.Name, s.name)
	}
	s.name = cfg.Name
	base, own := cfg.Store, false
	switch {
	case base != nil:
	case s.opts.Store != nil:
		var err error
		if base, err = s.opts.Store(i, cfg.Name); err != nil {
			c.t.Fatalf("open the store of node %d: %v", s.pos, err)
		}
		own = true
	default:
		if s.mem == nil {
			s.mem = memstore.New(storage.Identity{Node: cfg.Name, Incarnation: storage.NewIncarnation()})
			mem := s.mem
			c.t.Cleanup(func() { mem.Close() }) // after every incarnation's node stopped
		}
		base = s.mem
	}
	s.base, s.ownBase = base, own
	s.store = newCrashStore(base)
	cfg.Store = s.store
	if cfg.Logger == nil && !s.opts.NoLogs && c.logs != nil {
		cfg.Logger = c.logs.logger(cfg.Name, s.opts.LogLevel)
	}
	s.peer = lattice.Peer(base.Identity().Peer())
	pos := s.pos
	peer := s.peer
	cfg.Links = func(to lattice.Peer) actor.Link { return c.decide(pos, peer, to) }
	provider := newViewProvider(c.Registry.Provider(), func(v discovery.View) discovery.View {
		return c.filterView(pos, v)
	})
	cfg.Membership = provider
	c.mu.Lock()
	s.provider = provider
	c.byName[cfg.Name] = pos
	c.byPeer[s.peer] = pos
	if no.partial != nil {
		allowed := map[int]bool{pos: true}
		for _, j := range no.partial {
			allowed[j] = true
		}
		c.partial[pos] = allowed
	} else {
		delete(c.partial, pos)
	}
	s.down = false
	c.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	node, err := actor.Start(ctx, cfg)
	if err != nil {
		if own {
			base.Close()
		}
		c.t.Fatalf("start node %d: %v", pos, err)
	}
	store := s.store
	c.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		node.Stop(ctx)
		if own {
			store.closeBase()
		}
	})
	return node
}

// WaitConverged waits until every running node's view lists exactly the members the
// cluster stages for it (ExpectedView): every member of the registry, unless a Split,
// HideMember or PartialView leaves some out. Nodes membership does not list (crashed,
// stopped, dropped from the registry) are not waited for.
func (c *Cluster) WaitConverged() {
	c.t.Helper()
	Eventually(c.t, 30*time.Second, func() error {
		listed := c.Registry.View()
		for i, n := range c.Nodes {
			if _, ok := listed.Lookup(string(n.Peer())); !ok {
				continue
			}
			want, got := c.ExpectedView(i).Peers(), n.View().Peers()
			if !slices.Equal(want, got) {
				return fmt.Errorf("node %d (%s) sees %v, want %v", i, n.Peer(), got, want)
			}
		}
		return nil
	})
}

// Index returns the position of the node whose peer is p (say, a partition's replica
// from Ref.Replicas), for Cut, Delay, Drop, Heal and the membership faults; -1 if no node
// has it.
func (c *Cluster) Index(p lattice.Peer) int {
	for i, n := range c.Nodes {
		if n != nil && n.Peer() == p {
			return i
		}
	}
	return -1
}

// Cut drops every message between nodes i and j, both ways, until Heal.
func (c *Cluster) Cut(i, j int) { c.update(i, j, func(l *link) { l.cut = true }) }

// CutOneWay drops every message from node from to node to, until Heal(from, to); the
// other way stays open.
func (c *Cluster) CutOneWay(from, to int) {
	a, b := c.Nodes[from].Peer(), c.Nodes[to].Peer()
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.links[[2]lattice.Peer{a, b}]
	l.cut = true
	c.links[[2]lattice.Peer{a, b}] = l
}

// Delay delays every message between nodes i and j, both ways, by d, until Heal (or a new
// Delay). Messages so delayed may overtake each other.
func (c *Cluster) Delay(i, j int, d time.Duration) { c.update(i, j, func(l *link) { l.delay = d }) }

// Drop loses each message between nodes i and j, both ways, with probability p, until Heal
// (or a new Drop): a lossy link.
func (c *Cluster) Drop(i, j int, p float64) { c.update(i, j, func(l *link) { l.drop = p }) }

// Heal restores the link between nodes i and j, both ways: no cut, delay or loss. (A
// Split's cuts are lifted by HealSplit.)
func (c *Cluster) Heal(i, j int) { c.update(i, j, func(l *link) { *l = link{} }) }

func (c *Cluster) update(i, j int, change func(*link)) {
	a, b := c.Nodes[i].Peer(), c.Nodes[j].Peer()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range [][2]lattice.Peer{{a, b}, {b, a}} {
		l := c.links[k]
		change(&l)
		c.links[k] = l
	}
}

// decide is the link policy of the node at position from (peer fromPeer), for one message
// to to.
func (c *Cluster) decide(from int, fromPeer, to lattice.Peer) actor.Link {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.links[[2]lattice.Peer{fromPeer, to}]
	drop := l.cut || (l.drop > 0 && c.rng.Float64() < l.drop)
	if j, ok := c.byPeer[to]; ok {
		drop = drop || c.slots[from].down || c.slots[j].down || c.apartLocked(from, j)
	}
	return actor.Link{Drop: drop, Delay: l.delay}
}

// Eventually polls cond every 20ms until it holds or the deadline passes.
func Eventually(t testing.TB, within time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v: %v", within, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
