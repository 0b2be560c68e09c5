package memory

import (
	"sync"

	"github.com/legion-go/legion/discovery"
)

// Registry is the membership of one process. The zero value is not usable;
// use [NewRegistry]. All methods are safe for concurrent use.
type Registry struct {
	mu        sync.Mutex
	members   map[string]discovery.Member // by Member.ID
	providers map[*Provider]struct{}      // started, not stopped or killed
	dropped   map[string]discovery.Member // by Member.ID: gone from views, still running
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{
		members:   make(map[string]discovery.Member),
		providers: make(map[*Provider]struct{}),
	}
}

// Provider returns a new, unstarted provider for one node of this registry.
func (r *Registry) Provider() *Provider {
	return &Provider{reg: r, feed: discovery.NewFeed()}
}

// View returns the current membership.
func (r *Registry) View() discovery.View {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.viewLocked()
}

// Kill makes every instance of peer vanish without a leave, as if its process
// had crashed: it leaves the other members' views, and its providers receive
// no further views (their Stop still closes their channel). Kill reports
// whether peer was a member.
func (r *Registry) Kill(peer string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	found := false
	for id, m := range r.members {
		if m.Peer == peer {
			delete(r.members, id)
			found = true
		}
	}
	for p := range r.providers {
		if p.self.Peer == peer {
			delete(r.providers, p)
		}
	}
	if found {
		r.publishLocked()
	}
	return found
}

// Drop makes membership report peer gone while its process goes on running: its members
// leave every view, but its providers keep receiving views (which no longer list it), as
// a node cut off from a membership service, or declared dead by its peers, would. Restore
// lists it again. Drop reports whether peer was a member.
func (r *Registry) Drop(peer string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	found := false
	for id, m := range r.members {
		if m.Peer == peer {
			if r.dropped == nil {
				r.dropped = map[string]discovery.Member{}
			}
			r.dropped[id] = m
			delete(r.members, id)
			found = true
		}
	}
	if found {
		r.publishLocked()
	}
	return found
}

// Restore lists again the members of peer that Drop removed. It reports whether there
// were any.
func (r *Registry) Restore(peer string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	found := false
	for id, m := range r.dropped {
		if m.Peer == peer {
			r.members[id] = m
			delete(r.dropped, id)
			found = true
		}
	}
	if found {
		r.publishLocked()
	}
	return found
}

// join adds p's member and publishes. It reports false if p was killed or
// stopped meanwhile (not possible before join returns; kept for clarity).
func (r *Registry) join(p *Provider) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.members[p.self.ID()] = p.self.Clone()
	r.providers[p] = struct{}{}
	r.publishLocked()
}

// leave removes p's member if p is still live and publishes.
func (r *Registry) leave(p *Provider) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.providers[p]; !ok {
		return // killed: it already vanished
	}
	delete(r.providers, p)
	delete(r.members, p.self.ID())
	delete(r.dropped, p.self.ID())
	r.publishLocked()
}

func (r *Registry) viewLocked() discovery.View {
	ms := make([]discovery.Member, 0, len(r.members))
	for _, m := range r.members {
		ms = append(ms, m.Clone())
	}
	return discovery.NewView(ms)
}

func (r *Registry) publishLocked() {
	for p := range r.providers {
		p.feed.Publish(r.viewLocked()) // a fresh copy per provider: views share no memory
	}
}
