package actortest

import (
	"context"
	"sync"

	"github.com/legion-go/legion/discovery"
)

// viewProvider is the membership provider the cluster gives each node: it wraps the
// node's provider of the registry and forwards each view that provider publishes,
// filtered by the cluster's membership faults, and forwards the last one again, filtered
// anew, whenever the faults change (refresh). It implements discovery.Provider; its one
// goroutine (forward) runs from Start until the inner provider's views close, and Stop
// waits for it.
type viewProvider struct {
	inner  discovery.Provider
	filter func(discovery.View) discovery.View // may lock Cluster.mu: never call it under Cluster.mu
	feed   *discovery.Feed

	mu      sync.Mutex // orders publications: each is the filter of the latest raw view, under mu
	raw     discovery.View
	have    bool
	started bool
	done    chan struct{} // closed when forward returns
}

var _ discovery.Provider = (*viewProvider)(nil)

func newViewProvider(inner discovery.Provider, filter func(discovery.View) discovery.View) *viewProvider {
	return &viewProvider{inner: inner, filter: filter, feed: discovery.NewFeed(), done: make(chan struct{})}
}

func (p *viewProvider) Start(ctx context.Context, self discovery.Member) error {
	if err := p.inner.Start(ctx, self); err != nil {
		return err
	}
	p.mu.Lock()
	p.started = true
	p.mu.Unlock()
	go p.forward()
	return nil
}

func (p *viewProvider) forward() {
	defer close(p.done)
	for v := range p.inner.Views() {
		p.mu.Lock()
		p.raw, p.have = v, true
		p.feed.Publish(p.filter(v))
		p.mu.Unlock()
	}
}

// refresh publishes the last view again through the current filter (the feed drops it if
// nothing changed).
func (p *viewProvider) refresh() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.have {
		p.feed.Publish(p.filter(p.raw))
	}
}

func (p *viewProvider) Views() <-chan discovery.View { return p.feed.C() }

func (p *viewProvider) Stop(ctx context.Context) error {
	err := p.inner.Stop(ctx) // closes the inner views: forward returns
	p.mu.Lock()
	started := p.started
	p.mu.Unlock()
	if started {
		<-p.done
	}
	p.feed.Close()
	return err
}

// filterView is what the node at position viewer is shown of the registry's view v.
func (c *Cluster) filterView(viewer int, v discovery.View) discovery.View {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []discovery.Member
	for _, m := range v.Members {
		j, ok := c.byName[m.Name]
		if !ok {
			j = -1 // not one of the cluster's nodes
		}
		if c.visibleLocked(viewer, j) {
			out = append(out, m.Clone())
		}
	}
	_, partial := c.partial[viewer] // a node whose provider has not reached the cluster yet
	return discovery.View{Members: out, Partial: partial}
}

// visibleLocked reports whether the view of the node at position viewer lists the node at
// position j (-1: a member the cluster did not start).
func (c *Cluster) visibleLocked(viewer, j int) bool {
	switch {
	case j == viewer:
		return true
	case c.apartLocked(viewer, j), c.hidden[[2]int{viewer, j}]:
		return false
	}
	if allowed, ok := c.partial[viewer]; ok && !allowed[j] {
		return false
	}
	return true
}

// apartLocked reports whether a Split puts the nodes at positions i and j (-1: not the
// cluster's) in different groups.
func (c *Cluster) apartLocked(i, j int) bool {
	if !c.split {
		return false
	}
	gi, ok := c.groups[i]
	if !ok {
		gi = -1
	}
	gj, ok := c.groups[j]
	if !ok {
		gj = -1
	}
	return gi != gj
}

// ExpectedView is the view the cluster stages for the node at position i: the registry's
// current view, filtered by the membership faults in force. The node's own View shows it
// once the node has received it (WaitConverged waits for that).
func (c *Cluster) ExpectedView(i int) discovery.View {
	return c.filterView(i, c.Registry.View())
}

// refreshViews has every running node's provider publish its view again, filtered by the
// faults now in force.
func (c *Cluster) refreshViews() {
	c.mu.Lock()
	providers := make([]*viewProvider, 0, len(c.slots))
	for _, s := range c.slots {
		if s.provider != nil {
			providers = append(providers, s.provider)
		}
	}
	c.mu.Unlock()
	for _, p := range providers {
		p.refresh()
	}
}

// Split partitions the cluster into groups of positions: each node's membership view then
// lists only the members of its own group, and every message between nodes of different
// groups is dropped, both ways; the links are cut at the same moment (under the lock the
// link policies read), and the views follow at once (each node applies its new view
// asynchronously: WaitConverged waits for that). Nodes named in no group, and members the
// cluster did not start, form one more group together; so does a node added later. A
// new Split replaces the previous one. It fails the test if a position is out of range or
// named twice. Links cut by Cut are not affected.
func (c *Cluster) Split(groups ...[]int) {
	c.t.Helper()
	c.mu.Lock()
	assign := map[int]int{}
	for g, members := range groups {
		for _, i := range members {
			if i < 0 || i >= len(c.slots) {
				c.mu.Unlock()
				c.t.Fatalf("Split: no node at position %d", i)
			}
			if _, dup := assign[i]; dup {
				c.mu.Unlock()
				c.t.Fatalf("Split: node %d named in two groups", i)
			}
			assign[i] = g
		}
	}
	c.split, c.groups = true, assign
	c.mu.Unlock()
	c.refreshViews()
}

// HealSplit ends the Split: every link it cut is restored and every view lists every
// group again (other faults stay).
func (c *Cluster) HealSplit() {
	c.mu.Lock()
	c.split, c.groups = false, nil
	c.mu.Unlock()
	c.refreshViews()
}

// HideMember makes the membership view of the node at position viewer stop listing the
// node at position member, while member's view still lists viewer: a one-sided failure
// detection. Links are not touched (CutOneWay cuts one direction). ShowMember undoes it.
func (c *Cluster) HideMember(viewer, member int) {
	c.mu.Lock()
	c.hidden[[2]int{viewer, member}] = true
	c.mu.Unlock()
	c.refreshViews()
}

// ShowMember undoes HideMember(viewer, member).
func (c *Cluster) ShowMember(viewer, member int) {
	c.mu.Lock()
	delete(c.hidden, [2]int{viewer, member})
	c.mu.Unlock()
	c.refreshViews()
}

// PartialView starts a node (AddNode or Restart) whose membership view lists only itself
// and the nodes at the given positions, from its very first view on, until CompleteView:
// a node that joins with an incomplete first view. Its views are marked Partial, as a
// provider that has not reached the cluster yet marks them (a gossip member whose seeds
// have not answered). Later registry changes are filtered the same way. The others' views
// list it as usual.
func PartialView(members ...int) NodeOption {
	return func(o *nodeOptions) { o.partial = append([]int{}, members...) }
}

// CompleteView lifts the PartialView restriction of the node at position i: its view
// lists every member again (unless another fault hides some).
func (c *Cluster) CompleteView(i int) {
	c.mu.Lock()
	delete(c.partial, i)
	c.mu.Unlock()
	c.refreshViews()
}

// HealAll lifts every fault but crashes: links (cuts, delays, losses), Split, HideMember
// and PartialView.
func (c *Cluster) HealAll() {
	c.mu.Lock()
	clear(c.links)
	c.split, c.groups = false, nil
	clear(c.hidden)
	clear(c.partial)
	c.mu.Unlock()
	c.refreshViews()
}
