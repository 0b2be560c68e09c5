package actor

import (
	pa "github.com/legion-go/legion/actor/internal/protoactor/actor"

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
	replicas map[partitionID]*replica

	// dirty: the replicas that queued a flush. The first queues one flushMsg to the shard,
	// which flushes them all, so a burst over many partitions costs one message.
	dirty, spare []*replica
	flushQueued  bool
	batch        storage.Batch // flush's, reused
}

// replicaMsg is a message from a replica's timer. It carries the replica, so that a timer
// of a removed activation does not reach the next activation of its partition.
type replicaMsg struct {
	r   *replica
	msg any
}

func newShard(n *Node) *shard { return &shard{n: n, replicas: map[partitionID]*replica{}} }

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
		s.deliver(ctx, s.replica(ctx, m.GetTo()), m)
	case *wire.Query:
		s.deliver(ctx, s.replica(ctx, m.GetTo()), m)
	case *wire.Replicate:
		s.deliver(ctx, s.replica(ctx, m.GetTo()), m)
	case *wake:
		s.deliver(ctx, s.activate(ctx, m.id), m)
	case replicaMsg:
		if s.replicas[m.r.id] == m.r {
			s.deliver(ctx, m.r, m.msg)
		}
	case flushMsg:
		s.flush(ctx)
	case *drain:
		for _, r := range s.replicas {
			s.deliver(ctx, r, m)
		}
		ctx.Respond(len(s.replicas))
	case *resync:
		for _, r := range s.replicas {
			s.deliver(ctx, r, m)
		}
	case *pa.Started:
		s.self = ctx.Self()
	case *pa.Stopping:
		s.stopAll()
	case *pa.Restarting:
		// A handler panicked: the shard starts over empty and its replicas come back from
		// the store on demand. What they held in memory only is not written (nothing of it
		// was acknowledged): it may be what made one panic.
		s.n.log.Error("a shard panicked: its replicas start over from the store", "replicas", len(s.replicas))
		for _, r := range s.replicas {
			r.release()
			delete(s.replicas, r.id)
		}
	}
}

func (s *shard) replica(ctx pa.Context, t *wire.Target) *replica {
	return s.activate(ctx, partitionID{t.Kind, t.Key})
}

// activate returns the partition's replica, loading it from the store if it is not
// active.
func (s *shard) activate(ctx pa.Context, id partitionID) *replica {
	if r, ok := s.replicas[id]; ok {
		return r
	}
	for {
		r := newReplica(s.n, s, s.n.kinds[id.kind], id.key)
		s.replicas[id] = r // before start, which may queue a flush
		r.start(ctx)
		if !r.leaving {
			return r
		}
		// Discarded as soon as it loaded (an ejected copy): the store holds nothing for
		// the partition any more, and a new activation starts from that.
		s.remove(r)
	}
}

// deliver hands r one message, and removes r if it decided to go meanwhile.
func (s *shard) deliver(ctx pa.Context, r *replica, msg any) {
	r.receive(ctx, msg)
	if r.leaving {
		s.remove(r)
	}
}

// remove stops r (it writes what it holds) and forgets it.
func (s *shard) remove(r *replica) {
	if s.replicas[r.id] != r {
		return
	}
	delete(s.replicas, r.id)
	r.stop()
}

// stopAll stops every replica, writing what they hold in one commit: one at a time, a
// node on an fsyncing store with thousands of active replicas took an fsync per replica
// per shard to stop.
func (s *shard) stopAll() {
	b := &s.batch
	b.Reset()
	staged := make([]*replica, 0, len(s.replicas))
	for _, r := range s.replicas {
		if r.keeps() && r.stage(b, true, nil) == nil {
			staged = append(staged, r)
		}
	}
	if err := s.n.commit(b); err == nil { // else best effort, as stop's: folded again after a restart
		for _, r := range staged {
			r.committed()
		}
	}
	for id, r := range s.replicas {
		delete(s.replicas, id)
		r.release()
	}
}

// queueFlush has r flushed at the shard's next flushMsg, which it queues behind whatever
// the mailbox holds already (so that a flush batches it).
func (s *shard) queueFlush(ctx pa.Context, r *replica) {
	s.dirty = append(s.dirty, r)
	if !s.flushQueued {
		s.flushQueued = true
		ctx.Send(s.self, flushMsg{})
	}
}

// flush flushes the dirty replicas with one store commit: each stages its writes into
// the shard's batch, and once the batch is durable each answers and replicates. So a
// burst over many partitions costs one commit (and with an fsyncing store one fsync).
func (s *shard) flush(ctx pa.Context) {
	s.flushQueued = false
	dirty := s.dirty
	s.dirty = s.spare[:0]
	b := &s.batch
	b.Reset()
	staged := dirty[:0] // filtered in place
	for _, r := range dirty {
		if s.replicas[r.id] != r || !r.flushQueued {
			continue
		}
		if err := r.stageFlush(b); err != nil {
			s.finish(ctx, r, err)
			continue
		}
		staged = append(staged, r)
	}
	err := s.n.commit(b)
	for _, r := range staged {
		s.finish(ctx, r, err)
	}
	clear(dirty)
	s.spare = dirty[:0]
}

func (s *shard) finish(ctx pa.Context, r *replica, err error) {
	r.finishFlush(ctx, err)
	if r.leaving {
		s.remove(r)
	}
}
