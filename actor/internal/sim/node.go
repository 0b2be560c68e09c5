package sim

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/legion-go/legion/actor/internal/replica"
	"github.com/legion-go/legion/actor/internal/wire"
	"github.com/legion-go/legion/gc"
	"github.com/legion-go/legion/lattice"
	"github.com/legion-go/legion/storage"
	"github.com/legion-go/legion/storage/memory"
)

// Node is one simulated node: its store (which survives a crash: every commit is
// durable, as the pebble store's are), and while it is up its replicas, its membership
// view and its handoff count. It plays the shell: it steps the cores and performs their
// effects.
type Node struct {
	w     *World
	name  string
	peer  lattice.Peer
	store *memory.Store
	cfg   replica.Config
	skew  time.Duration // its clock's offset from the world's

	up   bool
	life int // incremented at each crash: what the previous life scheduled is dropped

	reps        map[string]*replica.Replica
	dirty       []*replica.Replica
	flushQueued bool
	handoffs    int
	lastHLC     int64

	sees        []*Node // its membership view: the live nodes it lists
	partial     bool    // its first view has not come yet
	members     map[lattice.Peer]gc.Member
	frozenUntil time.Time             // its view does not update before then (a lagging membership)
	reports     map[string]gc.Replica // each active replica's latest description
	leaving     bool                  // it hands its replicas over (Node.Stop's handover)
	gone        bool                  // it left for good
	settledAt   time.Time             // its first wake pass has settled (zero: not yet)
	firstPass   time.Time             // when its first wake pass ran

	// A pause (Options.Pauses, pause.go): while paused the node processes nothing; what
	// comes due on it (its timers, the messages delivered to it) waits in held, and runs,
	// all at once, when it resumes.
	paused   bool
	pauseGen int     // which pause: a resume ends only its own
	dropRate float64 // the share of held messages its resume drops (broken streams)
	held     []held
}

// now is the node's clock.
func (n *Node) now() time.Time { return n.w.now.Add(n.skew) }

// hlc is the time the node stamps on a new event: its clock, never going back.
func (n *Node) hlc() int64 {
	t := n.now().UnixNano()
	if t <= n.lastHLC {
		t = n.lastHLC + 1
	}
	n.lastHLC = t
	return t
}

func (n *Node) start() {
	n.up = true
	n.reps = map[string]*replica.Replica{}
	n.dirty, n.flushQueued, n.handoffs = nil, false, 0
	n.partial = true
	n.sees = nil
	n.reports = map[string]gc.Replica{}
	n.settledAt, n.firstPass = time.Time{}, time.Time{}
	n.w.logf("%s starts", n.peer)
	life := n.life
	n.every(n.cfg.GCInterval, life, n.sweep)
	n.every(n.cfg.GC.EjectAfter/2, life, func() { // wake passes while a peer is gone
		for _, m := range n.members {
			if !m.Live {
				n.wakePass()
				return
			}
		}
	})
}

// every runs fn every d during this life of the node.
func (n *Node) every(d time.Duration, life int, fn func()) {
	n.after(d, func() {
		if !n.up || n.life != life {
			return
		}
		fn()
		n.every(d, life, fn)
	})
}

// crash loses everything the node held in memory: its replicas, their unflushed work,
// what it had scheduled. The store keeps what was committed.
func (n *Node) crash() {
	n.w.logf("%s crashes", n.peer)
	n.up = false
	n.leaving = false // a crash ends a departure; the restart is an ordinary one
	delete(n.w.departing, n.peer)
	n.life++
	n.paused, n.held = false, nil // kill -9 of a stopped process: what it held is gone
	n.reps = nil
	n.dirty = nil
	n.sees = nil
	n.members = map[lattice.Peer]gc.Member{} // membership history is in memory only
}

func (n *Node) restart() {
	n.w.logf("%s restarts", n.peer)
	n.start()
	n.refreshView()
}

// refreshView gives the node the view it would have now: the live nodes it can reach
// (itself included), unless its membership lags.
func (n *Node) refreshView() {
	if !n.up {
		return
	}
	if n.w.now.Before(n.frozenUntil) {
		n.after(n.frozenUntil.Sub(n.w.now), func() { n.refreshView() })
		return
	}
	var sees []*Node
	for _, m := range n.w.nodes {
		if m == n || n.w.linked(n, m) && !m.paused { // a paused node answers no probe
			sees = append(sees, m)
		}
	}
	first := n.sees == nil
	// A gossip member whose seeds have not answered sees only itself, and says so
	// (discovery.View.Partial).
	n.partial = len(sees) == 1
	changed := n.updateMembers(sees)
	n.sees = sees
	if changed || first {
		n.w.logf("%s sees %v", n.peer, peersOfNodes(sees))
		n.wakePass()
	}
}

// updateMembers records a view as actor's members.update does: live members, and a
// tombstone (Since: when first seen gone) for each that left it. It reports whether the
// live set changed. Tombstones retire after TombstoneTTL.
func (n *Node) updateMembers(sees []*Node) bool {
	now := n.now()
	changed := false
	live := map[lattice.Peer]bool{}
	for _, m := range sees {
		live[m.peer] = true
		cur, ok := n.members[m.peer]
		if !ok || !cur.Live {
			changed = true
			n.members[m.peer] = gc.Member{Peer: m.peer, Kinds: []string{kindName}, Live: true, Since: now}
		}
	}
	for p, cur := range n.members {
		if live[p] {
			continue
		}
		if cur.Live {
			changed = true
			n.members[p] = gc.Member{Peer: p, Kinds: cur.Kinds, Live: false, Since: now}
		} else if now.Sub(cur.Since) >= n.cfg.GC.TombstoneTTL {
			delete(n.members, p)
		}
	}
	return changed
}

func peersOfNodes(ns []*Node) []lattice.Peer {
	out := make([]lattice.Peer, len(ns))
	for i, n := range ns {
		out[i] = n.peer
	}
	return out
}

// sweep adds a tombstone for every peer the node's replicas name that membership does
// not list, as actor's sweepMembers does (a restarted node learns so of the peers it knew
// before), and marks the first wake pass settled once its replicas have described
// themselves.
func (n *Node) sweep() {
	now := n.now()
	for _, rep := range n.reports {
		for _, ps := range [][]lattice.Peer{rep.Participants, rep.Joining, rep.Leaving} {
			for _, p := range ps {
				if _, ok := n.members[p]; !ok && p != n.peer {
					n.members[p] = gc.Member{Peer: p, Kinds: []string{kindName}, Since: now}
				}
			}
		}
	}
	if n.settledAt.IsZero() && !n.firstPass.IsZero() && now.Sub(n.firstPass) >= 2*n.cfg.GCInterval {
		n.settledAt = now
	}
}

// wakePass activates every stored replica (so that each reconsiders the partition's
// membership), as the node's rebalance does.
func (n *Node) wakePass() {
	var keys []string
	_ = n.store.Partitions(kindName, func(key string) bool {
		keys = append(keys, key)
		return true
	})
	if n.firstPass.IsZero() {
		n.firstPass = n.now()
		if len(keys) == 0 {
			n.settledAt = n.now() // no replica to hear from
		}
	}
	for _, k := range keys {
		r := n.activate(k)
		n.perform(r, r.Wake(n.now()))
	}
}

// The replica.Env of the node's replicas.

func (n *Node) Partial() bool { return n.partial || n.settledAt.IsZero() }
func (n *Node) Leaving() bool { return n.leaving }
func (n *Node) ReplicaSet(kind, key string) []lattice.Peer {
	return gc.ReplicaSet(kind, key, n.hosts(), n.cfg.GC.ReplicationFactor)
}
func (n *Node) hosts() []lattice.Peer { return peersOfNodes(n.sees) }
func (n *Node) Members() []gc.Member {
	out := make([]gc.Member, 0, len(n.members))
	for _, m := range n.members {
		if n.w.departing[m.Peer] {
			m.Kinds = nil // it announced its departure: placement gives it nothing (actor's gcMembers)
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b gc.Member) int { return cmp.Compare(a.Peer, b.Peer) })
	return out
}
func (n *Node) Reachable(p lattice.Peer) bool {
	return slices.ContainsFunc(n.sees, func(m *Node) bool { return m.peer == p })
}

// CounterFloor is the node's hybrid logical clock in microseconds (replica.CounterFloor).
func (n *Node) CounterFloor() uint64 { return uint64(n.hlc() / 1000) }

func (n *Node) ReserveHandoff() bool {
	if n.handoffs >= n.cfg.GC.MaxHandoffs {
		return false
	}
	n.handoffs++
	return true
}
func (n *Node) ReleaseHandoff() { n.handoffs-- }
func (n *Node) Handoffs() int   { return n.handoffs }

// activate returns the node's replica of key, loading it from the store if needed.
func (n *Node) activate(key string) *replica.Replica {
	if r, ok := n.reps[key]; ok {
		return r
	}
	origin := kindName + "/" + key
	for {
		r := replica.New(&n.cfg, n, kindName, key, func() replica.Fold { return replica.NewFold(spec, origin, n.peer) })
		n.reps[key] = r
		rec, found, err := n.store.Load(storage.Partition{Kind: kindName, Key: key})
		n.perform(r, r.Start(n.now(), rec, found, err))
		if !r.Life().Gone() {
			return r
		}
		n.remove(r)
	}
}

// step performs a step's effects and removes the replica if it goes.
func (n *Node) step(r *replica.Replica, eff *replica.Effects) {
	if n.w.opt.Watch != nil {
		n.w.opt.Watch(n.w.now.Sub(epoch), n.peer, r)
	}
	n.perform(r, eff)
	if r.Life().Gone() {
		n.remove(r)
	}
}

func (n *Node) remove(r *replica.Replica) {
	if n.reps[r.Key()] != r {
		return
	}
	delete(n.reps, r.Key())
	delete(n.reports, r.Key())
	var b storage.Batch
	if r.Final(&b) && n.store.Commit(&b) == nil {
		r.Committed()
	}
	r.Release()
}

// current reports whether r is still the node's replica of its partition, in this life.
func (n *Node) current(r *replica.Replica, life int) bool {
	return n.up && n.life == life && n.reps[r.Key()] == r
}

// perform does what a step asked, as actor's shard does.
func (n *Node) perform(r *replica.Replica, eff *replica.Effects) {
	w := n.w
	for _, rep := range eff.Replies {
		to := rep.To.(replyTo)
		msg := rep.Msg
		w.send(n, to.node.peer, func(*Node) { to.deliver(msg) })
	}
	for _, s := range eff.Sends {
		msg := s.Msg
		w.send(n, s.To, func(dst *Node) { dst.receiveReplicate(msg) })
	}
	life := n.life
	for _, t := range eff.Timers {
		t := t
		n.after(t.After, func() {
			if !n.current(r, life) {
				return
			}
			now := n.now()
			switch t.Kind {
			case replica.TickTimer:
				n.step(r, r.Tick(now))
			case replica.GCTimer:
				n.step(r, r.GCTick(now))
			case replica.SyncTimer:
				n.step(r, r.SyncTimeout(now, t.Gen))
			}
		})
	}
	for _, l := range eff.Logs {
		if l.Level >= replica.LevelInfo || w.opt.Trace != nil {
			w.logf("%s %s: %s %v", n.peer, r.Origin(), l.Msg, l.Args)
		}
	}
	w.res.Forks += eff.Forks
	for _, d := range eff.Divergences {
		// Every node runs the same Apply: a divergence found is a false alarm of the
		// detection, or a replica that folded differently, and either is a bug.
		w.violate("%s %s: diverged from %s at %v (digests %x, %x)", n.peer, r.Origin(), d.Peer, d.ID, d.Mine, d.Theirs)
	}
	if eff.Report != nil {
		n.reports[r.Key()] = *eff.Report
	}
	if len(eff.Repropose) > 0 {
		w.logf("%s %s: proposing %d renegades again", n.peer, r.Origin(), len(eff.Repropose))
		n.repropose(r, slices.Clone(eff.Repropose))
	}
	if eff.Flush {
		n.dirty = append(n.dirty, r)
		if !n.flushQueued {
			n.flushQueued = true
			n.after(time.Duration(w.rng.IntN(2))*time.Millisecond, func() {
				if n.up && n.life == life {
					n.flush()
				}
			})
		}
	}
	if eff.Write != nil {
		err := n.store.Commit(eff.Write)
		n.perform(r, r.Written(n.now(), err))
	}
}

// flush flushes the dirty replicas with one commit, as a shard does.
func (n *Node) flush() {
	n.flushQueued = false
	dirty := n.dirty
	n.dirty = nil
	var b storage.Batch
	type ready struct {
		r  *replica.Replica
		rd *replica.Ready
	}
	var readies []ready
	now := n.now()
	for _, r := range dirty {
		if n.reps[r.Key()] != r || !r.Dirty() {
			continue
		}
		readies = append(readies, ready{r, r.Ready(now, &b)})
	}
	err := n.store.Commit(&b)
	for _, x := range readies {
		n.step(x.r, x.r.Advance(now, x.rd, err))
	}
}

func (n *Node) receiveReplicate(m *wire.Replicate) {
	r := n.activate(m.GetTo().GetKey())
	n.step(r, r.Replicate(n.now(), m))
}

// repropose runs a re-proposal round of r's renegades, one call at a time, as the node's
// background goroutines do.
func (n *Node) repropose(r *replica.Replica, list []lattice.Entry[[]byte]) {
	life := n.life
	var done []string
	var next func(i int)
	next = func(i int) {
		if !n.current(r, life) {
			return
		}
		if i == len(list) {
			n.step(r, r.Reproposed(n.now(), done))
			return
		}
		e := list[i]
		o := &op{id: -1, key: r.Key(), req: e.Delta.Req, event: e.Delta.Event, tag: fmt.Sprint("renegade ", e.Delta.Req),
			consistent: true, timeout: 4 * timing.AttemptTimeout, delete: e.Delta.Kind == lattice.Reset}
		n.w.request(n, o, func(reply *wire.CallReply, ok bool) {
			n.w.logf("%s %s: renegade %s: %v %v", n.peer, r.Origin(), e.Delta.Req, ok, reply.GetError())
			if ok {
				switch reply.GetError().GetCode() {
				case wire.Code_OK, wire.Code_OUTPUT_UNKNOWN, wire.Code_REJECTED, wire.Code_BAD_PAYLOAD:
					done = append(done, e.Delta.Req)
				}
			}
			next(i + 1)
		})
	}
	next(0)
}

// leave is Node.Stop: the node hands its replicas over (each partition where it is a
// participant joins its next owner and then unjoins this node), telling the others it is
// departing, until none of its stored replicas has it as a participant or a minute
// passes; then it stops cleanly (its replicas write what they hold) and leaves for good.
func (n *Node) leave() {
	if !n.up || n.leaving {
		return
	}
	n.w.logf("%s leaves", n.peer)
	n.w.disturb(n.w.now.Add(time.Minute)) // until it drains and goes (membershipChanged)
	n.leaving = true
	n.w.departing[n.peer] = true
	start, life := n.w.now, n.life
	var step func()
	step = func() {
		if !n.up || n.life != life {
			return
		}
		n.wakePass()
		if n.notHandedOver() == 0 || n.w.now.Sub(start) > time.Minute {
			n.drain(life, n.w.now)
			return
		}
		n.after(n.cfg.GCInterval, step)
	}
	step()
}

// drain is the end of Node.Stop: every replica reports once its own events are held by
// another replica, for at most 5 s. Drained, the node goes for good (its data with it);
// otherwise Stop returns ErrUnreplicated, and the operator keeps its data directory and
// starts it again: the simulation restarts it at the heal.
func (n *Node) drain(life int, since time.Time) {
	if !n.up || n.life != life {
		return
	}
	drained := true
	for _, k := range slices.Sorted(maps.Keys(n.reps)) {
		if r := n.reps[k]; !r.Fold().OwnAckedElsewhere() || len(r.Renegades()) > 0 {
			n.step(r, r.Drain(n.now()))
			drained = false
		}
	}
	if !drained && n.w.now.Sub(since) < 5*time.Second {
		n.after(100*time.Millisecond, func() { n.drain(life, since) })
		return
	}
	n.w.logf("%s stops (%d replicas not handed over, drained %v)", n.peer, n.notHandedOver(), drained)
	for _, k := range slices.Sorted(maps.Keys(n.reps)) {
		n.remove(n.reps[k])
	}
	n.up, n.gone, n.leaving = false, drained, false
	n.life++
	// It no longer announces its departure: the others forget it after 3 GCIntervals, as
	// actor's departures do, and eject it as any gone peer.
	n.w.after(3*n.cfg.GCInterval, func() { delete(n.w.departing, n.peer) })
	n.w.membershipChanged(2 * time.Second)
	if !drained && n.w.healed {
		// Stop returned ErrUnreplicated: the operator starts the node again on its data,
		// as the heal does for one that stopped before it. (Left down, its renegades never
		// reached the others: seed 2163 lost two acknowledged writes so, with queries
		// answered from the initial state.)
		n.w.after(n.cfg.GCInterval, func() {
			if !n.up && !n.gone {
				n.restart()
				n.w.membershipChanged(2 * time.Second)
			}
		})
	}
}

// notHandedOver counts the stored partitions in which the node is still a participant.
func (n *Node) notHandedOver() int {
	left := 0
	_ = n.store.Partitions(kindName, func(key string) bool {
		// As actor's notHandedOver: a participant of the infimum (its own UnJoin may be
		// pending), while another node hosts the kind.
		r := n.activate(key)
		if st := r.Fold().State(); st.HasBase && slices.Contains(st.Participants, n.peer) && len(n.sees) > 1 || len(r.Renegades()) > 0 {
			left++
		}
		return true
	})
	return left
}
