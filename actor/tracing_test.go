package actor_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/actor/actortest"
)

// spanTree indexes exported spans by span id.
type spanTree struct {
	byID map[trace.SpanID]tracetest.SpanStub
}

func newSpanTree(spans tracetest.SpanStubs) spanTree {
	t := spanTree{byID: map[trace.SpanID]tracetest.SpanStub{}}
	for _, s := range spans {
		t.byID[s.SpanContext.SpanID()] = s
	}
	return t
}

// children returns the spans named name whose parent is p.
func (t spanTree) children(p tracetest.SpanStub, name string) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, s := range t.byID {
		if s.Name == name && s.Parent.SpanID() == p.SpanContext.SpanID() && s.Parent.TraceID() == p.SpanContext.TraceID() {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b tracetest.SpanStub) int { return a.StartTime.Compare(b.StartTime) })
	return out
}

func attr(s tracetest.SpanStub, key string) string {
	for _, a := range s.Attributes {
		if a.Key == attribute.Key(key) {
			return a.Value.Emit()
		}
	}
	return ""
}

// TestTracingAcrossNodes: a consistent call from one node to a partition whose first
// replica is on another carries its trace through every hop, on three nodes: the call,
// its attempt, the replica's handling on the second node, its flush and commit, the
// replication to the third node, that node's handling, flush and commit; the attempt
// records the reply. Every span is in the caller's trace.
func TestTracingAcrossNodes(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	c := actortest.Start(t, 3, actortest.Options{Config: actor.Config{Kinds: []actor.KindSpec{counterKind},
		TracerProvider: tp, GCInterval: 20 * time.Millisecond, AntiEntropyInterval: 20 * time.Millisecond}})
	a := c.Nodes[0]
	k := ""
	for i := 0; k == ""; i++ {
		if set := actor.RefOf(a, counterKind, key(i)).Replicas(); len(set) == 3 && set[0] != a.Peer() {
			k = key(i)
		}
	}
	ref := actor.RefOf(a, counterKind, k)
	set := ref.Replicas()
	b, third := set[0], set[1]
	if third == a.Peer() {
		third = set[2]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Create the partition first, and wait until its replicas are quiet, so that the
	// traced call is an ordinary one: its diffs leave with its flush (not held back by
	// flow control behind an unanswered one, to leave with a later, untraced step).
	if _, err := ref.Call(ctx, wrapperspb.Int64(1), actor.Fast); err != nil {
		t.Fatal(err)
	}
	actortest.Eventually(t, 10*time.Second, func() error {
		for _, p := range set {
			if v, err := ref.QueryReplica(ctx, p, &i64{}, actor.Stable); err != nil || v.GetValue() != 1 {
				return fmt.Errorf("replica on %s: %v, %v", p, v, err)
			}
		}
		for _, n := range c.Nodes {
			if st := n.Stalls(); len(st.Partitions) > 0 {
				return fmt.Errorf("%s: %d partitions with pending deltas", n.Peer(), len(st.Partitions))
			}
		}
		return nil
	})
	exp.Reset()
	root, span := tp.Tracer("test").Start(ctx, "test")
	if _, err := ref.Call(root, wrapperspb.Int64(1), actor.Consistent); err != nil {
		t.Fatal(err)
	}
	span.End()

	actortest.Eventually(t, 10*time.Second, func() error {
		tree := newSpanTree(exp.GetSpans())
		var top tracetest.SpanStub
		for _, s := range tree.byID {
			if s.Name == "test" {
				top = s
			}
		}
		if top.Name == "" {
			return fmt.Errorf("no test span")
		}
		one := func(p tracetest.SpanStub, name string, ok func(tracetest.SpanStub) bool) (tracetest.SpanStub, error) {
			for _, s := range tree.children(p, name) {
				if ok == nil || ok(s) {
					return s, nil
				}
			}
			var all []string
			for _, s := range tree.byID {
				all = append(all, fmt.Sprintf("%s %s<-%s %v", s.Name, s.SpanContext.SpanID(), s.Parent.SpanID(), s.Attributes))
			}
			return tracetest.SpanStub{}, fmt.Errorf("no %s under %s %s (%s) among %d spans:\n%s", name, p.Name, p.SpanContext.SpanID(), attr(p, "legion.peer"), len(tree.byID), strings.Join(all, "\n"))
		}
		on := func(peer any) func(tracetest.SpanStub) bool {
			return func(s tracetest.SpanStub) bool { return attr(s, "legion.peer") == fmt.Sprint(peer) }
		}
		call, err := one(top, "legion.call", nil)
		if err != nil {
			return err
		}
		if attr(call, "legion.level") != "consistent" || attr(call, "legion.key") != k {
			return fmt.Errorf("call span attributes %v", call.Attributes)
		}
		attempt, err := one(call, "legion.attempt", on(b))
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(attempt.Events, func(e sdktrace.Event) bool { return e.Name == "reply" }) {
			return fmt.Errorf("the attempt recorded no reply: %v", attempt.Events)
		}
		handling, err := one(attempt, "legion.replica.call", on(b))
		if err != nil {
			return err
		}
		flush, err := one(handling, "legion.flush", on(b))
		if err != nil {
			return err
		}
		if _, err := one(flush, "legion.commit", nil); err != nil {
			return err
		}
		send, err := one(flush, "legion.replicate", func(s tracetest.SpanStub) bool { return attr(s, "legion.to") == string(third) })
		if err != nil {
			return err
		}
		received, err := one(send, "legion.replica.replicate", nil)
		if err != nil {
			return err
		}
		if attr(received, "legion.from") != string(b) {
			return fmt.Errorf("replication handled from %q, want %s", attr(received, "legion.from"), b)
		}
		flush3, err := one(received, "legion.flush", on(third))
		if err != nil {
			return err
		}
		if _, err := one(flush3, "legion.commit", nil); err != nil {
			return err
		}
		for _, s := range []tracetest.SpanStub{call, attempt, handling, flush, send, received, flush3} {
			if s.SpanContext.TraceID() != top.SpanContext.TraceID() {
				return fmt.Errorf("%s is in another trace", s.Name)
			}
		}
		return nil
	})
}

// TestNoTracingWithoutProvider: a node without a TracerProvider puts no trace context in
// its messages, and one that receives a traced call but does not trace answers it alike.
func TestNoTracingWithoutProvider(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	c := actortest.Start(t, 3, actortest.Options{Config: actor.Config{Kinds: []actor.KindSpec{counterKind}},
		Configure: func(i int, c *actor.Config) {
			if i == 0 {
				c.TracerProvider = tp
			}
		}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 10 {
		if _, err := actor.RefOf(c.Nodes[0], counterKind, key(i)).Call(ctx, wrapperspb.Int64(1), actor.Consistent); err != nil {
			t.Fatal(err)
		}
		if _, err := actor.RefOf(c.Nodes[1], counterKind, key(i)).Call(ctx, wrapperspb.Int64(1), actor.Consistent); err != nil {
			t.Fatal(err)
		}
	}
	calls := 0
	for _, s := range exp.GetSpans() {
		if s.Name == "legion.call" {
			calls++
		}
		if s.Name == "legion.replica.replicate" {
			t.Errorf("node 0 handled a traced replication message from %s, which does not trace", attr(s, "legion.from"))
		}
	}
	if calls != 10 {
		t.Errorf("%d call spans, want node 0's 10", calls)
	}
}
