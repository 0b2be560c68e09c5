package actor

import (
	"math"
	"sync"
	"time"

	"github.com/legion-go/legion/actor/internal/replica"
	"github.com/legion-go/legion/storage"
)

// timerBucket is the node's budget of durable timers (Config.TimerRate a second, as a
// token bucket holding at most a second's worth): after an outage, the timers that fell
// due fire at that rate, not in one flood. Safe for concurrent use.
type timerBucket struct {
	mu     sync.Mutex
	rate   float64 // tokens a second; <= 0: no bound
	tokens float64
	last   time.Time
}

func newTimerBucket(rate int) *timerBucket {
	return &timerBucket{rate: float64(rate), tokens: float64(rate)}
}

// take takes a token at now and returns 0, or, if none is left, how long until one is.
func (b *timerBucket) take(now time.Time) time.Duration {
	if b == nil || b.rate <= 0 {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.last.IsZero() && now.After(b.last) {
		b.tokens = min(b.rate, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	if now.After(b.last) {
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return 0
	}
	return max(time.Millisecond, time.Duration((1-b.tokens)/b.rate*float64(time.Second)))
}

// timerWakes wakes passivated replicas when their durable timers are due. Each replica
// with a timer keeps a store mark (markTimer, Due: when it fires it) up to date with its
// writes; the node lists those marks once at start (load), and learns of the later ones
// when their replicas passivate (add). One Clock timer, at the earliest, sends each due
// partition a timerWake: the shard activates it from the store, it arms its timers
// again, and removes the mark it was woken for unless that is still its own. So a node
// reads the marks it needs, never every stored partition. Safe for concurrent use; stop
// stops its timer.
type timerWakes struct {
	mu      sync.Mutex
	n       *Node
	due     map[partitionID]int64 // Unix ns
	timer   Timer
	timerAt int64
	stopped bool
}

// timerWake is the message timerWakes sends through the router to a due partition.
type timerWake struct {
	id  partitionID
	due int64
}

// load lists the store's timer marks (at start).
func (w *timerWakes) load(s storage.Store) error {
	return s.Marked(markTimer, math.MaxInt64, func(m storage.Mark) bool {
		w.add(partitionID{m.Partition.Kind, m.Partition.Key}, m.Due)
		return true
	})
}

// add asks for a wake of id at due (replacing an earlier request of id's).
func (w *timerWakes) add(id partitionID, due int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	if w.due == nil {
		w.due = map[partitionID]int64{}
	}
	if at, ok := w.due[id]; !ok || due < at {
		w.due[id] = due
	}
	w.armLocked()
}

func (w *timerWakes) armLocked() {
	first, any := int64(math.MaxInt64), false
	for _, at := range w.due {
		first, any = min(first, at), true
	}
	if !any || w.timer != nil && w.timerAt <= first {
		return
	}
	if w.timer != nil {
		w.timer.Stop()
	}
	w.timerAt = first
	w.timer = w.n.cfg.Clock.AfterFunc(max(0, time.Unix(0, first).Sub(w.n.cfg.Clock.Now())), w.fire)
}

// fire wakes the partitions that are due and arms the timer for the next.
func (w *timerWakes) fire() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.timer = nil
	if w.stopped {
		return
	}
	now := w.n.cfg.Clock.Now().UnixNano()
	for id, at := range w.due {
		if at <= now {
			delete(w.due, id)
			w.n.system.Root.Send(w.n.router, &timerWake{id: id, due: at})
		}
	}
	w.armLocked()
}

func (w *timerWakes) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	if w.timer != nil {
		w.timer.Stop()
	}
}

// passivated records, as h leaves its shard, when its next timer is due (its store mark
// says so too, for a restart).
func (w *timerWakes) passivated(h *hosted) {
	if h.core.Life() != replica.Leaving {
		return
	}
	if at, ok := h.core.NextTimer(); ok {
		w.add(h.id, at)
	}
}
