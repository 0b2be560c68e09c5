package actor

// The active-replica budget (Config.MaxActiveReplicas): each shard holds at most its
// share of it in memory. A shard keeps its replicas in the order they were last used (a
// call, a query, a replication message or a wake for the partition; their own timers do
// not count), and once an activation takes it over its share (or a gc tick finds it still
// over) it evicts the least
// recently used replicas that no peer still needs in memory (replica.Evictable), down to
// evictTo of its share, writing them with one commit. Evicted replicas are passivated
// ones: the next message for the partition loads it again from the store (by diff with
// its peers, sync.go). Replicas that are busy are skipped, so the budget is soft: a
// shard whose replicas all have work holds more than its share until they finish.

// evictTo is the fraction of its share a shard evicts down to, so that an activation
// over the budget does not cost a commit each.
const evictTo = 0.9

// evictScan bounds how many busy replicas one eviction round passes over, per replica it
// must evict: a shard whose least recently used replicas are all busy does not scan its
// whole list at every activation.
const evictScan = 4

// lru is a shard's replicas, most recently used first: a ring through a sentinel.
type lru struct{ head hosted }

func (l *lru) init() { l.head.prev, l.head.next = &l.head, &l.head }

// touch makes h the most recently used (adding it if it is not in the list).
func (l *lru) touch(h *hosted) {
	if l.head.next == h {
		return
	}
	if h.next != nil {
		l.unlink(h)
	}
	h.prev, h.next = &l.head, l.head.next
	l.head.next.prev = h
	l.head.next = h
}

func (l *lru) unlink(h *hosted) {
	if h.next == nil {
		return
	}
	h.prev.next, h.next.prev = h.next, h.prev
	h.prev, h.next = nil, nil
}

// shareOf is one shard's share of a node's budget of active replicas (none: 0).
func shareOf(budget, shards int) int {
	if budget <= 0 {
		return 0
	}
	return max(1, (budget+shards-1)/shards)
}

// evict brings the shard back under its share of the budget: see above. keep, if not
// nil, is the replica being activated, never evicted.
func (s *shard) evict(keep *hosted) {
	share := s.share
	if share == 0 || len(s.replicas) <= share {
		return
	}
	excess := len(s.replicas) - int(float64(share)*evictTo)
	b := &s.batch
	b.Reset()
	victims := s.victims[:0]
	scan := excess * evictScan
	for h := s.lru.head.prev; h != &s.lru.head && len(victims) < excess && scan > 0; h = h.prev {
		scan--
		if h == keep || !h.core.Evictable() {
			continue
		}
		staged := h.core.Final(b)
		if !staged && h.core.Keeps() {
			continue // it cannot write what it holds: it stays
		}
		if staged {
			s.stageMarks(h, b)
		}
		victims = append(victims, victim{h, staged})
	}
	if len(victims) > 0 && s.n.commit(b) == nil {
		for _, v := range victims {
			if v.staged {
				v.h.core.Committed()
			}
			s.lru.unlink(v.h)
			s.park(v.h)
			delete(s.replicas, v.h.id)
			s.n.countActive(v.h.id.kind, -1, "evicted")
			v.h.release(s.n)
		}
	}
	// On a failed commit they stay in memory, what they hold not on disk: the store's
	// failure stops the node (failstop.go), and until then they serve as before.
	clear(victims)
	s.victims = victims[:0]
}

// victim is a replica evict removes, and whether Final staged writes of it.
type victim struct {
	h      *hosted
	staged bool
}
