package consul

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/legion-go/legion/discovery"
)

// Provider is a [discovery.Provider] backed by a Consul agent. Create it with
// [New].
type Provider struct {
	cfg       Config
	client    *api.Client
	transport *http.Transport
	feed      *discovery.Feed

	mu      sync.Mutex
	started bool
	stopped bool               // Stop was called
	cancel  context.CancelFunc // stops keeper and watcher
	wg      sync.WaitGroup     // keeper and watcher
	done    chan struct{}      // closed when the first Stop finished
	stopErr error              // result of the first Stop, read after done
	self    discovery.Member
	log     *slog.Logger
}

var _ discovery.Provider = (*Provider)(nil)

// New validates cfg and returns an unstarted provider with its own HTTP
// transport. It does not contact Consul.
func New(cfg Config) (*Provider, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 5 * time.Second,
	}
	if cfg.TokenFile != "" {
		b, err := os.ReadFile(cfg.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("%w: consul: TokenFile: %v", discovery.ErrInvalidConfig, err)
		}
		cfg.Token, cfg.TokenFile = strings.TrimSpace(string(b)), ""
	}
	ac := &api.Config{Address: cfg.Address, Token: cfg.Token, Transport: tr}
	if t := cfg.TLS; t != nil {
		ac.Scheme = "https"
		ac.TLSConfig = api.TLSConfig{Address: t.ServerName, CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile}
	}
	client, err := api.NewClient(ac)
	if err != nil {
		return nil, fmt.Errorf("%w: consul: %v", discovery.ErrInvalidConfig, err)
	}
	return &Provider{
		cfg:       cfg,
		client:    client,
		transport: tr,
		feed:      discovery.NewFeed(),
		done:      make(chan struct{}),
		log:       cfg.Logger,
	}, nil
}

// Start validates self and starts the keeper and the watcher. It does not
// wait for Consul.
func (p *Provider) Start(ctx context.Context, self discovery.Member) error {
	if err := self.Validate(); err != nil {
		return err
	}
	meta, err := serviceMeta(self)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("discovery/consul: start: %w", err)
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
	p.log = p.cfg.Logger.With("service", p.cfg.Service, "member", self.ID())
	reg := p.registration(p.self, meta)
	runCtx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		p.keep(runCtx, reg)
	}()
	go func() {
		defer p.wg.Done()
		p.watch(runCtx)
	}()
	return nil
}

// Views returns the provider's latest-wins view channel.
func (p *Provider) Views() <-chan discovery.View { return p.feed.C() }

// Addr returns the Consul address the provider talks to.
func (p *Provider) Addr() string { return p.cfg.Address }

// Stop stops the keeper and the watcher, waits for them, deregisters the
// service (bounded by ctx) and closes Views. It returns an error only if ctx
// ended before the deregistration went through; a deregistration refused or
// unreachable otherwise is logged (the TTL check expires anyway). Every other
// step is done regardless. Concurrent and later calls wait for the first one.
func (p *Provider) Stop(ctx context.Context) error {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		select {
		case <-p.done:
			return p.stopErr
		case <-ctx.Done():
			return fmt.Errorf("discovery/consul: stop: %w", ctx.Err())
		}
	}
	p.stopped = true
	started, cancel, self, log := p.started, p.cancel, p.self, p.log
	p.mu.Unlock()

	var err error
	if started {
		cancel()
		p.wg.Wait() // prompt: every blocking call of the loops honours their context
		if derr := p.deregister(ctx, self); derr != nil {
			// The TTL check expires anyway; Consul then removes the
			// registration after DeregisterCriticalAfter.
			log.Warn("deregister failed", "err", derr)
			if ctx.Err() != nil {
				err = fmt.Errorf("discovery/consul: stop: %w", ctx.Err())
			}
		} else {
			log.Info("deregistered")
		}
	}
	p.feed.Close()
	p.transport.CloseIdleConnections()
	p.stopErr = err
	close(p.done)
	return err
}

func (p *Provider) deregister(ctx context.Context, self discovery.Member) error {
	ctx, cancel := context.WithTimeout(ctx, p.requestTimeout())
	defer cancel()
	q := (&api.QueryOptions{Token: p.cfg.Token}).WithContext(ctx)
	err := p.client.Agent().ServiceDeregisterOpts(self.ID(), q)
	var se api.StatusError
	if errors.As(err, &se) && se.Code == http.StatusNotFound {
		return nil // the agent does not know it: nothing to remove
	}
	if err != nil {
		return fmt.Errorf("discovery/consul: deregister %q: %w", self.ID(), err)
	}
	return nil
}
