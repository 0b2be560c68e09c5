package actor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"github.com/legion-go/legion/actor/internal/wire"
	"github.com/legion-go/legion/lattice"
)

// KindRef is a reference to one partition of a KindOf, usable from any node (including a
// client-only one); it encodes with the kind's codec. It is a small value: make one per
// call if convenient. Its methods behave as Ref's.
type KindRef[S, E, Q, O any] struct {
	n    *Node
	kind *KindOf[S, E, Q, O]
	key  string
}

// Ref returns a reference to the partition of kind k with the given key, through node n.
// A key must be non-empty UTF-8 of at most MaxKeyBytes: the KindRef's methods refuse
// another with ErrInvalidKey (see ValidateKey to check one first).
func (k *KindOf[S, E, Q, O]) Ref(n *Node, key string) KindRef[S, E, Q, O] {
	return KindRef[S, E, Q, O]{n: n, kind: k, key: key}
}

// Call logs an event in the partition and returns its output, as Ref.Call does: failover
// to the next replica after Config.AttemptTimeout, one request key on every attempt (so a
// retried call applies once; WithRequestKey sets it), a *RejectedError when Apply
// rejected the event.
func (r KindRef[S, E, Q, O]) Call(ctx context.Context, event E, c Consistency, opts ...CallOption) (out O, err error) {
	n := r.n
	ctx, done := n.instrument(ctx, false, r.kind.Name, r.key, levelName(c))
	defer func() { done(err) }()
	var zero O
	if err := validateKey(r.key); err != nil {
		return zero, refused(err)
	}
	req, err := callOptionsOf(opts) // the same on every attempt
	if err != nil {
		return zero, refused(err)
	}
	b, err := r.kind.codec().Marshal(event)
	if err != nil {
		return zero, refused(fmt.Errorf("%w: %v", ErrBadPayload, err))
	}
	var deadline int64
	if dl, ok := ctx.Deadline(); ok {
		deadline = dl.UnixNano()
	}
	now := n.clock.Now() // the replica's node observes it (hlc.go)
	// A fresh message per attempt: one sent to this node's own router is not copied, and
	// a timed-out attempt may still be in its mailbox.
	res, taken, err := n.request(ctx, r.kind.Name, r.key, len(b), func(t *wire.Target, set []string) proto.Message {
		return &wire.Call{To: t, Event: b, Consistency: wire.Consistency(c), Req: req, Deadline: deadline,
			ReplicaSet: set, Time: now}
	})
	if err != nil {
		return zero, callOutcome(taken, err, nil)
	}
	if out, err = r.decode(res, nil); err != nil {
		if e := replyError(res); e != nil { // not an undecodable output: the call was applied
			err = callOutcome(taken, nil, err)
		}
	}
	return out, err
}

// Delete deletes the partition: it logs a delete, which every replica folds in its place
// among the partition's events, as Ref.Delete does. The events that sort before it are
// gone with the state; a later call starts from the kind's Initial state. See
// docs/calls.md, "Deleting a partition".
func (r KindRef[S, E, Q, O]) Delete(ctx context.Context, c Consistency, opts ...CallOption) (err error) {
	n := r.n
	ctx, done := n.instrument(ctx, false, r.kind.Name, r.key, levelName(c))
	defer func() { done(err) }()
	if err := validateKey(r.key); err != nil {
		return refused(err)
	}
	req, err := callOptionsOf(opts) // the same on every attempt
	if err != nil {
		return refused(err)
	}
	var deadline int64
	if dl, ok := ctx.Deadline(); ok {
		deadline = dl.UnixNano()
	}
	now := n.clock.Now()
	res, taken, err := n.request(ctx, r.kind.Name, r.key, 0, func(t *wire.Target, set []string) proto.Message {
		return &wire.Call{To: t, Delete: true, Consistency: wire.Consistency(c), Req: req, Deadline: deadline,
			ReplicaSet: set, Time: now}
	})
	if err != nil {
		return callOutcome(taken, err, nil)
	}
	reply, ok := res.(*wire.CallReply)
	if !ok {
		return fmt.Errorf("actor: unexpected reply %T", res)
	}
	r.n.observeTime(reply.GetTime(), "a reply")
	err = callOutcome(taken, nil, fromWire(reply.GetError()))
	if errors.Is(err, ErrOutputUnknown) {
		return nil // a duplicate of an earlier delete with this key: it was applied (it has no output)
	}
	return err
}

// Query answers the kind's Query on one replica without logging an event, as Ref.Query.
func (r KindRef[S, E, Q, O]) Query(ctx context.Context, query Q, level ReadLevel) (out O, err error) {
	n := r.n
	ctx, done := n.instrument(ctx, true, r.kind.Name, r.key, readLevelName(level))
	defer func() { done(err) }()
	var zero O
	if err := validateKey(r.key); err != nil {
		return zero, err
	}
	b, err := r.kind.codec().Marshal(query)
	if err != nil {
		return zero, fmt.Errorf("%w: %v", ErrBadPayload, err)
	}
	res, _, err := n.request(ctx, r.kind.Name, r.key, len(b), func(t *wire.Target, set []string) proto.Message {
		return &wire.Query{To: t, Query: b, Level: wire.ReadLevel(level), ReplicaSet: set}
	})
	return r.decode(res, err)
}

// QueryReplica answers the kind's Query on the replica held by one peer, with no
// failover: for checking what each replica holds.
func (r KindRef[S, E, Q, O]) QueryReplica(ctx context.Context, peer lattice.Peer, query Q, level ReadLevel) (O, error) {
	var zero O
	if err := validateKey(r.key); err != nil {
		return zero, err
	}
	b, err := r.kind.codec().Marshal(query)
	if err != nil {
		return zero, fmt.Errorf("%w: %v", ErrBadPayload, err)
	}
	msg := &wire.Query{To: &wire.Target{Kind: r.kind.Name, Key: r.key, Peer: string(peer)}, Query: b,
		Level: wire.ReadLevel(level), ReplicaSet: peerStrings(r.Replicas())}
	return r.decode(r.n.attempt(ctx, peer, msg))
}

// Replicas returns the partition's replica set by this node's current membership view, in
// placement order (calls try a replica that just timed out after the others).
func (r KindRef[S, E, Q, O]) Replicas() []lattice.Peer { return r.n.replicaSet(r.kind.Name, r.key) }

// decode turns a replica's reply (a CallReply or a QueryReply) into the output or the
// error it carries.
func (r KindRef[S, E, Q, O]) decode(res proto.Message, err error) (O, error) {
	var out O
	if err != nil {
		return out, err
	}
	var werr *wire.Error
	var b []byte
	switch reply := res.(type) {
	case *wire.CallReply:
		werr, b = reply.GetError(), reply.GetOutput()
		r.n.observeTime(reply.GetTime(), "a reply") // what this node does next comes after the event
	case *wire.QueryReply:
		werr, b = reply.GetError(), reply.GetOutput()
	default:
		return out, fmt.Errorf("actor: unexpected reply %T", res)
	}
	if err := fromWire(werr); err != nil {
		return out, err
	}
	if err := r.kind.codec().Unmarshal(b, &out); err != nil {
		return out, fmt.Errorf("%w: output: %v", ErrBadPayload, err)
	}
	return out, nil
}

// instrument starts what a call or query of kind on key at level records when metrics or
// tracing are on: done, called with the outcome, observes its latency and ends its span.
func (n *Node) instrument(ctx context.Context, query bool, kind, key, level string) (_ context.Context, done func(err error)) {
	var start time.Time
	if n.metrics != nil {
		start = n.cfg.Clock.Now()
	}
	var span trace.Span
	if n.tracer != nil {
		name := "legion.call"
		if query {
			name = "legion.query"
		}
		ctx, span = n.startCall(ctx, name, kind, key, level)
	}
	return ctx, func(err error) {
		if n.metrics != nil {
			n.observe(query, kind, level, start, err)
		}
		if span != nil {
			endSpan(span, err)
		}
	}
}
