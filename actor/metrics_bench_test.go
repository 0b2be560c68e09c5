package actor

import (
	"testing"

	"github.com/legion-go/legion/actor/internal/wire"
)

// BenchmarkMetricsCost measures what metrics add to the hot paths, one piece at a time
// (BenchmarkCluster's on-off comparison is within its noise on a shared machine): a
// call's observations (its latency, its attempt), a replication message's (a count on
// its sender and one on its receiver), and a commit's latency. Multiplied by
// BenchmarkCluster's msgs/op and commits/op they give the cost per call.
func BenchmarkMetricsCost(b *testing.B) {
	n := &Node{cfg: Config{Clock: SystemClock{}}, kinds: map[string]KindSpec{"counter": nil}}
	n.metrics = newMetrics(n)
	m := &wire.Replicate{Body: &wire.Replicate_Diff{Diff: &wire.Diff{}}}
	pm := n.metrics.peer("n1~0001")
	b.Run("call", func(b *testing.B) {
		start := n.cfg.Clock.Now()
		for b.Loop() {
			n.observe(false, "counter", levelName(Fast), start, nil)
			n.observeAttempt("counter", nil, nil, true)
		}
	})
	b.Run("replication-message", func(b *testing.B) {
		for b.Loop() {
			pm.sent[replicateType(m)].Inc()
			pm.received[replicateType(m)].Inc()
		}
	})
	b.Run("commit", func(b *testing.B) {
		start := n.cfg.Clock.Now()
		for b.Loop() {
			n.metrics.commitSeconds.Observe(n.cfg.Clock.Now().Sub(start).Seconds())
		}
	})
}
