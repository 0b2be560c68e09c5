// Package storage is a node's durable state, behind a small interface: for
// every partition (kind, key) replicated on the node, the encoded infimum
// snapshot and the pending deltas, as opaque bytes. The store knows nothing of
// the lattice; the runtime (actor) encodes and decodes.
//
// # Model
//
// A Replica is a snapshot (optional) plus deltas ordered by ID, compared
// bytewise: the runtime encodes event ids so that bytewise order is id order.
// All writes go through a Batch, applied atomically and durably by
// Store.Commit: persisting a delta with its ack, or folding events into the
// infimum (delete the folded deltas, rewrite the snapshot) are one batch each,
// so a crash never leaves half of either. Commit returns only once the batch
// is fsynced, and concurrent Commits share fsyncs (group commit), so many
// partitions persisting at once cost few fsyncs.
//
// Identity is the node's identity as recorded in its data directory: the
// configured node name plus an incarnation generated when the directory was
// created. Identity.Peer is the node's peer id in the replication protocol: a
// node that lost its data comes back as a new peer and cannot be mistaken for
// the one that made promises (acks) it no longer remembers.
//
// # Implementations
//
//   - storage/pebble: the durable store, on github.com/cockroachdb/pebble/v2.
//   - storage/memory: in memory, same semantics, for tests and benchmarks.
//   - storage/storagetest: the conformance suite both pass.
//
// See docs/storage.md for the key layout, durability rules and figures.
package storage
