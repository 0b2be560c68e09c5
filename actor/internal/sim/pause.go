package sim

import (
	"time"
)

// A pause (Options.Pauses) freezes a node as SIGSTOP does: it processes nothing, its
// timers do not fire, its clock runs on, while the others go on. Their views drop it
// within 3 s (it answers no probe), and past EjectAfter their gc ejects it. What comes due
// on it meanwhile waits: its own timers (replicas' ticks, flushes, sweeps, wake passes, its
// Refs' attempt timeouts, its view's refreshes, its departure's steps, the calls its
// clients make) and the messages delivered to it, which a TCP or gRPC stream would have
// buffered. When it resumes it runs them, in the order they came due, all at once; in half
// the pauses it drops a random part (up to half) of the held messages first, as broken
// streams would.

// held is one thing that came due on a paused node.
type held struct {
	fn  func()
	msg bool // a message delivered to it (a resume may drop it), not a timer
}

// run runs fn now, or, while the node is paused, when it resumes.
func (n *Node) run(fn func()) {
	if n.paused {
		n.held = append(n.held, held{fn: fn})
		return
	}
	fn()
}

// after runs fn on the node d from now (n.run).
func (n *Node) after(d time.Duration, fn func()) {
	n.w.after(d, func() { n.run(fn) })
}

// receive delivers a message to the node in this life, now or, while it is paused, when
// it resumes (unless the resume drops it).
func (n *Node) receive(life int, deliver func(n *Node)) {
	if !n.paused {
		deliver(n)
		return
	}
	n.held = append(n.held, held{msg: true, fn: func() {
		if n.up && n.life == life {
			deliver(n)
		}
	}})
}

// schedulePauses draws 1 to 3 pauses over the active period: half of them shorter than
// EjectAfter (1 to 9 s), half longer (11 to 30 s).
func (w *World) schedulePauses(active time.Duration) {
	pauses := 1 + w.rng.IntN(3)
	for range pauses {
		at := time.Duration(w.rng.Int64N(int64(active)))
		var length time.Duration
		if w.rng.IntN(2) == 0 {
			length = time.Second + time.Duration(w.rng.Int64N(int64(8*time.Second)))
		} else {
			length = 11*time.Second + time.Duration(w.rng.Int64N(int64(19*time.Second)))
		}
		drop := 0.0
		if w.rng.IntN(2) == 0 {
			drop = w.rng.Float64() / 2
		}
		w.after(at, func() {
			n := w.nodes[w.rng.IntN(len(w.nodes))]
			if !n.up || n.paused || w.healed {
				return
			}
			w.res.Pauses++
			n.paused, n.dropRate = true, drop
			n.pauseGen++
			gen := n.pauseGen
			w.logf("%s pauses for %s (drops %.0f%% of what waits for it)", n.peer, length.Round(time.Millisecond), 100*drop)
			w.disturb(w.now.Add(length + 3*time.Second))
			w.membershipChanged(3 * time.Second)
			w.after(length, func() {
				if n.paused && n.pauseGen == gen {
					n.resume()
				}
			})
		})
	}
}

// resume ends the node's pause: it runs what came due on it meanwhile, in order.
func (n *Node) resume() {
	if !n.paused {
		return
	}
	w := n.w
	n.paused = false
	queue := n.held
	n.held = nil
	msgs, dropped := 0, 0
	for _, h := range queue {
		if h.msg {
			msgs++
			if n.dropRate > 0 && w.rng.Float64() < n.dropRate {
				dropped++
				continue
			}
		}
		h.fn()
	}
	w.logf("%s resumes: %d timers and %d messages held, %d of them dropped", n.peer, len(queue)-msgs, msgs, dropped)
	w.membershipChanged(2 * time.Second)
}
