package actor_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/actor/actortest"
	"github.com/legion-go/legion/lattice"
)

// wantOutcome checks that err, a failed call's, says exactly one of "not applied" and
// "outcome unknown" (want), and is each of also.
func wantOutcome(t *testing.T, what string, err, want error, also ...error) {
	t.Helper()
	other := actor.ErrOutcomeUnknown
	if want == actor.ErrOutcomeUnknown {
		other = actor.ErrNotApplied
	}
	switch {
	case err == nil:
		t.Fatalf("%s: no error, want %v", what, want)
	case !errors.Is(err, want):
		t.Fatalf("%s: %v, want it to be %v", what, err, want)
	case errors.Is(err, other):
		t.Fatalf("%s: %v is both %v and %v", what, err, want, other)
	case strings.Contains(err.Error(), "\n"):
		t.Fatalf("%s: %q is more than one line", what, err)
	}
	for _, e := range also {
		if !errors.Is(err, e) {
			t.Fatalf("%s: %v, want it to be %v too", what, err, e)
		}
	}
}

// outsideKey returns a key of counterKind whose replica set, by c's first node, does not
// hold node i, and that set.
func outsideKey(t *testing.T, c *actortest.Cluster, i int, prefix string) (string, []lattice.Peer) {
	t.Helper()
	for j := range 1000 {
		k := prefix + string(rune('a'+j%26)) + strings.Repeat("x", j/26)
		set := actor.RefOf(c.Nodes[0], counterKind, k).Replicas()
		if !slices.Contains(set, c.Nodes[i].Peer()) {
			return k, set
		}
	}
	t.Fatal("no key placed off the node")
	return "", nil
}

// TestCallErrorsNotApplied: every failure of Call that logged nothing says so
// (ErrNotApplied, never ErrOutcomeUnknown): refused before sending, rejected by Apply,
// refused by every replica of a partition whose existence they cannot establish (one
// replica cut off from the others, ErrUnavailable too), a ctx that ended before the first
// attempt; a call afterwards shows that nothing was applied.
func TestCallErrorsNotApplied(t *testing.T) {
	opts := testOptions()
	c := actortest.Start(t, 4, opts)
	n := c.Nodes[0]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	_, err := actor.RefOf(n, counterKind, "").Call(ctx, wrapperspb.Int64(1), actor.Fast)
	wantOutcome(t, "an empty key", err, actor.ErrNotApplied, actor.ErrInvalidKey)
	_, err = actor.RefOf(n, counterKind, "k").Call(ctx, wrapperspb.Int64(1), actor.Fast, actor.WithRequestKey(""))
	wantOutcome(t, "an empty request key", err, actor.ErrNotApplied, actor.ErrInvalidRequestKey)
	done, stop := context.WithCancel(context.Background())
	stop()
	_, err = actor.RefOf(n, counterKind, "k").Call(done, wrapperspb.Int64(1), actor.Consistent)
	wantOutcome(t, "a ctx that ended before the call", err, actor.ErrNotApplied, actor.ErrUnavailable, context.Canceled)

	var rej *actor.RejectedError
	for _, level := range []actor.Consistency{actor.Fast, actor.Consistent} {
		_, err = actor.RefOf(n, counterKind, "k").Call(ctx, wrapperspb.Int64(13), level)
		wantOutcome(t, "a rejected call", err, actor.ErrNotApplied)
		if !errors.As(err, &rej) {
			t.Fatalf("a rejected call: %v is not a *RejectedError", err)
		}
	}

	// A partition nobody wrote, one of whose replicas is cut off from the other two (not
	// from the caller): each replica, asked in turn, cannot tell whether it exists and
	// refuses to start it.
	k, set := outsideKey(t, c, 0, "fresh-")
	x := c.Index(set[2])
	c.Cut(x, c.Index(set[0]))
	c.Cut(x, c.Index(set[1]))
	_, err = actor.RefOf(n, counterKind, k).Call(ctx, wrapperspb.Int64(1), actor.Consistent)
	wantOutcome(t, "every replica refused", err, actor.ErrNotApplied, actor.ErrUnavailable)
	c.Heal(x, c.Index(set[0]))
	c.Heal(x, c.Index(set[1]))
	out, err := actor.RefOf(n, counterKind, k).Call(ctx, wrapperspb.Int64(1), actor.Consistent)
	if err != nil || out.GetValue() != 1 {
		t.Fatalf("the call after the heal: %v, %v; want 1 (the refused call applied nothing)", out, err)
	}
	out, err = actor.RefOf(n, counterKind, "k").Call(ctx, wrapperspb.Int64(1), actor.Consistent)
	if err != nil || out.GetValue() != 1 {
		t.Fatalf("k after the rejected and the cancelled calls: %v, %v; want 1", out, err)
	}

	c.Nodes[3].Stop(context.Background())
	_, err = actor.RefOf(c.Nodes[3], counterKind, "k").Call(ctx, wrapperspb.Int64(1), actor.Fast)
	wantOutcome(t, "a stopped node", err, actor.ErrNotApplied, actor.ErrStopped)
}

// TestCallErrorsOutcomeUnknown: every failure of Call after which its event may be logged
// says so (ErrOutcomeUnknown, never ErrNotApplied), and the outcome was indeed open: a
// consistent call whose replica logged the event while cut off from the others (its ctx
// ends before the acknowledgements come) is applied after the heal; a call from a node cut
// off from every replica got no answer; a rejection after an attempt that got none is not
// final.
func TestCallErrorsOutcomeUnknown(t *testing.T) {
	opts := testOptions()
	c := actortest.Start(t, 4, opts)
	k := "acct"
	set := actor.RefOf(c.Nodes[0], counterKind, k).Replicas()
	first := c.Index(set[0])
	if _, err := callKey(c.Nodes[first], k, "open", 10, actor.Consistent, 10*time.Second); err != nil {
		t.Fatal(err)
	}

	// Logged, not acknowledged: the first replica, cut off from the other two, takes the
	// call (through its own node) and waits for their acks until ctx ends.
	others := []int{c.Index(set[1]), c.Index(set[2])}
	for _, o := range others {
		c.Cut(first, o)
	}
	_, err := callKey(c.Nodes[first], k, "pay-1", 5, actor.Consistent, opts.Config.AttemptTimeout/2)
	wantOutcome(t, "a consistent call cut off from its acks", err, actor.ErrOutcomeUnknown, actor.ErrUnavailable)
	for _, o := range others {
		c.Heal(first, o)
	}
	checkReplicas(t, c, map[string]int64{k: 15}) // it was logged: it folds after the heal
	out, err := callKey(c.Nodes[first], k, "pay-1", 5, actor.Consistent, 10*time.Second)
	retried(t, out, err, 15)

	// No answer: a node that is no replica, cut off from every replica.
	k2, set2 := outsideKey(t, c, 0, "cut-")
	if _, err := callKey(c.Nodes[0], k2, "open", 1, actor.Consistent, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, p := range set2 {
		c.Cut(0, c.Index(p))
	}
	_, err = callKey(c.Nodes[0], k2, "add-1", 1, actor.Fast, 3*opts.Config.AttemptTimeout+opts.Config.AttemptTimeout/2)
	wantOutcome(t, "a call no replica answered", err, actor.ErrOutcomeUnknown, actor.ErrUnavailable)
	for _, p := range set2 {
		c.Heal(0, c.Index(p))
	}

	// A rejection answered by the second replica after the first got the call and gave no
	// answer: the first's copy (if it was logged) may fold first, so the rejection is not
	// final and is no *RejectedError.
	c.Cut(0, c.Index(set2[0]))
	_, err = callKey(c.Nodes[0], k2, "unlucky", 13, actor.Fast, 10*time.Second)
	wantOutcome(t, "a rejection after no answer", err, actor.ErrOutcomeUnknown)
	if rej := (*actor.RejectedError)(nil); errors.As(err, &rej) {
		t.Fatalf("%v is a *RejectedError: a rejection after an attempt with no answer is not final", err)
	}
	c.Heal(0, c.Index(set2[0]))
	checkReplicas(t, c, map[string]int64{k: 15, k2: 1})
}
