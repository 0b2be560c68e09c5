package actor

import (
	"sync"
	"time"
)

// Clock is a node's time: every timestamp, timer and ticker of the runtime reads it (the
// replicas' core takes the time as an input, from it). Default SystemClock. A test may
// inject its own, as the simulation of actor/internal/sim drives the replica core without
// one; contexts' deadlines remain the system clock's, as the standard library's are.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f on a goroutine of its own once d has passed, unless the timer is
	// stopped first (time.AfterFunc's contract).
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a timer a Clock started; *time.Timer is one.
type Timer interface {
	Stop() bool
	Reset(d time.Duration) bool
}

// SystemClock is the system's clock.
type SystemClock struct{}

func (SystemClock) Now() time.Time                            { return time.Now() }
func (SystemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// after returns a channel closed once d has passed on c, and the timer that closes it.
func after(c Clock, d time.Duration) (<-chan struct{}, Timer) {
	ch := make(chan struct{})
	t := c.AfterFunc(d, func() { close(ch) })
	return ch, t
}

// ticker delivers a tick every d on c (ticks are dropped while one waits, as
// time.Ticker's), until stop is called.
type ticker struct {
	C    chan struct{}
	stop chan struct{}
	mu   sync.Mutex // guards t: the first tick may fire before AfterFunc returns
	t    Timer
}

func newTicker(c Clock, d time.Duration) *ticker {
	tk := &ticker{C: make(chan struct{}, 1), stop: make(chan struct{})}
	fire := func() {
		select {
		case <-tk.stop:
			return
		default:
		}
		select {
		case tk.C <- struct{}{}:
		default:
		}
		tk.mu.Lock()
		tk.t.Reset(d)
		tk.mu.Unlock()
	}
	tk.mu.Lock()
	tk.t = c.AfterFunc(d, fire)
	tk.mu.Unlock()
	return tk
}

func (tk *ticker) Stop() {
	close(tk.stop)
	tk.mu.Lock()
	tk.t.Stop()
	tk.mu.Unlock()
}
