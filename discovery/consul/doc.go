// Package consul is a membership provider backed by a Consul agent, written
// directly on github.com/hashicorp/consul/api.
//
// # Model
//
// Each member registers itself with its local Consul agent as one instance of
// the service [Config.Service] (one service name per cluster). The service ID
// is Member.ID() (Peer + "/" + Instance); the address and port are the
// member's remoting Address; the service metadata carries Peer, Name,
// Instance, Kinds and Meta (see [discovery.EncodeMeta]). The registration has
// a TTL health check that the provider keeps passing every TTL/3. A member
// whose process dies stops refreshing its check, the check turns critical
// after TTL, and the member leaves every view; Consul removes the registration
// itself after [Config.DeregisterCriticalAfter].
//
// Each provider watches the healthy (passing) instances of the service with
// blocking queries and publishes a view whenever the set changes. The first
// view is the answer to the first query, which may come before the member's
// own registration: a view without self is possible right after Start.
//
// # Failures
//
// Nothing in Start waits for Consul. While the agent is unreachable both loops
// retry with capped exponential backoff and jitter ([Config.BackoffMin],
// [Config.BackoffMax]) and the last view stays in force. When a heartbeat is
// refused (for example because the agent restarted and forgot the service),
// the provider registers again at once. After a failed query the watch starts
// over with a non-blocking query (index 0): a restarted agent has a smaller
// index, and a blocking query on the old one would hang for WaitTime. When a
// successful answer's index goes backwards (the servers lost their state
// under a live agent) the watch starts over too.
//
// # Goroutines
//
// A started provider owns two goroutines: the keeper (registration and TTL
// heartbeat) and the watcher (blocking queries). Stop cancels both, waits for
// them, deregisters the service, closes Views and closes the idle connections
// of its private HTTP transport.
package consul
