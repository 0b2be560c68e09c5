// Package actortest starts real Legion nodes in one process, over real loopback
// remoting, with hooks to cut links between chosen nodes: a harness for tests of the
// framework and of applications built on it.
package actortest

import (
	"context"
	"fmt"
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

	mu  sync.Mutex
	cut map[[2]lattice.Peer]bool
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
	c := &Cluster{t: t, Registry: memory.NewRegistry(), cut: map[[2]lattice.Peer]bool{}}
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
	node.SetLinkFilter(func(to lattice.Peer) bool { return !c.isCut(node.Peer(), to) })
	c.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		node.Stop(ctx)
	})
	return node
}

// WaitConverged waits until every running node's view holds every running node.
func (c *Cluster) WaitConverged() {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, n := range c.Nodes {
		if err := n.WaitForMembers(ctx, "", len(c.Registry.View().Members)); err != nil {
			c.t.Fatalf("node %s never saw the whole cluster: %v", n.Peer(), err)
		}
	}
}

// Cut drops every message between nodes i and j, both ways, until Heal.
func (c *Cluster) Cut(i, j int) { c.setCut(i, j, true) }

// Heal restores the link between nodes i and j.
func (c *Cluster) Heal(i, j int) { c.setCut(i, j, false) }

func (c *Cluster) setCut(i, j int, cut bool) {
	a, b := c.Nodes[i].Peer(), c.Nodes[j].Peer()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut[[2]lattice.Peer{a, b}] = cut
	c.cut[[2]lattice.Peer{b, a}] = cut
}

func (c *Cluster) isCut(from, to lattice.Peer) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cut[[2]lattice.Peer{from, to}]
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
