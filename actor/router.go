package actor

import (
	"fmt"

	pa "github.com/asynkron/protoactor-go/actor"

	"github.com/legion-go/legion/actor/internal/wire"
	"github.com/legion-go/legion/lattice"
)

// router is the node's one well-known actor (named "legion"): every call, query and
// replication message for a replica on this node arrives here and is forwarded to the
// replica's actor, which the router activates on demand. It is the identity lookup of
// the framework: a replica's identity is (kind, key, peer), and the peer names the node.
type router struct {
	n        *Node
	replicas map[partitionID]*pa.PID
}

type partitionID struct{ kind, key string }

// passivate asks the router to forget a replica; the router answers passivateOK, after
// which nothing more is forwarded to it.
type passivate struct{ id partitionID }
type passivateOK struct{}

// drain asks every active replica to get its own events acknowledged by another replica
// before the node stops; each sends on done once it has (or has nothing to wait for).
type drain struct{ done chan<- struct{} }

// resync makes every active replica merge a live replica's state before it acts again.
type resync struct{}

// wake activates a stored replica, so that it resumes replication of what it holds
// without waiting to be called.
type wake struct{ id partitionID }

func newRouter(n *Node) *router { return &router{n: n, replicas: map[partitionID]*pa.PID{}} }

func (r *router) Receive(ctx pa.Context) {
	switch m := ctx.Message().(type) {
	case *wire.Call:
		if err := r.check(m.GetTo(), len(m.GetEvent())); err != nil {
			ctx.Respond(&wire.CallReply{Error: toWire(err)})
			return
		}
		ctx.Forward(r.replica(ctx, m.GetTo()))
	case *wire.Query:
		if err := r.check(m.GetTo(), len(m.GetQuery())); err != nil {
			ctx.Respond(&wire.QueryReply{Error: toWire(err)})
			return
		}
		ctx.Forward(r.replica(ctx, m.GetTo()))
	case *wire.Replicate:
		if err := r.check(m.GetTo(), 0); err != nil {
			r.n.log.Warn("replication message dropped", "from", m.GetFrom(), "err", err)
			return
		}
		ctx.Forward(r.replica(ctx, m.GetTo()))
	case *wire.Batch:
		items := m.GetItems()
		if f := m.GetFrame(); len(f) > 0 {
			var err error
			if items, err = wire.DecodeFrame(f); err != nil {
				r.n.log.Warn("replication batch dropped", "bytes", len(f), "err", err)
				return
			}
		}
		for _, m := range items {
			if err := r.check(m.GetTo(), 0); err != nil {
				r.n.log.Warn("replication message dropped", "from", m.GetFrom(), "err", err)
				continue
			}
			ctx.Send(r.replica(ctx, m.GetTo()), m)
		}
	case *wake:
		if _, ok := r.n.kinds[m.id.kind]; ok {
			ctx.Send(r.replica(ctx, &wire.Target{Kind: m.id.kind, Key: m.id.key, Peer: string(r.n.peer)}), m)
		}
	case *drain:
		for _, pid := range r.replicas {
			ctx.Send(pid, m)
		}
		ctx.Respond(len(r.replicas))
	case *resync:
		for _, pid := range r.replicas {
			ctx.Send(pid, m)
		}
	case *passivate:
		if pid, ok := r.replicas[m.id]; ok && pid.Equal(ctx.Sender()) {
			delete(r.replicas, m.id)
		}
		// Nothing is routed to the sender any more (or never was, if another activation
		// of its partition replaced it): it may stop.
		ctx.Respond(&passivateOK{})
	case *pa.Terminated:
		for id, pid := range r.replicas {
			if pid.Equal(m.Who) {
				delete(r.replicas, id)
			}
		}
	}
}

// check validates a message's target before anything is activated for it.
func (r *router) check(t *wire.Target, payload int) error {
	if t == nil || t.Key == "" {
		return fmt.Errorf("%w: message without a target", ErrBadPayload)
	}
	if _, ok := r.n.kinds[t.Kind]; !ok {
		return fmt.Errorf("%w: %q on %s", ErrUnknownKind, t.Kind, r.n.peer)
	}
	if lattice.Peer(t.Peer) != r.n.peer {
		return fmt.Errorf("%w: replica of %s sent to %s", ErrNotReplica, t.Peer, r.n.peer)
	}
	if payload > r.n.cfg.MaxPayloadBytes {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, payload, r.n.cfg.MaxPayloadBytes)
	}
	if r.n.stopped.Load() {
		return ErrStopped
	}
	return nil
}

func (r *router) replica(ctx pa.Context, t *wire.Target) *pa.PID {
	id := partitionID{t.Kind, t.Key}
	if pid, ok := r.replicas[id]; ok {
		return pid
	}
	kind := r.n.kinds[t.Kind]
	pid := ctx.Spawn(pa.PropsFromProducer(func() pa.Actor { return newReplica(r.n, kind, t.Key) }, pa.WithDispatcher(r.n.pool)))
	r.replicas[id] = pid
	return pid
}
