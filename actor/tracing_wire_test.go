package actor

import (
	"testing"

	"go.opentelemetry.io/otel/trace"
)

// TestWireTrace: a sampled span context crosses the wire whole (ids, flags, state); an
// unsampled one, or an invalid one, is not carried; a malformed one received is ignored.
func TestWireTrace(t *testing.T) {
	state, err := trace.ParseTraceState("vendor=x")
	if err != nil {
		t.Fatal(err)
	}
	cfg := trace.SpanContextConfig{TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5}, TraceFlags: trace.FlagsSampled, TraceState: state}
	sc := trace.NewSpanContext(cfg)
	back, ok := fromWireTrace(toWireTrace(sc))
	if !ok || back.TraceID() != sc.TraceID() || back.SpanID() != sc.SpanID() || !back.IsSampled() ||
		back.TraceState().String() != "vendor=x" || !back.IsRemote() {
		t.Errorf("round trip of %v gave %v, %v", sc, back, ok)
	}
	cfg.TraceFlags = 0
	if w := toWireTrace(trace.NewSpanContext(cfg)); w != nil {
		t.Errorf("an unsampled context is carried: %v", w)
	}
	if w := toWireTrace(trace.SpanContext{}); w != nil {
		t.Errorf("an invalid context is carried: %v", w)
	}
	w := toWireTrace(sc)
	w.SpanId = w.SpanId[:3]
	if _, ok := fromWireTrace(w); ok {
		t.Error("a context with a 3-byte span id is taken")
	}
}
