package actor_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/actor/actortest"
)

func testOptions() actortest.Options {
	return actortest.Options{Config: actor.Config{
		Kinds:               []actor.KindSpec{counterKind},
		AttemptTimeout:      500 * time.Millisecond,
		AntiEntropyInterval: 50 * time.Millisecond,
	}}
}

// checkReplicas waits until every replica of every counter holds want[key], at both read
// levels.
func checkReplicas(t *testing.T, c *actortest.Cluster, want map[string]int64) {
	t.Helper()
	n := c.Nodes[0]
	actortest.Eventually(t, 30*time.Second, func() error {
		for k, v := range want {
			ref := actor.RefOf(n, counterKind, k)
			for _, p := range ref.Replicas() {
				for _, level := range []actor.ReadLevel{actor.Projected, actor.Stable} {
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
					got, err := ref.QueryReplica(ctx, p, &i64{}, level)
					cancel()
					if err != nil {
						return fmt.Errorf("%s on %s: %w", k, p, err)
					}
					if got.Value != v {
						return fmt.Errorf("%s on %s (level %d): %d, want %d", k, p, level, got.Value, v)
					}
				}
			}
		}
		return nil
	})
}

// load sends concurrent increments to many counters through every node; it returns the
// acknowledged total per counter and every consistent call's output per event.
func load(t *testing.T, c *actortest.Cluster, callers, keys, perCaller int, during func(i int)) map[string]int64 {
	t.Helper()
	var mu sync.Mutex
	acked := map[string]int64{}
	var failed atomic.Int64
	var wg sync.WaitGroup
	for w := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			node := c.Nodes[w%len(c.Nodes)]
			for i := range perCaller {
				if during != nil && w == 0 {
					during(i)
				}
				k := key((w*7 + i) % keys)
				level := actor.Fast
				if i%3 == 0 {
					level = actor.Consistent
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := actor.RefOf(node, counterKind, k).Call(ctx, wrapperspb.Int64(1), level)
				cancel()
				if err != nil {
					failed.Add(1)
					continue
				}
				mu.Lock()
				acked[k]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		t.Logf("%d calls failed", f)
	}
	return acked
}

func TestConcurrentIncrementsConverge(t *testing.T) {
	c := actortest.Start(t, 3, testOptions())
	acked := load(t, c, 24, 200, 60, nil)
	var total int64
	for _, v := range acked {
		total += v
	}
	if total != 24*60 {
		t.Fatalf("acknowledged %d of %d calls on a healthy cluster", total, 24*60)
	}
	checkReplicas(t, c, acked)
}

func TestRejectedAndPanickingEvents(t *testing.T) {
	c := actortest.Start(t, 3, testOptions())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ref := actor.RefOf(c.Nodes[1], counterKind, "k")
	if _, err := ref.Call(ctx, wrapperspb.Int64(5), actor.Consistent); err != nil {
		t.Fatal(err)
	}
	for _, level := range []actor.Consistency{actor.Fast, actor.Consistent} {
		var rej *actor.RejectedError
		if _, err := ref.Call(ctx, wrapperspb.Int64(13), level); !errors.As(err, &rej) || rej.Panic {
			t.Fatalf("event 13: %v, want a rejection", err)
		}
		if _, err := ref.Call(ctx, wrapperspb.Int64(666), level); !errors.As(err, &rej) || !rej.Panic {
			t.Fatalf("event 666: %v, want a rejection by panic", err)
		}
	}
	out, err := ref.Call(ctx, wrapperspb.Int64(1), actor.Consistent)
	if err != nil || out.Value != 6 {
		t.Fatalf("after rejections: %v, %v; want 6", out, err)
	}
	checkReplicas(t, c, map[string]int64{"k": 6})
}
