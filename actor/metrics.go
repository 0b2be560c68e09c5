package actor

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/legion-go/legion/actor/internal/replica"
	"github.com/legion-go/legion/actor/internal/wire"
	"github.com/legion-go/legion/lattice"
)

// The node's Prometheus metrics (Config.Metrics; docs/operations.md, "Metrics", lists
// them). Events on the request and replication paths count into vectors whose children
// are resolved once (per kind, per peer) and then cost an atomic add; what a snapshot
// already holds (the replicas' descriptions, the membership view, Stats) is read at
// scrape time by collector, at no cost per event. No label ever names a partition: the
// labels are the kinds, the peers (bounded by the cluster's size), and small fixed sets.
const metricsNamespace = "legion"

// Latency buckets, in seconds: from a fast call on loopback (a few hundred µs) to a
// consistent call that waits out an attempt timeout or two.
var latencyBuckets = []float64{.0002, .0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// commitBuckets: a store commit, from an in-memory batch to an fsync on a slow disk.
var commitBuckets = []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}

// Outcomes of a call or query (the outcome label).
const (
	outcomeOK            = "ok"
	outcomeRejected      = "rejected"
	outcomeCanceled      = "canceled"
	outcomeTimeout       = "timeout"
	outcomeUnavailable   = "unavailable"
	outcomeNoReplicas    = "no_replicas"
	outcomeStopped       = "stopped"
	outcomeInvalid       = "invalid"
	outcomeOutputUnknown = "output_unknown"
	outcomeError         = "error"
)

// Outcomes of one attempt, and so the reasons of a failover (the next replica tried).
const (
	attemptAnswered    = "answered"
	attemptNoReply     = "no_reply"
	attemptNotReplica  = "not_replica"
	attemptStopped     = "stopped"
	attemptUnavailable = "unavailable"
	attemptNoRoute     = "no_route"
	attemptCanceled    = "canceled"
)

// The replica's log messages the shell counts (shard.perform): the core reports
// ejections and handoffs only so (metrics_test checks that they are counted).
const (
	logEjecting   = "ejecting peer"
	logHandingOff = "handing off"
)

type metrics struct {
	calls, queries *prometheus.HistogramVec // kind, level, outcome
	attempts       *prometheus.CounterVec   // kind, outcome
	failovers      *prometheus.CounterVec   // kind, reason
	replSent       *prometheus.CounterVec   // type, peer
	replReceived   *prometheus.CounterVec   // type, peer
	bytesSent      *prometheus.CounterVec   // peer
	bytesReceived  *prometheus.CounterVec   // peer
	envelopesSent  *prometheus.CounterVec   // peer
	commitSeconds  prometheus.Histogram
	deactivations  *prometheus.CounterVec // kind, reason
	activations    *prometheus.CounterVec // kind
	ejections      *prometheus.CounterVec // kind
	handoffs       *prometheus.CounterVec // kind
	handoffsEnded  prometheus.Counter
	viewChanges    prometheus.Counter

	collector *collector
	active    map[string]*atomic.Int64 // kind -> active replicas (the kinds are fixed at Start)
	peers     sync.Map                 // lattice.Peer -> *peerMetrics
}

// peerMetrics are the resolved children of the per-peer vectors.
type peerMetrics struct {
	sent, received    [4]prometheus.Counter // by replicateType
	bytesSent, bytesR prometheus.Counter
	envelopes         prometheus.Counter
}

// Replication message types (the type label), indexed by replicateType.
var replicateTypes = [4]string{"none", "diff", "snapshot", "need_full"}

func replicateType(m *wire.Replicate) int {
	switch m.Body.(type) {
	case *wire.Replicate_Diff:
		return 1
	case *wire.Replicate_Snapshot:
		return 2
	case *wire.Replicate_NeedFull:
		return 3
	}
	return 0
}

func newMetrics(n *Node) *metrics {
	ns := metricsNamespace
	hist := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: name, Help: help, Buckets: buckets}, labels)
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: name, Help: help}, labels)
	}
	m := &metrics{
		calls: hist("call_duration_seconds", "Calls this node made (Ref.Call), by kind, consistency level and outcome: the time from the call to its answer.",
			latencyBuckets, "kind", "level", "outcome"),
		queries: hist("query_duration_seconds", "Queries this node made (Ref.Query), by kind, read level and outcome: the time from the query to its answer.",
			latencyBuckets, "kind", "level", "outcome"),
		attempts:      counter("attempts_total", "Attempts of calls, queries and re-proposals on one replica each, by kind and outcome.", "kind", "outcome"),
		failovers:     counter("failovers_total", "Attempts after which the call went on to the next replica, by kind and the failed attempt's outcome.", "kind", "reason"),
		replSent:      counter("replication_messages_sent_total", "Replication messages this node's replicas sent, by type and destination peer.", "type", "peer"),
		replReceived:  counter("replication_messages_received_total", "Replication messages this node received for its replicas, by type and sending peer.", "type", "peer"),
		bytesSent:     counter("replication_sent_bytes_total", "Encoded bytes of the replication envelopes this node sent, by destination peer.", "peer"),
		bytesReceived: counter("replication_received_bytes_total", "Encoded bytes of the replication envelopes this node received, by sending peer.", "peer"),
		envelopesSent: counter("replication_envelopes_sent_total", "Remote messages the replication messages travelled in (several share one), by destination peer.", "peer"),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "store_commit_duration_seconds",
			Help: "Store commits (a shard's flush, passivations, discards): the time Store.Commit took.", Buckets: commitBuckets}),
		deactivations: counter("partitions_deactivated_total", "Replicas this node removed from memory, by kind and reason (passivated: idle, back from the store on demand; evicted: passivated early, over MaxActiveReplicas; retired: left the replica set; discarded: an ejected copy deleted).", "kind", "reason"),
		activations:   counter("partitions_activated_total", "Replicas this node loaded into memory (from the store or new), by kind.", "kind"),
		ejections:     counter("ejections_total", "UnJoins this node's replicas wrote for peers gone longer than EjectAfter, by kind.", "kind"),
		handoffs:      counter("handoffs_started_total", "Handoffs (Joins of new replicas, each sent a full state) this node's replicas wrote, by kind.", "kind"),
		handoffsEnded: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "handoffs_ended_total",
			Help: "Handoffs of this node that ended: the Join folded, or it was dropped (its joiner ejected, the replica gone)."}),
		viewChanges: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "membership_changes_total",
			Help: "Membership views that changed the set of live peers."}),
		active: map[string]*atomic.Int64{},
	}
	for k := range n.kinds {
		m.active[k] = new(atomic.Int64)
	}
	return m
}

// register registers m and the node's scrape-time collector on r.
func (m *metrics) register(r prometheus.Registerer, n *Node) error {
	m.collector = newCollector(n)
	cs := m.collectors()
	for i, c := range cs {
		if err := r.Register(c); err != nil {
			for _, d := range cs[:i] {
				r.Unregister(d)
			}
			return err
		}
	}
	return nil
}

// unregister takes m's collectors off r (Stop): the registry may outlive the node, and a
// node started again registers anew.
func (m *metrics) unregister(r prometheus.Registerer) {
	for _, c := range m.collectors() {
		r.Unregister(c)
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.calls, m.queries, m.attempts, m.failovers, m.replSent, m.replReceived,
		m.bytesSent, m.bytesReceived, m.envelopesSent, m.commitSeconds, m.deactivations, m.activations, m.ejections,
		m.handoffs, m.handoffsEnded, m.viewChanges, m.collector}
}

func (m *metrics) peer(p lattice.Peer) *peerMetrics {
	if pm, ok := m.peers.Load(p); ok {
		return pm.(*peerMetrics)
	}
	pm := &peerMetrics{bytesSent: m.bytesSent.WithLabelValues(string(p)), bytesR: m.bytesReceived.WithLabelValues(string(p)),
		envelopes: m.envelopesSent.WithLabelValues(string(p))}
	for i, t := range replicateTypes {
		pm.sent[i] = m.replSent.WithLabelValues(t, string(p))
		pm.received[i] = m.replReceived.WithLabelValues(t, string(p))
	}
	v, _ := m.peers.LoadOrStore(p, pm)
	return v.(*peerMetrics)
}

func levelName(c Consistency) string {
	if c == Consistent {
		return "consistent"
	}
	return "fast"
}

func readLevelName(l ReadLevel) string {
	if l == Stable {
		return "stable"
	}
	return "projected"
}

// outcome classifies a call's or query's error for the outcome label.
func outcome(err error) string {
	var rej *RejectedError
	switch {
	case err == nil:
		return outcomeOK
	case errors.As(err, &rej):
		return outcomeRejected
	case errors.Is(err, context.Canceled):
		return outcomeCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return outcomeTimeout
	case errors.Is(err, ErrUnavailable):
		return outcomeUnavailable
	case errors.Is(err, ErrNoReplicas):
		return outcomeNoReplicas
	case errors.Is(err, ErrStopped):
		return outcomeStopped
	case errors.Is(err, ErrInvalidKey), errors.Is(err, ErrBadPayload), errors.Is(err, ErrTooLarge), errors.Is(err, ErrUnknownKind):
		return outcomeInvalid
	case errors.Is(err, ErrOutputUnknown):
		return outcomeOutputUnknown
	}
	return outcomeError
}

// attemptOutcome classifies one attempt: its transport error, or the refusal its reply
// carries.
func attemptOutcome(err, refusal error) string {
	switch {
	case errors.Is(err, errNoReply):
		return attemptNoReply
	case errors.Is(err, errNoRoute):
		return attemptNoRoute
	case err != nil:
		return attemptCanceled // the caller's context ended
	case refusal == nil:
		return attemptAnswered
	case errors.Is(refusal, ErrNotReplica):
		return attemptNotReplica
	case errors.Is(refusal, ErrStopped):
		return attemptStopped
	}
	return attemptUnavailable
}

// observe records a finished call (or query, when query is set) that started at start.
func (n *Node) observe(query bool, kind, level string, start time.Time, err error) {
	m := n.metrics
	if m == nil {
		return
	}
	vec := m.calls
	if query {
		vec = m.queries
	}
	vec.WithLabelValues(kind, level, outcome(err)).Observe(n.cfg.Clock.Now().Sub(start).Seconds())
}

// observeAttempt records one attempt; next says whether the call goes on to another
// replica after it.
func (n *Node) observeAttempt(kind string, err, refusal error, next bool) {
	m := n.metrics
	if m == nil {
		return
	}
	o := attemptOutcome(err, refusal)
	m.attempts.WithLabelValues(kind, o).Inc()
	if next && o != attemptAnswered && o != attemptCanceled {
		m.failovers.WithLabelValues(kind, o).Inc()
	}
}

// collector reads the node's snapshots at scrape time: the replicas' descriptions (as of
// their last gc tick), the stored partitions, the handoffs, the membership view, Stats.
type collector struct {
	n                                                     *Node
	pending, lag, active, stored, passivated              *prometheus.Desc
	inFlight, viewMembers, viewKinds, tombstones, partial *prometheus.Desc
	stats                                                 []statDesc
}

type statDesc struct {
	desc *prometheus.Desc
	read func(Stats) int64
}

func newCollector(n *Node) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, "", name), help, labels, nil)
	}
	return &collector{n: n,
		pending:     d("pending_deltas", "Pending (not yet folded) deltas per active replica, by kind, as of each replica's last gc tick.", "kind"),
		lag:         d("infimum_lag_seconds", "Per active replica, how long its infimum has not advanced while deltas are pending (the age of its oldest pending delta, 0 with none), by kind.", "kind"),
		active:      d("partitions_active", "Replicas in memory on this node, by kind.", "kind"),
		stored:      d("partitions_stored", "Replicas in this node's store, by kind (listed at scrape time).", "kind"),
		passivated:  d("partitions_passivated", "Replicas stored but not in memory (passivated: they come back on demand), by kind.", "kind"),
		inFlight:    d("handoffs_in_flight", "Handoffs (Joins of new replicas) this node wrote that have not ended."),
		viewMembers: d("membership_members", "Members of the node's membership view (clients included)."),
		viewKinds:   d("membership_hosts", "Members of the node's membership view that host the kind.", "kind"),
		tombstones:  d("membership_gone_peers", "Peers the node keeps a tombstone for: gone from membership, not dropped yet (Config.TombstoneTTL)."),
		partial:     d("membership_partial", "1 while the node's membership view may lack members (discovery.View.Partial)."),
		stats: []statDesc{
			{d("flushes_total", "Batches this node's replicas made durable and answered (Stats.Flushes)."), func(s Stats) int64 { return s.Flushes }},
			{d("store_commits_total", "Store commits (Stats.Commits)."), func(s Stats) int64 { return s.Commits }},
			{d("forks_total", "Merges that joined two lineages of a partition (Stats.Forks); should stay 0."), func(s Stats) int64 { return s.Forks }},
			{d("divergences_total", "Replicas found holding another value after the same events (Stats.Divergences); should stay 0."), func(s Stats) int64 { return s.Divergences }},
			{d("replication_dropped_total", "Replication messages this node could not send (Stats.Dropped); should stay 0."), func(s Stats) int64 { return s.Dropped }},
		},
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.pending, c.lag, c.active, c.stored, c.passivated, c.inFlight, c.viewMembers,
		c.viewKinds, c.tombstones, c.partial} {
		ch <- d
	}
	for _, s := range c.stats {
		ch <- s.desc
	}
}

// summaryQuantiles are the quantiles of the per-kind summaries over replicas.
var summaryQuantiles = []float64{0.5, 0.9, 0.99, 1}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	n := c.n
	now := n.cfg.Clock.Now()
	pending, lag := map[string][]float64{}, map[string][]float64{}
	for _, r := range n.Replicas() {
		if r.Retired {
			continue
		}
		pending[r.Kind] = append(pending[r.Kind], float64(r.Pending))
		l := 0.0
		if r.Pending > 0 && !r.LastAdvance.IsZero() {
			l = max(0, now.Sub(r.LastAdvance).Seconds())
		}
		lag[r.Kind] = append(lag[r.Kind], l)
	}
	for _, kind := range slices.Sorted(maps.Keys(n.kinds)) {
		ch <- summaryOf(c.pending, pending[kind], kind)
		ch <- summaryOf(c.lag, lag[kind], kind)
		active := n.metrics.active[kind].Load()
		stored := 0
		n.store.Partitions(kind, func(string) bool { stored++; return true })
		ch <- prometheus.MustNewConstMetric(c.active, prometheus.GaugeValue, float64(active), kind)
		ch <- prometheus.MustNewConstMetric(c.stored, prometheus.GaugeValue, float64(stored), kind)
		ch <- prometheus.MustNewConstMetric(c.passivated, prometheus.GaugeValue, float64(max(0, int64(stored)-active)), kind)
	}
	ch <- prometheus.MustNewConstMetric(c.inFlight, prometheus.GaugeValue, float64(n.Handoffs()))
	ix := n.view.Load()
	ch <- prometheus.MustNewConstMetric(c.viewMembers, prometheus.GaugeValue, float64(len(ix.Members)))
	for _, kind := range slices.Sorted(maps.Keys(ix.hosts)) {
		if kind != "" {
			ch <- prometheus.MustNewConstMetric(c.viewKinds, prometheus.GaugeValue, float64(len(ix.hosts[kind])), kind)
		}
	}
	gone := 0
	for _, m := range n.members.list() {
		if !m.Live {
			gone++
		}
	}
	ch <- prometheus.MustNewConstMetric(c.tombstones, prometheus.GaugeValue, float64(gone))
	partial := 0.0
	if ix.Partial {
		partial = 1
	}
	ch <- prometheus.MustNewConstMetric(c.partial, prometheus.GaugeValue, partial)
	st := n.Stats()
	for _, s := range c.stats {
		ch <- prometheus.MustNewConstMetric(s.desc, prometheus.CounterValue, float64(s.read(st)))
	}
}

// summaryOf summarises vs (one value per replica) as a constant summary.
func summaryOf(d *prometheus.Desc, vs []float64, kind string) prometheus.Metric {
	slices.Sort(vs)
	sum := 0.0
	for _, v := range vs {
		sum += v
	}
	qs := make(map[float64]float64, len(summaryQuantiles))
	for _, q := range summaryQuantiles {
		if len(vs) == 0 {
			qs[q] = 0
			continue
		}
		qs[q] = vs[min(len(vs)-1, int(q*float64(len(vs))))]
	}
	return prometheus.MustNewConstSummary(d, uint64(len(vs)), sum, qs, kind)
}

// countLogs counts what a replica's log lines report: ejections and handoffs.
func (m *metrics) countLogs(kind string, logs []replica.Log) {
	for _, l := range logs {
		switch l.Msg {
		case logEjecting:
			m.ejections.WithLabelValues(kind).Inc()
		case logHandingOff:
			m.handoffs.WithLabelValues(kind).Inc()
		}
	}
}

// countReceived counts a replication message that arrived for one of the node's replicas.
func (n *Node) countReceived(m *wire.Replicate) {
	if n.metrics != nil {
		n.metrics.peer(n.senderLabel(m.GetFrom())).received[replicateType(m)].Inc()
	}
}

// senderLabel is the peer label of a message's sender: the peer, if membership knows it;
// "unknown" otherwise, so that a sender cannot grow the label set by naming new peers.
func (n *Node) senderLabel(from string) lattice.Peer {
	if p := lattice.Peer(from); n.reachable(p) {
		return p
	}
	return unknownPeer
}

const unknownPeer lattice.Peer = "unknown"

// countActive counts a replica's activation (delta 1) or removal (delta -1, for reason).
func (n *Node) countActive(kind string, delta int64, reason string) {
	n.active.Add(delta)
	m := n.metrics
	if m == nil {
		return
	}
	if a := m.active[kind]; a != nil {
		a.Add(delta)
	}
	if delta > 0 {
		m.activations.WithLabelValues(kind).Inc()
	} else {
		m.deactivations.WithLabelValues(kind, reason).Inc()
	}
}

// removal is why the shard removes h: its core's life and fold say.
func removal(h *hosted) string {
	switch {
	case h.core.Life() == replica.Discarded:
		return "discarded"
	case h.core.Fold().State().Retired:
		return "retired"
	}
	return "passivated"
}

// releaseHandoff gives back one of the node's handoff slots.
func (n *Node) releaseHandoff() {
	n.inFlight.Add(-1)
	if n.metrics != nil {
		n.metrics.handoffsEnded.Inc()
	}
}
