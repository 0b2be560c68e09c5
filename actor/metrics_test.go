package actor_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/actor/actortest"
)

// metricsCluster starts three nodes, each registering its metrics on its own registry.
func metricsCluster(t *testing.T) (*actortest.Cluster, []*prometheus.Registry) {
	regs := []*prometheus.Registry{prometheus.NewRegistry(), prometheus.NewRegistry(), prometheus.NewRegistry()}
	c := actortest.Start(t, 3, actortest.Options{
		Config: actor.Config{Kinds: []actor.KindSpec{counterKind}, GCInterval: 50 * time.Millisecond,
			AntiEntropyInterval: 50 * time.Millisecond},
		Configure: func(i int, c *actor.Config) { c.Metrics = regs[i] },
	})
	return c, regs
}

// series is one gathered sample: its family, labels and value (a histogram's or
// summary's count).
type series struct {
	name   string
	labels map[string]string
	value  float64
}

func gather(t *testing.T, r prometheus.Gatherer) []series {
	t.Helper()
	fams, err := r.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var out []series
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			s := series{name: f.GetName(), labels: map[string]string{}}
			for _, l := range m.GetLabel() {
				s.labels[l.GetName()] = l.GetValue()
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				s.value = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				s.value = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				s.value = float64(m.GetHistogram().GetSampleCount())
			case dto.MetricType_SUMMARY:
				s.value = float64(m.GetSummary().GetSampleCount())
			}
			out = append(out, s)
		}
	}
	return out
}

// sum adds the values of the series of family name whose labels include want.
func sum(ss []series, name string, want map[string]string) (float64, bool) {
	total, found := 0.0, false
	for _, s := range ss {
		if s.name != name {
			continue
		}
		match := true
		for k, v := range want {
			if s.labels[k] != v {
				match = false
			}
		}
		if match {
			total, found = total+s.value, true
		}
	}
	return total, found
}

// TestMetrics runs calls and queries through a 3-node cluster and checks, on each node's
// own registry, that the series exist with their labels and plausible values.
func TestMetrics(t *testing.T) {
	c, regs := metricsCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const keys = 20
	n0 := c.Nodes[0]
	for i := range keys {
		ref := actor.RefOf(n0, counterKind, key(i))
		if _, err := ref.Call(ctx, wrapperspb.Int64(1), actor.Fast); err != nil {
			t.Fatal(err)
		}
		if _, err := ref.Call(ctx, wrapperspb.Int64(1), actor.Consistent); err != nil {
			t.Fatal(err)
		}
		if _, err := ref.Query(ctx, &i64{}, actor.Stable); err != nil {
			t.Fatal(err)
		}
	}
	var rej *actor.RejectedError
	if _, err := actor.RefOf(n0, counterKind, key(0)).Call(ctx, wrapperspb.Int64(13), actor.Fast); !errors.As(err, &rej) {
		t.Fatalf("adding 13: %v, want a rejection", err)
	}

	ss := gather(t, regs[0])
	checks := []struct {
		name   string
		labels map[string]string
		ok     func(float64) bool
		want   string
	}{
		{"legion_call_duration_seconds", map[string]string{"kind": "counter", "level": "fast", "outcome": "ok"}, eq(keys), "20 fast calls"},
		{"legion_call_duration_seconds", map[string]string{"kind": "counter", "level": "consistent", "outcome": "ok"}, eq(keys), "20 consistent calls"},
		{"legion_call_duration_seconds", map[string]string{"kind": "counter", "level": "fast", "outcome": "rejected"}, eq(1), "1 rejected call"},
		{"legion_query_duration_seconds", map[string]string{"kind": "counter", "level": "stable", "outcome": "ok"}, eq(keys), "20 queries"},
		{"legion_attempts_total", map[string]string{"kind": "counter", "outcome": "answered"}, atLeast(3*keys + 1), "an answered attempt per request"},
		{"legion_flushes_total", nil, atLeast(1), "flushes"},
		{"legion_store_commits_total", nil, atLeast(1), "commits"},
		{"legion_store_commit_duration_seconds", nil, atLeast(1), "timed commits"},
		{"legion_partitions_activated_total", map[string]string{"kind": "counter"}, atLeast(1), "activations"},
		{"legion_membership_members", nil, eq(3), "3 members"},
		{"legion_membership_hosts", map[string]string{"kind": "counter"}, eq(3), "3 hosts of counter"},
		{"legion_membership_changes_total", nil, atLeast(1), "a view change"},
		{"legion_handoffs_in_flight", nil, eq(0), "no handoff"},
		{"legion_membership_partial", nil, eq(0), "a full view"},
	}
	for _, ch := range checks {
		v, found := sum(ss, ch.name, ch.labels)
		if !found || !ch.ok(v) {
			t.Errorf("%s%v = %v (found %v), want %s", ch.name, ch.labels, v, found, ch.want)
		}
	}

	// Replication: every node sent diffs to each other peer and received them, with bytes.
	for i, r := range regs {
		ss := gather(t, r)
		for j, o := range c.Nodes {
			if j == i {
				continue
			}
			p := string(o.Peer())
			for _, name := range []string{"legion_replication_messages_sent_total", "legion_replication_messages_received_total"} {
				if v, _ := sum(ss, name, map[string]string{"type": "diff", "peer": p}); v < 1 {
					t.Errorf("node %d: %s{type=diff,peer=%s} = %v, want > 0", i, name, p, v)
				}
			}
			for _, name := range []string{"legion_replication_sent_bytes_total", "legion_replication_received_bytes_total", "legion_replication_envelopes_sent_total"} {
				if v, _ := sum(ss, name, map[string]string{"peer": p}); v < 1 {
					t.Errorf("node %d: %s{peer=%s} = %v, want > 0", i, name, p, v)
				}
			}
		}
	}

	// The scrape-time gauges and summaries: every replica of the 20 partitions is active
	// and stored somewhere (R = 3 on 3 nodes: everywhere), and described at its gc tick.
	actortest.Eventually(t, 10*time.Second, func() error {
		for i, r := range regs {
			ss := gather(t, r)
			for _, name := range []string{"legion_partitions_active", "legion_partitions_stored", "legion_pending_deltas", "legion_infimum_lag_seconds"} {
				if v, _ := sum(ss, name, map[string]string{"kind": "counter"}); v != keys {
					return fmt.Errorf("node %d: %s{kind=counter} = %v, want %d", i, name, v, keys)
				}
			}
			if v, found := sum(ss, "legion_partitions_passivated", map[string]string{"kind": "counter"}); !found || v != 0 {
				return fmt.Errorf("node %d: legion_partitions_passivated = %v (found %v), want 0", i, v, found)
			}
		}
		return nil
	})
}

func eq(want float64) func(float64) bool      { return func(v float64) bool { return v == want } }
func atLeast(want float64) func(float64) bool { return func(v float64) bool { return v >= want } }

// TestMetricsCardinality: the series a node exports do not grow with the number of
// partitions, and no label value names a partition.
func TestMetricsCardinality(t *testing.T) {
	c, regs := metricsCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	failed := 0 // a call or query may fail on a slow machine (-race): that is not the point here
	run := func(from, to int) {
		for i := from; i < to; i++ {
			ref := actor.RefOf(c.Nodes[i%3], counterKind, key(i))
			if _, err := ref.Call(ctx, wrapperspb.Int64(1), actor.Fast); err != nil {
				failed++
			}
			if _, err := ref.Query(ctx, &i64{}, actor.Projected); err != nil {
				failed++
			}
		}
		if failed > (to-from)/10 {
			t.Fatalf("%d of %d calls and queries failed", failed, 2*(to-from))
		}
	}
	run(0, 400)
	// Every label takes its values from a fixed set, or from the cluster's peers: the
	// series are bounded by the product, whatever the number of partitions.
	peers := map[string]bool{"unknown": true}
	for _, n := range c.Nodes {
		peers[string(n.Peer())] = true
	}
	set := func(vs ...string) func(string) bool { return func(v string) bool { return slices.Contains(vs, v) } }
	outcomes := set("ok", "rejected", "canceled", "timeout", "unavailable", "no_replicas", "stopped", "invalid", "output_unknown", "error",
		"answered", "no_reply", "not_replica", "no_route")
	allowed := map[string]func(string) bool{
		"kind":    set("counter"),
		"peer":    func(v string) bool { return peers[v] },
		"type":    set("none", "diff", "snapshot", "need_full"),
		"level":   set("fast", "consistent", "projected", "stable"),
		"outcome": outcomes,
		"reason": func(v string) bool {
			return outcomes(v) || set("passivated", "retired", "discarded", "stopped", "restarted")(v)
		},
		"quantile": set("0.5", "0.9", "0.99", "1"),
	}
	total := 0
	for _, r := range regs {
		ss := gather(t, r)
		total += len(ss)
		for _, s := range ss {
			for k, v := range s.labels {
				if ok := allowed[k]; ok == nil || !ok(v) {
					t.Errorf("%s{%s=%q}: a label or value outside the fixed sets", s.name, k, v)
				}
			}
		}
	}
	t.Logf("%d series on 3 nodes after 400 partitions (%d calls or queries failed)", total, failed)
}

// TestMetricsRegistryCollision: a second node on the same registry fails to start, with
// the registration error, and the first one keeps its metrics.
func TestMetricsRegistryCollision(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := actortest.Start(t, 1, actortest.Options{Config: actor.Config{Kinds: []actor.KindSpec{counterKind}, Metrics: reg}})
	_, err := actor.Start(context.Background(), actor.Config{Name: "other", Kinds: []actor.KindSpec{counterKind},
		Membership: c.Registry.Provider(), Metrics: reg})
	if err == nil || !strings.Contains(err.Error(), "registering metrics") {
		t.Fatalf("second node on one registry: %v, want a registration error", err)
	}
	if v, found := sum(gather(t, reg), "legion_membership_members", nil); !found || v != 1 {
		t.Errorf("the first node's legion_membership_members = %v (found %v), want 1", v, found)
	}
}

// TestMetricsEjectionAndHandoff: when one of four nodes crashes, the survivors eject it
// from the partitions it replicated and hand them to the fourth node; the counters of
// ejections and handoffs (read from the replicas' log lines) count them, and every
// handoff ends.
func TestMetricsEjectionAndHandoff(t *testing.T) {
	regs := make([]*prometheus.Registry, 4)
	for i := range regs {
		regs[i] = prometheus.NewRegistry()
	}
	o := churnOptions()
	o.Configure = func(i int, c *actor.Config) { c.Metrics = regs[i] }
	c := actortest.Start(t, 4, o)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 12 {
		if _, err := actor.RefOf(c.Nodes[0], counterKind, key(i)).Call(ctx, wrapperspb.Int64(1), actor.Consistent); err != nil {
			t.Fatal(err)
		}
	}
	c.Crash(3)
	actortest.Eventually(t, 20*time.Second, func() error {
		var ejections, started, ended, inFlight float64
		for _, r := range regs[:3] {
			ss := gather(t, r)
			e, _ := sum(ss, "legion_ejections_total", map[string]string{"kind": "counter"})
			s, _ := sum(ss, "legion_handoffs_started_total", map[string]string{"kind": "counter"})
			d, _ := sum(ss, "legion_handoffs_ended_total", nil)
			f, _ := sum(ss, "legion_handoffs_in_flight", nil)
			ejections, started, ended, inFlight = ejections+e, started+s, ended+d, inFlight+f
		}
		if ejections == 0 || started == 0 || ended < started || inFlight != 0 {
			return fmt.Errorf("ejections %v, handoffs started %v, ended %v, in flight %v: want some ejected and handed off, all ended",
				ejections, started, ended, inFlight)
		}
		return nil
	})
}
