package consul

import (
	"context"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/legion-go/legion/discovery"
	"github.com/legion-go/legion/discovery/internal/backoff"
)

// watch follows the passing instances of the service with blocking queries
// and publishes every new view until ctx ends. While Consul is unreachable the
// last view stays in force.
func (p *Provider) watch(ctx context.Context) {
	bo := backoff.Backoff{Min: p.cfg.BackoffMin, Max: p.cfg.BackoffMax}
	var index uint64
	for {
		entries, last, err := p.query(ctx, index)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			// The agent may have restarted with a smaller index: a blocking
			// query on the old index would then wait the full WaitTime.
			// Start over with a non-blocking query.
			index = 0
			p.log.Warn("watch failed; retrying", "err", err)
			if !bo.Wait(ctx) {
				return
			}
			continue
		}
		bo.Reset()
		index = nextIndex(index, last)
		if index == 0 {
			p.log.Info("watch index went backwards; starting over", "index", last)
		}
		v := p.viewOf(entries)
		if p.feed.Publish(v) {
			p.log.Debug("view", "members", v.String())
		}
	}
}

// nextIndex applies Consul's rules for blocking query indexes: start over
// (0, a non-blocking query) when the index goes backwards, as it does when the
// servers lost their state; never block on index 0 afterwards.
func nextIndex(prev, last uint64) uint64 {
	switch {
	case last < prev:
		return 0
	case last == 0:
		return 1
	default:
		return last
	}
}

// query runs one blocking query for the passing instances of the service.
func (p *Provider) query(ctx context.Context, index uint64) ([]*api.ServiceEntry, uint64, error) {
	// Consul adds up to WaitTime/16 of jitter; the slack covers it and the
	// round trip, and ends a query stuck on a hung agent.
	qctx, cancel := context.WithTimeout(ctx, p.cfg.WaitTime+p.cfg.WaitTime/8+5*time.Second)
	defer cancel()
	q := (&api.QueryOptions{WaitIndex: index, WaitTime: p.cfg.WaitTime, Token: p.cfg.Token}).WithContext(qctx)
	entries, meta, err := p.client.Health().Service(p.cfg.Service, "", true, q)
	if err != nil {
		return nil, 0, err
	}
	return entries, meta.LastIndex, nil
}

// viewOf decodes the entries into a view, skipping (and logging) entries that
// are not valid members.
func (p *Provider) viewOf(entries []*api.ServiceEntry) discovery.View {
	ms := make([]discovery.Member, 0, len(entries))
	for _, e := range entries {
		m, err := memberOf(e.Service)
		if err != nil {
			p.log.Warn("skipping service instance", "err", err)
			continue
		}
		ms = append(ms, m)
	}
	return discovery.NewView(ms)
}
