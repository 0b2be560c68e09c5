package replica

import (
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/legion-go/legion/actor/internal/wire"
	"github.com/legion-go/legion/gc"
	"github.com/legion-go/legion/lattice"
	"github.com/legion-go/legion/storage"
)

// ReplyTo names a caller: opaque to the core, which only hands it back in a Reply. The
// shell uses Proto.Actor PIDs; the simulation, its callers' numbers.
type ReplyTo any

// Reply is an answer to a caller.
type Reply struct {
	To  ReplyTo
	Msg proto.Message // *wire.CallReply or *wire.QueryReply
}

// Send is a replication message to the partition's replica on another peer.
type Send struct {
	To  lattice.Peer
	Msg *wire.Replicate
}

// TimerKind names one of a replica's timers.
type TimerKind uint8

const (
	// TickTimer is anti-entropy's: when it fires, the shell steps Tick.
	TickTimer TimerKind = iota + 1
	// GCTimer is the membership decisions' and passivation's: GCTick.
	GCTimer
	// SyncTimer ends a wait for the other replicas' states: SyncTimeout{Gen}.
	SyncTimer
	// DueTimer is the partition's own timers' (timers.go): FireTimers{Gen}.
	DueTimer
)

// Timer asks the shell to step the replica with the timer's input after After. A timer
// is never cancelled: one that fires late is ignored by the core (by its armed flag, or
// for SyncTimer by its generation).
type Timer struct {
	Kind  TimerKind
	After time.Duration
	Gen   uint64
}

// Level is a log line's severity (the values of log/slog's levels).
type Level int

const (
	LevelDebug Level = -4
	LevelInfo  Level = 0
	LevelWarn  Level = 4
	LevelError Level = 8
)

// Log is a line the shell logs for the replica (the core does no logging of its own).
type Log struct {
	Level Level
	Msg   string
	Args  []any // key, value pairs; the shell adds the partition
}

// Effects is what a step asks the shell to do at once. Everything in it may leave now:
// replies that acknowledge nothing new (refusals, queries, answers from outputs already
// durable) and replication messages that carry only what is durable. What may leave only
// after a commit is in Ready.AfterCommit, never here.
type Effects struct {
	Replies []Reply
	Sends   []Send
	Timers  []Timer
	Logs    []Log
	// Flush: the replica changed in memory; the shell must call Ready (soon, in a batch
	// with others) and Advance with its commit's outcome.
	Flush bool
	// Write, when not nil, must be committed now, before any other step; the shell then
	// calls Written with the outcome. (Passivation, discarding an ejected copy, and the
	// end of a re-proposal round write synchronously.)
	Write *storage.Batch
	// Repropose, when not empty, starts a re-proposal round of these renegades (a call
	// each, with its request key, to the partition's replicas); the shell steps
	// Reproposed with the keys a replica answered for.
	Repropose []lattice.Entry[[]byte]
	// Report is the replica's latest description for gc, when it changed (gc tick).
	Report *gc.Replica
	// Drained: every event this replica created is acknowledged by another replica (the
	// node asked, with Drain).
	Drained bool
	// Divergences: replicas found to hold another value at the same infimum id
	// (divergence.go); each is also logged, at LevelError.
	Divergences []Divergence
	// Received, Flushes and Forks count work for the node's Stats.
	Received, Flushes, Forks int
}

func (e *Effects) reset() {
	clear(e.Replies)
	clear(e.Sends)
	clear(e.Logs)
	clear(e.Repropose)
	clear(e.Divergences)
	*e = Effects{Replies: e.Replies[:0], Sends: e.Sends[:0], Timers: e.Timers[:0], Logs: e.Logs[:0],
		Repropose: e.Repropose[:0], Divergences: e.Divergences[:0]}
}

// Ready is a flush in progress: Ready staged its writes into the shell's batch; once the
// batch is committed, Advance releases AfterCommit if the commit succeeded, and answers
// every waiter with the error if it failed. Nothing here may leave before the commit.
type Ready struct {
	// AfterCommit: the answers to fast calls, to consistent calls whose events folded,
	// and the diffs to other replicas, which acknowledge entries of the batch.
	AfterCommit Effects
	staged      bool  // the writes were staged (committed runs on success)
	err         error // why the flush failed before its commit
	// The fold as Ready left it, for the invariants' check in Advance.
	base    lattice.Base
	pending int
}

// Env is what the core reads of its node: membership, placement, and the node's handoff
// budget. The shell implements it on Node; the simulation, on its model of a node. Its
// methods must return at once and never step a replica.
type Env interface {
	// Partial reports whether the node's membership view may lack members
	// (discovery.View.Partial).
	Partial() bool
	// Leaving reports whether the node is handing its replicas over (a planned departure).
	Leaving() bool
	// ReplicaSet is where this node's membership places the partition.
	ReplicaSet(kind, key string) []lattice.Peer
	// Members is the membership gc decides with.
	Members() []gc.Member
	// Reachable reports whether a message to p would leave this node at all.
	Reachable(p lattice.Peer) bool
	// ReserveHandoff takes one of the node's handoff slots, if one is free;
	// ReleaseHandoff gives one back; Handoffs counts those taken.
	ReserveHandoff() bool
	ReleaseHandoff()
	Handoffs() int
}

// CounterFloor gives a replica activated on this node a floor for its Lamport clock (an
// Env may implement it): a counter the node has not issued in any copy of any partition.
// The copy of a partition that a node retired or discarded is deleted with its clock, and
// a later copy on the same node that starts from a stale state (a call during a split
// made it a replica again from the other side's view) would otherwise issue ids that the
// live history has folded already: every replica takes such an event for the earlier one
// with its id, and drops it. Acknowledged writes were lost so (the simulation's seeds
// 5738 and 7888 of its -sim.deletes histories). The node's floor is its hybrid logical
// clock in microseconds: above every counter a copy issued, as long as a partition does
// not log events faster than one a microsecond for as long as it lived.
type CounterFloor interface {
	CounterFloor() uint64
}

// Config is the replica's part of the node's configuration.
type Config struct {
	Self                lattice.Peer
	AttemptTimeout      time.Duration
	AntiEntropyInterval time.Duration
	GCInterval          time.Duration
	PassivateAfter      time.Duration
	GC                  gc.Config
	// HandoverHandoffs is the handoff budget of a departing node.
	HandoverHandoffs int
	// TimerFailover is how long after a partition's timer is due each next replica of its
	// placement fires it, should the ones before it not have (timers.go).
	TimerFailover time.Duration
	// TimerMark, if not 0, is the reason of the store marks (storage.Mark) that record
	// when each partition's earliest timer is due, for the node to wake it then.
	TimerMark storage.Reason
	// Outputs is the node's cache of request outputs, which its replicas share; nil: each
	// replica has a small one of its own.
	Outputs Outputs
}
