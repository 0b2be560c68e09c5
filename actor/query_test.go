package actor_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/actor/actortest"
	"github.com/legion-go/legion/lattice"
)

// vandal is a counter whose Query breaks the rules: a query of -1 overwrites the state it
// is given.
var vandal = &actor.Kind[*i64, *i64, *i64]{
	Name: "vandal",
	Apply: func(s *i64, e *i64, _ lattice.Meta) (*i64, *i64, error) {
		s.Value += e.Value
		return s, wrapperspb.Int64(s.Value), nil
	},
	Query: func(s *i64, q *i64) (*i64, error) {
		if q.Value == -1 {
			s.Value = 1000
		}
		return wrapperspb.Int64(s.Value), nil
	},
}

// TestQueryCannotCorruptTheReplica: a Query that modifies its state, run on every replica
// at both levels, changes nothing: every replica still reads the count, and the next call
// counts from it.
func TestQueryCannotCorruptTheReplica(t *testing.T) {
	opts := testOptions()
	opts.Config.Kinds = []actor.KindSpec{vandal}
	c := actortest.Start(t, 3, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ref := actor.RefOf(c.Nodes[0], vandal, "v")
	for range 2 {
		if _, err := ref.Call(ctx, wrapperspb.Int64(1), actor.Consistent); err != nil {
			t.Fatal(err)
		}
	}
	actortest.Eventually(t, 10*time.Second, func() error { // every replica reads 2 at both levels
		for _, p := range ref.Replicas() {
			if out, err := ref.QueryReplica(ctx, p, &i64{}, actor.Stable); err != nil || out.Value != 2 {
				return fmt.Errorf("%s: %v, %v", p, out, err)
			}
		}
		return nil
	})
	for _, p := range ref.Replicas() {
		for _, level := range []actor.ReadLevel{actor.Projected, actor.Stable} {
			if out, err := ref.QueryReplica(ctx, p, wrapperspb.Int64(-1), level); err != nil || out.Value != 1000 {
				t.Fatalf("the vandal query on %s: %v, %v", p, out, err)
			}
			if out, err := ref.QueryReplica(ctx, p, &i64{}, level); err != nil || out.Value != 2 {
				t.Fatalf("%s reads %v, %v after a query modified its state; want 2", p, out, err)
			}
		}
	}
	if out, err := ref.Call(ctx, wrapperspb.Int64(1), actor.Consistent); err != nil || out.Value != 3 {
		t.Fatalf("the next call: %v, %v; want 3", out, err)
	}
}

// TestQueryOfUnwrittenPartitions: queries of keys nobody wrote answer from the initial
// state, at both levels and through every node, and store nothing on any node (before, each
// started and persisted its partition on every replica of its set); a call then starts
// one as before.
func TestQueryOfUnwrittenPartitions(t *testing.T) {
	c := actortest.Start(t, 3, testOptions())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 30 {
		ref := actor.RefOf(c.Nodes[i%3], counterKind, fmt.Sprint("nobody-", i))
		for _, level := range []actor.ReadLevel{actor.Projected, actor.Stable} {
			if out, err := ref.Query(ctx, &i64{}, level); err != nil || out.Value != 0 {
				t.Fatalf("a query of %s: %v, %v; want 0", fmt.Sprint("nobody-", i), out, err)
			}
		}
	}
	if out, err := actor.RefOf(c.Nodes[0], counterKind, "written").Call(ctx, wrapperspb.Int64(4), actor.Consistent); err != nil || out.Value != 4 {
		t.Fatalf("a call: %v, %v", out, err)
	}
	// Each stop hands the node's replicas to the others and writes what the rest of its
	// active replicas hold: the last node ends with every partition that exists.
	for i, n := range c.Nodes {
		if err := n.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		var stored []string
		if err := c.Store(i).Partitions(counterKind.Name, func(key string) bool {
			stored = append(stored, key)
			return true
		}); err != nil {
			t.Fatal(err)
		}
		if len(stored) > 1 || len(stored) == 1 && stored[0] != "written" || i == len(c.Nodes)-1 && len(stored) == 0 {
			t.Errorf("node %d stores %v; want the written partition only", i, stored)
		}
	}
}
