package actor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	pa "github.com/legion-go/legion/actor/internal/protoactor/actor"

	"github.com/legion-go/legion/actor/internal/wire"
	"github.com/legion-go/legion/lattice"
)

// router is the node's one well-known actor (named "legion"): every call, query and
// replication message for a replica on this node arrives here, is checked, and is
// forwarded to the shard of its partition (its child), which activates the replica on
// demand. It is the identity lookup of the framework: a replica's identity is (kind,
// key, peer), and the peer names the node.
type router struct {
	n      *Node
	shards []*pa.PID
}

type partitionID struct{ kind, key string }

// shardsOf asks the router for its shards' PIDs (for drain).
type shardsOf struct{}

// drain asks a shard to have every active replica get its own events acknowledged by
// another replica before the node stops; each replica sends on done once it has (or has
// nothing to wait for). The shard answers how many replicas it asked.
type drain struct{ done chan<- struct{} }

// resync makes every active replica merge a live replica's state before it acts again.
type resync struct{}

// wake activates a stored replica, so that it resumes replication of what it holds
// without waiting to be called.
type wake struct{ id partitionID }

func newRouter(n *Node) *router { return &router{n: n} }

func (r *router) Receive(ctx pa.Context) {
	switch m := ctx.Message().(type) {
	case *pa.Started:
		// Children of the router, so that stopping the router stops them (and their
		// replicas) first. Spawned again if the router restarts.
		r.shards = r.shards[:0]
		props := pa.PropsFromProducer(func() pa.Actor { return newShard(r.n) }, pa.WithDispatcher(r.n.pool))
		for range r.n.cfg.Shards {
			r.shards = append(r.shards, ctx.Spawn(props))
		}
	case *wire.Call:
		if err := r.check(m.GetTo(), len(m.GetEvent())); err != nil {
			ctx.Respond(&wire.CallReply{Error: toWire(err)})
			return
		}
		ctx.Forward(r.shard(m.GetTo().GetKind(), m.GetTo().GetKey()))
	case *wire.Query:
		if err := r.check(m.GetTo(), len(m.GetQuery())); err != nil {
			ctx.Respond(&wire.QueryReply{Error: toWire(err)})
			return
		}
		ctx.Forward(r.shard(m.GetTo().GetKind(), m.GetTo().GetKey()))
	case *wire.Replicate:
		r.n.countReceived(m)
		if err := r.check(m.GetTo(), 0); err != nil {
			r.dropped(m, err)
			return
		}
		ctx.Forward(r.shard(m.GetTo().GetKind(), m.GetTo().GetKey()))
	case *wire.Batch:
		items := m.GetItems()
		if f := m.GetFrame(); len(f) > 0 {
			var err error
			if items, err = wire.DecodeFrame(f); err != nil {
				r.n.log.Warn("replication batch dropped", "bytes", len(f), "err", err)
				return
			}
		}
		if r.n.metrics != nil && len(items) > 0 { // one node sent them all
			r.n.metrics.peer(r.n.senderLabel(items[0].GetFrom())).bytesR.Add(float64(envelopeBytes(m)))
		}
		for _, m := range items {
			r.n.countReceived(m)
			if err := r.check(m.GetTo(), 0); err != nil {
				r.dropped(m, err)
				continue
			}
			ctx.Send(r.shard(m.GetTo().GetKind(), m.GetTo().GetKey()), m)
		}
	case *wake:
		if _, ok := r.n.kinds[m.id.kind]; ok {
			ctx.Send(r.shard(m.id.kind, m.id.key), m)
		}
	case *timerWake:
		if _, ok := r.n.kinds[m.id.kind]; ok {
			ctx.Send(r.shard(m.id.kind, m.id.key), m)
		}
	case *shardsOf:
		ctx.Respond(slices.Clone(r.shards))
	case *resync:
		for _, pid := range r.shards {
			ctx.Send(pid, m)
		}
	case *wire.Departing:
		r.n.departing.mark(lattice.Peer(m.GetPeer()), r.n.cfg.Clock.Now())
	}
}

// check validates a message's target before anything is activated for it.
func (r *router) check(t *wire.Target, payload int) error {
	if t == nil || t.Key == "" {
		return fmt.Errorf("%w: message without a target", ErrBadPayload)
	}
	if err := validateKey(t.Key); err != nil {
		return fmt.Errorf("%w: %w", ErrBadPayload, err)
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

// shard returns the shard that hosts the partition (kind, key).
func (r *router) shard(kind, key string) *pa.PID {
	return r.shards[shardOf(kind, key, len(r.shards))]
}

// dropped logs a replication message the router refused. One to a stopping node is
// expected (its peers replicate until they see it gone; anti-entropy resends what
// mattered) and logged at Debug; another is a warning.
func (r *router) dropped(m *wire.Replicate, err error) {
	level := slog.LevelWarn
	if errors.Is(err, ErrStopped) {
		level = slog.LevelDebug
	}
	r.n.log.Log(context.Background(), level, "replication message dropped", "from", m.GetFrom(), "err", err)
}
