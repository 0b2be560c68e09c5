package actor

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

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

// Ref is a reference to one partition, usable from any node (including a client-only
// one). It is a small value: make one per call if convenient.
type Ref[S, E, O proto.Message] struct {
	n    *Node
	kind *Kind[S, E, O]
	key  string
}

// RefOf returns a reference to the partition (kind, key). A key must be non-empty UTF-8
// of at most MaxKeyBytes: the Ref's methods refuse another with ErrInvalidKey (see
// ValidateKey to check one first).
func RefOf[S, E, O proto.Message](n *Node, kind *Kind[S, E, O], key string) Ref[S, E, O] {
	return Ref[S, E, O]{n: n, kind: kind, key: key}
}

// Call logs an event in the partition and returns its output. It goes to the first
// replica of the partition's replica set; when that one does not answer within
// Config.AttemptTimeout (or is not a replica any more), it tries the next one, until ctx
// ends. A *RejectedError means the event was rejected by Apply and changed nothing.
//
// Every attempt carries the same request key, so a call that timed out on one replica
// and was retried on the next is applied once: the partition treats the later copy as a
// duplicate. A call that fails altogether (ctx ended, no replica answered) has an unknown
// outcome: it may have been applied.
func (r Ref[S, E, O]) Call(ctx context.Context, event E, c Consistency) (out O, err error) {
	if r.n.metrics != nil {
		start := r.n.cfg.Clock.Now()
		defer func() { r.n.observe(false, r.kind.Name, levelName(c), start, err) }()
	}
	if r.n.tracer != nil {
		var span trace.Span
		ctx, span = r.n.startCall(ctx, "legion.call", r.kind.Name, r.key, levelName(c))
		defer func() { endSpan(span, err) }()
	}
	var zero O
	if err := validateKey(r.key); err != nil {
		return zero, err
	}
	b, err := proto.Marshal(event)
	if err != nil {
		return zero, fmt.Errorf("%w: %v", ErrBadPayload, err)
	}
	req := randomHex(12) // the same on every attempt
	var deadline int64
	if dl, ok := ctx.Deadline(); ok {
		deadline = dl.UnixNano()
	}
	// A fresh message per attempt: one sent to this node's own router is not copied, and
	// a timed-out attempt may still be in its mailbox.
	res, err := r.n.request(ctx, r.kind.Name, r.key, len(b), func(t *wire.Target, set []string) proto.Message {
		return &wire.Call{To: t, Event: b, Consistency: wire.Consistency(c), Req: req, Deadline: deadline, ReplicaSet: set}
	})
	return decodeReply[O](res, err)
}

// decodeReply turns a replica's reply (a CallReply or a QueryReply) into the output or
// the error it carries.
func decodeReply[O proto.Message](res proto.Message, err error) (O, error) {
	var zero O
	if err != nil {
		return zero, err
	}
	var werr *wire.Error
	var b []byte
	switch reply := res.(type) {
	case *wire.CallReply:
		werr, b = reply.GetError(), reply.GetOutput()
	case *wire.QueryReply:
		werr, b = reply.GetError(), reply.GetOutput()
	default:
		return zero, fmt.Errorf("actor: unexpected reply %T", res)
	}
	if err := fromWire(werr); err != nil {
		return zero, err
	}
	out := newMessage[O]()
	if err := proto.Unmarshal(b, out); err != nil {
		return zero, fmt.Errorf("%w: output: %v", ErrBadPayload, err)
	}
	return out, nil
}

// Query answers the kind's Query on one replica without logging an event.
func (r Ref[S, E, O]) Query(ctx context.Context, query E, level ReadLevel) (out O, err error) {
	if r.n.metrics != nil {
		start := r.n.cfg.Clock.Now()
		defer func() { r.n.observe(true, r.kind.Name, readLevelName(level), start, err) }()
	}
	if r.n.tracer != nil {
		var span trace.Span
		ctx, span = r.n.startCall(ctx, "legion.query", r.kind.Name, r.key, readLevelName(level))
		defer func() { endSpan(span, err) }()
	}
	var zero O
	if err := validateKey(r.key); err != nil {
		return zero, err
	}
	b, err := proto.Marshal(query)
	if err != nil {
		return zero, fmt.Errorf("%w: %v", ErrBadPayload, err)
	}
	res, err := r.n.request(ctx, r.kind.Name, r.key, len(b), func(t *wire.Target, set []string) proto.Message {
		return &wire.Query{To: t, Query: b, Level: wire.ReadLevel(level), ReplicaSet: set}
	})
	return decodeReply[O](res, err)
}

// request sends a message built for each replica in turn until one answers with
// something other than "not a replica" or "stopped".
func (n *Node) request(ctx context.Context, kind, key string, size int, build func(*wire.Target, []string) proto.Message) (proto.Message, error) {
	if n.stopped.Load() {
		return nil, ErrStopped
	}
	if size > n.cfg.MaxPayloadBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, size, n.cfg.MaxPayloadBytes)
	}
	set := n.replicaSet(kind, key)
	if len(set) == 0 {
		return nil, fmt.Errorf("%w: %q", ErrNoReplicas, kind)
	}
	sset := peerStrings(set)
	var last error
	for i, p := range set {
		if err := ctx.Err(); err != nil {
			return nil, errors.Join(ErrUnavailable, err, last)
		}
		msg := build(&wire.Target{Kind: kind, Key: key, Peer: string(p)}, sset)
		actx, span := ctx, trace.Span(nil)
		if n.tracer != nil {
			actx, span = n.startAttempt(ctx, p, msg)
		}
		res, err := n.attempt(actx, p, msg)
		var refusal error
		if e := replyError(res); err == nil && e != nil && (errors.Is(e, ErrNotReplica) || errors.Is(e, ErrStopped) || errors.Is(e, ErrUnavailable)) {
			refusal = e
		}
		n.observeAttempt(kind, err, refusal, i+1 < len(set))
		if span != nil {
			endAttempt(span, err, refusal)
		}
		if err != nil {
			last = err
			continue
		}
		if refusal != nil {
			last = refusal
			continue
		}
		return res, nil
	}
	return nil, errors.Join(ErrUnavailable, last)
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
	timeout := n.cfg.AttemptTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, dl.Sub(n.cfg.Clock.Now()))
	}
	if timeout <= 0 {
		return nil, context.DeadlineExceeded
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
			return nil, ctx.Err()
		}
		if timeout -= wait; link.Drop || timeout <= 0 {
			return nil, errNoReply
		}
	}
	pid, ok := n.routerOf(p)
	if !ok {
		return nil, fmt.Errorf("%w %s", errNoRoute, p)
	}
	id, sender, reply := n.replies.expect()
	n.system.Root.RequestWithCustomSender(pid, msg, sender)
	expired, t := after(n.cfg.Clock, timeout)
	defer t.Stop()
	select {
	case m := <-reply:
		return m, nil
	case <-expired:
		n.replies.forget(id)
		return nil, errNoReply
	case <-ctx.Done():
		n.replies.forget(id)
		return nil, ctx.Err()
	}
}

// errNoReply is an attempt that got no answer within the attempt timeout; errNoRoute, one
// to a peer membership knows no member for.
var (
	errNoReply = errors.New("actor: no reply within the attempt timeout")
	errNoRoute = errors.New("actor: no member hosts")
)

// Replicas returns the partition's replica set by this node's current membership view, in
// the order calls try them.
func (r Ref[S, E, O]) Replicas() []lattice.Peer { return r.n.replicaSet(r.kind.Name, r.key) }

// QueryReplica answers the kind's Query on the replica held by one peer, with no
// failover: for checking what each replica holds.
func (r Ref[S, E, O]) QueryReplica(ctx context.Context, peer lattice.Peer, query E, level ReadLevel) (O, error) {
	var zero O
	if err := validateKey(r.key); err != nil {
		return zero, err
	}
	b, err := proto.Marshal(query)
	if err != nil {
		return zero, fmt.Errorf("%w: %v", ErrBadPayload, err)
	}
	msg := &wire.Query{To: &wire.Target{Kind: r.kind.Name, Key: r.key, Peer: string(peer)}, Query: b,
		Level: wire.ReadLevel(level), ReplicaSet: peerStrings(r.Replicas())}
	return decodeReply[O](r.n.attempt(ctx, peer, msg))
}
