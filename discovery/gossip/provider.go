package gossip

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/legion-go/legion/discovery"
	"github.com/legion-go/legion/discovery/internal/backoff"
)

// Provider is a [discovery.Provider] on an embedded memberlist node. Create
// it with [New].
type Provider struct {
	cfg  Config
	feed *discovery.Feed

	mu      sync.Mutex
	started bool
	stopped bool
	ml      *memberlist.Memberlist
	addr    string
	seeded  bool               // it has seeds other than itself (set by Start, before the watcher)
	cancel  context.CancelFunc // stops watcher and joiner
	wg      sync.WaitGroup     // watcher and joiner
	done    chan struct{}      // closed when the first Stop finished
	stopErr error
	log     *slog.Logger
}

var _ discovery.Provider = (*Provider)(nil)

// New validates cfg and returns an unstarted provider. It opens no socket.
func New(cfg Config) (*Provider, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.SecretKeyFile != "" {
		key, err := readKey(cfg.SecretKeyFile)
		if err != nil {
			return nil, err
		}
		cfg.SecretKey, cfg.SecretKeyFile = key, ""
		if err := cfg.validate(); err != nil {
			return nil, err
		}
	}
	cfg.Seeds = slices.Clone(cfg.Seeds)
	cfg.SecretKey = slices.Clone(cfg.SecretKey)
	return &Provider{cfg: cfg, feed: discovery.NewFeed(), done: make(chan struct{}), log: cfg.Logger}, nil
}

// Start validates self, opens the memberlist node (binding its UDP and TCP
// sockets: failing to bind is an error), publishes a first view holding self,
// and starts joining the seeds in the background.
func (p *Provider) Start(ctx context.Context, self discovery.Member) error {
	if err := self.Validate(); err != nil {
		return err
	}
	meta, err := encodeMeta(self)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("discovery/gossip: start: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.stopped:
		return discovery.ErrStopped
	case p.started:
		return discovery.ErrStarted
	}
	log := p.cfg.Logger.With("member", self.ID())
	ev := events{changed: make(chan struct{}, 1)}
	mc := p.memberlistConfig(self.ID(), meta, ev, log)
	guard, err := p.transport(mc, log)
	if err != nil {
		return fmt.Errorf("discovery/gossip: start memberlist on %s:%d: %w", p.cfg.BindAddr, p.cfg.BindPort, err)
	}
	ml, err := memberlist.Create(mc)
	if err != nil {
		guard.Shutdown()
		return fmt.Errorf("discovery/gossip: start memberlist on %s:%d: %w", p.cfg.BindAddr, p.cfg.BindPort, err)
	}
	p.started, p.ml, p.log = true, ml, log
	local := ml.LocalNode()
	p.addr = net.JoinHostPort(local.Addr.String(), strconv.Itoa(int(local.Port)))
	p.log.Info("gossip started", "addr", p.addr, "seeds", p.cfg.Seeds, "encrypted", len(p.cfg.SecretKey) > 0)
	if ip := net.ParseIP(p.cfg.BindAddr); len(p.cfg.SecretKey) == 0 && !ip.IsLoopback() {
		p.log.Warn("gossip is not encrypted on a non-loopback address: whoever reaches it can forge membership (set SecretKey)",
			"bind", p.cfg.BindAddr)
	}
	seeds := slices.DeleteFunc(slices.Clone(p.cfg.Seeds), func(s string) bool { return s == p.addr })
	p.seeded = len(seeds) > 0

	runCtx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.publish() // self, at once
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.watch(runCtx, ev.changed)
	}()
	if len(seeds) > 0 {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.join(runCtx, seeds)
		}()
	}
	return nil
}

func (p *Provider) memberlistConfig(name string, meta []byte, ev events, log *slog.Logger) *memberlist.Config {
	c := memberlist.DefaultLANConfig()
	c.Name = name
	c.BindAddr, c.BindPort = p.cfg.BindAddr, p.cfg.BindPort
	// Without AdvertiseAddr, memberlist derives both from the bound socket; with it and
	// no AdvertisePort, the port is the one bound (memberlist sets it when it picks one).
	c.AdvertiseAddr, c.AdvertisePort = p.cfg.AdvertiseAddr, cmp.Or(p.cfg.AdvertisePort, p.cfg.BindPort)
	c.ProbeInterval, c.ProbeTimeout = p.cfg.ProbeInterval, p.cfg.ProbeTimeout
	c.SuspicionMult, c.SuspicionMaxTimeoutMult = p.cfg.SuspicionMult, p.cfg.SuspicionMaxTimeoutMult
	c.GossipInterval, c.PushPullInterval = p.cfg.GossipInterval, p.cfg.PushPullInterval
	c.TCPTimeout = p.cfg.TCPTimeout
	c.SecretKey, c.Label = p.cfg.SecretKey, p.cfg.Label // verified both ways by default
	c.Delegate = delegate{meta: meta}
	c.Events = ev
	c.Logger = newMemberlistLogger(log)
	return c
}

// transport binds memberlist's NetTransport on c's address, wraps it in the stream
// guard and sets it as c's transport; with port 0, it sets the port bound in c (as
// memberlist does when it makes the transport itself, retrying a port taken for one of
// UDP and TCP).
func (p *Provider) transport(c *memberlist.Config, log *slog.Logger) (*guardTransport, error) {
	nc := &memberlist.NetTransportConfig{BindAddrs: []string{c.BindAddr}, BindPort: c.BindPort, Logger: c.Logger}
	var nt *memberlist.NetTransport
	var err error
	for range 10 {
		if nt, err = memberlist.NewNetTransport(nc); err == nil || c.BindPort != 0 ||
			!strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("could not set up network transport: %w", err)
	}
	if c.BindPort == 0 {
		c.BindPort = nt.GetAutoBindPort()
		c.AdvertisePort = cmp.Or(p.cfg.AdvertisePort, c.BindPort)
	}
	g := newGuardTransport(nt, newStreamLimits(p.cfg.MaxMembers), p.cfg.MaxInboundStreams, p.cfg.TCPTimeout, log)
	c.Transport = g
	return g, nil
}

// Addr returns the gossip address (host:port) other members use as a seed.
// It is empty before Start.
func (p *Provider) Addr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addr
}

// Views returns the provider's latest-wins view channel.
func (p *Provider) Views() <-chan discovery.View { return p.feed.C() }

// Stop broadcasts a leave (bounded by LeaveTimeout and ctx), shuts memberlist
// down, stops the watcher and joiner, waits for them and closes Views. It
// returns an error only if ctx ended before the leave went out (an
// unacknowledged leave is logged: the others then detect a failure instead).
// Concurrent and later calls wait for the first one.
func (p *Provider) Stop(ctx context.Context) error {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		select {
		case <-p.done:
			return p.stopErr
		case <-ctx.Done():
			return fmt.Errorf("discovery/gossip: stop: %w", ctx.Err())
		}
	}
	p.stopped = true
	started, ml, cancel := p.started, p.ml, p.cancel
	p.mu.Unlock()

	var err error
	if started {
		cancel() // the joiner stops trying; the watcher stops publishing
		err = p.leave(ctx, ml)
		if serr := ml.Shutdown(); serr != nil && err == nil {
			err = fmt.Errorf("discovery/gossip: shutdown: %w", serr)
		}
		p.wg.Wait()
		p.log.Info("gossip stopped")
	}
	p.feed.Close()
	p.stopErr = err
	close(p.done)
	return err
}

func (p *Provider) leave(ctx context.Context, ml *memberlist.Memberlist) error {
	timeout := p.cfg.LeaveTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	if ctx.Err() != nil || timeout <= 0 {
		p.log.Warn("leave skipped: stop context ended")
		return fmt.Errorf("discovery/gossip: stop: leave skipped: %w", context.Cause(ctx))
	}
	if err := ml.Leave(timeout); err != nil {
		// Nobody acknowledged in time (for instance, the whole cluster is
		// stopping): the others will detect the failure instead.
		if ctx.Err() != nil {
			return fmt.Errorf("discovery/gossip: stop: leave: %w", ctx.Err())
		}
		p.log.Warn("leave not confirmed", "err", err)
	}
	return nil
}

// watch republishes the view whenever memberlist reports a change.
func (p *Provider) watch(ctx context.Context, changed <-chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-changed:
			p.publish()
		}
	}
}

// publish builds the view of the nodes memberlist considers live.
func (p *Provider) publish() {
	nodes := p.ml.Members()
	ms := make([]discovery.Member, 0, len(nodes))
	for _, n := range nodes {
		m, err := decodeMember(n.Name, n.Meta)
		if err != nil {
			p.log.Warn("skipping node", "node", n.Name, "err", err)
			continue
		}
		ms = append(ms, m)
	}
	v := discovery.NewView(ms)
	// A node that has seeds and knows no other live node has not reached the cluster:
	// its view is partial (at start, until a seed answers; and if every other node went).
	v.Partial = p.seeded && len(nodes) <= 1
	if p.feed.Publish(v) {
		p.log.Debug("view", "members", v.String())
	}
}

// join tries the seeds whenever this node knows no other live node: at start
// until a seed answers, and again if every other node is gone.
func (p *Provider) join(ctx context.Context, seeds []string) {
	bo := backoff.Backoff{Min: min(100*time.Millisecond, p.cfg.RejoinInterval), Max: p.cfg.RejoinInterval}
	for {
		delay := p.cfg.RejoinInterval
		if p.ml.NumMembers() <= 1 {
			n, err := p.ml.Join(seeds)
			switch {
			case ctx.Err() != nil:
				return
			case n > 0:
				p.log.Info("joined", "contacted", n)
				bo.Reset()
			default:
				p.log.Warn("no seed answered; retrying", "seeds", seeds, "err", err)
				delay = bo.Next()
			}
		} else {
			bo.Reset()
		}
		if !backoff.Sleep(ctx, delay) {
			return
		}
	}
}
