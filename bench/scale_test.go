package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestScale runs the benchmark at scale end to end on 200 counters: populate, idle,
// restart, the random and the hot loads, and the tables. It checks that the harness
// measured every figure, not the targets.
func TestScale(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the harness builds binaries and starts node processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b, dir := build(t)
	var log bytes.Buffer
	c := ScaleConfig{Stored: []int{200}, Populate: 16, Clients: 8, HotKeys: 20, Duration: time.Second,
		PassivateAfter: time.Second, IdleTimeout: 30 * time.Second, ReadyTimeout: time.Minute, Dir: dir, Log: &log}
	results, err := Scale(ctx, b, c)
	t.Logf("log:\n%s", log.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 {
		t.Fatalf("%d results, want 1", len(results))
	}
	r := results[0]
	if r.PopulateFailed != 0 || r.Populate <= 0 {
		t.Errorf("populate: %v, %d failed", r.Populate, r.PopulateFailed)
	}
	for _, s := range []Snapshot{r.Idle, r.AtReady, r.IdleAfterRestart} {
		if len(s.RSS) != 3 || len(s.Active) != 3 || len(s.Stored) != 3 {
			t.Fatalf("snapshot %+v: want three nodes' figures", s)
		}
		for i := range 3 {
			if s.RSS[i] <= 0 || s.Stored[i] != 200 {
				t.Errorf("node %d: RSS %d, %d stored: want RSS and all 200 counters stored", i+1, s.RSS[i], s.Stored[i])
			}
		}
	}
	for i, d := range r.DiskBytes {
		if d <= 0 {
			t.Errorf("node %d: %d bytes on disk", i+1, d)
		}
	}
	if r.Started <= 0 || r.Answered < r.Started || r.Ready < r.Answered {
		t.Errorf("restart: up %v, answered %v, ready %v", r.Started, r.Answered, r.Ready)
	}
	if r.Random.AckedTotal() == 0 || r.Hot.AckedTotal() == 0 || len(r.RandomActive) != 3 || len(r.HotActive) != 3 {
		t.Errorf("loads: random %d acknowledged, hot %d, active %v and %v", r.Random.AckedTotal(), r.Hot.AckedTotal(), r.RandomActive, r.HotActive)
	}
	var table bytes.Buffer
	ScaleTable(&table, results, c)
	t.Logf("tables:\n%s", table.String())
	if n := strings.Count(table.String(), "\n| 200 |"); n != 2 {
		t.Errorf("want a row for 200 counters in each of the two tables, got %d:\n%s", n, table.String())
	}
}
