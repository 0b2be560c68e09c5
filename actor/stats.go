package actor

import "sync/atomic"

// Stats counts a node's replication work since it started. Divided by the number of calls
// over the same interval, it shows what one event costs the cluster: how many replication
// messages it took, how many of them shared a remote envelope, how many batches the
// replicas made durable.
type Stats struct {
	// Sent is the replication messages (diffs, full states, requests for them) this
	// node's replicas sent to other peers.
	Sent int64
	// Envelopes is the remote messages those travelled in (several partitions' messages
	// to one peer share one envelope).
	Envelopes int64
	// Received is the replication messages this node's replicas processed.
	Received int64
	// Flushes is the batches this node's replicas made durable and answered: one per
	// burst of calls and replication messages a replica processed back to back.
	Flushes int64
	// Commits is the store commits those took (a shard commits the flushes of all its
	// dirty replicas at once), and the other writes (passivation, discards).
	Commits int64
	// Forks is the merges that joined two lineages of a partition (it had been started
	// from scratch twice): one history's folded events were dropped. It should stay zero;
	// each is logged as an error, and the dropped state kept in the store (docs/actor.md,
	// "Genesis and forks").
	Forks int64
	// Dropped is the replication messages this node gave up sending: too large for the
	// transport, or not encodable. Each is logged as an error; it should stay zero.
	Dropped int64
	// Divergences is the times a replica of this node found another replica of its
	// partition holding a different value after folding the same events (their Apply
	// differs: docs/kinds.md, "Versions and upgrades"). It should stay zero; each is
	// logged as an error, listed by Node.Divergences, and never repaired by itself.
	Divergences int64
}

// Add returns the sum of s and o (for totals over nodes).
func (s Stats) Add(o Stats) Stats {
	return Stats{Sent: s.Sent + o.Sent, Envelopes: s.Envelopes + o.Envelopes,
		Received: s.Received + o.Received, Flushes: s.Flushes + o.Flushes,
		Commits: s.Commits + o.Commits, Forks: s.Forks + o.Forks, Dropped: s.Dropped + o.Dropped,
		Divergences: s.Divergences + o.Divergences}
}

// Sub returns s minus o (the work between two readings).
func (s Stats) Sub(o Stats) Stats {
	return Stats{Sent: s.Sent - o.Sent, Envelopes: s.Envelopes - o.Envelopes,
		Received: s.Received - o.Received, Flushes: s.Flushes - o.Flushes,
		Commits: s.Commits - o.Commits, Forks: s.Forks - o.Forks, Dropped: s.Dropped - o.Dropped,
		Divergences: s.Divergences - o.Divergences}
}

type nodeStats struct {
	sent, envelopes, received, flushes, commits, forks, dropped, divergences atomic.Int64
}

// Stats returns the node's replication counters.
func (n *Node) Stats() Stats {
	return Stats{Sent: n.stats.sent.Load(), Envelopes: n.stats.envelopes.Load(),
		Received: n.stats.received.Load(), Flushes: n.stats.flushes.Load(),
		Commits: n.stats.commits.Load(), Forks: n.stats.forks.Load(), Dropped: n.stats.dropped.Load(),
		Divergences: n.stats.divergences.Load()}
}

// Active is the number of replicas this node holds in memory: activated for a call, a
// replication message or a wake, and not yet passivated, retired or discarded.
func (n *Node) Active() int { return int(n.active.Load()) }
