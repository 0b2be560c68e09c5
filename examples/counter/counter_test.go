package main

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var summaryLine = regexp.MustCompile(`^converged=(true|false) counters=(\d+) acknowledged=(\d+) counted=(\d+) lost=(\d+) duplicated=(\d+) uncertain=(\d+)$`)

// lastSummary parses the summary line the output must end with.
func lastSummary(t *testing.T, out string) summary {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	m := summaryLine.FindStringSubmatch(lines[len(lines)-1])
	if m == nil {
		t.Fatalf("output does not end with a summary line:\n%s", out)
	}
	n := func(i int) int64 {
		v, _ := strconv.ParseInt(m[i], 10, 64)
		return v
	}
	return summary{Converged: m[1] == "true", Counters: int(n(2)), Acknowledged: n(3), Counted: n(4),
		Lost: n(5), Duplicated: n(6), Uncertain: n(7)}
}

// checkSummary asserts a passing check of counters counters with increments in them.
func checkSummary(t *testing.T, s summary, counters int) {
	t.Helper()
	switch {
	case !s.Converged || s.Lost != 0 || s.Duplicated != 0:
		t.Fatalf("check failed: %v", s)
	case s.Counters != counters:
		t.Fatalf("checked %d counters, want %d", s.Counters, counters)
	case s.Acknowledged == 0:
		t.Fatalf("no increment acknowledged: %v", s)
	case s.Counted < s.Acknowledged || s.Counted > s.Acknowledged+s.Uncertain:
		t.Fatalf("counted outside [acknowledged, acknowledged+uncertain]: %v", s)
	}
}

func TestLocal(t *testing.T) {
	var out bytes.Buffer
	code := run([]string{"-duration", "1s", "-clients", "8", "-keys", "20"}, &out, &out)
	t.Log(out.String())
	s := lastSummary(t, out.String())
	checkSummary(t, s, 20)
	if code != exitOK {
		t.Fatalf("exit status %d", code)
	}
	for _, want := range []string{"calls", "fast ", "consistent ", "p50=", "p99="} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

var provisionalRow = regexp.MustCompile(`(?m)^\s+p\d{3}\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$`)

// TestPartition: both sides of a cut make progress on the same counters, the stable
// level stays where it was before the cut, and after the heal every replica holds the
// acknowledged total.
func TestPartition(t *testing.T) {
	var out bytes.Buffer
	code := run([]string{"-partition", "-duration", "1s", "-clients", "8"}, &out, &out)
	t.Log(out.String())
	s := lastSummary(t, out.String())
	checkSummary(t, s, partitionCounters)
	if code != exitOK {
		t.Fatalf("exit status %d", code)
	}
	rows := provisionalRow.FindAllStringSubmatch(out.String(), -1)
	if len(rows) != partitionCounters {
		t.Fatalf("found %d rows of provisional values, want %d", len(rows), partitionCounters)
	}
	for _, r := range rows {
		sideA, sideB, stable := atoi(r[1]), atoi(r[2]), atoi(r[4])
		if stable != 1 || sideA <= stable || sideB <= stable {
			t.Errorf("provisional values %q: want both sides past the stable value 1", r[0])
		}
	}
}

func atoi(s string) int64 {
	v, _ := strconv.ParseInt(s, 10, 64)
	return v
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		{"-duration", "0s"},
		{"-consistent-ratio", "2"},
		{"-nope"},
		{"node"},
		{"load", "-consistency", "eventual"},
	} {
		var out bytes.Buffer
		if code := run(args, &out, &out); code != exitUsage {
			t.Errorf("%q: exit status %d, want %d\n%s", args, code, exitUsage, out.String())
		}
	}
}

// TestJudge: the check's arithmetic on hand-made readings.
func TestJudge(t *testing.T) {
	want := map[string]tally{
		"ok":        {Acknowledged: 5},
		"uncertain": {Acknowledged: 5, Uncertain: 2},
		"lost":      {Acknowledged: 5},
		"dup":       {Acknowledged: 5, Uncertain: 1},
		"split":     {Acknowledged: 1},
	}
	same := func(v int64) []replicaValue {
		return []replicaValue{{Peer: "a", Value: v, Stable: v}, {Peer: "b", Value: v, Stable: v}}
	}
	got := map[string][]replicaValue{
		"ok": same(5), "uncertain": same(6), "lost": same(3), "dup": same(8),
		"split": {{Peer: "a", Value: 1, Stable: 0}, {Peer: "b", Value: 1, Stable: 1}},
	}
	s, problems := judge(want, got)
	wantS := summary{Converged: false, Counters: 5, Acknowledged: 21, Counted: 23, Lost: 2, Duplicated: 2, Uncertain: 3}
	if s != wantS {
		t.Fatalf("judge: %v\nwant  %v", s, wantS)
	}
	if len(problems) != 3 {
		t.Fatalf("problems: %q", problems)
	}
	got["split"] = same(1)
	got["lost"], got["dup"] = same(5), same(6)
	if s, problems := judge(want, got); !s.ok() || len(problems) != 0 {
		t.Fatalf("judge: %v %q", s, problems)
	}
}
