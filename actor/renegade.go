package actor

import (
	"context"
	"errors"
	"slices"

	pa "github.com/legion-go/legion/actor/internal/protoactor/actor"
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
//   - proposes each again as a call to the partition's current replica set, with its
//     original request key (an event stored without one gets a key derived from its id,
//     the same after a restart), from a goroutine of the node's, one replica at a time,
//     until a replica logs it or answers that the partition holds it already (the fold
//     treats a copy as a duplicate of the original);
//   - forgets one only once a replica answered for it, and stays active (it does not
//     passivate) while it holds any: its gc tick retries what failed.
//
// A renegade is re-proposed as a fast call: the replica that answers persisted it, and
// an answer is as good as any fast call's (if that replica is ejected in turn, its copy is
// a renegade of its own, kept the same way).

// reproposed is the outcome of a replica's re-proposal round: the request keys a
// replica of the partition answered for.
type reproposed struct{ done []string }

// maxReproposers bounds the re-proposal rounds a node runs at once.
const maxReproposers = 16

// addRenegades records entries the history dropped (events only: a membership change of
// this peer's that was dropped needs no re-proposal).
func (r *replica) addRenegades(es []lattice.Entry[[]byte]) {
	for _, e := range es {
		if e.Delta.Kind != lattice.Event {
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

// wireRenegades encodes the renegades for the stored snapshot.
func (r *replica) wireRenegades() []*wire.Renegade {
	if len(r.renegades) == 0 {
		return nil
	}
	out := make([]*wire.Renegade, len(r.renegades))
	for i, e := range r.renegades {
		out[i] = &wire.Renegade{Id: wire.FromID(e.ID), Event: e.Delta.Event, Req: e.Delta.Req}
	}
	return out
}

// loadRenegades restores the renegades of a stored snapshot, and raises the fold's clock
// past their ids (a shell's fold holds nothing else that would: see resetFold).
func (r *replica) loadRenegades(snap *wire.Snapshot) {
	for _, x := range snap.GetRenegades() {
		id := wire.ToID(x.GetId())
		r.renegades = append(r.renegades, lattice.Entry[[]byte]{ID: id,
			Delta: lattice.Delta[[]byte]{Kind: lattice.Event, Event: x.GetEvent(), Req: x.GetReq()}})
		r.fold.witness(id.Counter)
	}
}

// stageShell stages what a replica that holds no state (it discarded its copy, or
// retired) leaves in the store: nothing, or a snapshot without a base that carries its
// renegades (and the states of another lineage it dropped, fork.go).
func (r *replica) stageShell(b *storage.Batch) error {
	b.DeletePartition(r.part)
	if len(r.renegades) == 0 && len(r.dropped) == 0 {
		return nil
	}
	data, err := proto.Marshal(&wire.Snapshot{Origin: r.origin, Infimum: &wire.Infimum{},
		Renegades: r.wireRenegades(), Dropped: r.dropped})
	if err != nil {
		return err
	}
	b.PutSnapshot(r.part, data) // after the deletion, which it survives
	return nil
}

// startRepropose proposes the renegades again, from a goroutine of the node's, unless a
// round is under way or the node stops. The round's outcome comes back to the replica
// through its shard (see onReproposed).
func (r *replica) startRepropose() {
	if r.reproposing || len(r.renegades) == 0 || r.failed != nil || r.n.stopped.Load() {
		return
	}
	r.reproposing = true
	list := slices.Clone(r.renegades)
	n, kind, key := r.n, r.kind.kindName(), r.key
	shard, root, self := r.sh.self, r.n.system.Root, r
	n.background(func(ctx context.Context) {
		var done []string
		for _, e := range list {
			if n.repropose(ctx, kind, key, &e) {
				done = append(done, e.Delta.Req)
			}
		}
		root.Send(shard, replicaMsg{self, reproposed{done}})
	})
}

// repropose proposes one renegade as a fast call with its request key; it reports
// whether a replica answered for it (logged it, found it a duplicate, or rejected it:
// either way the partition's history holds its outcome).
func (n *Node) repropose(ctx context.Context, kind, key string, e *lattice.Entry[[]byte]) bool {
	ctx, cancel := context.WithTimeout(ctx, 4*n.cfg.AttemptTimeout)
	defer cancel()
	res, err := n.request(ctx, kind, key, len(e.Delta.Event), func(t *wire.Target, set []string) proto.Message {
		return &wire.Call{To: t, Event: e.Delta.Event, Consistency: wire.Consistency_FAST, Req: e.Delta.Req, ReplicaSet: set}
	})
	if err != nil {
		n.log.Debug("re-proposal failed", "partition", kind+"/"+key, "req", e.Delta.Req, "err", err)
		return false
	}
	err = replyError(res)
	var rej *RejectedError
	switch {
	case err == nil, errors.Is(err, ErrOutputUnknown), errors.As(err, &rej):
		return true
	case errors.Is(err, ErrBadPayload):
		n.log.Error("dropping a renegade that no longer decodes", "partition", kind+"/"+key, "req", e.Delta.Req, "err", err)
		return true
	}
	return false
}

// onReproposed forgets the renegades a replica answered for, and writes what is left.
// A shell (a replica that holds nothing but renegades) is deleted with its last one.
func (r *replica) onReproposed(ctx pa.Context, m reproposed) {
	r.reproposing = false
	before := len(r.renegades)
	r.renegades = slices.DeleteFunc(r.renegades, func(e lattice.Entry[[]byte]) bool {
		return slices.Contains(m.done, e.Delta.Req)
	})
	if len(r.renegades) == before {
		return // the next gc tick tries again
	}
	r.renegadesDirty = true
	if r.fold.state().hasBase {
		r.queueFlush(ctx) // the next flush writes the snapshot without them
		return
	}
	if err := r.persist(true); err != nil {
		r.fail(err)
		return
	}
	if len(r.renegades) == 0 {
		r.leaving, r.discarded = true, true
	}
}

// background runs fn on a goroutine owned by the node, at most maxReproposers at once.
// fn's ctx ends when the node stops, and Stop waits for fn to return; once Stop has
// stopped the replicas, background runs nothing.
func (n *Node) background(fn func(ctx context.Context)) {
	n.bgMu.Lock()
	defer n.bgMu.Unlock()
	if n.bgClosed {
		return
	}
	n.bg.Add(1)
	go func() {
		defer n.bg.Done()
		select {
		case n.bgSem <- struct{}{}:
		case <-n.bgCtx.Done():
			return
		}
		defer func() { <-n.bgSem }()
		fn(n.bgCtx)
	}()
}

// stopBackground ends the background goroutines' context and waits for them.
func (n *Node) stopBackground() {
	n.bgCancel()
	n.bgMu.Lock()
	n.bgClosed = true
	n.bgMu.Unlock()
	n.bg.Wait()
}
