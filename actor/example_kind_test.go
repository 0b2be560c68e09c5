package actor_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/actor/actortest"
	"github.com/legion-go/legion/discovery/memory"
	"github.com/legion-go/legion/lattice"
)

// Cart is a shopping cart's state: plain Go, encoded by the JSON codec.
type Cart struct {
	Items map[string]int `json:"items,omitempty"` // SKU -> units
}

// CartEvent adds Qty units of SKU to a cart (a negative Qty removes them).
type CartEvent struct {
	SKU string `json:"sku"`
	Qty int    `json:"qty"`
}

// CartQuery asks for one SKU, or for the whole cart when SKU is empty.
type CartQuery struct {
	SKU string `json:"sku,omitempty"`
}

// CartView answers events and queries.
type CartView struct {
	Items map[string]int `json:"items"`
	Units int            `json:"units"`
}

// CartKind is a kind of plain Go types with a query type of its own.
var CartKind = &actor.KindOf[Cart, CartEvent, CartQuery, CartView]{
	Name:  "cart",
	Codec: actor.JSON,
	Apply: func(c Cart, e CartEvent, _ lattice.Meta) (Cart, CartView, error) {
		switch {
		case e.SKU == "" || e.Qty == 0:
			return c, CartView{}, errors.New("an event needs a SKU and a quantity")
		case c.Items[e.SKU]+e.Qty < 0:
			return c, CartView{}, fmt.Errorf("only %d of %s in the cart", c.Items[e.SKU], e.SKU)
		}
		if c.Items == nil {
			c.Items = map[string]int{}
		}
		if c.Items[e.SKU] += e.Qty; c.Items[e.SKU] == 0 {
			delete(c.Items, e.SKU)
		}
		return c, viewOf(c, ""), nil
	},
	Query: func(c Cart, q CartQuery) (CartView, error) { return viewOf(c, q.SKU), nil },
	// Optional: without it, a clone is a round trip through JSON.
	Clone: func(c Cart) Cart { return Cart{Items: maps.Clone(c.Items)} },
}

// viewOf returns a copy (never the state's own map: an output must not share memory with
// the state) of one SKU's line, or of the whole cart.
func viewOf(c Cart, sku string) CartView {
	v := CartView{Items: map[string]int{}}
	for k, n := range c.Items {
		if sku == "" || k == sku {
			v.Items[k] = n
			v.Units += n
		}
	}
	return v
}

// A kind of plain Go types on one node: calls, a rejected call, and queries with the
// kind's own query type.
func ExampleKindOf() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	node, err := actor.Start(ctx, actor.Config{Name: "n1", Kinds: []actor.KindSpec{CartKind},
		Membership: memory.NewRegistry().Provider()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer node.Stop(context.Background())
	if err := node.WaitForMembers(ctx, "cart", 1); err != nil { // the node sees itself
		fmt.Println(err)
		return
	}

	cart := CartKind.Ref(node, "alice")
	cart.Call(ctx, CartEvent{SKU: "apple", Qty: 3}, actor.Consistent)
	v, _ := cart.Call(ctx, CartEvent{SKU: "pear", Qty: 1}, actor.Consistent)
	fmt.Println(v.Items, v.Units)
	_, err = cart.Call(ctx, CartEvent{SKU: "pear", Qty: -2}, actor.Consistent)
	var rejected *actor.RejectedError
	if errors.As(err, &rejected) {
		fmt.Println("rejected:", rejected.Msg)
	}
	v, _ = cart.Query(ctx, CartQuery{SKU: "apple"}, actor.Stable)
	fmt.Println(v.Items, v.Units)
	// Output:
	// map[apple:3 pear:1] 4
	// rejected: only 1 of pear in the cart
	// map[apple:3] 3
}

// TestCartKind: the example's kind follows the rules of a kind, on random additions and
// removals of a few SKUs (some rejected: more removed than held, no SKU, no quantity) and
// random queries.
func TestCartKind(t *testing.T) {
	skus := []string{"apple", "pear", "fig", ""}
	actortest.CheckKind(t, CartKind, actortest.Gen[CartEvent, CartQuery]{
		Event: func(r *rand.Rand) CartEvent { return CartEvent{SKU: skus[r.IntN(len(skus))], Qty: r.IntN(7) - 3} },
		Query: func(r *rand.Rand) CartQuery { return CartQuery{SKU: skus[r.IntN(len(skus))]} },
	})
}
