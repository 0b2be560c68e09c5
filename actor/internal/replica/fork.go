package replica

import (
	"google.golang.org/protobuf/proto"

	"github.com/legion-go/legion/actor/internal/wire"
	"github.com/legion-go/legion/lattice"
)

// Forks. The genesis rules (sync.go) let a partition start from scratch only once; if
// they fail (membership without consensus can give both sides of a split a majority, see
// docs/decisions/0006-one-lineage.md), two lineages of the partition exist, and the first
// merge between them keeps the higher infimum and drops the other history's folded events,
// as the lattice must for every replica to converge. That loss is not silent: the replica
// that sees it logs an error, counts it (Effects.Forks), and, when it is its own history
// that goes, keeps its dropped state in the store (the stored snapshot's dropped field,
// the newest maxDropped) for an operator to recover from. Pending events are not lost:
// each replica proposes its own that the kept history does not hold again (renegade.go).

// maxDropped bounds the dropped states a replica keeps.
const maxDropped = 4

// onFork handles a full state from another lineage, before it is merged.
func (r *Replica) onFork(from lattice.Peer, m *wire.Snapshot, dropsOwn bool) {
	r.out.Forks++
	st := r.fold.State()
	dropped := "other"
	if dropsOwn {
		dropped = "own"
	}
	r.log(LevelError, "partition forked: merging two histories drops the folded events of one",
		"from", from, "own_base", st.Base.ID, "other_base", wire.ToID(m.GetInfimum().GetId()), "dropped", dropped)
	if !dropsOwn || st.Base.ID.IsBottom() {
		return // the other's state goes (its replicas keep it), or nothing had folded here
	}
	snap, err := r.fold.Snapshot(false)
	if err != nil {
		r.log(LevelError, "encode the dropped state", "err", err)
		return
	}
	data, err := proto.Marshal(snap)
	if err != nil {
		r.log(LevelError, "encode the dropped state", "err", err)
		return
	}
	if len(r.dropped) >= maxDropped {
		r.dropped = r.dropped[1:]
	}
	r.dropped = append(r.dropped, data)
	r.renegadesDirty = true // written with the next flush's snapshot
}

// Dropped returns the encoded states of another lineage this replica's merges dropped.
func (r *Replica) Dropped() [][]byte { return r.dropped }
