package actor

import (
	"context"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/trace"

	pa "github.com/legion-go/legion/actor/internal/protoactor/actor"

	"github.com/legion-go/legion/actor/internal/replica"
	"github.com/legion-go/legion/gc"
	"github.com/legion-go/legion/lattice"
)

// hosted is one replica as its shard hosts it: the core (actor/internal/replica, the
// protocol as a deterministic state machine) and what the shell keeps for it: its timers
// and the drain it reports to. The shard steps the core with the replica's messages and
// performs the effects each step returns (shard.perform).
type hosted struct {
	id       partitionID
	core     *replica.Replica
	tick, gc Timer // the anti-entropy and gc timers, made once, reset after
	sync     Timer
	due      Timer // the partition's durable timers' (timers.go)
	marks    uint8 // what it last wrote of its marks (marks.go)
	draining chan<- struct{}
	// trace: the span (a traced request's or replication message's handling) that the
	// replica's next flush is a child of; invalid when untraced.
	trace trace.SpanContext
	// prev, next: the shard's replicas in the order they were last used (budget.go).
	prev, next *hosted
}

// timerMsg is the message a replica's timer sends through its shard; reproposed, a
// re-proposal round's outcome. Each carries the replica, so that what an activation
// started does not reach the next activation of its partition.
type timerMsg struct {
	h    *hosted
	kind replica.TimerKind
	gen  uint64
}

type reproposed struct {
	h    *hosted
	done []string
}

// flushMsg is the shard's message to itself that flushes its dirty replicas.
type flushMsg struct{}

// perform does what a step of h's core asked (see replica.Effects); ctx is the shard's.
// A synchronous write comes last: its completion is a step of its own, which reuses the
// effects' buffers.
func (s *shard) perform(ctx pa.Context, h *hosted, eff *replica.Effects) {
	n := s.n
	for _, r := range eff.Replies {
		if to, ok := r.To.(*pa.PID); ok && to != nil {
			if len(s.trace.replies) > 0 {
				s.replied(to)
			}
			ctx.Send(to, r.Msg)
		}
	}
	for _, m := range eff.Sends {
		if n.tracer != nil {
			s.traceSend(m.To, m.Msg)
		}
		n.send(m.To, m.Msg)
	}
	for _, t := range eff.Timers {
		s.arm(h, t)
	}
	if n.metrics != nil && len(eff.Logs) > 0 {
		n.metrics.countLogs(h.id.kind, eff.Logs)
	}
	for _, l := range eff.Logs {
		level := slog.Level(l.Level)
		if level == slog.LevelInfo && n.leaving.Load() {
			level = slog.LevelDebug // a planned departure's handoffs: Node.handOver logs their sum
		}
		n.log.Log(context.Background(), level, l.Msg, append([]any{"partition", h.core.Origin()}, l.Args...)...)
	}
	if eff.Received > 0 {
		n.stats.received.Add(int64(eff.Received))
	}
	if eff.Flushes > 0 {
		n.stats.flushes.Add(int64(eff.Flushes))
	}
	if eff.Forks > 0 {
		n.stats.forks.Add(int64(eff.Forks))
	}
	for _, d := range eff.Divergences {
		n.diverged(h.id.kind, h.id.key, d)
	}
	if eff.Report != nil {
		n.shells.Delete(h.id)
		n.replicas.Store(h.id, *eff.Report)
		if len(h.core.Renegades()) > 0 {
			n.renegading.Store(h.id, struct{}{})
		} else {
			n.renegading.Delete(h.id)
		}
	}
	if eff.Drained && h.draining != nil {
		select {
		case h.draining <- struct{}{}:
		default: // the node stopped waiting
		}
		h.draining = nil
	}
	if len(eff.Repropose) > 0 {
		s.repropose(h, eff.Repropose)
	}
	if eff.Flush {
		s.queueFlush(ctx, h)
	}
	if eff.Write != nil {
		s.stageMarks(h, eff.Write)
		err := n.commit(eff.Write)
		s.perform(ctx, h, h.core.Written(n.cfg.Clock.Now(), err))
	}
}

// arm starts one of h's timers: its message reaches h through the shard.
func (s *shard) arm(h *hosted, t replica.Timer) {
	shard, root, clock := s.self, s.n.system.Root, s.n.cfg.Clock
	switch t.Kind {
	case replica.TickTimer:
		resetOrMake(clock, &h.tick, t.After, func() { root.Send(shard, timerMsg{h: h, kind: replica.TickTimer}) })
	case replica.GCTimer:
		resetOrMake(clock, &h.gc, t.After, func() { root.Send(shard, timerMsg{h: h, kind: replica.GCTimer}) })
	case replica.SyncTimer:
		if h.sync != nil {
			h.sync.Stop()
		}
		msg := timerMsg{h: h, kind: replica.SyncTimer, gen: t.Gen}
		h.sync = clock.AfterFunc(t.After, func() { root.Send(shard, msg) })
	case replica.DueTimer:
		if h.due != nil {
			h.due.Stop()
		}
		msg := timerMsg{h: h, kind: replica.DueTimer, gen: t.Gen}
		h.due = clock.AfterFunc(t.After, func() { root.Send(shard, msg) })
	}
}

func resetOrMake(c Clock, t *Timer, d time.Duration, f func()) {
	if *t == nil {
		*t = c.AfterFunc(d, f)
		return
	}
	(*t).Reset(d)
}

// repropose runs a re-proposal round of h's renegades on a goroutine of the node's; its
// outcome comes back to h through the shard.
func (s *shard) repropose(h *hosted, list []lattice.Entry[[]byte]) {
	n := s.n
	if n.stopped.Load() {
		return
	}
	list = append([]lattice.Entry[[]byte](nil), list...)
	kind, key, shard, root := h.id.kind, h.id.key, s.self, n.system.Root
	n.background(func(ctx context.Context) {
		var done []string
		for _, e := range list {
			if n.repropose(ctx, kind, key, &e) {
				done = append(done, e.Delta.Req)
			}
		}
		root.Send(shard, reproposed{h: h, done: done})
	})
}

// release stops h's timers (a timer that fired already is dropped by the shard) and gives
// back what it holds of the node's.
func (h *hosted) release(n *Node) {
	for _, t := range []Timer{h.tick, h.gc, h.sync, h.due} {
		if t != nil {
			t.Stop()
		}
	}
	n.replicas.Delete(h.id)
	n.renegading.Delete(h.id)
	if h.core.OnlyTombstone() {
		n.shells.Store(h.id, struct{}{})
	} else {
		n.shells.Delete(h.id)
	}
	n.timerWakes.passivated(h)
	h.core.Release()
}

// foldMaker makes a kind's empty folds (KindSpec.folds).
type foldMaker = func(origin string, self lattice.Peer) replica.Fold

// env is what a replica's core reads of its node (replica.Env).
type env struct{ n *Node }

// Partial is also true until the node's first wake pass has settled: a node that just
// (re)started knows only the members it sees, not those its stored replicas name, so by
// itself it may see a majority on the minority side of a split (the simulation found
// forks so, seed 1752).
func (e env) Partial() bool                              { return e.n.View().Partial || !e.n.members.hasSettled() }
func (e env) Leaving() bool                              { return e.n.leaving.Load() }
func (e env) ReplicaSet(kind, key string) []lattice.Peer { return e.n.replicaSet(kind, key) }
func (e env) Members() []gc.Member                       { return e.n.gcMembers() }
func (e env) Reachable(p lattice.Peer) bool              { return e.n.reachable(p) }
func (e env) ReserveHandoff() bool                       { return e.n.reserveHandoff() }
func (e env) CounterFloor() uint64                       { return uint64(e.n.clock.Now() / 1000) }
func (e env) ReleaseHandoff()                            { e.n.releaseHandoff() }
func (e env) Handoffs() int                              { return int(e.n.inFlight.Load()) }
func (e env) TakeTimer(now time.Time) time.Duration      { return e.n.timerBudget.take(now) }

// replicaConfig is the replicas' part of c.
func (c Config) replicaConfig(self lattice.Peer) replica.Config {
	return replica.Config{Self: self, AttemptTimeout: c.AttemptTimeout, AntiEntropyInterval: c.AntiEntropyInterval,
		GCInterval: c.GCInterval, PassivateAfter: c.PassivateAfter, GC: c.gcConfig(), HandoverHandoffs: handoverHandoffs,
		TimerFailover: c.TimerFailover, TimerMark: markTimer,
		Outputs: newNodeOutputs(c.OutputCacheBytes)}
}

func peerStrings(ps []lattice.Peer) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = string(p)
	}
	return out
}
