package actor

import (
	"google.golang.org/protobuf/proto"

	"github.com/legion-go/legion/actor/internal/wire"
	"github.com/legion-go/legion/lattice"
)

// Forks. The genesis rules (genesis.go) let a partition start from scratch only once; if
// they fail (membership without consensus can give both sides of a split a majority, see
// docs/decisions/0006-one-lineage.md), two lineages of the partition exist, and the first
// merge between them keeps the higher infimum and drops the other history's folded events,
// as the lattice must for every replica to converge. That loss is not silent: the replica
// that sees it logs an error, counts it (Stats.Forks), and, when it is its own history that
// goes, keeps its dropped state in the store (the stored snapshot's dropped field, the
// newest maxDropped) for an operator to recover from. Pending events are not lost: each
// replica proposes its own that the kept history does not hold again (renegade.go).

// maxDropped bounds the dropped states a replica keeps.
const maxDropped = 4

// onFork handles a full state from another lineage, before it is merged.
func (r *replica) onFork(from lattice.Peer, m *wire.Snapshot, dropsOwn bool) {
	r.n.stats.forks.Add(1)
	st := r.fold.state()
	dropped := "other"
	if dropsOwn {
		dropped = "own"
	}
	r.n.log.Error("partition forked: merging two histories drops the folded events of one",
		"partition", r.origin, "from", from, "own_base", st.base.ID, "other_base", wire.ToID(m.GetInfimum().GetId()),
		"dropped", dropped)
	if !dropsOwn || st.base.ID.IsBottom() {
		return // the other's state goes (its replicas keep it), or nothing had folded here
	}
	snap, err := r.fold.snapshot(false)
	if err != nil {
		r.n.log.Error("encode the dropped state", "partition", r.origin, "err", err)
		return
	}
	data, err := proto.Marshal(snap)
	if err != nil {
		r.n.log.Error("encode the dropped state", "partition", r.origin, "err", err)
		return
	}
	if len(r.dropped) >= maxDropped {
		r.dropped = r.dropped[1:]
	}
	r.dropped = append(r.dropped, data)
	r.renegadesDirty = true // written with the next flush's snapshot
}
