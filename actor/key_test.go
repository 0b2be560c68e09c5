package actor_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/actor/actortest"
	"github.com/legion-go/legion/discovery/memory"
	"github.com/legion-go/legion/lattice"
)

// TestInvalidKeys: a key that is not UTF-8, empty or too long is refused at once with
// ErrInvalidKey by Call, Query and QueryReplica (issue #18: a non-UTF-8 key waited out
// every attempt and failed with ErrUnavailable, and the replication batches that carried
// it were refused whole by the serializer); keys at the limits work, and the node serves
// on.
func TestInvalidKeys(t *testing.T) {
	c := actortest.Start(t, 2, testOptions())
	n := c.Nodes[0]
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for name, key := range map[string]string{
		"not UTF-8": "\xff\xfe",
		"empty":     "",
		"too long":  strings.Repeat("k", actor.MaxKeyBytes+1),
	} {
		ref := actor.RefOf(n, counterKind, key)
		if _, err := ref.Call(ctx, wrapperspb.Int64(1), actor.Consistent); !errors.Is(err, actor.ErrInvalidKey) {
			t.Errorf("%s: Call: %v, want ErrInvalidKey", name, err)
		}
		if _, err := ref.Query(ctx, &i64{}, actor.Stable); !errors.Is(err, actor.ErrInvalidKey) {
			t.Errorf("%s: Query: %v, want ErrInvalidKey", name, err)
		}
		if _, err := ref.QueryReplica(ctx, n.Peer(), &i64{}, actor.Stable); !errors.Is(err, actor.ErrInvalidKey) {
			t.Errorf("%s: QueryReplica: %v, want ErrInvalidKey", name, err)
		}
		if err := actor.ValidateKey(key); !errors.Is(err, actor.ErrInvalidKey) {
			t.Errorf("%s: ValidateKey: %v", name, err)
		}
	}
	for _, key := range []string{strings.Repeat("k", actor.MaxKeyBytes), "ключ/🔑", "a"} {
		out, err := actor.RefOf(n, counterKind, key).Call(ctx, wrapperspb.Int64(2), actor.Consistent)
		if err != nil || out.Value != 2 {
			t.Errorf("key %.20q: %v, %v", key, out, err)
		}
	}
}

// TestInvalidKindNames: a node refuses to start with a kind whose name is not UTF-8,
// too long, or contains '/' (a partition's origin, kind/key, must name one partition).
func TestInvalidKindNames(t *testing.T) {
	for _, name := range []string{"\xff", strings.Repeat("k", actor.MaxKindBytes+1), "a/b", ""} {
		k := &actor.Kind[*i64, *i64, *i64]{Name: name, Apply: func(s, _ *i64, _ lattice.Meta) (*i64, *i64, error) { return s, s, nil }}
		n, err := actor.Start(context.Background(), actor.Config{Name: "n", Membership: memory.NewRegistry().Provider(),
			Kinds: []actor.KindSpec{k}})
		if err == nil {
			n.Stop(context.Background())
			t.Errorf("kind %.20q: started", name)
		}
	}
}
