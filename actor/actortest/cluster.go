// Package actortest starts real Legion nodes in one process, over real loopback
// remoting, with hooks to cut, delay or drop the traffic between chosen nodes: a harness
// for tests of the framework and of applications built on it.
package actortest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/discovery/memory"
	"github.com/legion-go/legion/lattice"
)

// Cluster is a set of nodes sharing an in-memory membership registry.
type Cluster struct {
	t        testing.TB
	Registry *memory.Registry
	Nodes    []*actor.Node

	mu    sync.Mutex
	links map[[2]lattice.Peer]link // from, to
	rng   *rand.Rand               // draws the drops, under mu
}

// link is the state of the traffic from one node to another.
type link struct {
	cut   bool
	delay time.Duration
	drop  float64
}

// Options tune the nodes a Cluster starts.
type Options struct {
	// Config is the base configuration of every node; Name and Membership are set by the
	// cluster. Kinds must be set.
	Config actor.Config
	// Configure, if set, adjusts node i's configuration before it starts.
	Configure func(i int, c *actor.Config)
}

// Start starts n nodes, waits until each sees all of them, and stops them when the test
// ends.
func Start(t testing.TB, n int, opts Options) *Cluster {
	t.Helper()
	c := &Cluster{t: t, Registry: memory.NewRegistry(), links: map[[2]lattice.Peer]link{},
		rng: rand.New(rand.NewPCG(1, 2))}
	for i := range n {
		c.AddNode(opts, i)
	}
	c.WaitConverged()
	return c
}

// AddNode starts one more node (index i names it) and returns it.
func (c *Cluster) AddNode(opts Options, i int) *actor.Node {
	c.t.Helper()
	cfg := opts.Config
	cfg.Name = fmt.Sprintf("n%d", i)
	cfg.Membership = c.Registry.Provider()
	if opts.Configure != nil {
		opts.Configure(i, &cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	node, err := actor.Start(ctx, cfg)
	if err != nil {
		c.t.Fatalf("start node %d: %v", i, err)
	}
	c.Nodes = append(c.Nodes, node)
	node.SetLinkPolicy(func(to lattice.Peer) actor.Link { return c.decide(node.Peer(), to) })
	c.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		node.Stop(ctx)
	})
	return node
}

// WaitConverged waits until every running node's view holds every running node that hosts
// kinds (client-only nodes, with none, are not waited for: nothing is placed on them).
func (c *Cluster) WaitConverged() {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hosting := 0
	for _, m := range c.Registry.View().Members {
		if len(m.Kinds) > 0 {
			hosting++
		}
	}
	for _, n := range c.Nodes {
		if err := n.WaitForMembers(ctx, "", hosting); err != nil {
			c.t.Fatalf("node %s never saw the whole cluster: %v", n.Peer(), err)
		}
	}
}

// Index returns the index of the node whose peer is p (say, a partition's replica from
// Ref.Replicas), for Cut, Delay, Drop and Heal; -1 if no node has it.
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

// Delay delays every message between nodes i and j, both ways, by d, until Heal (or a new
// Delay). Messages so delayed may overtake each other.
func (c *Cluster) Delay(i, j int, d time.Duration) { c.update(i, j, func(l *link) { l.delay = d }) }

// Drop loses each message between nodes i and j, both ways, with probability p, until Heal
// (or a new Drop): a lossy link.
func (c *Cluster) Drop(i, j int, p float64) { c.update(i, j, func(l *link) { l.drop = p }) }

// Heal restores the link between nodes i and j: no cut, delay or loss.
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

// decide is the link policy of the node hosting from, for one message to to.
func (c *Cluster) decide(from, to lattice.Peer) actor.Link {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.links[[2]lattice.Peer{from, to}]
	drop := l.cut || (l.drop > 0 && c.rng.Float64() < l.drop)
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
