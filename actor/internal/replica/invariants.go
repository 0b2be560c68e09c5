package replica

import (
	"fmt"

	"github.com/legion-go/legion/actor/internal/wire"
)

// Expensive assertions of the core's rules, on with the invariants build tag (as pebble's
// internal/invariants): go test -tags invariants. A violation panics with the rule it
// broke; CI runs the actor packages so.

// done ends a step: with invariants on, it checks that nothing in eff acknowledges an
// entry that is not durable yet.
func (r *Replica) done(eff *Effects) *Effects {
	if invariants {
		r.checkAcks(eff)
	}
	return eff
}

// checkAcks: a successful answer to a call, sent at once, names an event this replica has
// written (stored, or folded into a stored infimum), or one another replica folded (a
// duplicate whose original is durable there). Anything else must wait for a commit
// (Ready.AfterCommit).
func (r *Replica) checkAcks(eff *Effects) {
	for _, rep := range eff.Replies {
		m, ok := rep.Msg.(*wire.CallReply)
		if !ok || m.GetError() != nil || m.GetId() == nil {
			continue
		}
		id := wire.ToID(m.GetId())
		if _, stored := r.stored[id]; stored || id.Compare(r.storedBase.ID) <= 0 {
			continue
		}
		if id.Compare(r.fold.State().Base.ID) <= 0 {
			continue // folded: at its replicas, all of which acknowledged it, durably
		}
		panic(fmt.Sprintf("invariants: %s answered %v at once, before it was written", r.origin, id))
	}
}

// checkReady: between Ready and Advance the replica takes no step, so its fold is as
// Ready left it.
func (r *Replica) checkReady(rd *Ready) {
	if !invariants || !rd.staged {
		return
	}
	st := r.fold.State()
	if st.Base != rd.base || st.Pending != rd.pending {
		panic(fmt.Sprintf("invariants: %s changed between Ready (%v, %d pending) and Advance (%v, %d pending)",
			r.origin, rd.base, rd.pending, st.Base, st.Pending))
	}
}
