// Package gc decides where partitions live and how their replica sets change: placement
// by rendezvous hashing, ejection of dead peers, handoffs to new peers and retirement of
// displaced replicas. It also reports, as data, where garbage collection stalls.
//
// # Model
//
// A partition (kind, key) is replicated on R peers, each holding a lattice.State. The
// replica set a partition should have is [ReplicaSet] over the live peers that host its
// kind: the R peers with the highest rendezvous [Weight] of (kind, key, peer). Replica sets
// change only through the partition's own log: a Join(p) delta adds p (it folds once p holds
// the full state and acknowledged it), an UnJoin(p) removes p (written by p itself to
// leave, or by a survivor to eject a dead p). A dead participant blocks garbage collection
// (no delta folds without its ack) until it is ejected.
//
// gc is the decision half of that, in the style of etcd raft: it is pure. It starts no
// goroutine, reads no clock, does no I/O and does not log. Time comes in as values (now,
// Member.Since, Replica.LastAdvance), and what to do goes out as data: [Decide] returns a
// [Plan] of [Action] values (Eject, Join, Leave) that the runtime (package actor) carries
// out by proposing Join and UnJoin deltas in its replicas; [Stalls] returns a [Report].
// Nothing in the package is shared or mutable, so every function may be called from any
// goroutine.
//
// # Cycle
//
// The runtime of each node, whenever membership or a replica's membership changes, a
// handoff completes, or a period passes (shorter than Config.EjectAfter):
//
//  1. builds []Member from its discovery view, adding a tombstone (Live false, Since = when
//     first seen gone) for every peer that vanished or that a replica names, and dropping
//     it once no replica names the peer (the tombstone counts towards the majority until
//     Config.TombstoneTTL);
//  2. describes every replica it stores with [ReplicaOf];
//  3. calls [Decide] with [InFlight] of those replicas: the joins it wrote that have not
//     folded yet;
//  4. proposes each action in its replica (Eject and Leave: UnJoin; Join: Join, then a full
//     state to the joiner);
//  5. deletes replicas that became Retired.
//
// Repeating this converges every partition to its desired replica set while membership is
// stable, moving only the replicas whose peers entered or left a set.
//
// docs/gc.md explains every rule and why it is there.
package gc
