package actor

import (
	"slices"
	"sync"
	"time"

	"github.com/legion-go/legion/lattice"
)

// Failover that learns: a replica that let an attempt time out is, for suspectFor, tried
// after the partition's other replicas (by every call and query of this node, for every
// partition), so that with one replica cut off only the first call from this side pays
// the attempt timeout. It is still tried, last: moving it changes which replica answers,
// never what a call does (any replica of the set may handle any call). An answer from it
// clears it at once; otherwise it is first again once its entry expires, and one call pays
// the timeout to learn whether it is back.

// suspectFor is how long a replica that timed out goes last: many attempt timeouts, so
// that a cut-off replica costs a call one timeout now and then, not each call.
func suspectFor(attemptTimeout time.Duration) time.Duration {
	return max(15*attemptTimeout, time.Second)
}

// suspects is the node's table of replicas that timed out and until when they go last;
// its zero value is empty. Safe for concurrent use.
type suspects struct {
	mu    sync.Mutex
	until map[lattice.Peer]time.Time
}

// timedOut records that p let an attempt time out at now.
func (s *suspects) timedOut(p lattice.Peer, now time.Time, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.until == nil {
		s.until = map[lattice.Peer]time.Time{}
	}
	s.until[p] = now.Add(d)
}

// answered clears p (it answered an attempt).
func (s *suspects) answered(p lattice.Peer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.until, p) // a no-op on a nil map
}

// order returns set with the replicas suspected at now moved after the others (each
// group in set's order), forgetting expired entries. It returns set itself when no
// replica of it is suspected.
func (s *suspects) order(set []lattice.Peer, now time.Time) []lattice.Peer {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.until) == 0 {
		return set
	}
	suspected := func(p lattice.Peer) bool {
		until, ok := s.until[p]
		if ok && !now.Before(until) {
			delete(s.until, p)
			return false
		}
		return ok
	}
	if !slices.ContainsFunc(set, suspected) {
		return set
	}
	out := make([]lattice.Peer, 0, len(set))
	var last []lattice.Peer
	for _, p := range set {
		if _, ok := s.until[p]; ok {
			last = append(last, p)
		} else {
			out = append(out, p)
		}
	}
	return append(out, last...)
}
