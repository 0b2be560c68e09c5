// Package lattice is the event fold that every replica of a partition holds: a log of
// deltas over a consensus state, which replicas exchange, acknowledge and garbage-collect
// so that they all converge on the same state and the same outputs, for arbitrary (not
// necessarily commutative) events, while staying writable when they cannot talk.
//
// # Model
//
// A [State] is one replica of one partition. It holds the [Infimum], the consensus part
// (every delta up to Infimum.ID was acknowledged by every participant and folded into
// Infimum.Value, in id order), and the pending [Entry] values above it, each a [Delta]
// with its ack set: the peers known to have seen it. A delta is a user event (Event, or
// Error when Apply failed at its origin) or a membership change (Join, UnJoin of a
// [Peer]). Every delta has an [EventID], a Lamport counter with a peer tie-break, and
// deltas apply in id order, so one that arrives late may sort before events already
// applied; every replica ends with the same order.
//
// The user supplies a [Behavior]: a deterministic Apply and, for states that hold
// references, a Clone. The lattice never hands Apply a value it still needs.
//
// The life of a delta:
//
//   - created by one replica: [State.Event], or [State.Request] with an idempotency key
//     (a key the history holds already logs nothing: [DuplicateError]), or
//     [State.Propose] for Join and UnJoin; the caller gets the projected output,
//     Apply's output on the replica's [State.Projection], which is provisional;
//   - spread to the other replicas by [State.Diff] and [State.ApplyDiff] (what the
//     receiver has not acknowledged, and the ack sets of the rest), or by
//     [State.Snapshot] and [State.Merge] when a diff cannot apply ([ErrNeedFull]);
//   - acknowledged by each replica that holds it ([State.Acknowledge]);
//   - folded by [State.Reduce] once every participant acknowledged it, which reports
//     each folded delta with its infimum output ([Folded]): final, and identical on
//     every replica.
//
// [New] makes the genesis of a partition, [NewJoiner] a replica that waits for a full
// state, [Restore] a replica from a stored [Snapshot]. [State.Owed] tells which peers
// hold garbage collection back; [State.Participants], [State.Leaving] and
// [State.Retired] tell where the replica stands in the partition's membership.
//
// Membership changes travel in the log like events. An UnJoin written on behalf of a dead
// peer ejects it; its cutoff decides which of the peer's deltas are renegades, and a
// replica learns from [Report] which of its own deltas the history dropped, so that its
// runtime proposes their events again. The infimum also carries
// the partition's lineage (its genesis), so that a merge of two histories is detected
// ([State.Forks]) rather than silent, and a dedup window of recent request keys
// ([DefaultDedupHorizon], [DefaultDedupBytes]), so that a retried call applies once.
//
// # Purity and concurrency
//
// The package is pure, like etcd raft's core: no clock, no randomness, no I/O, no
// goroutines, no logging (deps_test.go enforces it). Time comes in as values (the
// origin's timestamp, handed to Apply in [Meta]); what to persist and send goes out as
// values. The runtime (package actor) does the rest, and must make an acknowledgement
// durable before any diff or answer that carries it leaves the replica.
//
// A State is not safe for concurrent use: one owner serialises every call on it (in the
// runtime, the shard goroutine that runs the replica). What a method documents as shared
// with the State (Pending, Projection, the Infimum's Value and Participants, DiffView's
// entries) is read-only, and Pending's and DiffView's entries are not to be kept past the
// next call; a Snapshot is a deep copy. Behavior.Apply and Clone run only inside State's
// methods, on the caller's goroutine. The other types are plain values.
//
// # Tests and documents
//
// The package's claims are tested as laws (merge idempotent, commutative and
// associative; the cached projection equals a naive replay; a diff ends where a merge
// does), by a simulation of random histories checked against a naive fold, by fuzzing
// the same histories, and by golden scripts of protocol scenarios in testdata/.
// docs/lattice.md explains the model, why garbage collection is safe and the ejection
// rules; docs/decisions/0001-lattice-departures.md and 0006-one-lineage.md say where and
// why it departs from the design brief.
package lattice
