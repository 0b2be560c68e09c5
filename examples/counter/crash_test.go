package main

import (
	"bytes"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSIGKILLAndRestart: a 3-node cluster on pebble stores serves a steady load of fast
// and consistent increments while one node after another is killed with SIGKILL at random
// moments and restarted on its data directory. At the end every acknowledged increment is
// on every replica, and none is counted twice. The seed of the kill schedule is logged.
func TestSIGKILLAndRestart(t *testing.T) {
	killAndRestart(t, []string{"n1", "n2", "n3"}, 3, 40, "12s")
}

// TestSIGKILLSingleReplica: the same with one node, so that each partition has one
// replica and its events fold in the flush that acknowledges them: what that flush
// answered must be on disk, since no other replica holds it. (A flush that folded before
// writing lost up to 31 answered increments per partition here.)
func TestSIGKILLSingleReplica(t *testing.T) {
	killAndRestart(t, []string{"solo"}, 2, 10, "6s")
}

// killAndRestart starts the named nodes, runs the load tool against them for duration
// over the given number of counters, kills a random node with SIGKILL at a random moment
// kills times, restarting each on its data directory, and checks the acknowledged
// increments.
func killAndRestart(t *testing.T, names []string, kills, keys int, duration string) {
	dir, bin := buildCounter(t)
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
		n.waitForMembers(t, len(names))
	}

	ledger := filepath.Join(dir, "acked.json")
	load := exec.Command(bin, "load", "-targets", strings.Join(httpAddrs, ","), "-duration", duration,
		"-concurrency", "8", "-keys", strconv.Itoa(keys), "-consistency", "mixed", "-out", ledger)
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
	for round := range kills {
		time.Sleep(time.Duration(500+rng.IntN(1500)) * time.Millisecond) // a random moment: the schedule, not a wait for a state
		i := rng.IntN(len(nodes))
		t.Logf("round %d: SIGKILL %s", round, names[i])
		nodes[i].cmd.Process.Kill()
		<-nodes[i].exited
		nodes[i] = startNodeAt(t, bin, dir, names[i], seedsFor(i), httpAddrs[i], gossipAddrs[i])
		nodes[i].waitForMembers(t, len(names))
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
	checkSummary(t, lastSummary(t, out), keys)
}

// freeAddr returns a loopback address for a node's HTTP or gossip listener, free right
// now (reservedAddr's: below the ephemeral range, so that a node listening on port 0
// cannot be given it meanwhile, as TestSIGKILLAndRestart once saw: n1's remoting took the
// port freeAddr had picked for n2's HTTP).
func freeAddr(t *testing.T) string { return reservedAddr(t) }
