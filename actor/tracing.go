package actor

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	pa "github.com/legion-go/legion/actor/internal/protoactor/actor"
	"github.com/legion-go/legion/actor/internal/wire"
	"github.com/legion-go/legion/lattice"
)

// Tracing (Config.TracerProvider; docs/operations.md, "Tracing"). A call's trace context
// crosses every hop, carried in the messages (wire.Trace: the W3C trace context of the
// span that sent it):
//
//	legion.call / legion.query        the caller's Ref.Call or Ref.Query (client)
//	  legion.attempt                  one attempt on one replica (client)
//	    legion.replica.call / .query  the replica's handling, until it replies (server)
//	      legion.flush                the shard's flush that made it durable (parent: the
//	                                  first traced replica of the flush; the others linked)
//	        legion.commit             the store commit of that flush
//	        legion.replicate          a replication message the flush sent (producer)
//	          legion.replica.replicate  its handling on the other replica (consumer),
//	                                  whose own flush, commit and answer follow as above
//
// Without a provider the node traces nothing: each hop costs a nil check. A replica whose
// node does not trace ignores the context it receives.

const tracerName = "github.com/legion-go/legion/actor"

// maxTracedReplies bounds the replica spans a shard keeps open waiting for their reply
// (a reply that never comes: the replica stopped, the caller's node went away); past it
// new requests are handled without a replica span.
const maxTracedReplies = 4096

// startCall starts the span of a call or query (name) on partition (kind, key).
func (n *Node) startCall(ctx context.Context, name, kind, key, level string) (context.Context, trace.Span) {
	return n.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("legion.kind", kind), attribute.String("legion.key", key),
			attribute.String("legion.level", level)))
}

// endSpan ends span with err's status.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// startAttempt starts an attempt's span and puts its context in msg.
func (n *Node) startAttempt(ctx context.Context, p lattice.Peer, msg any) (context.Context, trace.Span) {
	ctx, span := n.tracer.Start(ctx, "legion.attempt", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("legion.peer", string(p))))
	t := toWireTrace(span.SpanContext())
	switch m := msg.(type) {
	case *wire.Call:
		m.Trace = t
	case *wire.Query:
		m.Trace = t
	}
	return ctx, span
}

// endAttempt ends an attempt's span with its outcome.
func endAttempt(span trace.Span, err, refusal error) {
	span.SetAttributes(attribute.String("legion.outcome", attemptOutcome(err, refusal)))
	if err == nil {
		span.AddEvent("reply")
	}
	endSpan(span, err)
}

// toWireTrace is the context a message carries: none for a span that is not sampled, so
// that a call the sampler left out costs its caller's two spans and nothing on the
// replicas (a trace sampled at its root, as by sdktrace.ParentBased, is whole all the same).
func toWireTrace(sc trace.SpanContext) *wire.Trace {
	if !sc.IsValid() || !sc.IsSampled() {
		return nil
	}
	tid, sid := sc.TraceID(), sc.SpanID()
	return &wire.Trace{TraceId: tid[:], SpanId: sid[:], Flags: uint32(sc.TraceFlags()), State: sc.TraceState().String()}
}

// fromWireTrace returns the remote span context t carries, if it is a valid one.
func fromWireTrace(t *wire.Trace) (trace.SpanContext, bool) {
	if t == nil || len(t.TraceId) != 16 || len(t.SpanId) != 8 {
		return trace.SpanContext{}, false
	}
	cfg := trace.SpanContextConfig{TraceFlags: trace.TraceFlags(t.Flags), Remote: true}
	copy(cfg.TraceID[:], t.TraceId)
	copy(cfg.SpanID[:], t.SpanId)
	if t.State != "" {
		cfg.TraceState, _ = trace.ParseTraceState(t.State) // a malformed state is dropped
	}
	sc := trace.NewSpanContext(cfg)
	return sc, sc.IsValid()
}

// tracing is a shard's state of the traces going through it.
type tracing struct {
	// replies: the replica spans waiting for their reply, by the caller's PID (the core
	// hands back the PID it was given, so the pointer names the request).
	replies map[*pa.PID]trace.Span
	// sends: the span context the replication messages of the current step are sent
	// from (invalid: they are not traced).
	sends trace.SpanContext
}

// traceRequest starts the replica span of a traced call or query (name), if the node
// traces and t is a valid context, and marks h traced by it.
func (s *shard) traceRequest(name string, h *hosted, t *wire.Trace, from *pa.PID) {
	parent, ok := fromWireTrace(t)
	if !ok || from == nil || len(s.trace.replies) >= maxTracedReplies {
		return
	}
	_, span := s.n.tracer.Start(trace.ContextWithRemoteSpanContext(context.Background(), parent), name,
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("legion.partition", h.core.Origin()), attribute.String("legion.peer", string(s.n.peer))))
	if s.trace.replies == nil {
		s.trace.replies = map[*pa.PID]trace.Span{}
	}
	if old, ok := s.trace.replies[from]; ok {
		old.End()
	}
	s.trace.replies[from] = span
	h.trace = span.SpanContext()
	s.trace.sends = h.trace
}

// traceReplicate starts the span of a traced replication message's handling; the caller
// ends it after the step.
func (s *shard) traceReplicate(h *hosted, m *wire.Replicate) trace.Span {
	parent, ok := fromWireTrace(m.Trace)
	if !ok {
		return nil
	}
	_, span := s.n.tracer.Start(trace.ContextWithRemoteSpanContext(context.Background(), parent), "legion.replica.replicate",
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.String("legion.partition", h.core.Origin()), attribute.String("legion.from", m.From),
			attribute.String("legion.type", replicateTypes[replicateType(m)])))
	h.trace = span.SpanContext()
	s.trace.sends = h.trace
	return span
}

// replied ends the replica span waiting for the reply to to, if any.
func (s *shard) replied(to *pa.PID) {
	if span, ok := s.trace.replies[to]; ok {
		span.End()
		delete(s.trace.replies, to)
	}
}

// endTraces ends the replica spans still waiting (the shard stops or restarts).
func (s *shard) endTraces(why string) {
	for to, span := range s.trace.replies {
		span.SetStatus(codes.Error, why)
		span.End()
		delete(s.trace.replies, to)
	}
}

// traceSend traces a replication message sent from the current step's span, if any.
func (s *shard) traceSend(to lattice.Peer, m *wire.Replicate) {
	if !s.trace.sends.IsValid() {
		return
	}
	_, span := s.n.tracer.Start(trace.ContextWithSpanContext(context.Background(), s.trace.sends), "legion.replicate",
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.String("legion.to", string(to)), attribute.String("legion.type", replicateTypes[replicateType(m)])))
	m.Trace = toWireTrace(span.SpanContext())
	span.End()
}

// startFlush starts the span of a flush if some of its replicas (readies) are traced
// (none: no spans), and its commit's span, a child of it. The replicas' sends after the
// commit are children of the flush's span.
func (s *shard) startFlush(readies []ready) (flush, commit trace.Span) {
	var parent trace.SpanContext
	var links []trace.Link
	count := 0
	for _, r := range readies {
		if !r.h.trace.IsValid() {
			continue
		}
		count++
		if !parent.IsValid() {
			parent = r.h.trace
		} else if len(links) < 32 {
			links = append(links, trace.Link{SpanContext: r.h.trace})
		}
	}
	if count == 0 {
		return nil, nil
	}
	ctx, flush := s.n.tracer.Start(trace.ContextWithSpanContext(context.Background(), parent), "legion.flush",
		trace.WithLinks(links...), trace.WithAttributes(attribute.Int("legion.replicas", len(readies)),
			attribute.Int("legion.traced", count), attribute.String("legion.peer", string(s.n.peer))))
	_, commit = s.n.tracer.Start(ctx, "legion.commit")
	return flush, commit
}

// untrace ends a traced step: its sends are no longer traced, and h keeps its trace for
// its flush only if the step queued one.
func (s *shard) untrace(h *hosted) {
	s.trace.sends = trace.SpanContext{}
	if !h.core.Dirty() {
		h.trace = trace.SpanContext{}
	}
}
