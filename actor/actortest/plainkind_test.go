package actortest_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/actor/actortest"
	"github.com/legion-go/legion/lattice"
)

// A kind of plain Go types on the JSON codec: no protobuf, and a query type of its own.
type (
	// cart is the state: item quantities (a map, which JSON encodes in key order).
	cart struct {
		Items   map[string]int `json:"items,omitempty"`
		Changes int            `json:"changes"`
	}
	// cartEvent adds Qty of Item (a negative Qty removes).
	cartEvent struct {
		Item string `json:"item"`
		Qty  int    `json:"qty"`
	}
	// cartQuery asks for one item, or for all of them when Item is empty.
	cartQuery struct {
		Item string `json:"item,omitempty"`
	}
	// cartView is the output of events and queries.
	cartView struct {
		Items   map[string]int `json:"items"`
		Changes int            `json:"changes"`
	}
)

var errEmptyItem = errors.New("an event needs an item")

var cartKind = &actor.KindOf[cart, cartEvent, cartQuery, cartView]{
	Name:  "cart",
	Codec: actor.JSON,
	Apply: func(s cart, e cartEvent, _ lattice.Meta) (cart, cartView, error) {
		switch {
		case e.Item == "":
			return s, cartView{}, errEmptyItem
		case s.Items[e.Item]+e.Qty < 0:
			return s, cartView{}, fmt.Errorf("only %d of %q", s.Items[e.Item], e.Item)
		}
		if s.Items == nil {
			s.Items = map[string]int{}
		}
		if s.Items[e.Item] += e.Qty; s.Items[e.Item] == 0 {
			delete(s.Items, e.Item)
		}
		s.Changes++
		return s, cartView{Items: map[string]int{e.Item: s.Items[e.Item]}, Changes: s.Changes}, nil
	},
	Query: func(s cart, q cartQuery) (cartView, error) {
		if q.Item != "" {
			return cartView{Items: map[string]int{q.Item: s.Items[q.Item]}, Changes: s.Changes}, nil
		}
		return cartView{Items: maps.Clone(s.Items), Changes: s.Changes}, nil
	},
	Clone: func(s cart) cart { s.Items = maps.Clone(s.Items); return s },
}

// TestPlainKindOnPebble: a kind of plain Go structs (JSON codec, its own query type) on
// three nodes with pebble stores: calls at both consistencies, a rejection, queries of
// every replica; then every node crashes and restarts on its store, and the state is
// there, on every replica, and takes new events.
func TestPlainKindOnPebble(t *testing.T) {
	opts := options()
	opts.Config.Kinds = []actor.KindSpec{cartKind, counter}
	opts.Store = actortest.PebbleStores(t)
	c := actortest.Start(t, 3, opts)
	ref := cartKind.Ref(c.Nodes[0], "alice")
	if got := len(ref.Replicas()); got != 3 {
		t.Fatalf("%d replicas, want 3", got)
	}
	actortest.Eventually(t, 10*time.Second, func() error { // a new partition: retry until every replica answers
		_, err := queryCart(ref, "", actor.Projected)
		return err
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i, e := range []cartEvent{{"apple", 3}, {"pear", 1}, {"apple", 2}, {"fig", 4}, {"fig", -4}} {
		level := actor.Fast
		if i%2 == 0 {
			level = actor.Consistent
		}
		out, err := cartKind.Ref(c.Nodes[i%3], "alice").Call(ctx, e, level)
		if err != nil {
			t.Fatalf("call %d (%+v): %v", i, e, err)
		}
		if out.Changes != i+1 {
			t.Fatalf("call %d: output %+v, want change %d", i, out, i+1)
		}
	}
	_, err := ref.Call(ctx, cartEvent{"pear", -2}, actor.Consistent)
	var rej *actor.RejectedError
	if !errors.As(err, &rej) {
		t.Fatalf("removing 2 of 1 pear: %v, want a *RejectedError", err)
	}
	want := cartView{Items: map[string]int{"apple": 5, "pear": 1}, Changes: 5}
	everyReplica(t, c, ref, want)
	one, err := queryCart(ref, "apple", actor.Stable)
	if err != nil || one.Items["apple"] != 5 || len(one.Items) != 1 {
		t.Fatalf("query for apples: %+v, %v", one, err)
	}

	// A protobuf Kind through its Ref (the codec path) and through RefOf: one encoding.
	create(t, c.Nodes[0], "pb")
	if out, err := counter.Ref(c.Nodes[2], "pb").Call(ctx, wrapperspb.Int64(2), actor.Consistent); err != nil || out.GetValue() != 2 {
		t.Fatalf("a protobuf kind's call through Ref: %v, %v", out, err)
	}
	if out, err := actor.RefOf(c.Nodes[1], counter, "pb").Query(ctx, &i64{}, actor.Stable); err != nil || out.GetValue() != 2 {
		t.Fatalf("read back through RefOf: %v, %v", out, err)
	}

	for i := range 3 {
		c.Crash(i)
	}
	for i := range 3 {
		c.Restart(i)
	}
	c.WaitConverged()
	ref = cartKind.Ref(c.Nodes[1], "alice")
	everyReplica(t, c, ref, want)
	out, err := ref.Call(ctx, cartEvent{"pear", 1}, actor.Consistent)
	if err != nil || out.Items["pear"] != 2 || out.Changes != 6 {
		t.Fatalf("a call after the restart: %+v, %v; want 2 pears, change 6", out, err)
	}
}

func queryCart(ref actor.KindRef[cart, cartEvent, cartQuery, cartView], item string, level actor.ReadLevel) (cartView, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return ref.Query(ctx, cartQuery{Item: item}, level)
}

// everyReplica waits until every replica of ref's partition answers want at both levels.
func everyReplica(t *testing.T, c *actortest.Cluster, ref actor.KindRef[cart, cartEvent, cartQuery, cartView], want cartView) {
	t.Helper()
	actortest.Eventually(t, 20*time.Second, func() error {
		for _, p := range ref.Replicas() {
			for _, level := range []actor.ReadLevel{actor.Projected, actor.Stable} {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				got, err := ref.QueryReplica(ctx, p, cartQuery{}, level)
				cancel()
				if err != nil || got.Changes != want.Changes || !maps.Equal(got.Items, want.Items) {
					return fmt.Errorf("replica on %s (level %d): %+v, %v; want %+v", p, level, got, err, want)
				}
			}
		}
		return nil
	})
}
