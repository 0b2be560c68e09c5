package actor

import (
	"go.opentelemetry.io/otel/trace"

	pa "github.com/legion-go/legion/actor/internal/protoactor/actor"

	"github.com/legion-go/legion/actor/internal/replica"
	"github.com/legion-go/legion/actor/internal/wire"
	"github.com/legion-go/legion/storage"
)

// shard is a child actor of the router that hosts the replicas of the partitions that
// hash to it (shardOf). It activates a replica on its first message (from the store),
// hands it its messages one at a time, and removes it when it passivates, retires or is
// discarded. Since the shard alone routes its partitions' messages, a replica it removed
// gets nothing more, and the next message for the partition activates a new one.
//
// Why shards (Config.Shards of them), not an actor per replica: with thousands of
// replicas, scheduling each message on its own mailbox cost more CPU than the replicas'
// work. A shard's mailbox stays busy (each run processes many messages), its flush
// commits all its dirty replicas at once, and a few shards per core still let the cores
// work in parallel and overlap one shard's commit with the others' work.
type shard struct {
	n        *Node
	self     *pa.PID
	replicas map[partitionID]*hosted

	// dirty: the replicas that queued a flush. The first queues one flushMsg to the shard,
	// which flushes them all, so a burst over many partitions costs one message.
	dirty, spare []*hosted
	readies      []ready
	flushQueued  bool
	batch        storage.Batch // flush's and stopAll's, reused
	single       storage.Batch // remove's
	trace        tracing       // tracing.go

	// The active-replica budget (budget.go): the replicas by last use, this shard's share
	// of Config.MaxActiveReplicas (0: no bound), and evict's list, reused.
	lru     lru
	share   int
	victims []victim

	// parked: the outputs owners of replicas that left memory idle, handed to the
	// partition's next activation (parked.go).
	parked parkedOwners
}

type ready struct {
	h  *hosted
	rd *replica.Ready
}

func newShard(n *Node) *shard {
	s := &shard{n: n, replicas: map[partitionID]*hosted{}, share: shareOf(n.cfg.MaxActiveReplicas, n.cfg.Shards)}
	s.lru.init()
	return s
}

// shardOf maps a partition to one of n shards: FNV-1a over its kind and key.
func shardOf(kind, key string, n int) int {
	const prime = 16777619
	h := uint32(2166136261)
	for i := 0; i < len(kind); i++ {
		h = (h ^ uint32(kind[i])) * prime
	}
	h *= prime // a zero byte between kind and key: ("ab", "c") and ("a", "bc") differ
	for i := 0; i < len(key); i++ {
		h = (h ^ uint32(key[i])) * prime
	}
	return int(h % uint32(n))
}

func (s *shard) Receive(ctx pa.Context) {
	switch m := ctx.Message().(type) {
	case *wire.Call:
		h := s.replica(ctx, m.GetTo())
		if m.Trace != nil && s.n.tracer != nil {
			s.traceRequest("legion.replica.call", h, m.Trace, ctx.Sender())
			defer s.untrace(h)
		}
		s.n.observeTime(m.GetTime(), "a call") // hlc.go: the event is stamped after the caller's time
		s.step(ctx, h, h.core.Call(s.n.cfg.Clock.Now(), m, ctx.Sender(), s.n.clock.Now()))
	case *wire.Query:
		h := s.replica(ctx, m.GetTo())
		if m.Trace != nil && s.n.tracer != nil {
			s.traceRequest("legion.replica.query", h, m.Trace, ctx.Sender())
			defer s.untrace(h)
		}
		s.step(ctx, h, h.core.Query(s.n.cfg.Clock.Now(), m, ctx.Sender()))
	case *wire.Replicate:
		h := s.replica(ctx, m.GetTo())
		if m.Trace != nil && s.n.tracer != nil {
			if span := s.traceReplicate(h, m); span != nil {
				defer span.End()
			}
			defer s.untrace(h)
		}
		s.n.observeReplicate(m)
		s.step(ctx, h, h.core.Replicate(s.n.cfg.Clock.Now(), m))
	case *wake:
		if h, ok := s.replicas[m.id]; ok {
			// Active already: it reconsiders its partition at its next gc tick, and a wake
			// (an input) would only hold off its passivation.
			h.marks = 0 // the pass may have marked it: write its marks again
			return
		}
		h := s.activate(ctx, m.id)
		h.marks = 0
		s.step(ctx, h, h.core.Wake(s.n.cfg.Clock.Now()))
		s.clearMarks(h)
	case *timerWake:
		h := s.activate(ctx, m.id)
		s.step(ctx, h, h.core.WakeTimer(s.n.cfg.Clock.Now(), m.due))
	case timerMsg:
		if s.replicas[m.h.id] != m.h {
			return
		}
		now := s.n.cfg.Clock.Now()
		switch m.kind {
		case replica.TickTimer:
			s.step(ctx, m.h, m.h.core.Tick(now))
		case replica.GCTimer:
			s.step(ctx, m.h, m.h.core.GCTick(now))
			s.evict(nil) // replicas busy at the last activation may be idle now
		case replica.SyncTimer:
			s.step(ctx, m.h, m.h.core.SyncTimeout(now, m.gen))
		case replica.DueTimer:
			s.step(ctx, m.h, m.h.core.FireTimers(now, s.n.clock.Now(), m.gen))
		}
	case reproposed:
		if s.replicas[m.h.id] == m.h {
			s.step(ctx, m.h, m.h.core.Reproposed(s.n.cfg.Clock.Now(), m.done))
		}
	case flushMsg:
		s.flush(ctx)
	case *drain:
		for _, h := range s.replicas {
			h.draining = m.done
			s.step(ctx, h, h.core.Drain(s.n.cfg.Clock.Now()))
		}
		ctx.Respond(len(s.replicas))
	case *resync:
		for _, h := range s.replicas {
			s.step(ctx, h, h.core.Resync(s.n.cfg.Clock.Now()))
		}
	case *pa.Started:
		s.self = ctx.Self()
	case *pa.Stopping:
		s.endTraces("replica stopped")
		s.stopAll()
	case *pa.Restarting:
		// A handler panicked: the shard starts over empty and its replicas come back from
		// the store on demand. What they held in memory only is not written (nothing of it
		// was acknowledged): it may be what made one panic.
		s.n.log.Error("a shard panicked: its replicas start over from the store", "replicas", len(s.replicas))
		s.endTraces("shard restarted")
		for id, h := range s.replicas {
			h.release(s.n)
			delete(s.replicas, id)
			s.n.countActive(id.kind, -1, "restarted")
		}
		s.lru.init()
		s.dirty, s.flushQueued = s.dirty[:0], false
	}
}

func (s *shard) replica(ctx pa.Context, t *wire.Target) *hosted {
	return s.activate(ctx, partitionID{t.Kind, t.Key})
}

// activate returns the partition's replica, loading it from the store if it is not
// active.
func (s *shard) activate(ctx pa.Context, id partitionID) *hosted {
	if h, ok := s.replicas[id]; ok {
		s.lru.touch(h)
		return h
	}
	n := s.n
	folds := n.folds[id.kind]
	origin := id.kind + "/" + id.key
	for {
		h := &hosted{id: id, core: replica.New(&n.rcfg, env{n}, id.kind, id.key,
			func() replica.Fold { return folds(origin, n.peer) })}
		if owner, ok := s.parked.take(id); ok {
			h.core.ResumeOutputs(owner)
		}
		s.replicas[id] = h // before Start, which may queue a flush
		s.n.countActive(id.kind, 1, "")
		rec, found, err := n.store.Load(storage.Partition{Kind: id.kind, Key: id.key})
		if !found && err == nil {
			h.marks = marksKnown // nothing stored: no mark either (a stale one is a wake's to clear)
		}
		s.lru.touch(h)
		s.perform(ctx, h, h.core.Start(n.cfg.Clock.Now(), rec, found, err))
		if h.core.OnlyTombstone() {
			n.shells.Store(id, struct{}{}) // nothing to hand over (leave.go)
		}
		if !h.core.Life().Gone() {
			s.evict(h)
			return h
		}
		// Discarded as soon as it loaded (an ejected copy): the store holds nothing for
		// the partition any more, and a new activation starts from that.
		s.remove(h)
	}
}

// step performs the effects of one of h's steps, and removes h if it decided to go.
func (s *shard) step(ctx pa.Context, h *hosted, eff *replica.Effects) {
	s.perform(ctx, h, eff)
	if h.core.Life().Gone() {
		s.remove(h)
	}
}

// remove writes what h holds (unless it discarded its copy, which is deleted and must stay
// so) and forgets it.
func (s *shard) remove(h *hosted) {
	if s.replicas[h.id] != h {
		return
	}
	delete(s.replicas, h.id)
	s.lru.unlink(h)
	s.n.countActive(h.id.kind, -1, removal(h))
	b := &s.single
	b.Reset()
	written := true
	if h.core.Final(b) {
		s.stageMarks(h, b)
		if written = s.n.commit(b) == nil; written {
			h.core.Committed()
		}
	}
	if written {
		s.park(h)
	}
	h.release(s.n)
}

// park keeps h's outputs owner for the partition's next activation, if h left memory idle
// with what it holds written (replica.OutputsOwner).
func (s *shard) park(h *hosted) {
	if owner, ok := h.core.OutputsOwner(); ok {
		s.parked.park(h.id, owner)
	}
}

// stopAll stops every replica, writing what they hold in one commit: one at a time, a
// node on an fsyncing store with thousands of active replicas took an fsync per replica
// per shard to stop.
func (s *shard) stopAll() {
	b := &s.batch
	b.Reset()
	staged := make([]*hosted, 0, len(s.replicas))
	for _, h := range s.replicas {
		if h.core.Final(b) {
			s.stageMarks(h, b)
			staged = append(staged, h)
		}
	}
	if err := s.n.commit(b); err == nil { // else best effort, as remove's: folded again after a restart
		for _, h := range staged {
			h.core.Committed()
		}
	}
	for id, h := range s.replicas {
		delete(s.replicas, id)
		s.n.countActive(id.kind, -1, "stopped")
		h.release(s.n)
	}
	s.lru.init()
}

// queueFlush has h flushed at the shard's next flushMsg, which it queues behind whatever
// the mailbox holds already (so that a flush batches it).
func (s *shard) queueFlush(ctx pa.Context, h *hosted) {
	s.dirty = append(s.dirty, h)
	if !s.flushQueued {
		s.flushQueued = true
		ctx.Send(s.self, flushMsg{})
	}
}

// flush flushes the dirty replicas with one store commit: each stages its writes into
// the shard's batch (Ready), and once the batch is durable each answers and replicates
// (Advance). So a burst over many partitions costs one commit (and with an fsyncing store
// one fsync).
func (s *shard) flush(ctx pa.Context) {
	s.flushQueued = false
	dirty := s.dirty
	s.dirty = s.spare[:0]
	b := &s.batch
	b.Reset()
	now := s.n.cfg.Clock.Now()
	readies := s.readies[:0]
	for _, h := range dirty {
		if s.replicas[h.id] != h || !h.core.Dirty() {
			continue
		}
		readies = append(readies, ready{h, h.core.Ready(now, b)})
		s.stageMarks(h, b)
	}
	var flushSpan, commitSpan trace.Span
	if s.n.tracer != nil {
		flushSpan, commitSpan = s.startFlush(readies)
	}
	err := s.n.commit(b)
	if commitSpan != nil {
		endSpan(commitSpan, err)
	}
	for _, r := range readies {
		if flushSpan == nil {
			s.step(ctx, r.h, r.h.core.Advance(now, r.rd, err))
			continue
		}
		if r.h.trace.IsValid() {
			s.trace.sends = flushSpan.SpanContext()
		}
		r.h.trace = trace.SpanContext{}
		s.step(ctx, r.h, r.h.core.Advance(now, r.rd, err))
		s.trace.sends = trace.SpanContext{}
	}
	if flushSpan != nil {
		endSpan(flushSpan, err)
	}
	clear(readies)
	s.readies = readies[:0]
	clear(dirty)
	s.spare = dirty[:0]
}
