package actor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	pa "github.com/legion-go/legion/actor/internal/protoactor/actor"
	"github.com/legion-go/legion/actor/internal/protoactor/remote"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"

	"github.com/legion-go/legion/actor/internal/replica"
	"github.com/legion-go/legion/actor/internal/wire"
	"github.com/legion-go/legion/discovery"
	"github.com/legion-go/legion/gc"
	"github.com/legion-go/legion/lattice"
	"github.com/legion-go/legion/storage"
	"github.com/legion-go/legion/storage/memory"
)

// Node is one process of a Legion cluster: it hosts replicas of the partitions of its
// kinds that placement gives its peer, and calls partitions anywhere in the cluster. Its
// methods are safe for concurrent use.
type Node struct {
	cfg      Config
	rcfg     replica.Config // the replicas' part of cfg
	log      *slog.Logger   // Config.Logger, rate-limited by logs (logs.go)
	logs     *limiter
	peer     lattice.Peer
	instance string
	kinds    map[string]KindSpec
	folds    map[string]foldMaker // each kind's
	store    storage.Store
	ownStore bool

	system *pa.ActorSystem
	remote *remote.Remote
	router *pa.PID
	clock  hlc
	// timerBudget bounds the durable timers the node's replicas fire (timers.go), and
	// timerWakes wakes the passivated replicas whose timers are due.
	timerBudget *timerBucket
	timerWakes  timerWakes

	// view is the membership view with what calls and sends look up in it, made once per
	// view (a PID per message and a host list per call were a noticeable share of the
	// allocations).
	view    atomic.Pointer[viewIndex]
	members members
	// versions: the effective version of each kind (versions.go).
	versions kindVersions
	// divergent: the partitions found diverged (divergence.go).
	divergent divergences
	// rewake is signalled when replicas should reconsider their membership: the live
	// peers changed.
	rewake   chan struct{}
	inFlight atomic.Int64 // handoffs (joins) this node wrote that have not folded
	// placement: the hosts of each kind as of the last wake pass (marks.go, wake.go).
	placement atomic.Pointer[placement]
	active    atomic.Int64 // replicas in memory (Active)
	// replicas holds each active replica's latest description (refreshed on its gc tick);
	// renegading, the active replicas that held renegades at their last gc tick.
	replicas   sync.Map // partitionID -> gc.Replica
	renegading sync.Map // partitionID -> struct{}
	// shells: the stored partitions of which the store keeps only a removed copy's
	// tombstone (replica.OnlyTombstone), which notHandedOver must not count as replicas
	// not described yet. Only those: a replica of a key nobody wrote leaves nothing here.
	shells  sync.Map      // partitionID -> struct{}
	viewSig chan struct{} // closed and replaced on every new view
	viewMu  sync.Mutex
	dropped bool // guarded by viewMu: the last view did not list this node

	// links is Config.Links (or what this package's tests set instead).
	links atomic.Pointer[func(to lattice.Peer) Link]

	// A store failure stops the node (failstop.go): the cause, and Failed's channel.
	failure  atomic.Pointer[error]
	failed   chan struct{}
	failOnce sync.Once

	stopped  atomic.Bool
	pool     *pool    // dispatcher of the router and its shards
	replies  *replies // where the answers to this node's requests arrive
	outboxes sync.Map // lattice.Peer -> *outbox: replication messages to send
	stats    nodeStats
	metrics  *metrics     // nil without Config.Metrics
	tracer   trace.Tracer // nil without Config.TracerProvider
	stopOnce sync.Once
	done     chan struct{}
	wg       sync.WaitGroup

	// A planned departure (leave.go): this node hands its replicas over (leaving), and
	// the peers that announced theirs.
	leaving   atomic.Bool
	departing departures

	// Replicas whose attempts timed out lately, which calls try last (failover.go).
	suspects suspects

	// Background work of the replicas' (see background): renegades' re-proposals.
	bgCtx    context.Context
	bgCancel context.CancelFunc
	bgSem    chan struct{}
	bgMu     sync.Mutex
	bgClosed bool // guarded by bgMu
	bg       sync.WaitGroup
}

// Start starts a node: its store, remoting on cfg.ListenAddr, its replicas' router, and
// its membership. It returns once the node serves; it does not wait for other members.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, kinds: map[string]KindSpec{}, folds: map[string]foldMaker{}, store: cfg.Store,
		viewSig: make(chan struct{}), done: make(chan struct{}), rewake: make(chan struct{}, 1), failed: make(chan struct{})}
	n.clock.now = cfg.Clock.Now
	n.timerBudget = newTimerBucket(cfg.TimerRate)
	n.timerWakes.n = n
	if cfg.TracerProvider != nil {
		n.tracer = cfg.TracerProvider.Tracer(tracerName)
	}
	n.logs = newLimiter(cfg.Logger.Handler(), cfg.Clock.Now, cfg.LogRepeats)
	n.log = slog.New(&limitedHandler{inner: cfg.Logger.Handler(), lim: n.logs})
	n.bgCtx, n.bgCancel = context.WithCancel(context.Background())
	n.bgSem = make(chan struct{}, maxReproposers)
	for _, k := range cfg.Kinds {
		name := k.kindName()
		n.kinds[name] = k
		n.folds[name] = k.folds(func() uint32 { return n.stampVersion(name) })
	}
	if n.store == nil {
		n.store, n.ownStore = memory.New(storage.Identity{Node: cfg.Name, Incarnation: randomHex(8)}), true
	}
	if id := n.store.Identity(); id.Node != cfg.Name {
		return nil, fmt.Errorf("actor: store belongs to node %q, not %q", id.Node, cfg.Name)
	}
	n.peer = lattice.Peer(n.store.Identity().Peer())
	if cfg.Links != nil {
		n.setLinks(cfg.Links)
	}
	n.rcfg = cfg.replicaConfig(n.peer)
	if err := n.loadPlacement(); err != nil {
		n.closeStore()
		return nil, fmt.Errorf("actor: reading the store's marks: %w", err)
	}
	if pl := n.placement.Load(); pl != nil {
		n.members.remember(*pl, n.peer, cfg.Clock.Now())
	}
	if !n.holdsReplicas() {
		// Nothing stored: no replica of this node can name a peer its membership has not
		// shown it, so its membership history has nothing to wait for (replica.go, Partial).
		n.members.settle(cfg.Clock.Now())
	}
	n.instance = randomHex(6)
	n.view.Store(newViewIndex(discovery.View{}))
	if cfg.Metrics != nil {
		n.metrics = newMetrics(n)
		if err := n.metrics.register(cfg.Metrics, n); err != nil {
			n.closeStore()
			return nil, fmt.Errorf("actor: registering metrics: %w", err)
		}
	}
	started := false
	defer func() {
		if !started && n.metrics != nil {
			n.metrics.unregister(cfg.Metrics)
		}
	}()

	if err := n.startRemote(); err != nil {
		n.closeStore()
		return nil, err
	}
	// A shard whose handler panics restarts (empty: its replicas come back from the store
	// on demand), however often: Proto.Actor's default stops a child after 10 restarts in
	// 10 s, which would leave the shard's partitions without a replica on this node.
	always := pa.NewOneForOneStrategy(math.MaxInt, time.Second, pa.DefaultDecider)
	router, err := n.system.Root.SpawnNamed(pa.PropsFromProducer(func() pa.Actor { return newRouter(n) },
		pa.WithDispatcher(n.pool), pa.WithSupervisor(always)), routerName)
	if err != nil {
		n.shutdownRemote()
		n.closeStore()
		return nil, fmt.Errorf("actor: spawning the router: %w", err)
	}
	n.router = router
	if err := n.startMembership(ctx); err != nil {
		n.shutdownRemote()
		n.closeStore()
		return nil, err
	}
	if err := n.timerWakes.load(n.store); err != nil {
		n.shutdownRemote()
		n.closeStore()
		return nil, fmt.Errorf("actor: reading the store's timer marks: %w", err)
	}
	n.wg.Add(1)
	go n.rebalance()
	go n.failStop()
	started = true
	n.log.Info("node started", "peer", n.peer, "address", n.system.Address(), "kinds", slices.Sorted(maps.Keys(n.kinds)))
	return n, nil
}

func (n *Node) startRemote() (err error) {
	host, port, _ := net.SplitHostPort(n.cfg.ListenAddr)
	p, _ := strconv.Atoi(port)
	serverCreds, dialCreds, err := remoteCredentials(n.cfg)
	if err != nil {
		return err
	}
	logger := slog.New(&limitedHandler{inner: n.cfg.Logger.Handler(), lim: n.logs, quiet: true})
	n.system = pa.NewActorSystem(pa.WithLoggerFactory(func(*pa.ActorSystem) *slog.Logger { return logger }))
	// Only options every gRPC from the one go.mod requires to the newest has: no receive
	// buffer pool (gRPC pools received buffers by itself from v1.66 on, and the option of
	// older versions is gone from newer ones; decision 0004).
	n.remote = remote.NewRemote(n.system, remote.Configure(host, p,
		remote.WithAdvertisedHost(n.cfg.AdvertiseAddr), // empty: the address bound
		remote.WithServerOptions(serverCreds, grpc.InitialWindowSize(window), grpc.InitialConnWindowSize(window)),
		remote.WithDialOptions(dialCreds, grpc.WithInitialWindowSize(window), grpc.WithInitialConnWindowSize(window))))
	n.pool = newPool(64, 300)
	defer func() { // Remote.Start panics when it cannot listen
		if r := recover(); r != nil {
			err = fmt.Errorf("actor: remoting on %s: %v", n.cfg.ListenAddr, r)
		}
	}()
	n.remote.Start()
	n.replies = newReplies(n.system) // after Start: its PID carries the node's address
	return nil
}

// window is the gRPC flow-control window of the connections between members. Setting it
// turns off gRPC's window estimation, which answers data with a ping.
const window = 1 << 20

func (n *Node) startMembership(ctx context.Context) error {
	self := discovery.Member{Peer: string(n.peer), Name: n.cfg.Name, Instance: n.instance,
		Address: n.system.Address(), Meta: n.advertisedMeta()}
	for k := range n.kinds {
		self.Kinds = append(self.Kinds, k)
	}
	slices.Sort(self.Kinds)
	if err := n.cfg.Membership.Start(ctx, self); err != nil {
		return fmt.Errorf("actor: membership: %w", err)
	}
	n.wg.Add(1)
	go n.watchViews()
	return nil
}

// watchViews keeps the node's membership view current. Owned by the node; Stop waits.
func (n *Node) watchViews() {
	defer n.wg.Done()
	views := n.cfg.Membership.Views()
	for {
		select {
		case <-n.done:
			return
		case v, ok := <-views:
			if !ok {
				return
			}
			n.setView(v)
		}
	}
}

func (n *Node) setView(v discovery.View) {
	index := newViewIndex(v)
	n.viewMu.Lock()
	n.view.Store(index)
	_, present := v.Lookup(string(n.peer))
	if !present && len(v.Members) > 0 {
		n.dropped = true // membership no longer lists this node: others may eject it
	} else if present && n.dropped {
		// Back after being dropped: replicas that went on meanwhile may have been
		// ejected; each merges a live replica's state before acting again.
		n.dropped = false
		n.log.Warn("membership lists this node again after dropping it: resynchronising replicas")
		n.system.Root.Send(n.router, &resync{})
	}
	changed := n.members.update(v, n.cfg.Clock.Now())
	n.refreshVersions()
	if changed {
		if n.metrics != nil {
			n.metrics.viewChanges.Inc()
		}
		select {
		case n.rewake <- struct{}{}:
		default:
		}
	}
	close(n.viewSig)
	n.viewSig = make(chan struct{})
	n.viewMu.Unlock()
	n.log.Debug("membership view", "members", len(v.Members))
}

// rebalance wakes the stored replicas that may have work (wakeNeeded) at start (so that
// those with unacknowledged deltas resume replicating), whenever the live peers change (so
// that those whose placement moved hand off or join), and periodically while some peer is
// gone or some stored replica is off its placement (so that passivated replicas eject a
// peer once EjectAfter has passed, and retry the handoffs MaxHandoffs held back: they hold
// a placement mark). The others stay on disk until a call arrives. Owned by the node; Stop
// waits.
func (n *Node) rebalance() {
	defer n.wg.Done()
	// Stored replicas resync with the other replicas first thing: wait until membership
	// says who they are.
	n.viewMu.Lock()
	first := n.viewSig
	n.viewMu.Unlock()
	if len(n.view.Load().Members) == 0 {
		select {
		case <-first:
		case <-n.done:
			return
		}
	}
	n.wakePass()
	t := newTicker(n.cfg.Clock, n.cfg.EjectAfter/2)
	defer t.Stop()
	sweep := newTicker(n.cfg.Clock, n.cfg.GCInterval) // tombstones: see members
	defer sweep.Stop()
	for {
		select {
		case <-n.done:
			return
		case <-n.rewake:
			n.wakePass()
		case <-t.C:
			if n.members.anyGone() || n.anyMarked(markPlacement) {
				n.wakePass()
			}
		case <-sweep.C:
			n.sweepMembers()
			n.logs.flush(false)
		}
	}
}

// wakeStored activates every replica the store holds. It reports whether it listed them
// all.
func (n *Node) wakeStored() bool {
	all, _ := n.wakeStoredCount()
	return all
}

// holdsReplicas reports whether the store holds a partition of one of the node's kinds (or
// cannot tell).
func (n *Node) holdsReplicas() bool {
	for kind := range n.kinds {
		found := false
		if err := n.store.Partitions(kind, func(string) bool { found = true; return false }); err != nil || found {
			return true
		}
	}
	return false
}

// wakeStoredCount is wakeStored, with the number of replicas it woke.
func (n *Node) wakeStoredCount() (all bool, woke int) {
	all = true
	for kind := range n.kinds {
		err := n.store.Partitions(kind, func(key string) bool {
			select {
			case <-n.done:
				all = false
				return false
			default:
			}
			n.system.Root.Send(n.router, &wake{id: partitionID{kind, key}})
			woke++
			return true
		})
		if err != nil {
			all = false
			n.log.Error("listing stored partitions", "kind", kind, "err", err)
		}
	}
	return all, woke
}

// Replicas describes the replicas active on this node (as of their last gc tick, at most
// Config.GCInterval old): participants, joiners, leavers, pending deltas, who owes acks.
func (n *Node) Replicas() []gc.Replica {
	var out []gc.Replica
	n.replicas.Range(func(_, v any) bool {
		out = append(out, v.(gc.Replica))
		return true
	})
	slices.SortFunc(out, func(a, b gc.Replica) int { return a.Partition().Compare(b.Partition()) })
	return out
}

// Stalls reports, from Replicas, which partitions have deltas pending and for how long,
// and which peers hold them back.
func (n *Node) Stalls() gc.Report { return gc.Stalls(n.cfg.Clock.Now(), n.Replicas()) }

// Peer is the node's stable identity in the replication protocol.
func (n *Node) Peer() lattice.Peer { return n.peer }

// Address is the host:port of the node's remoting.
func (n *Node) Address() string { return n.system.Address() }

// View is the node's current membership view.
func (n *Node) View() discovery.View { return n.view.Load().View }

// WaitForMembers blocks until membership shows at least count live members hosting
// kind (any kind when kind is ""), or ctx ends.
func (n *Node) WaitForMembers(ctx context.Context, kind string, count int) error {
	for {
		n.viewMu.Lock()
		sig := n.viewSig
		n.viewMu.Unlock()
		if len(n.hosts(kind)) >= count {
			return nil
		}
		select {
		case <-sig:
		case <-ctx.Done():
			return ctx.Err()
		case <-n.done:
			return ErrStopped
		}
	}
}

// hosts returns the peers of live members hosting kind ("" = any kind).
// The slice is shared: read only.
func (n *Node) hosts(kind string) []lattice.Peer {
	return n.view.Load().hosts[kind]
}

// viewIndex is a membership view with its routers by peer and hosts by kind.
type viewIndex struct {
	discovery.View
	routers map[lattice.Peer]*pa.PID
	hosts   map[string][]lattice.Peer // "" = hosting any kind; in view order, each once
}

func newViewIndex(v discovery.View) *viewIndex {
	ix := &viewIndex{View: v, routers: make(map[lattice.Peer]*pa.PID, len(v.Members)), hosts: map[string][]lattice.Peer{}}
	add := func(kind string, p lattice.Peer) {
		if !slices.Contains(ix.hosts[kind], p) {
			ix.hosts[kind] = append(ix.hosts[kind], p)
		}
	}
	for _, m := range v.Members {
		p := lattice.Peer(m.Peer)
		if r, ok := v.Lookup(m.Peer); ok {
			ix.routers[p] = pa.NewPID(r.Address, routerName)
		}
		if len(m.Kinds) == 0 {
			continue // a client hosts nothing
		}
		add("", p)
		for _, k := range m.Kinds {
			add(k, p)
		}
	}
	return ix
}

// replicaSet is the partition's replica set by the node's current view.
func (n *Node) replicaSet(kind, key string) []lattice.Peer {
	return gc.ReplicaSet(kind, key, n.hosts(kind), n.cfg.ReplicationFactor)
}

// routerOf returns the router PID of the member hosting peer, if membership knows one.
func (n *Node) routerOf(peer lattice.Peer) (*pa.PID, bool) {
	if peer == n.peer {
		return n.router, true
	}
	pid, ok := n.view.Load().routers[peer]
	return pid, ok
}

// reachable reports whether membership knows a member hosting peer (a message to it would
// leave this node at all).
func (n *Node) reachable(peer lattice.Peer) bool {
	_, ok := n.routerOf(peer)
	return ok
}

// commit makes b durable, counting the commit in the node's stats. A failed commit
// stops the node (fail).
func (n *Node) commit(b *storage.Batch) error {
	if b.Empty() {
		return nil
	}
	n.stats.commits.Add(1)
	var start time.Time
	if n.metrics != nil {
		start = n.cfg.Clock.Now()
	}
	err := n.store.Commit(b)
	if n.metrics != nil {
		n.metrics.commitSeconds.Observe(n.cfg.Clock.Now().Sub(start).Seconds())
	}
	if err != nil {
		n.fail(err)
	}
	return err
}

// send delivers a message to the router of the member hosting peer, fire-and-forget.
func (n *Node) send(peer lattice.Peer, msg any) {
	if link := n.link(peer); link.Drop {
		return
	} else if link.Delay > 0 {
		n.cfg.Clock.AfterFunc(link.Delay, func() { n.deliver(peer, msg) })
		return
	}
	n.deliver(peer, msg)
}

func (n *Node) deliver(peer lattice.Peer, msg any) {
	if m, ok := msg.(*wire.Replicate); ok && peer != n.peer {
		n.post(peer, n.compatible(peer, m))
		return
	}
	if pid, ok := n.routerOf(peer); ok {
		n.system.Root.Send(pid, msg)
	}
}

// Stop leaves the cluster gracefully and stops the node: it hands its replicas to their
// next owners first (leave.go), within ctx; then it leaves membership (so that others stop
// routing here), stops the replicas (each flushes what it holds), remoting, and the store
// if the node opened it. Calls after Stop fail with ErrStopped.
func (n *Node) Stop(ctx context.Context) error {
	var err error
	n.stopOnce.Do(func() {
		failed := n.Err() != nil // fail-stop: nothing can be handed over or drained
		if !failed {
			n.handOver(ctx)
		}
		n.stopped.Store(true)
		if e := n.cfg.Membership.Stop(ctx); e != nil {
			err = fmt.Errorf("actor: membership stop: %w", e)
		}
		close(n.done)
		n.timerWakes.stop()
		n.bgCancel()
		n.wg.Wait()
		if !failed && !n.drain(ctx) && err == nil {
			err = ErrUnreplicated
		}
		if e := n.system.Root.PoisonFuture(n.router).Wait(); e != nil && err == nil {
			err = fmt.Errorf("actor: stopping replicas: %w", e)
		}
		n.stopBackground()
		n.shutdownRemote()
		n.closeStore()
		if n.metrics != nil {
			n.metrics.unregister(n.cfg.Metrics)
		}
		n.logs.flush(true)
		n.log.Info("node stopped", "peer", n.peer)
	})
	return err
}

// drain waits, within ctx (and at most 5 s), until every active replica's own events are
// acknowledged by another replica: a fast call this node answered then survives the
// node's going away for good. It reports whether they were.
func (n *Node) drain(ctx context.Context) bool {
	wait := 5 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, dl.Sub(n.cfg.Clock.Now()))
	}
	if wait <= 0 {
		return false
	}
	res, err := n.system.Root.RequestFuture(n.router, &shardsOf{}, wait).Result()
	shards, ok := res.([]*pa.PID)
	if err != nil || !ok {
		return false
	}
	done := make(chan struct{}, 1<<16)
	futures := make([]*pa.Future, len(shards))
	for i, s := range shards {
		futures[i] = n.system.Root.RequestFuture(s, &drain{done: done}, wait)
	}
	count := 0 // the replicas that will signal
	for _, f := range futures {
		if res, err := f.Result(); err == nil {
			if c, ok := res.(int); ok {
				count += c
			}
		}
	}
	expired, timer := after(n.cfg.Clock, wait)
	defer timer.Stop()
	for range count {
		select {
		case <-done:
		case <-expired:
			n.log.Warn("stopping with events not yet acknowledged elsewhere: keep the data directory and start the node again")
			return false
		}
	}
	return true
}

func (n *Node) shutdownRemote() {
	n.remote.Shutdown(false)
	n.system.Shutdown()
	n.pool.close()
}

func (n *Node) closeStore() {
	if n.ownStore {
		n.store.Close()
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Link is what happens to one message a node sends to another peer: see Config.Links.
type Link struct {
	// Drop loses the message, as a cut or lossy network link would.
	Drop bool
	// Delay delivers the message this much later (a slow link; messages delayed by
	// different amounts may overtake each other).
	Delay time.Duration
}

// setLinks replaces Config.Links on a running node (this package's tests); nil removes it.
func (n *Node) setLinks(p func(to lattice.Peer) Link) {
	if p == nil {
		n.links.Store(nil)
		return
	}
	n.links.Store(&p)
}

// setLinkFilter is setLinks for a link that is either up (f true) or cut (f false).
func (n *Node) setLinkFilter(f func(to lattice.Peer) bool) {
	if f == nil {
		n.setLinks(nil)
		return
	}
	n.setLinks(func(to lattice.Peer) Link { return Link{Drop: !f(to)} })
}

// link applies the link policy, if any, to a message to peer.
func (n *Node) link(peer lattice.Peer) Link {
	if p := n.links.Load(); p != nil && peer != n.peer {
		return (*p)(peer)
	}
	return Link{}
}

// reserveHandoff takes one of the node's MaxHandoffs slots, if one is free. Replicas
// decide concurrently, so the limit is enforced here rather than by each one's plan.
func (n *Node) reserveHandoff() bool {
	limit := n.cfg.MaxHandoffs
	if n.leaving.Load() {
		limit = max(limit, handoverHandoffs)
	}
	for {
		cur := n.inFlight.Load()
		if cur >= int64(limit) {
			return false
		}
		if n.inFlight.CompareAndSwap(cur, cur+1) {
			return true
		}
	}
}

// Handoffs is the number of handoffs (joins of new replicas) this node has in flight.
func (n *Node) Handoffs() int { return int(n.inFlight.Load()) }
