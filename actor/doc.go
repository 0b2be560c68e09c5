// Package actor is Legion's runtime: a [Node] of a cluster that hosts replicated,
// persistent partitions of user-defined kinds, and the client that calls them. It is the
// only package that imports Proto.Actor (its actors and remoting, from a patched copy in
// actor/internal/protoactor; not its cluster layer) and it wires the pure pieces to the
// world: lattice (each replica's event fold), gc (placement, ejection, handoff),
// discovery (membership) and storage (durability).
//
// # Model
//
// A [KindOf] defines a partition type: its state, events, queries and outputs, the
// [Codec] that encodes them so that they cross the wire and the disk (protobuf messages
// by default, or plain Go types with [JSON]), a deterministic Apply and an optional
// Query; a [Kind] is one of protobuf messages whose queries are events
// (docs/kinds.md).
// A partition is one (kind, key); it is replicated on the R peers that rendezvous hashing
// over the live members hosting the kind picks (gc.ReplicaSet), and a replica is named
// kind/key@peer, where the peer is the node's stable identity (its name and the
// incarnation of its data directory). A membership change moves only the replicas whose
// peer entered or left the top R.
//
// [Start] starts a node from a [Config] (every field documents its default; Name and
// Membership are required). [KindOf.Ref] (or [RefOf], for a Kind) makes a [KindRef] (a
// [Ref]) to a partition from any node, even one that hosts no kinds; both encode with the
// kind's codec. [KindRef.Call] logs an event on the first replica of the set and fails
// over to the next with the same request key (the caller's, with [WithRequestKey]), so
// that a retried call applies once, trying a replica that just timed out last; it returns
// at [Fast] (applied and persisted on the handling replica; the output is projected) or
// at [Consistent] (folded: acknowledged by every replica, the output final and the same
// everywhere). [KindRef.Query] reads without logging an event, at [Projected] or
// [Stable], on a copy of the state; a query of a partition nobody wrote answers from the
// initial state and creates or stores nothing. Events carry a hybrid-logical-clock time
// ([lattice.Meta]). docs/calls.md says what each level promises. Errors callers branch on
// are the ErrX variables and [*RejectedError] (Apply rejected the event: it changed
// nothing, on any replica).
//
// # Inside a node
//
// Each node runs one router actor, which every call, query and replication message for
// the node reaches, and a few shard actors ([Config.Shards]). A partition always runs on
// the same shard, which holds its replica as a plain struct (not an actor per
// partition), activates it from the store on its first message, passivates it when idle,
// and commits the writes of all its dirty replicas in one store commit. The replica's
// protocol is a deterministic state machine in an internal package driven by the shards.
// Nothing is acknowledged, to a caller or to a peer, before it is durable in the store.
// Replicas exchange diffs to converge and re-send them (anti-entropy) while deltas stay
// pending; survivors eject a peer that membership reports gone for [Config.EjectAfter],
// and hand a partition to the peer placement newly gives it.
//
// # Concurrency
//
// A Node's methods, and a Ref's, are safe for concurrent use; Call and Query block until
// an answer, the caller's context ends, or every attempt failed. A Kind's Apply and Query
// run on the node's shard goroutines: concurrently for different partitions, one at a
// time for a replica. They must be deterministic (no clock, no randomness, no I/O: time
// comes in [lattice.Meta]) and should be quick, since a shard runs one message at a
// time for all its partitions. A Kind must not change once a node runs it.
// [Node.Stop] hands the node's replicas over to their next owners, leaves membership,
// waits (briefly) until another replica acknowledged each replica's own events, and
// stops the replicas, remoting, and the store if the node opened it.
//
// # Testing
//
// Package actor/actortest starts real nodes in one test process over loopback remoting
// and in-memory membership, and stages the faults of a real cluster between them: cut,
// slow and lossy links, split and lagging membership views, crashes and restarts.
//
// docs/actor.md describes a node, a call's path, replication, its goroutines and the
// figures; docs/decisions/0004-protoactor-fork.md says why Proto.Actor is a patched copy
// and its cluster layer unused, 0006-one-lineage.md how partitions start and what
// replicas never drop, and 0007-replicas-in-shards.md why replicas live in shards.
package actor
