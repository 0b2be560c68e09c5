package main

// The process-level fault tests of issue #16: real node processes on pebble stores,
// joined by gossip, under load, with a node killed (5 nodes at R = 3, so that a
// restarted node does not hold every partition; and while a new node joins), cut off
// from the others by the kernel's firewall for longer than EjectAfter, or stopped with
// SIGSTOP for as long. Each ends with the check tool: on every replica of every counter,
// acknowledged <= counted <= acknowledged + uncertain.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/legion-go/legion/actor/actortest"
)

// faultEjectAfter is the nodes' -eject-after in these tests: short, so that a fault
// lasts longer than it within a test's time (gossip takes 2 to 5 s more to report a
// node gone, and a replica decides at its next gc tick, within 1 s).
const faultEjectAfter = 3 * time.Second

// TestSIGKILLFiveNodes: five nodes at R = 3 under a mixed load through all of them. One
// node is killed with SIGKILL and restarted at once on its data directory (its replicas
// are still participants); later another is killed and kept down longer than
// EjectAfter, so that the others eject it and hand its partitions to replacements, and
// restarted: it finds its copies ejected and must propose again what it acknowledged
// alone. More load through all five, then every acknowledged increment must be on every
// replica, through the restarted nodes and another.
func TestSIGKILLFiveNodes(t *testing.T) {
	dir, bin := buildCounter(t)
	c := newProcCluster(t, bin, dir, nodeNames(5))
	c.waitMembers(5)

	rng := newScheduleRand(t)
	first := rng.IntN(5)
	second := (first + 1 + rng.IntN(4)) % 5
	const keys = 40
	load1 := c.startLoad("acked1.json", c.httpAddrs(), 2, 20*time.Second, keys, "mixed")
	time.Sleep(2 * time.Second) // the fault schedule: load first
	t.Logf("SIGKILL %s, restart at once", c.names[first])
	c.kill(first)
	c.restart(first)
	c.waitMembers(5)
	time.Sleep(time.Second)          // more load with every node up
	const downFor = 10 * time.Second // > gossip's 2 to 5 s + EjectAfter + a gc tick
	t.Logf("SIGKILL %s, down for %v (EjectAfter %v)", c.names[second], downFor, faultEjectAfter)
	c.kill(second)
	down := time.Now()
	c.waitEjected(c.names[second], downFor)
	time.Sleep(time.Until(down.Add(downFor))) // the fault schedule: held down
	c.restart(second)
	c.waitMembers(5)
	load1.wait(t)
	load2 := c.startLoad("acked2.json", c.httpAddrs(), 2, 3*time.Second, keys, "mixed")
	load2.wait(t)

	c.check(load1, keys, c.nodes[second], c.nodes[first])
	c.check(load2, keys, c.nodes[second], c.nodes[(second+1)%5])
	c.done()
}

// TestSIGKILLDuringJoin: five nodes at R = 3 under a mixed load; a sixth node starts,
// and as soon as one of the five starts handing a partition off to it, that one is killed
// with SIGKILL and restarted on its data directory. Then more load through all six, and
// every acknowledged increment must be on every replica (the new node holding about half
// the partitions by then).
func TestSIGKILLDuringJoin(t *testing.T) {
	dir, bin := buildCounter(t)
	c := newProcCluster(t, bin, dir, nodeNames(5))
	c.waitMembers(5)

	const keys = 40
	load1 := c.startLoad("acked1.json", c.httpAddrs(), 2, 14*time.Second, keys, "mixed")
	time.Sleep(2 * time.Second) // the fault schedule: load first
	n6 := c.add("n6")
	// The victim: the first of the five to log a handoff to n6.
	handoff := regexp.MustCompile(`msg="handing off" [^\n]*to=` + regexp.QuoteMeta(n6.peer))
	victim := -1
	actortest.Eventually(t, 20*time.Second, func() error {
		for i, n := range c.nodes[:5] {
			if handoff.MatchString(n.out.String()) {
				victim = i
				return nil
			}
		}
		return errors.New("no node hands a partition off to n6 yet")
	})
	t.Logf("%s hands partitions off to n6: SIGKILL it, restart at once", c.names[victim])
	c.kill(victim)
	c.restart(victim)
	c.waitMembers(6)
	load1.wait(t)
	load2 := c.startLoad("acked2.json", c.httpAddrs(), 2, 3*time.Second, keys, "mixed")
	load2.wait(t)

	c.check(load1, keys, n6, c.nodes[victim])
	c.check(load2, keys, n6, c.nodes[(victim+1)%5])
	c.done()
}

// TestCutLongerThanEjectAfter: three nodes; fast increments through all three while
// one of them is cut off from the other two, both ways, by the kernel's firewall
// (iptables on loopback, which needs root), for longer than EjectAfter: the two eject it
// from every partition while it goes on taking increments alone. Then the cut heals, and
// every acknowledged increment, on both sides, must be on every replica, through each
// node. (Issue #16 saw 669 to 5,928 acknowledged increments lost with a 20 s cut and the
// default EjectAfter.)
func TestCutLongerThanEjectAfter(t *testing.T) {
	requireNetfilter(t)
	dir, bin := buildCounter(t)
	gid := uint32(40000 + rand.IntN(20000))
	c := newProcCluster(t, bin, dir, nodeNames(3), gid) // n1's packets carry its group id: the firewall tells them apart
	cut := c.nodes[0]
	c.waitMembers(3)

	const keys, hold = 30, 4 * faultEjectAfter
	load := c.startLoad("acked.json", c.httpAddrs(), 4, 3*time.Second+hold+3*time.Second, keys, "fast")
	time.Sleep(3 * time.Second) // the fault schedule: load first, so that every counter exists
	t.Logf("cut n1 off from n2 and n3 for %v (EjectAfter %v)", hold, faultEjectAfter)
	heal := cutOff(t, cut, gid, c.nodes[1:])
	cutAt := time.Now()
	c.waitView(0, 1, hold)
	c.waitView(1, 2, hold)
	c.waitView(2, 2, hold)
	a0, b0 := c.sum(0, load.keys), c.sum(1, load.keys)
	c.waitEjected("n1", hold)
	time.Sleep(time.Until(cutAt.Add(hold))) // the fault schedule: the cut held
	// Both sides took increments: each reads its own replicas.
	a1, b1 := c.sum(0, load.keys), c.sum(1, load.keys)
	t.Logf("during the cut, after the views split: n1 alone counted %d more, n2 and n3 %d more", a1-a0, b1-b0)
	if a1 <= a0 || b1 <= b0 {
		t.Errorf("a side of the cut took no increments: n1 %d -> %d, n2 %d -> %d", a0, a1, b0, b1)
	}
	heal()
	t.Logf("healed after %v", time.Since(cutAt).Round(time.Millisecond))
	c.waitMembers(3)
	load.wait(t)

	c.check(load, keys, c.nodes...)
	c.done()
}

// TestSIGSTOPLongerThanEjectAfter: three nodes; fast increments through all three while
// one is stopped with SIGSTOP for longer than EjectAfter (the others eject it; it
// resumes with the increments it acknowledged before, and the calls that waited for
// it); SIGCONT; every acknowledged increment must be on every replica, through each
// node. (Issue #16 saw 19 lost with a 15 s stop and the default EjectAfter.)
func TestSIGSTOPLongerThanEjectAfter(t *testing.T) {
	dir, bin := buildCounter(t)
	c := newProcCluster(t, bin, dir, nodeNames(3))
	c.waitMembers(3)

	const keys, hold = 30, 4 * faultEjectAfter
	load := c.startLoad("acked.json", c.httpAddrs(), 4, 3*time.Second+hold+3*time.Second, keys, "fast")
	time.Sleep(3 * time.Second) // the fault schedule: load first
	stopped := c.nodes[0]
	t.Logf("SIGSTOP n1 for %v (EjectAfter %v)", hold, faultEjectAfter)
	if err := stopped.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopAt := time.Now() // (SIGKILL, when the test ends, kills a stopped process too)
	c.waitView(1, 2, hold)
	c.waitView(2, 2, hold)
	c.waitEjected("n1", hold)
	time.Sleep(time.Until(stopAt.Add(hold))) // the fault schedule: stopped that long
	if err := stopped.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	t.Logf("SIGCONT after %v", time.Since(stopAt).Round(time.Millisecond))
	c.waitMembers(3)
	load.wait(t)

	c.check(load, keys, c.nodes...)
	c.done()
}

// TestRestartWhileCutOff: three nodes; one is killed with SIGKILL and restarted on its
// data directory while the firewall cuts it off from the other two (a node that reboots
// during a network split: until it reaches a seed, its membership lists itself alone).
// Fast increments on new counters go through all three; then the cut heals, and every
// acknowledged increment must be on every replica. The restarted node knows from its
// store that it belongs to a cluster of three, so it must not start a partition alone:
// the other two start it too, and merging two lineages drops one's increments.
func TestRestartWhileCutOff(t *testing.T) {
	requireNetfilter(t)
	dir, bin := buildCounter(t)
	gid := uint32(40000 + rand.IntN(20000))
	c := newProcCluster(t, bin, dir, nodeNames(3), 0, 0, gid)
	c.waitMembers(3)
	const keys = 20
	before := c.startLoad("acked1.json", c.httpAddrs(), 2, 2*time.Second, keys, "fast")
	before.wait(t)

	t.Log("SIGKILL n3, restart it cut off from n1 and n2, with load on new counters through all three")
	c.kill(2)
	c.listen[2] = reservedAddr(t) // the firewall needs its remoting port before it starts
	heal := cutOffAt(t, c.listen[2], c.gossip[2], gid, c.nodes[:2])
	// The load starts first, so that calls reach n3 as soon as it serves. New counters
	// are refused at first: n3 may hold them, and genesis needs every replica a partition
	// may have to answer (decision 0006, amended). Once n1 and n2 have ejected n3 and
	// retired its tombstone (EjectAfter and a sweep), they start them without it; the
	// load lasts long enough for that.
	during := c.startLoad("acked2.json", c.httpAddrs(), 2, 25*time.Second, keys, "fast")
	c.restart(2)
	c.waitView(0, 2, 20*time.Second)
	c.waitView(1, 2, 20*time.Second)
	during.wait(t)
	heal()
	t.Log("healed")
	c.waitMembers(3)

	c.check(before, keys, c.nodes...)
	c.check(during, keys, c.nodes...)
	c.done()
}

// procCluster is node processes on fixed loopback addresses, each joining through the
// gossip addresses of all the others, so that any of them restarts into the cluster.
type procCluster struct {
	t        *testing.T
	bin, dir string
	names    []string
	http     []string
	gossip   []string
	listen   []string // remoting addresses; "" for a free port at each start
	gids     []uint32
	nodes    []*node
	past     []string // the output of each node's earlier processes (before restarts)

	duplicated []string // checks that found increments applied twice
}

// newProcCluster reserves addresses for the named nodes and starts them (node i running
// as group gids[i] when given and not 0), each joining through all the others' gossip
// addresses: the first ones wait for the others.
func newProcCluster(t *testing.T, bin, dir string, names []string, gids ...uint32) *procCluster {
	c := &procCluster{t: t, bin: bin, dir: dir}
	for i, name := range names {
		var gid uint32
		if i < len(gids) {
			gid = gids[i]
		}
		c.reserve(name, gid)
	}
	for i := range names {
		c.nodes[i] = c.start(i)
	}
	return c
}

func (c *procCluster) reserve(name string, gid uint32) {
	c.names = append(c.names, name)
	c.http = append(c.http, reservedAddr(c.t))
	c.gossip = append(c.gossip, reservedAddr(c.t))
	c.listen = append(c.listen, "")
	c.gids = append(c.gids, gid)
	c.nodes = append(c.nodes, nil)
	c.past = append(c.past, "")
}

// add starts one more node, joining through the others, and waits for it to serve.
func (c *procCluster) add(name string) *node {
	c.t.Helper()
	c.reserve(name, 0)
	i := len(c.names) - 1
	c.nodes[i] = c.start(i)
	return c.nodes[i]
}

func (c *procCluster) start(i int) *node {
	c.t.Helper()
	var seeds []string
	for j, g := range c.gossip {
		if j != i {
			seeds = append(seeds, g)
		}
	}
	return startNodeWith(c.t, c.bin, c.dir, c.names[i], procOptions{
		seeds: strings.Join(seeds, ","), http: c.http[i], gossip: c.gossip[i], listen: c.listen[i], gid: c.gids[i],
		args: []string{"-eject-after", faultEjectAfter.String(), "-v"},
	})
}

// kill kills node i with SIGKILL and waits for it to exit.
func (c *procCluster) kill(i int) {
	c.nodes[i].cmd.Process.Kill()
	<-c.nodes[i].exited
}

// restart starts node i again on its data directory and its addresses.
func (c *procCluster) restart(i int) {
	c.t.Helper()
	c.past[i] += c.nodes[i].out.String()
	c.nodes[i] = c.start(i) // the killed process's output is logged too if the test fails
}

func (c *procCluster) httpAddrs() []string { return c.http }

// waitMembers waits until every node's view lists every node.
func (c *procCluster) waitMembers(count int) {
	c.t.Helper()
	for _, n := range c.nodes {
		n.waitForMembers(c.t, count)
	}
}

// waitView waits, at most within, until node i's view lists count members.
func (c *procCluster) waitView(i, count int, within time.Duration) {
	c.t.Helper()
	actortest.Eventually(c.t, within, func() error {
		var ms []memberJSON
		if err := getJSON(context.Background(), httpClient, "http://"+c.nodes[i].http+"/members", &ms); err != nil {
			return err
		}
		if len(ms) != count {
			return fmt.Errorf("%s sees %d members, want %d", c.names[i], len(ms), count)
		}
		return nil
	})
}

// sum returns the sum of the counters' values as node i reads them (Projected, from the
// first replica its view gives each).
func (c *procCluster) sum(i int, keys []string) int64 {
	c.t.Helper()
	var total int64
	for _, k := range keys {
		var v counterJSON
		if err := getJSON(context.Background(), httpClient, "http://"+c.nodes[i].http+"/counters/"+k, &v); err != nil {
			c.t.Fatalf("read %s through %s: %v", k, c.names[i], err)
		}
		total += v.Value
	}
	return total
}

// waitEjected waits, at most within, until another node logs an ejection of the named
// node from a partition: proof that the fault lasted longer than EjectAfter.
func (c *procCluster) waitEjected(name string, within time.Duration) {
	c.t.Helper()
	eject := regexp.MustCompile(`msg="ejecting peer" [^\n]*peer=` + regexp.QuoteMeta(name) + `~`)
	actortest.Eventually(c.t, within, func() error {
		for i, n := range c.nodes {
			if c.names[i] != name && eject.MatchString(n.out.String()) {
				return nil
			}
		}
		return fmt.Errorf("no node ejected %s yet", name)
	})
}

var renegadeLine = regexp.MustCompile(`msg="discarding the copy of an ejected replica" [^\n]*renegades=(\d+)`)

// logRenegades logs, per node (all its processes), how many ejections and handoffs it
// proposed, how many ejected copies it discarded on its return and how many events it had
// to propose again (whether a test reached the path it is about), and the forks it saw.
func (c *procCluster) logRenegades() {
	for i, n := range c.nodes {
		out := c.past[i] + n.out.String()
		copies, events := 0, 0
		for _, m := range renegadeLine.FindAllStringSubmatch(out, -1) {
			copies++
			k, _ := strconv.Atoi(m[1])
			events += k
		}
		c.t.Logf("%s: %d ejections, %d handoffs, %d ejected copies discarded holding %d events to propose again, %d forks",
			c.names[i], strings.Count(out, `msg="ejecting peer"`), strings.Count(out, `msg="handing off"`), copies, events,
			strings.Count(out, `msg="partition forked`))
	}
}

// httpClient bounds the tests' own requests (a stopped node accepts connections and
// never answers).
var httpClient = &http.Client{Timeout: 5 * time.Second}

// loadRun is a load subcommand running in its own process.
type loadRun struct {
	cmd    *exec.Cmd
	out    syncBuffer
	ledger string
	keys   []string // the counters it increments
	done   chan struct{}
	err    error
	limit  time.Duration
}

// startLoad runs the load tool against targets for duration, over keys counters,
// writing its ledger to file (in the cluster's directory), with perTarget callers
// through each target.
func (c *procCluster) startLoad(file string, targets []string, perTarget int, duration time.Duration, keys int, consistency string) *loadRun {
	c.t.Helper()
	prefix := fmt.Sprintf("k%04x-", rand.IntN(0x10000))
	l := &loadRun{ledger: filepath.Join(c.dir, file), done: make(chan struct{}), keys: counterKeys(prefix, keys),
		limit: duration + callTimeout + 20*time.Second}
	l.cmd = exec.Command(c.bin, "load", "-targets", strings.Join(targets, ","), "-duration", duration.String(),
		"-concurrency", strconv.Itoa(perTarget*len(targets)), "-keys", strconv.Itoa(keys), "-consistency", consistency,
		"-prefix", prefix, "-out", l.ledger)
	l.cmd.Stdout, l.cmd.Stderr = &l.out, &l.out
	if err := l.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	go func() {
		l.err = l.cmd.Wait()
		close(l.done)
	}()
	c.t.Cleanup(func() {
		l.cmd.Process.Kill()
		<-l.done
	})
	return l
}

// wait waits for the load to end (its calls in flight run to their end); it must exit 0.
func (l *loadRun) wait(t *testing.T) {
	t.Helper()
	select {
	case <-l.done:
	case <-time.After(l.limit):
		t.Fatalf("load did not finish within %v:\n%s", l.limit, l.out.String())
	}
	t.Logf("load:\n%s", l.out.String())
	if l.err != nil {
		t.Fatalf("load: %v", l.err)
	}
}

// check runs the check tool on a load's ledger through each of the given nodes: each
// counter's replicas must agree on a value within [acknowledged, acknowledged +
// uncertain]. A value below is a lost increment and fails the test at once; a value above
// (an increment applied twice) is recorded for done, which skips the test for it (fails
// it with LEGION_KNOWN_FAILURES set): that is the gap issue #16 still has open (a retried
// call's first attempt logged long after its retry, once the partition's dedup window has
// moved past it), and the losses, which these tests are about, are checked whatever the
// outcome.
func (c *procCluster) check(l *loadRun, keys int, through ...*node) {
	c.t.Helper()
	for _, n := range through {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		start := time.Now()
		out, err := exec.CommandContext(ctx, c.bin, "check", "-target", n.http, "-in", l.ledger, "-wait", "60s").CombinedOutput()
		cancel()
		c.t.Logf("check %s through %s (%v):\n%s", filepath.Base(l.ledger), n.name, time.Since(start).Round(time.Millisecond), out)
		s := lastSummary(c.t, string(out))
		c.t.Logf("result %s through %s: %v", filepath.Base(l.ledger), n.name, s)
		switch {
		case !s.Converged || s.Lost != 0:
			c.t.Fatalf("check %s through %s failed: %v", filepath.Base(l.ledger), n.name, s)
		case s.Counters != keys || s.Acknowledged == 0:
			c.t.Fatalf("check %s through %s: %d counters checked (want %d), %d increments acknowledged", filepath.Base(l.ledger), n.name, s.Counters, keys, s.Acknowledged)
		case s.Duplicated != 0:
			c.duplicated = append(c.duplicated, fmt.Sprintf("%s through %s: %v", filepath.Base(l.ledger), n.name, s))
		case err != nil:
			c.t.Fatalf("check: %v", err)
		}
	}
}

// done logs what the nodes did about ejections, and skips the test if a check found an
// increment applied twice (see check).
func (c *procCluster) done() {
	c.t.Helper()
	c.logRenegades()
	if len(c.duplicated) > 0 && os.Getenv("LEGION_KNOWN_FAILURES") != "" {
		c.t.Fatalf("increments counted twice: %s", strings.Join(c.duplicated, "; "))
	}
	if len(c.duplicated) > 0 {
		c.t.Skipf("fails on main: increments counted twice (beyond acknowledged + uncertain), nothing lost: %s; see #16",
			strings.Join(c.duplicated, "; "))
	}
}

// knownFailure skips a test that fails on main for a known reason, unless
// LEGION_KNOWN_FAILURES is set (to run it, for example when fixing that reason).
func knownFailure(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("LEGION_KNOWN_FAILURES") == "" {
		t.Skip(why)
	}
}

// reservedAddr returns a loopback address whose port is free right now for TCP and UDP,
// below Linux's default range of ephemeral ports (32768 and up): a port chosen there for a
// node that starts, or restarts, later could meanwhile be taken by any outgoing connection.
func reservedAddr(t *testing.T) string {
	t.Helper()
	reserved.Lock()
	defer reserved.Unlock()
	for range 100 {
		port := 20000 + rand.IntN(12000)
		if reserved.ports[port] {
			continue // handed out already: its node may not listen yet
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		p, err := net.ListenPacket("udp", addr)
		l.Close()
		if err != nil {
			continue
		}
		p.Close()
		reserved.ports[port] = true
		return addr
	}
	t.Fatal("no free port found below 32000")
	return ""
}

// reserved is the ports reservedAddr handed out, never twice in one test binary.
var reserved = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// nodeNames returns n1, n2, ... nn.
func nodeNames(n int) []string {
	var names []string
	for i := range n {
		names = append(names, fmt.Sprintf("n%d", i+1))
	}
	return names
}

// newScheduleRand returns the random source of a fault schedule, its seed logged.
func newScheduleRand(t *testing.T) *rand.Rand {
	seed := uint64(time.Now().UnixNano())
	t.Logf("fault schedule seed %d", seed)
	return rand.New(rand.NewPCG(seed, seed))
}

// requireNetfilter skips the test unless iptables can add a chain here (it needs root
// and a kernel that lets this namespace use netfilter).
func requireNetfilter(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary and starts processes")
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		t.Skip("cuts links with iptables, which is not installed (apt-get install iptables)")
	}
	chain := fmt.Sprintf("LEGION-PROBE-%d", rand.IntN(1e6))
	if out, err := exec.Command("iptables", "-w", "5", "-N", chain).CombinedOutput(); err != nil {
		t.Skipf("cuts links with iptables, and the kernel refused netfilter here: %v: %s", err, bytes.TrimSpace(out))
	}
	exec.Command("iptables", "-w", "5", "-X", chain).Run()
}

// cutOff drops, on loopback, every packet between node cut and the nodes others, both
// ways, and returns a function that restores them (also called when the test ends, so
// that no rule outlives it). Node cut must run as group gid (procOptions.gid): the
// kernel knows which process sent a packet only by its socket's owner.
//
// What it drops, in a chain of its own jumped to from OUTPUT (every loopback packet
// passes OUTPUT once, on its sender's side):
//   - TCP and UDP from or to cut's remoting and gossip ports: whatever the others send to
//     its listeners, and its answers;
//   - packets of the connections cut opened itself (from ports the kernel chose) to the
//     others' remoting and gossip ports, both ways: cut's packets mark their connection
//     (conntrack), and packets of a marked connection from or to those ports are dropped.
//
// The HTTP ports are not cut: the test's load and check tools reach every node.
func cutOff(t *testing.T, cut *node, gid uint32, others []*node) (heal func()) {
	t.Helper()
	return cutOffAt(t, cut.remoting, cut.gossip, gid, others)
}

// cutOffAt is cutOff for a node process, running as group gid, whose remoting and gossip
// addresses are given: it may be one not started yet.
func cutOffAt(t *testing.T, remoting, gossip string, gid uint32, others []*node) (heal func()) {
	t.Helper()
	port := func(addr string) string {
		_, p, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatalf("address %q: %v", addr, err)
		}
		return p
	}
	cutPorts := port(remoting) + "," + port(gossip)
	var otherPorts, otherGossip []string
	for _, o := range others {
		otherPorts = append(otherPorts, port(o.remoting), port(o.gossip))
		otherGossip = append(otherGossip, port(o.gossip))
	}
	chain := fmt.Sprintf("LEGION-CUT-%d", gid)
	mark := fmt.Sprintf("0x%x/0xffff0000", gid<<16)
	rules := [][]string{
		{"-N", chain},
		{"-A", chain, "-p", "tcp", "-m", "multiport", "--ports", cutPorts, "-j", "DROP"},
		{"-A", chain, "-p", "udp", "-m", "multiport", "--ports", port(gossip), "-j", "DROP"},
		{"-A", chain, "-m", "owner", "--gid-owner", strconv.Itoa(int(gid)), "-j", "CONNMARK", "--set-xmark", mark},
		{"-A", chain, "-p", "tcp", "-m", "connmark", "--mark", mark, "-m", "multiport", "--ports", strings.Join(otherPorts, ","), "-j", "DROP"},
		{"-A", chain, "-p", "udp", "-m", "connmark", "--mark", mark, "-m", "multiport", "--ports", strings.Join(otherGossip, ","), "-j", "DROP"},
		{"-I", "OUTPUT", "-o", "lo", "-j", chain},
	}
	var once sync.Once
	heal = func() {
		once.Do(func() {
			for _, r := range [][]string{{"-D", "OUTPUT", "-o", "lo", "-j", chain}, {"-F", chain}, {"-X", chain}} {
				exec.Command("iptables", append([]string{"-w", "5"}, r...)...).Run()
			}
		})
	}
	t.Cleanup(heal)
	for _, r := range rules {
		if out, err := exec.Command("iptables", append([]string{"-w", "5"}, r...)...).CombinedOutput(); err != nil {
			t.Fatalf("iptables %s: %v: %s", strings.Join(r, " "), err, bytes.TrimSpace(out))
		}
	}
	return heal
}
