package replica

import (
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/legion-go/legion/actor/internal/wire"
	"github.com/legion-go/legion/lattice"
	"github.com/legion-go/legion/storage"
)

// Renegades are the events this replica acknowledged (to a caller, as fast calls, or to
// nobody yet) that the partition's history dropped: this peer was ejected while it kept
// writing, or a merge took an infimum that does not hold them. Each was acknowledged, so
// none may be lost, and each may have been retried elsewhere meanwhile, so none may apply
// twice. The replica therefore:
//
//   - keeps them durably: they are written with the replica's stored snapshot (never sent)
//     in the same batch that deletes the entries they were, and a replica that discards
//     its copy, or retires, keeps a shell in the store that holds only them;
//   - has its shell propose each again (Effects.Repropose) as a call to the partition's
//     current replica set, with its original request key (an event stored without one
//     gets a key derived from its id, the same after a restart), one replica at a time,
//     until a replica logs it or answers that the partition holds it already (the fold
//     treats a copy as a duplicate of the original);
//   - forgets one only once a replica answered for it (Reproposed), and stays active (it
//     does not passivate) while it holds any: its gc tick retries what failed.
//
// A renegade is re-proposed as a consistent call (actor's Node.repropose): the answer comes
// once the event, or the original it duplicates, folded at the replica that answers, with
// every participant's ack. A fast answer was not enough: a replica may hold the event
// pending only in a copy that is itself doomed (the simulation's seed 822).

// addRenegades records entries the history dropped (events and deletes only: a
// membership change of this peer's that was dropped needs no re-proposal).
func (r *Replica) addRenegades(es []lattice.Entry[[]byte]) {
	for _, e := range es {
		if e.Delta.Kind != lattice.Event && e.Delta.Kind != lattice.Reset {
			continue
		}
		if e.Delta.Req == "" {
			e.Delta.Req = "renegade/" + e.ID.String()
		}
		if slices.ContainsFunc(r.renegades, func(x lattice.Entry[[]byte]) bool { return x.Delta.Req == e.Delta.Req }) {
			continue
		}
		r.renegades = append(r.renegades, e)
		r.renegadesDirty = true
	}
}

// Renegades returns the events the replica still has to propose again.
func (r *Replica) Renegades() []lattice.Entry[[]byte] { return r.renegades }

// wireRenegades encodes the renegades for the stored snapshot.
func (r *Replica) wireRenegades() []*wire.Renegade {
	if len(r.renegades) == 0 {
		return nil
	}
	out := make([]*wire.Renegade, len(r.renegades))
	for i, e := range r.renegades {
		out[i] = &wire.Renegade{Id: wire.FromID(e.ID), Event: e.Delta.Event, Req: e.Delta.Req, Time: e.Delta.Time,
			Delete: e.Delta.Kind == lattice.Reset}
	}
	return out
}

// loadRenegades restores the renegades of a stored snapshot, and raises the fold's clock
// past their ids (a shell's fold holds nothing else that would: see resetFold).
func (r *Replica) loadRenegades(snap *wire.Snapshot) {
	for _, x := range snap.GetRenegades() {
		id := wire.ToID(x.GetId())
		kind := lattice.Event
		if x.GetDelete() {
			kind = lattice.Reset
		}
		r.renegades = append(r.renegades, lattice.Entry[[]byte]{ID: id,
			Delta: lattice.Delta[[]byte]{Kind: kind, Event: x.GetEvent(), Req: x.GetReq(), Time: x.GetTime()}})
		r.fold.Witness(id.Counter)
	}
}

// stageShell stages what a replica that holds no state (it discarded its copy, or
// retired) leaves in the store: nothing, or a snapshot without a base that carries its
// renegades (and the states of another lineage it dropped, fork.go).
func (r *Replica) stageShell(b *storage.Batch) error {
	b.DeletePartition(r.part)
	if len(r.renegades) == 0 && len(r.dropped) == 0 && !r.removed.set {
		return nil
	}
	shell := &wire.Snapshot{Origin: r.origin, Infimum: &wire.Infimum{},
		Renegades: r.wireRenegades(), Dropped: r.dropped}
	r.wireTombstone(shell)
	data, err := proto.Marshal(shell)
	if err != nil {
		return err
	}
	b.PutSnapshot(r.part, data) // after the deletion, which it survives
	return nil
}

// startRepropose asks the shell to propose the renegades again, unless a round is under
// way.
func (r *Replica) startRepropose() {
	if r.reproposing || len(r.renegades) == 0 || r.failed != nil {
		return
	}
	r.reproposing = true
	r.out.Repropose = append(r.out.Repropose, r.renegades...)
}

// Reproposed ends a re-proposal round: done holds the request keys a replica of the
// partition answered for. It forgets those, and writes what is left; a shell (a replica
// that holds nothing but renegades) is deleted with its last one.
func (r *Replica) Reproposed(now time.Time, done []string) *Effects {
	eff := r.begin(now, true)
	r.reproposing = false
	before := len(r.renegades)
	r.renegades = slices.DeleteFunc(r.renegades, func(e lattice.Entry[[]byte]) bool {
		return slices.Contains(done, e.Delta.Req)
	})
	if len(r.renegades) == before || r.failed != nil {
		return eff // the next gc tick tries again
	}
	r.renegadesDirty = true
	if r.fold.State().HasBase {
		r.queueFlush() // the next flush writes the snapshot without them
		return r.done(eff)
	}
	r.persist(writeReproposed)
	return r.done(eff)
}
