package actor

import (
	"sync"
	"time"
)

// hlc is a hybrid logical clock: timestamps (nanoseconds since the Unix epoch) that follow
// physical time, never go backwards, and are above every timestamp the node has seen in
// events from other nodes. Safe for concurrent use.
type hlc struct {
	mu   sync.Mutex
	last int64
	now  func() time.Time
}

func (c *hlc) Now() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.now().UnixNano()
	if t <= c.last {
		t = c.last + 1
	}
	c.last = t
	return t
}

// Observe moves the clock past a timestamp seen in a remote event.
func (c *hlc) Observe(t int64) {
	c.mu.Lock()
	if t > c.last {
		c.last = t
	}
	c.mu.Unlock()
}
