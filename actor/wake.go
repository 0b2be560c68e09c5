package actor

import (
	"math"
	"slices"

	"github.com/legion-go/legion/actor/internal/replica"
	"github.com/legion-go/legion/gc"
	"github.com/legion-go/legion/lattice"
	"github.com/legion-go/legion/storage"
)

// wakeBatch is how many placement marks a wake pass writes per commit.
const wakeBatch = 1024

// loadPlacement reads the hosts the store recorded at the last wake pass (markHost); it
// leaves the node's placement nil when none is recorded (a new store, or one written by a
// build that kept no index: the first pass then wakes every stored replica).
func (n *Node) loadPlacement() error {
	pl := placement{}
	err := n.store.Marked(markHost, math.MaxInt64, func(m storage.Mark) bool {
		pl[m.Partition.Kind] = append(pl[m.Partition.Kind], lattice.Peer(m.Partition.Key))
		return true
	})
	if err == nil && len(pl) > 0 {
		n.placement.Store(&pl)
	}
	return err
}

// wakeNeeded wakes the stored replicas that may have work, found through the store's
// marks instead of a walk of every partition: those with pending deltas or renegades
// (markPending), those written off their placement (markPlacement), and those whose
// placement the current view moves from the one of the last pass. It reports whether it
// woke every one of those, and how many it woke.
//
// The last set is found by comparing each stored key's placement under the hosts of the
// last pass with its placement now (over effectiveHosts), for the kinds whose hosts changed (a walk of keys,
// loading none). Before it records the new hosts it marks every moved partition
// (markPlacement), so that a crash midway loses none: a replica clears its mark when it
// writes with its participants at its placement (stageMarks). So every stored replica
// that names a peer which is not a live host (a participant gone, a joiner) is either
// marked or moved by the pass that follows the peer's going: a pass wakes every replica
// that can name such a peer (see members).
//
// A view that is partial, or that does not list this node, is no ground for placement:
// then only the marked replicas are woken, the hosts are not recorded, and the pass does
// not count as complete.
func (n *Node) wakeNeeded() (all bool, woke int) {
	all = true
	wake := func(kind, key string) bool {
		select {
		case <-n.done:
			all = false
			return false
		default:
		}
		n.system.Root.Send(n.router, &wake{id: partitionID{kind, key}})
		woke++
		return true
	}
	for _, reason := range []storage.Reason{markPending, markPlacement} {
		err := n.store.Marked(reason, math.MaxInt64, func(m storage.Mark) bool {
			if _, ok := n.kinds[m.Partition.Kind]; !ok {
				return true
			}
			return wake(m.Partition.Kind, m.Partition.Key)
		})
		if err != nil {
			all = false
			n.log.Error("listing marked partitions", "err", err)
		}
	}
	v := n.View()
	if _, self := v.Lookup(string(n.peer)); v.Partial || !self || !all {
		return false, woke
	}
	old := n.placement.Load()
	cur := n.effectiveHosts(old)
	moved, ok := n.movedPartitions(old, cur)
	if !ok {
		return false, woke
	}
	if old != nil && len(moved) == 0 && samePlacement(*old, cur) {
		return all, woke
	}
	if !n.recordPlacement(old, cur, moved) {
		return false, woke
	}
	for _, id := range moved {
		if !wake(id.kind, id.key) {
			break
		}
	}
	return all, woke
}

// anyMarked reports whether the store holds a mark of reason (or cannot tell).
func (n *Node) anyMarked(reason storage.Reason) bool {
	found := false
	if err := n.store.Marked(reason, math.MaxInt64, func(storage.Mark) bool { found = true; return false }); err != nil {
		return true
	}
	return found
}

// movedPartitions lists the stored partitions whose placement differs between old and cur
// (every stored partition when old is nil). It reports false if it could not list them.
func (n *Node) movedPartitions(old *placement, cur placement) (moved []partitionID, ok bool) {
	r := n.cfg.ReplicationFactor
	for kind := range n.kinds {
		var before []lattice.Peer
		if old != nil {
			before = (*old)[kind]
			if replica.SamePeers(before, cur[kind]) {
				continue
			}
		}
		err := n.store.Partitions(kind, func(key string) bool {
			if old == nil || !replica.SamePeers(gc.ReplicaSet(kind, key, before, r), gc.ReplicaSet(kind, key, cur[kind], r)) {
				moved = append(moved, partitionID{kind, key})
			}
			return true
		})
		if err != nil {
			n.log.Error("listing stored partitions", "kind", kind, "err", err)
			return nil, false
		}
	}
	return moved, true
}

// recordPlacement marks the moved partitions (markPlacement), then records cur as the
// hosts (markHost), and makes cur the placement replicas check against. It reports
// whether every commit succeeded.
func (n *Node) recordPlacement(old *placement, cur placement, moved []partitionID) bool {
	n.placement.Store(&cur) // replicas writing from now on check against cur
	var b storage.Batch
	for i, id := range moved {
		b.Mark(markPlacement, 0, storage.Partition{Kind: id.kind, Key: id.key})
		if (i+1)%wakeBatch == 0 {
			if n.commitMarks(&b) != nil {
				return false
			}
			b.Reset()
		}
	}
	if old != nil {
		for kind, peers := range *old {
			for _, p := range peers {
				if !slices.Contains(cur[kind], p) {
					b.Unmark(markHost, 0, storage.Partition{Kind: kind, Key: string(p)})
				}
			}
		}
	}
	for kind, peers := range cur {
		for _, p := range peers {
			if old == nil || !slices.Contains((*old)[kind], p) {
				b.Mark(markHost, 0, storage.Partition{Kind: kind, Key: string(p)})
			}
		}
	}
	return n.commitMarks(&b) == nil
}

// commitMarks commits a batch of marks alone (a wake pass's; not replicas' work, so not
// in Stats). A failed commit stops the node, as every commit's does.
func (n *Node) commitMarks(b *storage.Batch) error {
	if b.Empty() {
		return nil
	}
	err := n.store.Commit(b)
	if err != nil {
		n.fail(err)
	}
	return err
}

// effectiveHosts is what placement is computed over: the live hosts of each kind, and the
// hosts of the last pass (old) that are gone for less than EjectAfter. A replica can do
// nothing about a peer gone for less (gc ejects none and joins none while a participant is
// gone and not ejectable), so neither a departure nor a restart of the cluster, where the
// peers come back one by one, moves a placement before EjectAfter; the pass that follows
// EjectAfter does (rebalance's ticker).
func (n *Node) effectiveHosts(old *placement) placement {
	gone := n.members.goneWithin(n.cfg.Clock.Now(), n.cfg.EjectAfter)
	cur := placement{}
	for kind := range n.kinds {
		hosts := slices.Clone(n.hosts(kind))
		if old != nil {
			for _, p := range (*old)[kind] {
				if gone[p] && !slices.Contains(hosts, p) {
					hosts = append(hosts, p)
				}
			}
		}
		cur[kind] = hosts
	}
	return cur
}

func samePlacement(a, b placement) bool {
	if len(a) != len(b) {
		return false
	}
	for kind, peers := range a {
		if !replica.SamePeers(peers, b[kind]) {
			return false
		}
	}
	return true
}
