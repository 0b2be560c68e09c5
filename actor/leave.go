package actor

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/legion-go/legion/actor/internal/wire"
	"github.com/legion-go/legion/gc"
	"github.com/legion-go/legion/lattice"
)

// A planned departure (Node.Stop): before the node leaves membership it hands every
// replica it holds to the peers that will own the partition once it is gone
// (gc.Handover): it joins each replacement, which is sent the full state, and writes its
// own UnJoin behind the Join, so its copy goes only once the replacement holds the state.
// Meanwhile it tells every member, at each gc interval, that it is departing: their
// placement gives it no replica, so that none hands a partition back to it, and it
// answers ErrNotReplica for partitions it does not hold. It leaves membership once no
// replica it stores has it as a participant (except partitions no other live node hosts,
// or whose other participants are all leaving or departing too, which stay: gc.Handover),
// or when Stop's context or handoverTimeout ends, or when a while passes
// without progress (handoverStalled): what is left then is ejected by the survivors after
// EjectAfter, as for a crash. A node that membership no longer lists does not try. Calls keep being answered
// throughout: a replica answers until its UnJoin folds, and then refuses, so callers try
// the next replica at once.

// handoverTimeout bounds a planned departure's handover.
const handoverTimeout = time.Minute

// handoverStalled is how long a handover goes on without a replica handed over.
func (n *Node) handoverStalled() time.Duration {
	return max(10*n.cfg.GCInterval, 2*n.cfg.AttemptTimeout)
}

// handoverHandoffs is the handoff budget of a departing node (Config.MaxHandoffs
// otherwise): a departure moves all of a node's replicas at once, and every one it has not
// moved when it goes stalls its partition until EjectAfter.
const handoverHandoffs = 64

// departingFor is how long a Departing message counts (it is repeated each GCInterval).
func (n *Node) departingFor() time.Duration { return 3 * n.cfg.GCInterval }

// departures records the peers that announced a planned departure, and when they last did.
// Safe for concurrent use.
type departures struct {
	mu sync.Mutex
	at map[lattice.Peer]time.Time
}

func (d *departures) mark(p lattice.Peer, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.at == nil {
		d.at = map[lattice.Peer]time.Time{}
	}
	d.at[p] = now
}

// since returns the departing peers heard from after t, forgetting the others.
func (d *departures) since(t time.Time) []lattice.Peer {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []lattice.Peer
	for p, at := range d.at {
		if at.Before(t) {
			delete(d.at, p)
			continue
		}
		out = append(out, p)
	}
	return out
}

// gcMembers is the membership gc decides on: the node's members, with each peer that
// announced its departure listed as hosting nothing (so placement gives it no replica; it
// counts as live, so it is not ejected while it hands over).
func (n *Node) gcMembers() []gc.Member {
	ms := n.members.list()
	now := n.cfg.Clock.Now()
	gone := n.departing.since(now.Add(-n.departingFor()))
	if len(gone) == 0 {
		return ms
	}
	for i := range ms {
		if slices.Contains(gone, ms[i].Peer) {
			ms[i].Kinds = nil
		}
	}
	return ms
}

// handOver runs a planned departure's handover, until it is done, ctx ends or
// handoverTimeout passes.
func (n *Node) handOver(ctx context.Context) {
	if _, listed := n.View().Lookup(string(n.peer)); len(n.kinds) == 0 || !listed {
		return
	}
	n.leaving.Store(true)
	start := n.cfg.Clock.Now()
	n.log.Info("handing replicas over before leaving")
	ctx, cancel := context.WithTimeout(ctx, handoverTimeout)
	defer cancel()
	tick := newTicker(n.cfg.Clock, n.cfg.GCInterval)
	defer tick.Stop()
	fewest, progress := -1, start
	for {
		n.announceDeparture()
		n.wakeStored()
		left := n.notHandedOver()
		if left == 0 {
			n.log.Info("replicas handed over", "took", n.cfg.Clock.Now().Sub(start))
			return
		}
		if now := n.cfg.Clock.Now(); fewest < 0 || left < fewest {
			fewest, progress = left, now
		} else if now.Sub(progress) > n.handoverStalled() {
			n.log.Warn("leaving before every replica was handed over: no progress", "left", left)
			return
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			n.log.Warn("leaving before every replica was handed over", "left", left, "err", ctx.Err())
			return
		}
	}
}

// announceDeparture tells every other member that this node is departing.
func (n *Node) announceDeparture() {
	msg := &wire.Departing{Peer: string(n.peer)}
	for _, m := range n.view.Load().Members {
		if p := lattice.Peer(m.Peer); p != n.peer {
			n.send(p, msg)
		}
	}
}

// notHandedOver counts the stored partitions that still have this node as a participant
// and could be handed to another live host (a replica not described yet counts).
func (n *Node) notHandedOver() int {
	left := 0
	for kind := range n.kinds {
		others := slices.ContainsFunc(n.hosts(kind), func(p lattice.Peer) bool { return p != n.peer })
		n.store.Partitions(kind, func(key string) bool {
			v, ok := n.replicas.Load(partitionID{kind, key})
			if !ok {
				if _, shell := n.shells.Load(partitionID{kind, key}); !shell {
					left++ // not described yet
				}
				return true
			}
			if rep := v.(gc.Replica); slices.Contains(rep.Participants, n.peer) && others {
				left++
			} else if _, ok := n.renegading.Load(partitionID{kind, key}); ok {
				left++ // its renegades must reach a replica before this node goes
			}
			return true
		})
	}
	return left
}
