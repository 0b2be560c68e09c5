package replica

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/legion-go/legion/actor/internal/wire"
	"github.com/legion-go/legion/gc"
	"github.com/legion-go/legion/lattice"
)

// TestScripts runs the golden scripts in testdata/*.txt: the core's protocol rules,
// scripted over replicas of one plus-counter partition (plus/k) on peers a~1, b~1, ...
// (printed a, b, ...), with every step's effects printed. Nothing happens by itself: the
// script delivers each message, fires each timer, runs each flush. Regenerate the expected
// output after a deliberate change with
//
//	go test ./actor/internal/replica -run Scripts -rewrite
//
// and read the diff: every changed line is a changed behaviour.
//
// Commands (a list is written peer=(a,b); most commands take one or more peers):
//
//	replica peers=(a,b,c)          declare peers, each with an empty store; then the
//	                               view of every peer lists every peer declared, live
//	                               (R = 3)
//	reset                          forget every peer: a new cluster
//	view peer=(a,b) members=(a,b) [down=(c)] [down-for=20s] [partial] [leaving]
//	                               set the peers' membership: members live, down ones
//	                               gone since down-for ago (default 0s)
//	call peer=a caller=c1 v=5 [consistent] [req=r1] [set=(a,b,c)] [deadline=1s]
//	                               a call from caller; set: the caller's replica set
//	                               (default: where the peer places the partition);
//	                               deadline: from now
//	delete peer=a caller=d1 [consistent] [req=r1] [set=(a,b,c)] [deadline=1s]
//	                               a delete of the partition (a lattice.Reset), as a
//	                               call: its answer prints "ok" alone
//	query peer=a caller=q1 [stable] [set=(a,b,c)]
//	deliver [from=(a)] [to=(b)] [drop]
//	                               deliver (or drop) the messages in flight, oldest
//	                               first; what they cause waits for the next deliver
//	net                            list the messages in flight
//	flush [peer=(a)] [fail|crash]  flush the dirty replicas (default: all), one commit
//	                               per peer; fail: the commit fails; crash: the peer
//	                               crashes between Ready and the commit
//	tick peer=a                    fire the anti-entropy timer (it must be armed)
//	gc-tick peer=a                 fire the gc timer
//	sync-timeout peer=a            fire the sync timer (the last generation armed)
//	drain, resync, wake peer=a     the node's Drain, Resync, Wake
//	reproposed peer=a [done=(r1)]  end a re-proposal round
//	crash peer=a                   lose the replica and what it held in memory; the
//	                               peer is down (messages to it are lost)
//	restart peer=a                 the peer comes back and loads its replica
//	advance-time by=1s
//	stabilize [quiet]              deliver and flush until nothing is in flight or
//	                               dirty (no timer fires); quiet prints only replies
//	                               and lifecycle changes
//	state peer=(a,b)               the replicas, and what their stores hold
//
// Printed, for each step: "a -> b: ..." a message sent (one step's messages by
// recipient); "b <- a: ..." its delivery, with what it caused at b indented under it;
// "a: reply c1: ..." an answer; "a: timer ..." a timer armed; "a: log ...";
// "a: flush queued" (Effects.Flush); "a: ready: write" the writes a flush staged, then
// "committed" (or "commit failed") and what goes out after the commit; "a: write" a
// synchronous write (Effects.Write); "a: repropose ..."; "a: drained"; "a: x -> y" a
// lifecycle change; "a: removed" the shell dropped the replica; "a: nothing" a step that
// asked for nothing.
func TestScripts(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no scripts in testdata")
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			c := newCluster(t)
			datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
				c.t = t
				c.run(t, td)
				return c.take()
			})
		})
	}
}

func (c *cluster) run(t *testing.T, td *datadriven.TestData) {
	switch td.Cmd {
	case "replica":
		c.add(listArg(t, td, "peers")...)
		for _, name := range c.names {
			c.printView(c.nodes[name])
		}
	case "reset":
		*c = *newCluster(t)
		c.line("a new cluster")
	case "view":
		c.view(t, td)
	case "call", "delete":
		c.callCmd(t, td)
	case "query":
		n := c.node(singleArg(t, td, "peer"))
		var caller string
		td.ScanArgs(t, "caller", &caller)
		m := &wire.Query{}
		if td.HasArg("stable") {
			m.Level = wire.ReadLevel_STABLE
		}
		if td.HasArg("set") {
			m.ReplicaSet = peerStrings(peersArg(t, td, "set"))
		}
		n.query(caller, m)
	case "deliver":
		var from, to []string
		if td.HasArg("from") {
			from = listArg(t, td, "from")
		}
		if td.HasArg("to") {
			to = listArg(t, td, "to")
		}
		if c.deliver(from, to, td.HasArg("drop")) == 0 {
			c.line("nothing to deliver")
		}
	case "net":
		if len(c.net) == 0 {
			c.line("nothing in flight")
		}
		for _, m := range c.net {
			head, _ := renderReplicate(m.msg)
			c.line("%s -> %s: %s", m.from, m.to, head)
		}
	case "flush":
		mode := commitOK
		switch {
		case td.HasArg("fail"):
			mode = commitFails
		case td.HasArg("crash"):
			mode = crashBefore
		}
		names := c.names
		if td.HasArg("peer") {
			names = listArg(t, td, "peer")
		}
		flushed := false
		for _, name := range names {
			if n := c.node(name); n.r != nil && n.r.Dirty() {
				n.flush(mode)
				flushed = true
			} else if td.HasArg("peer") {
				n.flush(mode) // prints that it has nothing to flush
			}
		}
		if !flushed && !td.HasArg("peer") {
			c.line("nothing to flush")
		}
	case "tick", "gc-tick", "sync-timeout":
		kind := map[string]TimerKind{"tick": TickTimer, "gc-tick": GCTimer, "sync-timeout": SyncTimer}[td.Cmd]
		for _, name := range listArg(t, td, "peer") {
			c.node(name).fire(kind)
		}
	case "drain", "resync", "wake":
		for _, name := range listArg(t, td, "peer") {
			n := c.node(name)
			r := n.activate()
			switch td.Cmd {
			case "drain":
				n.step(r.Drain(c.now))
			case "resync":
				n.step(r.Resync(c.now))
			case "wake":
				n.step(r.Wake(c.now))
			}
		}
	case "reproposed":
		n := c.node(singleArg(t, td, "peer"))
		var done []string
		if td.HasArg("done") {
			done = listArg(t, td, "done")
		}
		if n.r == nil {
			td.Fatalf(t, "%s: no active replica", n.name)
		}
		n.step(n.r.Reproposed(c.now, done))
	case "crash":
		for _, name := range listArg(t, td, "peer") {
			c.node(name).crash()
		}
	case "restart":
		for _, name := range listArg(t, td, "peer") {
			n := c.node(name)
			if n.r != nil {
				td.Fatalf(t, "%s is running", name)
			}
			n.down = false
			n.activate()
		}
	case "advance-time":
		by, ok := durationArg(t, td, "by")
		if !ok {
			td.Fatalf(t, "missing argument %q", "by")
		}
		c.now = c.now.Add(by)
		c.line("time %s", c.now.Sub(epoch))
	case "stabilize":
		c.quiet = td.HasArg("quiet")
		delivered, flushes := c.stabilize()
		c.quiet = false
		c.line("stable after %d messages and %d flushes", delivered, flushes)
	case "state":
		for _, name := range listArg(t, td, "peer") {
			for _, l := range c.node(name).renderState() {
				c.line("%s", l)
			}
		}
	default:
		td.Fatalf(t, "unknown command %q", td.Cmd)
	}
}

func (c *cluster) callCmd(t *testing.T, td *datadriven.TestData) {
	n := c.node(singleArg(t, td, "peer"))
	var caller string
	var v int64
	td.ScanArgs(t, "caller", &caller)
	m := &wire.Call{Delete: true}
	if td.Cmd == "delete" {
		if c.deleters == nil {
			c.deleters = map[string]bool{}
		}
		c.deleters[caller] = true
	} else {
		td.ScanArgs(t, "v", &v)
		m = &wire.Call{Event: encode(t, v)}
	}
	if td.HasArg("consistent") {
		m.Consistency = wire.Consistency_CONSISTENT
	}
	td.MaybeScanArgs(t, "req", &m.Req)
	if td.HasArg("set") {
		m.ReplicaSet = peerStrings(peersArg(t, td, "set"))
	}
	if d, ok := durationArg(t, td, "deadline"); ok {
		m.Deadline = c.now.Add(d).UnixNano()
	}
	n.call(caller, m)
}

// view sets the membership of peers.
func (c *cluster) view(t *testing.T, td *datadriven.TestData) {
	members := liveMembers(peersArg(t, td, "members")...)
	if td.HasArg("down") {
		gone, _ := durationArg(t, td, "down-for")
		for _, p := range peersArg(t, td, "down") {
			members = append(members, gc.Member{Peer: p, Kinds: []string{testKind}, Since: c.now.Add(-gone)})
		}
	}
	for _, name := range listArg(t, td, "peer") {
		n := c.node(name)
		n.env.members = slices.Clone(members)
		n.env.partial = td.HasArg("partial")
		n.env.leaving = td.HasArg("leaving")
		c.printView(n)
	}
}

func (c *cluster) printView(n *node) {
	var live, down []lattice.Peer
	for _, m := range n.env.members {
		if m.Live {
			live = append(live, m.Peer)
		} else {
			down = append(down, m.Peer)
		}
	}
	s := "view " + renderPeers(live)
	if len(down) > 0 {
		s += " down " + renderPeers(down)
	}
	if n.env.partial {
		s += " partial"
	}
	if n.env.leaving {
		s += " leaving"
	}
	c.line("%s: %s, places %s on %s", n.name, s, testOrigin, renderPeers(n.env.ReplicaSet(testKind, testKey)))
}

// durationArg reads the duration argument key, if it is given.
func durationArg(t *testing.T, td *datadriven.TestData, key string) (time.Duration, bool) {
	t.Helper()
	if !td.HasArg(key) {
		return 0, false
	}
	var s string
	td.ScanArgs(t, key, &s)
	d, err := time.ParseDuration(s)
	if err != nil {
		td.Fatalf(t, "%s: %v", key, err)
	}
	return d, true
}

func listArg(t *testing.T, td *datadriven.TestData, key string) []string {
	t.Helper()
	arg, ok := td.Arg(key)
	if !ok {
		td.Fatalf(t, "missing argument %q", key)
	}
	return arg.Vals
}

func singleArg(t *testing.T, td *datadriven.TestData, key string) string {
	t.Helper()
	arg, ok := td.Arg(key)
	if !ok {
		td.Fatalf(t, "missing argument %q", key)
	}
	arg.ExpectNumVals(t, 1)
	return arg.Vals[0]
}

func peersArg(t *testing.T, td *datadriven.TestData, key string) []lattice.Peer {
	var ps []lattice.Peer
	for _, v := range listArg(t, td, key) {
		ps = append(ps, peerOf(v))
	}
	return ps
}
