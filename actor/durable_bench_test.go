package actor

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/discovery/memory"
	"github.com/legion-go/legion/storage"
	pebblestore "github.com/legion-go/legion/storage/pebble"
)

// BenchmarkDurableFast measures fast increments per second on three nodes (R = 3) whose
// replicas persist to pebble (fsync per commit, commits of concurrent partitions grouped)
// against the same run on in-memory stores, at 1, 8 and 64 concurrent callers.
//
//	go test ./actor -run '^$' -bench DurableFast -benchtime 3s
func BenchmarkDurableFast(b *testing.B) {
	for _, store := range []string{"memory", "pebble"} {
		for _, callers := range []int{1, 8, 64} {
			b.Run(fmt.Sprintf("store=%s/callers=%d", store, callers), func(b *testing.B) {
				nodes := benchNodes(b, store, 3)
				runCallers(b, callers, func(c, i int) error {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					_, err := RefOf(nodes[c%3], plusKind, fmt.Sprintf("k%d", i%1000)).Call(ctx, wrapperspb.Int64(1), Fast)
					return err
				})
			})
		}
	}
}

// benchNodes starts three nodes for a benchmark, on in-memory or pebble stores, with
// replication factor r; they stop when b ends.
func benchNodes(b *testing.B, store string, r int) []*Node {
	ctx := context.Background()
	reg := memory.NewRegistry()
	var nodes []*Node
	for i := range 3 {
		cfg := Config{Name: fmt.Sprintf("d%d", i), Membership: reg.Provider(), Kinds: []KindSpec{plusKind}, ReplicationFactor: r}
		if os.Getenv("LEGION_BENCH_METRICS") != "" { // the cost of metrics (docs/operations.md, "Metrics")
			cfg.Metrics = prometheus.NewRegistry()
		}
		if os.Getenv("LEGION_BENCH_TRACING") != "" { // the cost of tracing every call (spans recorded, none exported)
			tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
			b.Cleanup(func() { tp.Shutdown(context.Background()) })
			cfg.TracerProvider = tp
		}
		if store == "pebble" {
			s, err := pebblestore.Open(b.TempDir(), storage.Options{Node: cfg.Name, Create: true})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			cfg.Store = s
		}
		n, err := Start(ctx, cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { n.Stop(ctx) })
		nodes = append(nodes, n)
	}
	for _, n := range nodes {
		if err := n.WaitForMembers(ctx, "plus", 3); err != nil {
			b.Fatal(err)
		}
	}
	return nodes
}
