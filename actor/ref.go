package actor

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	pa "github.com/legion-go/legion/actor/internal/protoactor/actor"

	"github.com/legion-go/legion/actor/internal/wire"
	"github.com/legion-go/legion/lattice"
)

// Consistency is how long a call waits.
type Consistency int

const (
	// Fast returns once the replica that handles the call has applied and persisted the
	// event. The output is projected: a concurrent event that sorts earlier may still
	// change the event's final output (never whether it was logged).
	Fast Consistency = iota
	// Consistent returns once the event has folded into the handling replica's infimum:
	// every replica acknowledged (and persisted) it, and the output is final and the same
	// on every replica.
	Consistent
)

// ReadLevel is what a query reads.
type ReadLevel int

const (
	// Projected reads the handling replica's projection: every event it has, in order.
	Projected ReadLevel = iota
	// Stable reads the handling replica's infimum: only what every replica acknowledged.
	Stable
)

// Ref is a reference to one partition of a Kind (of protobuf messages), usable from any
// node (including a client-only one). It is a small value: make one per call if
// convenient. It is a KindRef whose queries are events, and encodes with the kind's
// codec as KindRef does.
type Ref[S, E, O proto.Message] struct {
	r KindRef[S, E, E, O]
}

// RefOf returns a reference to the partition (kind, key): kind.Ref(n, key), typed as a
// Ref. A key must be non-empty UTF-8 of at most MaxKeyBytes: the Ref's methods refuse
// another with ErrInvalidKey (see ValidateKey to check one first).
func RefOf[S, E, O proto.Message](n *Node, kind *Kind[S, E, O], key string) Ref[S, E, O] {
	return Ref[S, E, O]{r: kind.Ref(n, key)}
}

// Call logs an event in the partition and returns its output. It goes to the first
// replica of the partition's replica set; when that one does not answer within
// Config.AttemptTimeout (or is not a replica any more), it tries the next one, until ctx
// ends. A replica that did not answer is tried after the others for a while (see
// docs/calls.md). A *RejectedError means the event was rejected by Apply and changed
// nothing.
//
// Every attempt carries the same request key (WithRequestKey's, or a random one), so a
// call that timed out on one replica and was retried on the next is applied once: the
// partition treats the later copy as a duplicate. A failed call's error says what is
// known: ErrNotApplied (nothing was logged: refused before sending or by every replica,
// or rejected) or ErrOutcomeUnknown (an attempt may have been logged: it got no answer,
// or ctx ended while the replica waited for acknowledgements); retry the latter with the
// same WithRequestKey to have it applied once. See docs/calls.md, "Errors".
func (r Ref[S, E, O]) Call(ctx context.Context, event E, c Consistency, opts ...CallOption) (O, error) {
	return r.r.Call(ctx, event, c, opts...)
}

// Delete deletes the partition: it logs a delete (a lattice.Reset delta, which Apply
// never sees) that every replica folds in its place among the partition's events. Events
// that sort before it are gone with the state; events that sort after it (a later call,
// or a concurrent one from the other side of a cut) apply to the kind's Initial state, as
// a first call's would. A replica that missed the delete (it was down, or cut off) folds
// it when it catches up: it cannot bring the old state back. Once the delete folded on a
// replica, that replica stores the partition as a small record (the initial state, its
// participants and its dedup window), drops its cached outputs, and its timers are the
// initial state's.
//
// c is as for Call: Fast returns once the replica that took the delete logged and
// persisted it (a query of that replica's projection sees the initial state at once);
// Consistent, once it folded there, with every replica's acknowledgement. Delete has no
// output: a retry with the same WithRequestKey is applied once and returns nil (a key
// names one request: a Delete with the key of an earlier Call is a duplicate of that call,
// and deletes nothing). Its errors
// are Call's (ErrNotApplied, ErrOutcomeUnknown: retry with the same key). See
// docs/calls.md, "Deleting a partition".
func (r Ref[S, E, O]) Delete(ctx context.Context, c Consistency, opts ...CallOption) error {
	return r.r.Delete(ctx, c, opts...)
}

// Query answers the kind's Query on one replica without logging an event.
func (r Ref[S, E, O]) Query(ctx context.Context, query E, level ReadLevel) (O, error) {
	return r.r.Query(ctx, query, level)
}

// request sends a message built for each replica in turn until one answers with
// something other than "not a replica" or "stopped". taken reports whether an attempt
// other than the one answered may have been logged (a call's: Call's errors say so): one
// was sent and got no answer (its request or its reply may have been lost), or a replica
// refused it after it may have logged it (wire.Error.maybe_logged).
func (n *Node) request(ctx context.Context, kind, key string, size int, build func(*wire.Target, []string) proto.Message) (_ proto.Message, taken bool, _ error) {
	if n.stopped.Load() {
		return nil, false, ErrStopped
	}
	if size > n.cfg.MaxPayloadBytes {
		return nil, false, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, size, n.cfg.MaxPayloadBytes)
	}
	set := n.replicaSet(kind, key)
	if len(set) == 0 {
		return nil, false, fmt.Errorf("%w: %q", ErrNoReplicas, kind)
	}
	sset := peerStrings(set) // the placement order, which replicas check the set by
	set = n.suspects.order(set, n.cfg.Clock.Now())
	var last error
	for i, p := range set {
		if err := ctx.Err(); err != nil {
			return nil, taken, joinErrors(ErrUnavailable, err, last)
		}
		msg := build(&wire.Target{Kind: kind, Key: key, Peer: string(p)}, sset)
		actx, span := ctx, trace.Span(nil)
		if n.tracer != nil {
			actx, span = n.startAttempt(ctx, p, msg)
		}
		res, sent, err := n.try(actx, p, msg)
		var refusal error
		if e := replyError(res); err == nil && e != nil && (errors.Is(e, ErrNotReplica) || errors.Is(e, ErrStopped) || errors.Is(e, ErrUnavailable)) {
			refusal = e
		}
		n.observeAttempt(kind, err, refusal, i+1 < len(set))
		if span != nil {
			endAttempt(span, err, refusal)
		}
		if errors.Is(err, errNoReply) {
			n.suspects.timedOut(p, n.cfg.Clock.Now(), suspectFor(n.cfg.AttemptTimeout))
		} else if err == nil {
			n.suspects.answered(p)
		}
		if err != nil {
			taken = taken || sent
			last = err
			continue
		}
		if refusal != nil {
			taken = taken || errors.Is(refusal, ErrOutcomeUnknown)
			last = refusal
			continue
		}
		return res, taken, nil
	}
	return nil, taken, joinErrors(ErrUnavailable, last)
}

func replyError(m proto.Message) error {
	switch r := m.(type) {
	case *wire.CallReply:
		return fromWire(r.GetError())
	case *wire.QueryReply:
		return fromWire(r.GetError())
	}
	return nil
}

// attempt asks one replica, within the attempt timeout and ctx.
func (n *Node) attempt(ctx context.Context, p lattice.Peer, msg proto.Message) (proto.Message, error) {
	res, _, err := n.try(ctx, p, msg)
	return res, err
}

// try is attempt, and reports whether msg may have reached p (with an error: whether
// its outcome is unknown). A request a link drops or delays counts as sent: it models a
// network, whose sender cannot tell a lost request from a lost reply.
func (n *Node) try(ctx context.Context, p lattice.Peer, msg proto.Message) (_ proto.Message, sent bool, _ error) {
	timeout := n.cfg.AttemptTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, dl.Sub(n.cfg.Clock.Now()))
	}
	if timeout <= 0 {
		return nil, false, context.DeadlineExceeded
	}
	if link := n.link(p); link.Drop || link.Delay > 0 {
		wait := link.Delay
		if link.Drop || wait > timeout { // the request is lost: the caller waits out its timeout
			wait = timeout
		}
		waited, t := after(n.cfg.Clock, wait)
		select {
		case <-waited:
		case <-ctx.Done():
			t.Stop()
			return nil, true, ctx.Err()
		}
		if timeout -= wait; link.Drop || timeout <= 0 {
			return nil, true, errNoReply
		}
	}
	pid, ok := n.routerOf(p)
	if !ok {
		return nil, false, fmt.Errorf("%w %s", errNoRoute, p)
	}
	id, sender, reply := n.replies.expect()
	n.system.Root.RequestWithCustomSender(pid, msg, sender)
	expired, t := after(n.cfg.Clock, timeout)
	defer t.Stop()
	select {
	case m := <-reply:
		if _, dead := m.(*pa.DeadLetterResponse); dead {
			// Proto.Actor's answer when the request reached no router: the peer's stopped
			// (a planned departure), or the link broke while the request was queued. Not a
			// reply: the next replica is tried. Counted as sent, since a link that broke
			// mid-write may have delivered it. It used to reach the caller as its result
			// ("unexpected reply *actor.DeadLetterResponse": TestPlannedDeparture, CI).
			return nil, true, errUndeliverable
		}
		return m, true, nil
	case <-expired:
		n.replies.forget(id)
		return nil, true, errNoReply
	case <-ctx.Done():
		n.replies.forget(id)
		return nil, true, ctx.Err()
	}
}

// errNoReply is an attempt that got no answer within the attempt timeout; errNoRoute, one
// to a peer membership knows no member for.
var (
	errNoReply = errors.New("actor: no reply within the attempt timeout")
	errNoRoute = errors.New("actor: no member hosts")
	// errUndeliverable is an attempt that Proto.Actor reported undeliverable: it is
	// counted and suspected as one with no reply.
	errUndeliverable = fmt.Errorf("%w: undeliverable (the peer's router is gone, or the link broke)", errNoReply)
)

// Replicas returns the partition's replica set by this node's current membership view, in
// placement order (calls try a replica that just timed out after the others).
func (r Ref[S, E, O]) Replicas() []lattice.Peer { return r.r.Replicas() }

// QueryReplica answers the kind's Query on the replica held by one peer, with no
// failover: for checking what each replica holds.
func (r Ref[S, E, O]) QueryReplica(ctx context.Context, peer lattice.Peer, query E, level ReadLevel) (O, error) {
	return r.r.QueryReplica(ctx, peer, query, level)
}
