package consul

import (
	"context"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/legion-go/legion/discovery/internal/backoff"
)

// keep registers the member and keeps its TTL check passing until ctx ends.
//
// A failed heartbeat means either that the agent is unreachable or that it no
// longer knows the check (it restarted, or an operator removed the service):
// in both cases the next step is a registration, which is idempotent, tried at
// once and then with backoff.
func (p *Provider) keep(ctx context.Context, reg *api.AgentServiceRegistration) {
	bo := backoff.Backoff{Min: p.cfg.BackoffMin, Max: p.cfg.BackoffMax}
	registered := false
	for {
		var err error
		if registered {
			if err = p.heartbeat(ctx, reg.Check.CheckID); err != nil {
				if ctx.Err() != nil {
					return
				}
				p.log.Warn("heartbeat failed; registering again", "err", err)
				registered = false
				continue
			}
		} else {
			if err = p.register(ctx, reg); err == nil {
				registered = true
				bo.Reset()
				p.log.Info("registered", "ttl", p.cfg.TTL)
			}
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			p.log.Warn("register failed; retrying", "err", err)
			if !bo.Wait(ctx) {
				return
			}
			continue
		}
		if !backoff.Sleep(ctx, p.cfg.TTL/3) {
			return
		}
	}
}

// register registers the service with its check passing, replacing checks of
// an older registration of the same ID.
func (p *Provider) register(ctx context.Context, reg *api.AgentServiceRegistration) error {
	rctx, cancel := context.WithTimeout(ctx, p.requestTimeout())
	defer cancel()
	opts := api.ServiceRegisterOpts{ReplaceExistingChecks: true, Token: p.cfg.Token}.WithContext(rctx)
	return p.client.Agent().ServiceRegisterOpts(reg, opts)
}

// heartbeat sets the TTL check to passing.
func (p *Provider) heartbeat(ctx context.Context, check string) error {
	rctx, cancel := context.WithTimeout(ctx, p.requestTimeout())
	defer cancel()
	q := (&api.QueryOptions{Token: p.cfg.Token}).WithContext(rctx)
	return p.client.Agent().UpdateTTLOpts(check, "", api.HealthPassing, q)
}

// requestTimeout bounds a non-blocking request: past the TTL a heartbeat is
// useless anyway.
func (p *Provider) requestTimeout() time.Duration { return max(p.cfg.TTL, time.Second) }
