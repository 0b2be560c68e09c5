package actor_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/actor/actortest"
	"github.com/legion-go/legion/lattice"
)

// callKey calls counter k through n with request key req, within d.
func callKey(n *actor.Node, k, req string, by int64, level actor.Consistency, d time.Duration) (*i64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return actor.RefOf(n, counterKind, k).Call(ctx, wrapperspb.Int64(by), level, actor.WithRequestKey(req))
}

// retried checks the answer to a retry of a call that was applied: its original output,
// or ErrOutputUnknown from a replica that does not know that output; never a new one.
func retried(t *testing.T, out *i64, err error, want int64) {
	t.Helper()
	switch {
	case errors.Is(err, actor.ErrOutputUnknown):
	case err != nil:
		t.Fatalf("the retry: %v", err)
	case out.GetValue() != want:
		t.Fatalf("the retry answered %d, want the original's %d: it was applied again", out.GetValue(), want)
	}
}

// TestRequestKeyAcrossFailover: a call with a request key answered by the first replica,
// retried with the same key through a node cut off from that replica (so the retry fails
// over to the next one), is applied once, fast or consistent; another key applies again.
func TestRequestKeyAcrossFailover(t *testing.T) {
	c := actortest.Start(t, 3, testOptions())
	k := "idem"
	set := actor.RefOf(c.Nodes[0], counterKind, k).Replicas()
	first, second := c.Index(set[0]), c.Index(set[1])
	out, err := callKey(c.Nodes[first], k, "order-1", 5, actor.Consistent, 10*time.Second)
	if err != nil || out.Value != 5 {
		t.Fatalf("the first call: %v, %v", out, err)
	}
	c.Cut(second, first)
	for _, level := range []actor.Consistency{actor.Fast, actor.Consistent} {
		out, err = callKey(c.Nodes[second], k, "order-1", 5, level, 10*time.Second)
		retried(t, out, err, 5)
	}
	c.Heal(second, first)
	checkReplicas(t, c, map[string]int64{k: 5})
	if out, err = callKey(c.Nodes[second], k, "order-2", 5, actor.Consistent, 10*time.Second); err != nil || out.Value != 10 {
		t.Fatalf("a call with another key: %v, %v; want 10", out, err)
	}
	checkReplicas(t, c, map[string]int64{k: 10})
}

// TestRequestKeyAcrossRestart: on pebble stores, a call with a request key answered by the
// first replica, whose node then crashes and restarts on its data directory, retried with
// the same key through the restarted node (its own replica answers first), is applied
// once: the dedup window is stored with the partition.
func TestRequestKeyAcrossRestart(t *testing.T) {
	opts := testOptions()
	opts.Store = actortest.PebbleStores(t)
	c := actortest.Start(t, 3, opts)
	k := "idem"
	first := c.Index(actor.RefOf(c.Nodes[0], counterKind, k).Replicas()[0])
	for i, level := range []actor.Consistency{actor.Consistent, actor.Fast} {
		req := fmt.Sprint("pay-", i)
		want := int64(3 * (i + 1))
		out, err := callKey(c.Nodes[first], k, req, 3, level, 10*time.Second)
		if err != nil || out.Value != want {
			t.Fatalf("call %s: %v, %v; want %d", req, out, err, want)
		}
		checkReplicas(t, c, map[string]int64{k: want}) // durable everywhere before the crash
		c.Crash(first)
		c.Restart(first)
		c.WaitConverged()
		out, err = callKey(c.Nodes[first], k, req, 3, level, 10*time.Second)
		retried(t, out, err, want)
		checkReplicas(t, c, map[string]int64{k: want})
	}
}

func TestRequestKeyRefused(t *testing.T) {
	c := actortest.Start(t, 1, testOptions())
	for _, req := range []string{"", strings.Repeat("x", actor.MaxRequestKeyBytes+1), "\xff"} {
		if _, err := callKey(c.Nodes[0], "k", req, 1, actor.Fast, time.Second); !errors.Is(err, actor.ErrInvalidRequestKey) {
			t.Errorf("request key %.20q: %v, want ErrInvalidRequestKey", req, err)
		}
	}
}

// TestFailoverLearns: with the first replica of a partition cut off from the caller's
// node, the first call (and query) from there waits out one attempt timeout before the
// next replica answers; the calls after it go to the next replica straight away.
func TestFailoverLearns(t *testing.T) {
	opts := testOptions()
	timeout := opts.Config.AttemptTimeout
	c := actortest.Start(t, 3, opts)
	k := "learn"
	set := actor.RefOf(c.Nodes[0], counterKind, k).Replicas()
	first, caller := c.Index(set[0]), c.Index(set[1])
	if _, err := callKey(c.Nodes[caller], k, "create", 1, actor.Consistent, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	c.Cut(caller, first)
	ref := actor.RefOf(c.Nodes[caller], counterKind, k)
	timed := func(what string, f func(ctx context.Context) error) time.Duration {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		start := time.Now()
		if err := f(ctx); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return time.Since(start)
	}
	call := func(ctx context.Context) error {
		_, err := ref.Call(ctx, wrapperspb.Int64(1), actor.Fast)
		return err
	}
	query := func(ctx context.Context) error {
		_, err := ref.Query(ctx, &i64{}, actor.Projected)
		return err
	}
	if took := timed("the first call", call); took < timeout {
		t.Fatalf("the first call took %v, less than the attempt timeout %v: was the replica cut off?", took, timeout)
	}
	for i := range 5 {
		if took := timed("a call", call); took >= timeout/2 {
			t.Fatalf("call %d after the first took %v: it waited for the cut-off replica again", i+2, took)
		}
		if took := timed("a query", query); took >= timeout/2 {
			t.Fatalf("query %d after the first took %v: it waited for the cut-off replica again", i+1, took)
		}
	}
	c.Heal(caller, first)
	checkReplicas(t, c, map[string]int64{k: 7})
}

// BenchmarkFailoverCutReplica: fast calls from a node cut off from the partition's first
// replica, after the first call learned it (ns/op: one call's latency).
func BenchmarkFailoverCutReplica(b *testing.B) {
	c := actortest.Start(b, 3, actortest.Options{Config: testOptions().Config, NoLogs: true})
	k := "learn"
	set := actor.RefOf(c.Nodes[0], counterKind, k).Replicas()
	first, caller := c.Index(set[0]), c.Index(set[1])
	if _, err := callKey(c.Nodes[caller], k, "create", 1, actor.Consistent, 10*time.Second); err != nil {
		b.Fatal(err)
	}
	c.Cut(caller, first)
	ref := actor.RefOf(c.Nodes[caller], counterKind, k)
	ctx := context.Background()
	start := time.Now()
	if _, err := ref.Call(ctx, wrapperspb.Int64(1), actor.Fast); err != nil {
		b.Fatal(err)
	}
	firstMS := float64(time.Since(start).Milliseconds())
	b.ResetTimer()
	for b.Loop() {
		if _, err := ref.Call(ctx, wrapperspb.Int64(1), actor.Fast); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(firstMS, "first-call-ms")
}

// tagged is protobuf's encoding after a tag byte: a codec no other decodes.
type tagged struct{}

func (tagged) Marshal(v any) ([]byte, error) {
	b, err := actor.Protobuf.Marshal(v)
	return append([]byte{0x7f}, b...), err
}

func (tagged) Unmarshal(data []byte, v any) error {
	if len(data) == 0 || data[0] != 0x7f {
		return errors.New("tagged: no tag")
	}
	return actor.Protobuf.Unmarshal(data[1:], v)
}

// TestRefOfUsesTheKindsCodec: a Kind of protobuf messages with a codec of its own works
// through RefOf (which encoded with protobuf whatever the codec, so that its replicas
// refused every call), as through kind.Ref.
func TestRefOfUsesTheKindsCodec(t *testing.T) {
	kind := &actor.Kind[*i64, *i64, *i64]{Name: "tagged", Codec: tagged{}, Apply: counterKind.Apply, Query: counterKind.Query}
	opts := testOptions()
	opts.Config.Kinds = []actor.KindSpec{kind}
	c := actortest.Start(t, 2, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := actor.RefOf(c.Nodes[0], kind, "t").Call(ctx, wrapperspb.Int64(2), actor.Consistent); err != nil || out.Value != 2 {
		t.Fatalf("a call through RefOf: %v, %v", out, err)
	}
	if out, err := kind.Ref(c.Nodes[1], "t").Call(ctx, wrapperspb.Int64(3), actor.Consistent); err != nil || out.Value != 5 {
		t.Fatalf("a call through kind.Ref: %v, %v", out, err)
	}
	if out, err := actor.RefOf(c.Nodes[1], kind, "t").Query(ctx, &i64{}, actor.Stable); err != nil || out.Value != 5 {
		t.Fatalf("a query through RefOf: %v, %v", out, err)
	}
}

// account: the state is a balance, an event adds to it (a deposit) or takes from it (a
// withdrawal, rejected when the balance is short); the output is the new balance.
var account = &actor.Kind[*i64, *i64, *i64]{
	Name: "account",
	Apply: func(s *i64, e *i64, _ lattice.Meta) (*i64, *i64, error) {
		if s.Value+e.Value < 0 {
			return s, nil, errors.New("insufficient funds")
		}
		s.Value += e.Value
		return s, wrapperspb.Int64(s.Value), nil
	},
	Query: func(s *i64, _ *i64) (*i64, error) { return wrapperspb.Int64(s.Value), nil },
}

// TestFinalOutcomeOfFastCalls is the account of issue 20: a balance of 100, two fast
// withdrawals of 80 on the two sides of a cut, both acknowledged; after the heal the
// balance is 20, and a consistent retry of each with its request key, through any node,
// tells which one the final order applied (its final output) and which it rejected
// (*RejectedError), applying neither again.
func TestFinalOutcomeOfFastCalls(t *testing.T) {
	opts := testOptions()
	opts.Config.Kinds = []actor.KindSpec{account}
	c := actortest.Start(t, 3, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const k = "alice"
	set := actor.RefOf(c.Nodes[0], account, k).Replicas()
	a, b := c.Index(set[0]), c.Index(set[1])
	if _, err := actor.RefOf(c.Nodes[a], account, k).Call(ctx, wrapperspb.Int64(100), actor.Consistent); err != nil {
		t.Fatal(err)
	}
	for j := range 3 {
		if j != a {
			c.Cut(a, j)
		}
	}
	withdraw := func(via int, req string, level actor.Consistency) (*i64, error) {
		return actor.RefOf(c.Nodes[via], account, k).Call(ctx, wrapperspb.Int64(-80), level, actor.WithRequestKey(req))
	}
	for via, req := range map[int]string{a: "w-a", b: "w-b"} { // one on each side
		if out, err := withdraw(via, req, actor.Fast); err != nil || out.Value != 20 {
			t.Fatalf("the fast withdrawal %s: %v, %v; want OK with 20 (each side sees 100)", req, out, err)
		}
	}
	for j := range 3 {
		c.Heal(a, j)
	}
	actortest.Eventually(t, 20*time.Second, func() error {
		for _, p := range set {
			if out, err := actor.RefOf(c.Nodes[0], account, k).QueryReplica(ctx, p, &i64{}, actor.Stable); err != nil || out.Value != 20 {
				return fmt.Errorf("%s: %v, %v", p, out, err)
			}
		}
		return nil
	})
	applied, rejected := 0, 0
	for i, req := range []string{"w-a", "w-b"} {
		for via := range 3 {
			out, err := withdraw(via, req, actor.Consistent)
			var rej *actor.RejectedError
			switch {
			case errors.As(err, &rej):
				if via == 0 {
					rejected++
				}
			case err == nil && out.Value == 20:
				if via == 0 {
					applied++
				}
			default:
				t.Fatalf("the consistent retry of %s (%d) through node %d: %v, %v; want its final outcome", req, i, via, out, err)
			}
		}
	}
	if applied != 1 || rejected != 1 {
		t.Fatalf("%d withdrawals applied and %d rejected in the final order; want one of each", applied, rejected)
	}
	if out, err := actor.RefOf(c.Nodes[1], account, k).Query(ctx, &i64{}, actor.Stable); err != nil || out.Value != 20 {
		t.Fatalf("the balance after the retries: %v, %v; want 20", out, err)
	}
}
