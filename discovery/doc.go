// Package discovery is the membership vocabulary of Legion: who is in the
// cluster right now.
//
// # Model
//
// A node of the cluster is described by a [Member]. Its Peer is the stable
// identity of the node (it survives process restarts and owns the node's data);
// its Instance identifies one start of the node's actor system and changes on
// every restart, so the same Peer can briefly appear twice while an old
// instance is being detected as gone.
//
// A [View] is the set of live members at one moment, sorted by Peer then
// Instance. A [Provider] watches some membership backend (an in-process
// registry, a Consul agent, a gossip pool) and delivers a new View whenever the
// set changes. Views are latest-wins: a reader that falls behind skips straight
// to the newest view; it never sees an older view after a newer one.
//
// Providers live in sub-packages, one per backend:
//
//   - discovery/memory: an in-process registry, for tests and single-process clusters;
//   - discovery/consul: a Consul agent, with a TTL health check per member;
//   - discovery/gossip: an embedded SWIM gossip pool (hashicorp/memberlist) with seed addresses.
//
// discovery/discoverytest holds the conformance suite every provider passes.
//
// # Helpers for providers
//
// [Feed] implements the latest-wins channel behind [Provider.Views].
// [EncodeMeta] and [DecodeMeta] turn a member's Kinds and Meta into a flat
// string map whose keys are safe for Consul service metadata and back, so that
// any key or value round-trips. [Member.Validate] checks a member before it is
// announced.
//
// This package imports only the standard library.
package discovery
