// Package admin is a node's operator interface over HTTP: health and readiness probes,
// Prometheus metrics, JSON views of what the node knows (the cluster's members,
// the partitions it holds, where garbage collection stalls, the handoffs in flight), a
// dashboard page built on those views, and one operator action, ejecting a dead peer.
//
// [New] builds the [http.Handler] from a running [actor.Node] and [Options]:
//
//	GET  /healthz              200 while the node runs (not stopped, its store not failed), else 503
//	GET  /readyz               200 once it has joined a complete view and resynchronised its replicas, else 503
//	GET  /metrics              Options.Gatherer in Prometheus' text format (404 without one)
//	GET  /api/status           the node: peer, address, health, replication counters, handoffs
//	GET  /api/members          the cluster view: live members with their addresses, and tombstones
//	GET  /api/partitions       the replicas on this node, a page at a time (?limit=, ?after=, ?kind=, ?stalled=1)
//	GET  /api/stalls           stalled partitions (bounded by ?limit=) and the peers holding them back
//	GET  /api/handoffs         handoffs in flight: the count, and the partitions with a pending join
//	POST /api/eject            ?peer=P&confirm=P: eject a dead peer now (Options.Actions only)
//	GET  /                     the dashboard (HTML, JavaScript and CSS embedded: no CDN)
//
// The handler is read-only unless Options.Actions is set: the eject answers 403
// otherwise. It authenticates nobody, so serve it on loopback (the default of [Listen])
// or behind an authenticating proxy: anyone who reaches it can read the cluster's
// layout, and with Actions eject its peers.
//
// The JSON bodies are the exported types of this package ([Status], [Members],
// [Partitions], [Stalls], [Handoffs], [EjectResult]); cmd/legion decodes them. Times are
// RFC 3339, durations are seconds (float). Errors are a JSON [Error] with a status code.
//
// The handler holds no goroutine and no state of its own: each request reads the node's
// snapshots (actor.Node.Health, Peers, Replicas, Stalls, Stats), so it may serve any
// number of requests concurrently. Listing partitions copies and sorts the node's
// replica descriptions (about a millisecond per 10,000 replicas); a page carries at most
// Options.MaxPage of them.
package admin
