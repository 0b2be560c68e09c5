package actor_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/actor/actortest"
	"github.com/legion-go/legion/lattice"
)

type str = wrapperspb.StringValue

// journalKind's state is the metadata Apply was given for each event, in fold order.
var journalKind = &actor.Kind[*str, *str, *str]{
	Name: "journal",
	Apply: func(s *str, _ *str, m lattice.Meta) (*str, *str, error) {
		s.Value += fmt.Sprintf("%d %s %d;", m.ID.Counter, m.Origin(), m.Time)
		return s, wrapperspb.String(s.Value), nil
	},
	Query: func(s *str, _ *str) (*str, error) { return wrapperspb.String(s.Value), nil },
}

// TestApplyMetadataIsDeterministic: Apply sees the same metadata for an event on every
// replica (event id, origin peer, the origin's hybrid-logical-clock time), so time-based
// logic folds identically everywhere; events created by different replicas (here after
// a failover) carry their own origins; each origin's clock only moves forward.
func TestApplyMetadataIsDeterministic(t *testing.T) {
	opts := testOptions()
	opts.Config.Kinds = []actor.KindSpec{counterKind, journalKind}
	opts.Config.AttemptTimeout = 200 * time.Millisecond
	c := actortest.Start(t, 3, opts)
	const k = "j"
	set := actor.RefOf(c.Nodes[0], journalKind, k).Replicas()
	first, caller := c.Index(set[0]), c.Index(set[1])
	call := func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := actor.RefOf(c.Nodes[caller], journalKind, k).Call(ctx, &str{}, actor.Consistent); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		call() // handled by the first replica
	}
	c.Cut(first, caller)
	for range 3 {
		call() // fails over to the second replica, on the caller's node
	}
	c.Heal(first, caller)
	call()

	var journal string
	actortest.Eventually(t, 10*time.Second, func() error {
		journal = ""
		for _, p := range set {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			got, err := actor.RefOf(c.Nodes[0], journalKind, k).QueryReplica(ctx, p, &str{}, actor.Stable)
			cancel()
			if err != nil {
				return err
			}
			if journal == "" {
				journal = got.Value
			}
			if got.Value != journal || strings.Count(got.Value, ";") != 7 {
				return fmt.Errorf("%s holds %q, first replica %q", p, got.Value, journal)
			}
		}
		return nil
	})
	last := map[string]int64{}
	for _, e := range strings.Split(strings.TrimSuffix(journal, ";"), ";") {
		var counter uint64
		var origin string
		var at int64
		if _, err := fmt.Sscan(e, &counter, &origin, &at); err != nil {
			t.Fatalf("journal entry %q: %v", e, err)
		}
		if !slices.Contains(set, lattice.Peer(origin)) {
			t.Fatalf("event %d from %s, not a replica of %v", counter, origin, set)
		}
		if at <= last[origin] {
			t.Fatalf("%s stamped %d after %d: its clock went back", origin, at, last[origin])
		}
		last[origin] = at
	}
	if len(last) < 2 || last[string(set[0])] == 0 || last[string(set[1])] == 0 {
		t.Fatalf("origins %v: want events from %s and %s (failover)", last, set[0], set[1])
	}
}
