package main

import (
	"bytes"
	"math/rand/v2"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSIGKILLAndRestart: a 3-node cluster on pebble stores serves a steady load of fast
// and consistent increments while one node after another is killed with SIGKILL at random
// moments and restarted on its data directory. At the end every acknowledged increment is
// on every replica, and none is counted twice. The seed of the kill schedule is logged.
func TestSIGKILLAndRestart(t *testing.T) {
	dir, bin := buildCounter(t)
	names := []string{"n1", "n2", "n3"}
	var httpAddrs, gossipAddrs []string
	for range names {
		httpAddrs = append(httpAddrs, freeAddr(t))
		gossipAddrs = append(gossipAddrs, freeAddr(t))
	}
	seedsFor := func(i int) string {
		var s []string
		for j, g := range gossipAddrs {
			if j != i {
				s = append(s, g)
			}
		}
		return strings.Join(s, ",")
	}
	nodes := make([]*node, len(names))
	for i, name := range names {
		nodes[i] = startNodeAt(t, bin, dir, name, seedsFor(i), httpAddrs[i], gossipAddrs[i])
	}
	for _, n := range nodes {
		n.waitForMembers(t, 3)
	}

	ledger := filepath.Join(dir, "acked.json")
	load := exec.Command(bin, "load", "-targets", strings.Join(httpAddrs, ","), "-duration", "12s",
		"-concurrency", "8", "-keys", "40", "-consistency", "mixed", "-out", ledger)
	var loadOut bytes.Buffer
	load.Stdout, load.Stderr = &loadOut, &loadOut
	if err := load.Start(); err != nil {
		t.Fatal(err)
	}
	loadDone := make(chan error, 1)
	go func() { loadDone <- load.Wait() }()
	t.Cleanup(func() { load.Process.Kill() })

	seed := uint64(time.Now().UnixNano())
	t.Logf("kill schedule seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	for round := range 3 {
		time.Sleep(time.Duration(500+rng.IntN(1500)) * time.Millisecond) // a random moment: the schedule, not a wait for a state
		i := rng.IntN(len(nodes))
		t.Logf("round %d: SIGKILL %s", round, names[i])
		nodes[i].cmd.Process.Kill()
		<-nodes[i].exited
		nodes[i] = startNodeAt(t, bin, dir, names[i], seedsFor(i), httpAddrs[i], gossipAddrs[i])
		nodes[i].waitForMembers(t, 3)
	}
	select {
	case err := <-loadDone:
		if err != nil {
			t.Fatalf("load: %v\n%s", err, loadOut.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("load did not finish\n%s", loadOut.String())
	}
	t.Logf("load:\n%s", loadOut.String())
	out := runBin(t, bin, "check", "-target", httpAddrs[0], "-in", ledger, "-wait", "60s")
	checkSummary(t, lastSummary(t, out), 40)
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
