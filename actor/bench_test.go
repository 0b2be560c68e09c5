package actor

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	pa "github.com/legion-go/legion/actor/internal/protoactor/actor"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor/internal/wire"
)

// BenchmarkCluster measures, in one run on the same three nodes (R = 3, loopback gRPC):
// a raw Proto.Actor request to an echo actor on another node; the same request to an
// actor that first exchanges a message with each of the two other nodes (the message
// pattern of an increment at R = 3, on bare Proto.Actor); and fast and consistent
// increments of 1,000 counters through different nodes, each with 64 concurrent callers.
//
//	go test ./actor -run '^$' -bench Cluster -benchtime 5s
func BenchmarkCluster(b *testing.B) {
	nodes := benchNodes(b, "memory", 3)
	echo := pa.PropsFromFunc(func(c pa.Context) {
		if m, ok := c.Message().(*wire.Query); ok {
			c.Respond(&wire.QueryReply{Output: m.Query})
		}
	})
	for i, n := range nodes {
		if _, err := n.system.Root.SpawnNamed(echo, "echo"); err != nil {
			b.Fatal(err)
		}
		var others []*pa.PID
		for j, o := range nodes {
			if j != i {
				others = append(others, pa.NewPID(o.Address(), "echo"))
			}
		}
		if _, err := n.system.Root.SpawnNamed(pa.PropsFromProducer(func() pa.Actor { return newFanout(others) }), "fanout"); err != nil {
			b.Fatal(err)
		}
	}
	const callers = 64
	measure := func(b *testing.B, callers int, op func(caller, i int) error) { measureCallers(b, nodes, callers, op) }
	run := func(b *testing.B, op func(caller, i int) error) { measure(b, callers, op) }
	b.Run("raw-request", func(b *testing.B) {
		run(b, func(c, i int) error {
			from, to := nodes[c%3], nodes[(c+1)%3]
			_, err := from.system.Root.RequestFuture(pa.NewPID(to.Address(), "echo"), &wire.Query{Query: []byte("x")}, 5*time.Second).Result()
			return err
		})
	})
	// The message pattern of an increment at R = 3 on bare Proto.Actor: a request whose
	// actor sends to the two other nodes and answers once both have answered. No
	// partitions, folds, persistence or encoding: the floor of actors and remoting for it.
	b.Run("raw-fanout", func(b *testing.B) {
		run(b, func(c, i int) error {
			from, to := nodes[c%3], nodes[(c+1)%3]
			_, err := from.system.Root.RequestFuture(pa.NewPID(to.Address(), "fanout"), &wire.Query{Query: []byte("x")}, 5*time.Second).Result()
			return err
		})
	})
	for _, level := range []Consistency{Fast, Consistent} {
		name := map[Consistency]string{Fast: "fast", Consistent: "consistent"}[level]
		op := increment(nodes, level)
		b.Run(name, func(b *testing.B) { run(b, op) })
		// One caller: the latency of a call on an otherwise idle cluster.
		b.Run(name+"-1caller", func(b *testing.B) { measure(b, 1, op) })
	}
}

// BenchmarkReplicationFactor measures fast and consistent increments on three nodes at
// R = 1, 2 and 3 (64 callers, 1,000 counters): at R = 1 it is the call path alone
// (routing, remoting, the replica's fold and flush), and each further replica adds its
// share of replication work, on the same two cores here.
//
//	go test ./actor -run '^$' -bench ReplicationFactor -benchtime 3s
func BenchmarkReplicationFactor(b *testing.B) {
	for _, r := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("R=%d", r), func(b *testing.B) {
			nodes := benchNodes(b, "memory", r) // stopped when this R's runs end
			for _, level := range []Consistency{Fast, Consistent} {
				name := map[Consistency]string{Fast: "fast", Consistent: "consistent"}[level]
				b.Run(name, func(b *testing.B) { measureCallers(b, nodes, 64, increment(nodes, level)) })
			}
		})
	}
}

// fanout answers a request once each of its peers has answered a message it sent them.
type fanout struct {
	peers   []*pa.PID
	next    uint64
	waiting map[uint64]*fanoutCall
}

type fanoutCall struct {
	to   *pa.PID
	left int
}

func newFanout(peers []*pa.PID) *fanout {
	return &fanout{peers: peers, waiting: map[uint64]*fanoutCall{}}
}

func (f *fanout) Receive(c pa.Context) {
	switch m := c.Message().(type) {
	case *wire.Query:
		f.next++
		f.waiting[f.next] = &fanoutCall{to: c.Sender(), left: len(f.peers)}
		id := binary.BigEndian.AppendUint64(nil, f.next)
		for _, p := range f.peers {
			c.Request(p, &wire.Query{Query: id})
		}
	case *wire.QueryReply:
		id := binary.BigEndian.Uint64(m.Output)
		if w := f.waiting[id]; w != nil {
			if w.left--; w.left == 0 {
				delete(f.waiting, id)
				c.Send(w.to, &wire.QueryReply{Output: []byte("x")})
			}
		}
	}
}

// increment is the benchmarks' operation: caller c increments counter i mod 1,000 through
// node c mod 3.
func increment(nodes []*Node, level Consistency) func(c, i int) error {
	return func(c, i int) error {
		ref := RefOf(nodes[c%len(nodes)], plusKind, fmt.Sprintf("k%d", i%1000))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := ref.Call(ctx, wrapperspb.Int64(1), level)
		return err
	}
}

// measureCallers is runCallers that also reports the CPU time and the replication work
// (from the nodes' Stats) per operation.
func measureCallers(b *testing.B, nodes []*Node, callers int, op func(caller, i int) error) {
	stats := func() (s Stats) {
		for _, n := range nodes {
			s = s.Add(n.Stats())
		}
		return s
	}
	before, cpu := stats(), cpuTime()
	runCallers(b, callers, op)
	d, n := stats().Sub(before), float64(b.N)
	// CPU time per operation: what bounds the rate once the cores are saturated, and less
	// disturbed than the rate by other work on the machine.
	b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/n, "cpu-µs/op")
	b.ReportMetric(float64(d.Sent)/n, "msgs/op")
	b.ReportMetric(float64(d.Envelopes)/n, "envelopes/op")
	b.ReportMetric(float64(d.Flushes)/n, "flushes/op")
	b.ReportMetric(float64(d.Commits)/n, "commits/op")
}

// runCallers runs b.N operations from callers concurrent goroutines and reports their
// rate and their p50 and p99 latencies.
func runCallers(b *testing.B, callers int, op func(caller, i int) error) {
	var next atomic.Int64
	lat := make([][]time.Duration, callers)
	var wg sync.WaitGroup
	var failed atomic.Int64
	b.ResetTimer()
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				t0 := time.Now()
				if err := op(c, int(i)); err != nil {
					failed.Add(1)
					continue
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) > 0 {
		b.ReportMetric(float64(len(all))/b.Elapsed().Seconds(), "ops/s")
		b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	}
	if f := failed.Load(); f > 0 {
		b.Errorf("%d operations failed", f)
	}
}

// cpuTime is the CPU time (user and system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
