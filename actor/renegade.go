package actor

import (
	"context"
	"errors"

	"google.golang.org/protobuf/proto"

	"github.com/legion-go/legion/actor/internal/wire"
	"github.com/legion-go/legion/lattice"
)

// Renegades (actor/internal/replica, renegade.go) are proposed again by the node, from its
// background goroutines: a round per replica at a time, at most maxReproposers at once.

// maxReproposers bounds the re-proposal rounds a node runs at once.
const maxReproposers = 16

// repropose proposes one renegade as a consistent call with its request key; it reports
// whether a replica answered for it (its event, or the original it duplicates, folded
// there; or it was rejected: either way the partition's history holds its outcome).
//
// Consistent, not fast: a replica that holds the event pending may hold it from a copy
// that is itself doomed (the simulation, seed 822: the ejected replica had handed its
// stale copy, renegade included, to a new peer; the re-proposal reached that peer, was
// answered as a duplicate, and the entry vanished when that peer learned the live
// history). An entry folds only with every participant's ack, which a doomed copy's
// does not get.
func (n *Node) repropose(ctx context.Context, kind, key string, e *lattice.Entry[[]byte]) bool {
	ctx, cancel := context.WithTimeout(ctx, 4*n.cfg.AttemptTimeout)
	defer cancel()
	dl, _ := ctx.Deadline()
	res, _, err := n.request(ctx, kind, key, len(e.Delta.Event), func(t *wire.Target, set []string) proto.Message {
		return &wire.Call{To: t, Event: e.Delta.Event, Consistency: wire.Consistency_CONSISTENT, Req: e.Delta.Req,
			Deadline: dl.UnixNano(), ReplicaSet: set, EventTime: e.Delta.Time, // the event keeps its time
			Delete: e.Delta.Kind == lattice.Reset}
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
