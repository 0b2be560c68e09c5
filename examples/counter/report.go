package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/legion-go/legion/actor"
)

// tally is what a load generator knows about one counter's increments (of 1 each).
type tally struct {
	// Acknowledged counts the calls that returned success: each was logged.
	Acknowledged int64 `json:"acknowledged"`
	// Uncertain counts the increments whose outcome is unknown: a call that timed out
	// or found no replica may have been logged anyway, and a call that timed out on one
	// replica before it succeeded on the next may have been logged by both.
	Uncertain int64 `json:"uncertain"`
}

// outcome is what a call's result says about whether its increment was logged.
type outcome int

const (
	logged  outcome = iota // the call succeeded: logged, by the replica that answered
	refused                // rejected by Apply, or never sent: not logged anywhere
	unsure                 // timed out or unavailable: perhaps logged
)

// classify tells what a call's error says about its increment.
func classify(err error) outcome {
	switch {
	case err == nil:
		return logged
	case errors.Is(err, actor.ErrOutcomeUnknown):
		return unsure
	case errors.Is(err, actor.ErrNotApplied):
		return refused
	}
	return unsure
}

// ledger records every increment's outcome, per counter. Safe for concurrent use.
type ledger struct {
	mu       sync.Mutex
	counters map[string]tally
}

func newLedger() *ledger { return &ledger{counters: map[string]tally{}} }

// record adds one call: acknowledged or not, and how many increments it may have made
// beyond the acknowledged one.
func (l *ledger) record(key string, acked bool, uncertain int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.counters[key]
	if acked {
		t.Acknowledged++
	}
	t.Uncertain += uncertain
	l.counters[key] = t
}

// recordCall records a call made in this process from its error. A call is applied at
// most once, whatever its attempts (each carries the call's request key), so a failed
// call whose outcome is unknown may have added one increment.
func (l *ledger) recordCall(key string, err error) {
	switch classify(err) {
	case logged:
		l.record(key, true, 0)
	case unsure:
		l.record(key, false, 1)
	}
}

// snapshot returns a copy of the tallies.
func (l *ledger) snapshot() map[string]tally {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.counters)
}

func writeLedger(path string, m map[string]tally) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func readLedger(path string) (map[string]tally, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m map[string]tally
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// latencies records call durations per consistency level. Safe for concurrent use.
type latencies struct {
	mu               sync.Mutex
	fast, consistent []time.Duration
}

func (l *latencies) add(c actor.Consistency, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c == actor.Consistent {
		l.consistent = append(l.consistent, d)
	} else {
		l.fast = append(l.fast, d)
	}
}

// stats returns the number of calls at level c and their p50 and p99.
func (l *latencies) stats(c actor.Consistency) (n int, p50, p99 time.Duration) {
	l.mu.Lock()
	ds := l.fast
	if c == actor.Consistent {
		ds = l.consistent
	}
	ds = slices.Sorted(slices.Values(ds))
	l.mu.Unlock()
	return len(ds), percentile(ds, 0.50), percentile(ds, 0.99)
}

// print writes one line per level: calls, throughput over elapsed, p50 and p99.
func (l *latencies) print(w io.Writer, elapsed time.Duration) {
	for _, c := range []actor.Consistency{actor.Fast, actor.Consistent} {
		n, p50, p99 := l.stats(c)
		if n == 0 {
			fmt.Fprintf(w, "  %-10s  no calls\n", levelName(c))
			continue
		}
		fmt.Fprintf(w, "  %-10s  %7d calls  %8.0f/s  p50=%-8v p99=%v\n", levelName(c), n,
			float64(n)/elapsed.Seconds(), round(p50), round(p99))
	}
}

// percentile returns the nearest-rank p-quantile of sorted durations (0 < p <= 1).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

func round(d time.Duration) time.Duration {
	if d > time.Millisecond {
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// replicaValue is what one replica of a counter holds, at both read levels.
type replicaValue struct {
	Peer   string `json:"peer"`
	Value  int64  `json:"value"`  // projected: every increment the replica has
	Stable int64  `json:"stable"` // stable: the increments every replica acknowledged
	Error  string `json:"error,omitempty"`
}

// summary is the verdict of a check.
type summary struct {
	Converged    bool
	Counters     int
	Acknowledged int64
	Counted      int64 // sum of the counters' values
	Lost         int64 // acknowledged increments missing from a counter
	Duplicated   int64 // increments a counter holds beyond every possible one
	Uncertain    int64
}

// String is the summary line the example ends with.
func (s summary) String() string {
	return fmt.Sprintf("converged=%t counters=%d acknowledged=%d counted=%d lost=%d duplicated=%d uncertain=%d",
		s.Converged, s.Counters, s.Acknowledged, s.Counted, s.Lost, s.Duplicated, s.Uncertain)
}

// ok tells whether the check passed.
func (s summary) ok() bool { return s.Converged && s.Lost == 0 && s.Duplicated == 0 }

// agreed returns the value every replica holds at both read levels, or an error saying
// why there is none (the first value read, if any, comes with it).
func agreed(rs []replicaValue) (int64, error) {
	if len(rs) == 0 {
		return 0, errors.New("no replicas")
	}
	v := rs[0].Value
	for _, r := range rs {
		switch {
		case r.Error != "":
			return v, fmt.Errorf("replica %s: %s", r.Peer, r.Error)
		case r.Value != v || r.Stable != v:
			return v, fmt.Errorf("replicas disagree: %s", describe(rs))
		}
	}
	return v, nil
}

func describe(rs []replicaValue) string {
	s := ""
	for i, r := range rs {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%s=%d/stable %d", r.Peer, r.Value, r.Stable)
	}
	return s
}

// judge compares what the load generators recorded with what the replicas hold. A
// counter passes when its replicas agree on a value v with acknowledged <= v <=
// acknowledged+uncertain. problems says what is wrong with the counters that fail.
func judge(want map[string]tally, got map[string][]replicaValue) (s summary, problems []string) {
	s.Converged, s.Counters = true, len(want)
	for _, key := range slices.Sorted(maps.Keys(want)) {
		t := want[key]
		s.Acknowledged += t.Acknowledged
		s.Uncertain += t.Uncertain
		v, err := agreed(got[key])
		if err != nil {
			s.Converged = false
			problems = append(problems, fmt.Sprintf("%s: %v", key, err))
		}
		s.Counted += v
		if lost := t.Acknowledged - v; lost > 0 {
			s.Lost += lost
			problems = append(problems, fmt.Sprintf("%s: value %d < %d acknowledged", key, v, t.Acknowledged))
		}
		if dup := v - t.Acknowledged - t.Uncertain; dup > 0 {
			s.Duplicated += dup
			problems = append(problems, fmt.Sprintf("%s: value %d > %d acknowledged + %d uncertain", key, v, t.Acknowledged, t.Uncertain))
		}
	}
	return s, problems
}

// printProblems writes at most ten of the problems a check found.
func printProblems(w io.Writer, problems []string) {
	for i, p := range problems {
		if i == 10 {
			fmt.Fprintf(w, "  ... and %d more\n", len(problems)-i)
			break
		}
		fmt.Fprintf(w, "  %s\n", p)
	}
}
