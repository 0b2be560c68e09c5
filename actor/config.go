package actor

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/legion-go/legion/discovery"
	"github.com/legion-go/legion/gc"
	"github.com/legion-go/legion/lattice"
	"github.com/legion-go/legion/storage"
)

// Config configures a node. The zero value of every optional field means its default.
type Config struct {
	// Name is the node's configured name; required. With the data directory's
	// incarnation it makes the node's stable peer id.
	Name string
	// ListenAddr is the host:port the node's remoting listens on. Default
	// "127.0.0.1:0" (loopback, a free port).
	ListenAddr string
	// AdvertiseAddr is the host:port other nodes dial to reach this node's remoting,
	// published in its membership (discovery.Member.Address) and in the addresses of
	// its actors: a DNS name or an IP address that routes to ListenAddr, for a node
	// behind NAT, in a container or in a Kubernetes pod (which binds its pod IP or every
	// interface and advertises its stable DNS name). Default empty: the address
	// ListenAddr bound, with the port it picked; then ListenAddr may not bind every
	// interface (0.0.0.0, ::), an address no peer can dial.
	AdvertiseAddr string
	// TLS, if set, makes remoting mutual TLS: a node accepts connections only from nodes
	// presenting a certificate signed by the cluster's CA, and checks the certificate of
	// each node it connects to; a refused handshake is logged. Nil: plain text, for
	// loopback or a network only the cluster's nodes reach. See TLSFiles.
	TLS *TLSFiles
	// Kinds are the kinds this node hosts. A node with no kinds is a client: it can call
	// partitions but holds none.
	Kinds []KindSpec
	// ReplicationFactor is R, the number of replicas of each partition. Default 3. A kind
	// hosted by fewer nodes has as many replicas as nodes.
	ReplicationFactor int
	// Membership tells the node which nodes are alive; required. The node starts and
	// stops it.
	Membership discovery.Provider
	// Store holds the node's replicas durably. Nil means an in-memory store: a new peer
	// at every start, nothing survives the process. The node does not close a Store it
	// was given.
	Store storage.Store
	// Logger receives the node's logs. Nil discards them. Proto.Actor's own Info lines
	// (its connections) are logged at Debug.
	Logger *slog.Logger
	// LogRepeats rate-limits the node's logs at Info and above by level and message: past
	// LogRepeats records of one message in 10 s the others are counted, and the count is
	// logged as one "log lines suppressed" line once the 10 s are over
	// (docs/operations.md, "Logs"). Default 5; negative: no limit.
	LogRepeats int
	// AttemptTimeout bounds one attempt of a call on one replica before the caller tries
	// the next replica of the partition. Default 2s. The caller's context bounds the
	// whole call.
	AttemptTimeout time.Duration
	// AntiEntropyInterval is how often a replica with unacknowledged deltas re-sends them
	// to the peers that owe acks, if its log did not fold since the last time. Default
	// 200ms.
	AntiEntropyInterval time.Duration
	// PassivateAfter is how long a replica with nothing pending stays in memory without
	// messages before it is passivated (it comes back from the store on demand). It is
	// checked at each GCInterval. Default 1 minute. A replica that holds nothing (this node
	// was asked about a partition it does not store) goes after one GCInterval without
	// messages instead.
	PassivateAfter time.Duration
	// MaxActiveReplicas bounds the replicas this node holds in memory, over all kinds:
	// once an activation takes a shard over its share (MaxActiveReplicas/Shards), the
	// shard passivates its least recently used replicas that no peer still needs in memory
	// (nothing pending, no call, sync or handoff under way) down to 90% of its share, with
	// one store commit, however long they have been idle (PassivateAfter passivates
	// replicas below the bound). The bound is soft: replicas with work stay until it is
	// done. An evicted replica comes back from the store on its next message, as a
	// passivated one does. Default 100,000 (about 0.5-1.5 GB of heap, docs/actor.md,
	// "Replication details"); negative: no bound.
	MaxActiveReplicas int
	// OutputCacheBytes bounds the node's cache of the outputs of recent requests, which
	// answers a retried call with its original output (docs/calls.md): one budget for
	// every replica of the node, in bytes of keys, outputs and bookkeeping (about 112
	// bytes an output beyond its key and its bytes), least recently used out. An output
	// forgotten answers a retry ErrOutputUnknown. Default 32 MiB.
	OutputCacheBytes int
	// MaxPayloadBytes bounds an event or a query. Default 1 MiB; at most 2 MiB, half the
	// remote transport's 4 MiB message limit (a replication message over that limit is
	// dropped with an error: docs/actor.md, "Hostile input and authentication").
	MaxPayloadBytes int
	// EjectAfter is how long membership must report a peer gone before a surviving
	// replica writes an UnJoin on its behalf in each partition it replicates. Default 10s.
	EjectAfter time.Duration
	// MaxHandoffs bounds the handoffs (joins of new replicas, each sent a full state) this
	// node has in flight. Default 4.
	MaxHandoffs int
	// TombstoneTTL bounds how long a peer membership reports gone counts towards the
	// majority that ejections and handoffs need (docs/gc.md, "Majority"). The node drops
	// a gone peer's tombstone once none of its replicas names the peer any more (after
	// the peer was ejected from, or left, every partition this node holds with it), and in
	// any case TombstoneTTL after it was first seen gone; a peer some replica still names
	// then stays ejectable, but no longer counts. It is also the longest network split
	// during which a node cut off in a minority keeps counting the peers it cannot see:
	// keep it above the splits the cluster must ride out. Default 30 times EjectAfter
	// (5 minutes with the default EjectAfter). Negative, or not above EjectAfter, is
	// invalid.
	TombstoneTTL time.Duration
	// GCInterval is how often an active replica reconsiders its membership (ejections,
	// handoffs) and whether it has been idle for PassivateAfter. Default 1s.
	GCInterval time.Duration
	// TimerFailover is how long after a kind's durable timer is due (KindOf.Timers) the
	// second replica of its partition's placement fires it, should the first not have
	// logged it (then the third, as long again after). Default 2 times AttemptTimeout.
	TimerFailover time.Duration
	// TimerRate bounds how many durable timers per second this node fires: after an
	// outage, the timers that fell due meanwhile fire at this rate, not all at once
	// (docs/kinds.md, "Timers"). Default 1000; negative: no bound.
	TimerRate int
	// Shards is how many shard actors run the node's replicas (a partition's replica
	// always runs on the same one; each runs one message at a time). Default twice
	// GOMAXPROCS: enough to keep every core busy while some shards wait on a store
	// commit, and few enough that each shard's flush commits many partitions' writes at
	// once (docs/actor.md, "Shards").
	Shards int
	// Meta is published with the node's membership (for example its HTTP address). Keys
	// that start with MetaKindVersion are the node's own (it advertises its kinds'
	// versions under them).
	Meta map[string]string
	// Links, if set, decides what happens to each call, query and replication message this
	// node sends to another peer: delivered, dropped or delayed (Link). Replies travel
	// unaffected: a dropped or delayed request already drops or delays the exchange. It is
	// called on the sending goroutine and must return at once. For fault injection: tests
	// (actortest's Cut, Delay, Drop and Split set it) and demonstrations (the counter
	// example's -partition scenario); nil in production.
	Links func(to lattice.Peer) Link
	// Clock is the node's time: timestamps (the hybrid logical clock's physical part),
	// timers and tickers. Default SystemClock.
	Clock Clock
	// Metrics, if set, is where the node registers its Prometheus collectors (namespace
	// "legion"; docs/operations.md, "Metrics", lists them) at Start, and unregisters them
	// at Stop. Two nodes on one registry collide: give each its own, or wrap it with
	// prometheus.WrapRegistererWith and a label naming the node. Start fails if a
	// collector cannot be registered. Nil (the default): no metrics, and no cost.
	Metrics prometheus.Registerer
	// TracerProvider, if set, traces every call and query this node makes and the work
	// each causes on this node's replicas (docs/operations.md, "Tracing", lists the
	// spans): the caller's trace context crosses every hop, in the messages. Nil (the
	// default): no tracing, at the cost of a nil check per hop; to follow OpenTelemetry's
	// global provider, pass otel.GetTracerProvider(). A node that does not trace ignores
	// the trace context of what it receives. Turn it on once every node of the cluster
	// runs a version that knows it: an older one refuses traced replication messages.
	TracerProvider trace.TracerProvider
}

const routerName = "legion"

func (c Config) withDefaults() Config {
	if c.ListenAddr == "" {
		c.ListenAddr = "127.0.0.1:0"
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = 3
	}
	if c.AttemptTimeout == 0 {
		c.AttemptTimeout = 2 * time.Second
	}
	if c.AntiEntropyInterval == 0 {
		c.AntiEntropyInterval = 200 * time.Millisecond
	}
	if c.PassivateAfter == 0 {
		c.PassivateAfter = time.Minute
	}
	if c.MaxActiveReplicas == 0 {
		c.MaxActiveReplicas = 100_000
	}
	if c.OutputCacheBytes == 0 {
		c.OutputCacheBytes = 32 << 20
	}
	if c.MaxPayloadBytes == 0 {
		c.MaxPayloadBytes = 1 << 20
	}
	if c.EjectAfter == 0 {
		c.EjectAfter = 10 * time.Second
	}
	if c.MaxHandoffs == 0 {
		c.MaxHandoffs = 4
	}
	if c.TombstoneTTL == 0 {
		c.TombstoneTTL = gc.Config{EjectAfter: c.EjectAfter}.WithDefaults().TombstoneTTL
	}
	if c.GCInterval == 0 {
		c.GCInterval = time.Second
	}
	if c.TimerFailover == 0 {
		c.TimerFailover = 2 * c.AttemptTimeout
	}
	if c.TimerRate == 0 {
		c.TimerRate = 1000
	}
	if c.Shards == 0 {
		c.Shards = 2 * runtime.GOMAXPROCS(0)
	}
	if c.LogRepeats == 0 {
		c.LogRepeats = logBurst
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = SystemClock{}
	}
	return c
}

func (c Config) validate() error {
	if c.Name == "" {
		return errors.New("actor: Config.Name is required")
	}
	if c.Membership == nil {
		return errors.New("actor: Config.Membership is required")
	}
	if err := c.gcConfig().Validate(); err != nil {
		return fmt.Errorf("actor: %w", err)
	}
	if c.Shards < 1 {
		return fmt.Errorf("actor: Shards %d < 1", c.Shards)
	}
	for k := range c.Meta {
		if strings.HasPrefix(k, MetaKindVersion) {
			return fmt.Errorf("actor: Config.Meta key %q: the prefix %q is the node's own (kind versions)", k, MetaKindVersion)
		}
	}
	if c.TimerFailover < 0 {
		return fmt.Errorf("actor: TimerFailover %v < 0", c.TimerFailover)
	}
	if c.OutputCacheBytes < 0 {
		return fmt.Errorf("actor: OutputCacheBytes %d < 0", c.OutputCacheBytes)
	}
	if c.ReplicationFactor < 1 {
		return fmt.Errorf("actor: ReplicationFactor %d < 1", c.ReplicationFactor)
	}
	if c.MaxPayloadBytes < 1 || c.MaxPayloadBytes > maxPayloadLimit {
		return fmt.Errorf("actor: MaxPayloadBytes %d: want 1 to %d", c.MaxPayloadBytes, maxPayloadLimit)
	}
	host, port, err := net.SplitHostPort(c.ListenAddr)
	if err != nil {
		return fmt.Errorf("actor: ListenAddr: %w", err)
	}
	if _, err := strconv.Atoi(port); err != nil || host == "" {
		return fmt.Errorf("actor: ListenAddr %q: want host:port", c.ListenAddr)
	}
	if err := c.validateAdvertise(host); err != nil {
		return err
	}
	if c.TLS != nil {
		if err := c.TLS.validate(); err != nil {
			return err
		}
	}
	seen := map[string]bool{}
	for _, k := range c.Kinds {
		if err := k.validate(); err != nil {
			return err
		}
		if seen[k.kindName()] {
			return fmt.Errorf("actor: kind %q registered twice", k.kindName())
		}
		seen[k.kindName()] = true
	}
	return nil
}

func (c Config) gcConfig() gc.Config {
	return gc.Config{ReplicationFactor: c.ReplicationFactor, EjectAfter: c.EjectAfter, MaxHandoffs: c.MaxHandoffs,
		TombstoneTTL: c.TombstoneTTL}
}

// validateAdvertise checks AdvertiseAddr, given the host ListenAddr binds.
func (c Config) validateAdvertise(listenHost string) error {
	if c.AdvertiseAddr == "" {
		if ip := net.ParseIP(listenHost); ip != nil && ip.IsUnspecified() {
			return fmt.Errorf("actor: ListenAddr %q binds every interface: set AdvertiseAddr to the host:port peers dial", c.ListenAddr)
		}
		return nil
	}
	host, port, err := net.SplitHostPort(c.AdvertiseAddr)
	if err != nil {
		return fmt.Errorf("actor: AdvertiseAddr: %w", err)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("actor: AdvertiseAddr %q: want a port from 1 to 65535", c.AdvertiseAddr)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		return fmt.Errorf("actor: AdvertiseAddr %q: want a host peers can dial", c.AdvertiseAddr)
	}
	return nil
}
