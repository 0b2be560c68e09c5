package sim

import (
	"maps"
	"slices"
	"time"

	"github.com/legion-go/legion/lattice"
)

// Pending stays bounded while a partition's participants are live. Once the cluster has
// been calm for calmFor (no split, crash, restart, join, departure or membership lag began
// or ended, and every view caught up), a replica whose infimum's participants are all up
// and reach it holds no more pending entries than the calls made to its partition in that
// time, plus pendingSlack (membership changes, a re-proposal). A log that grows while
// everyone it waits for is there is a stall the end-of-history checks would see only if it
// lasted; this sees it while it happens.
const (
	calmFor      = 10 * time.Second
	pendingSlack = 8
	sampleEvery  = time.Second
)

// disturb marks the cluster not calm until at least until.
func (w *World) disturb(until time.Time) {
	if until.After(w.calmFrom) {
		w.calmFrom = until
	}
}

// called records a call (an attempt of an op, retries included) on key.
func (w *World) called(key string) {
	if w.calls == nil {
		w.calls = map[string][]time.Time{}
	}
	w.calls[key] = append(w.calls[key], w.now)
}

// samplePending checks the bound now, and again every sampleEvery until end.
func (w *World) samplePending(end time.Time) {
	if !w.now.Before(end) {
		return
	}
	w.after(sampleEvery, func() { w.samplePending(end) })
	if w.now.Sub(w.calmFrom) < calmFor {
		return
	}
	for _, n := range w.nodes {
		if !n.up {
			continue
		}
		for _, key := range slices.Sorted(maps.Keys(n.reps)) {
			r := n.reps[key]
			st := r.Fold().State()
			if !st.HasBase || !st.Participant || st.Pending == 0 || !w.allLive(n, st.Participants) {
				continue
			}
			if bound := w.recentCalls(key) + pendingSlack; st.Pending > bound {
				w.violate("%s on %s: %d deltas pending after %s of calm with every participant live (bound %d): %s",
					key, n.peer, st.Pending, w.now.Sub(w.calmFrom).Round(time.Second), bound, describe(r))
				w.pendingOver = true
			}
		}
	}
	if w.pendingOver {
		w.calmFrom = end // one report per history is enough
	}
}

// allLive reports whether every peer of ps is up and reaches n.
func (w *World) allLive(n *Node, ps []lattice.Peer) bool {
	for _, p := range ps {
		m := w.byPeer[p]
		if m == nil || !w.linked(n, m) {
			return false
		}
	}
	return true
}

// recentCalls counts the calls made on key within the last calmFor.
func (w *World) recentCalls(key string) int {
	c := 0
	for _, t := range w.calls[key] {
		if w.now.Sub(t) <= calmFor {
			c++
		}
	}
	return c
}
