package memory

import (
	"context"
	"fmt"
	"sync"

	"github.com/legion-go/legion/discovery"
)

// Provider is one node's view of a [Registry]. It implements
// [discovery.Provider] and starts no goroutines.
type Provider struct {
	reg  *Registry
	feed *discovery.Feed

	mu      sync.Mutex
	started bool
	stopped bool
	self    discovery.Member // set by Start, then read-only
}

var _ discovery.Provider = (*Provider)(nil)

// Start adds self to the registry; every started provider, this one
// included, receives the new view before Start returns.
func (p *Provider) Start(ctx context.Context, self discovery.Member) error {
	if err := self.Validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("discovery/memory: start: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.stopped:
		return discovery.ErrStopped
	case p.started:
		return discovery.ErrStarted
	}
	p.started = true
	p.self = self.Clone()
	p.reg.join(p)
	return nil
}

// Views returns the provider's latest-wins view channel.
func (p *Provider) Views() <-chan discovery.View { return p.feed.C() }

// Stop removes the member from the registry (unless it was killed) and
// closes Views. It never blocks and never fails.
func (p *Provider) Stop(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return nil
	}
	p.stopped = true
	if p.started {
		p.reg.leave(p)
	}
	p.feed.Close()
	return nil
}
