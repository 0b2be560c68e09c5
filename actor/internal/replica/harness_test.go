package replica

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor/internal/wire"
	"github.com/legion-go/legion/gc"
	"github.com/legion-go/legion/lattice"
	"github.com/legion-go/legion/storage"
	"github.com/legion-go/legion/storage/memory"
)

// The test harness: a shell for cores, as package actor's shard is one, but driven by hand
// (by a Go test or a golden script) with no goroutine, no clock and no network of its own.
// It performs Effects as the shard does (shard.perform, shard.step, shard.flush,
// shard.remove), and renders each of them as a line of text.

// counter is the state, event and output of the tests' kind.
type counter = wrapperspb.Int64Value

// plusSpec is the tests' kind: a counter whose events add their value and output the new
// total. Apply rejects 13 with an error, so that rejections can be scripted.
var plusSpec = &Spec[*counter, *counter, *counter]{
	Name: "plus",
	Behavior: lattice.Behavior[*counter, *counter, *counter]{
		Apply: func(s, e *counter, _ lattice.Meta) (*counter, *counter, error) {
			if e.GetValue() == 13 {
				return s, nil, errors.New("unlucky 13")
			}
			s.Value += e.GetValue()
			return s, wrapperspb.Int64(s.Value), nil
		},
		Clone: func(s *counter) *counter { return proto.CloneOf(s) },
	},
	Initial: func() *counter { return wrapperspb.Int64(0) },
	Query:   func(s, _ *counter) (*counter, error) { return s, nil },
}

// The one partition the harness replicates.
const (
	testKind   = "plus"
	testKey    = "k"
	testOrigin = testKind + "/" + testKey
)

var testPart = storage.Partition{Kind: testKind, Key: testKey}

// epoch is the harness's time zero.
var epoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// newFoldOf returns the maker of the plus kind's empty folds on self.
func newFoldOf(self lattice.Peer) func() Fold {
	return func() Fold { return NewFold(plusSpec, testOrigin, self) }
}

// latticeOf returns the lattice state under a fold of the plus kind.
func latticeOf(f Fold) *lattice.State[*counter, *counter, *counter] {
	return f.(*typedFold[*counter, *counter, *counter]).st
}

// testConfig is the replica configuration of a peer: the runtime's defaults, but a shorter
// PassivateAfter.
func testConfig(self lattice.Peer) Config {
	return Config{Self: self, AttemptTimeout: 2 * time.Second, AntiEntropyInterval: 200 * time.Millisecond,
		GCInterval: time.Second, PassivateAfter: 10 * time.Second,
		GC:               gc.Config{ReplicationFactor: 3, EjectAfter: 10 * time.Second, MaxHandoffs: 4},
		HandoverHandoffs: 16}
}

func encode(t testing.TB, v int64) []byte {
	t.Helper()
	b, err := proto.Marshal(wrapperspb.Int64(v))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodeValue(b []byte) (int64, error) {
	var v counter
	err := proto.Unmarshal(b, &v)
	return v.GetValue(), err
}

// fakeEnv is a node's membership as the core reads it (Env): the view of the members,
// placement over its live members that host the kind (gc.ReplicaSet, as the node does),
// and the node's count of handoffs in flight.
type fakeEnv struct {
	members          []gc.Member
	partial, leaving bool
	r                int // replication factor
	maxHandoffs      int
	handoffs         int
	underflow        int // ReleaseHandoff without a handoff taken: a bug
}

func (e *fakeEnv) Partial() bool { return e.partial }
func (e *fakeEnv) Leaving() bool { return e.leaving }

func (e *fakeEnv) ReplicaSet(kind, key string) []lattice.Peer {
	var hosts []lattice.Peer
	for _, m := range e.members {
		if m.Live && slices.Contains(m.Kinds, kind) {
			hosts = append(hosts, m.Peer)
		}
	}
	return gc.ReplicaSet(kind, key, hosts, e.r)
}

func (e *fakeEnv) Members() []gc.Member { return slices.Clone(e.members) }

func (e *fakeEnv) Reachable(p lattice.Peer) bool {
	return slices.ContainsFunc(e.members, func(m gc.Member) bool { return m.Peer == p && m.Live })
}

func (e *fakeEnv) ReserveHandoff() bool {
	if e.handoffs >= e.maxHandoffs {
		return false
	}
	e.handoffs++
	return true
}

func (e *fakeEnv) ReleaseHandoff() {
	if e.handoffs == 0 {
		e.underflow++
		return
	}
	e.handoffs--
}

func (e *fakeEnv) Handoffs() int { return e.handoffs }

// liveMembers lists peers as live members hosting the plus kind.
func liveMembers(ps ...lattice.Peer) []gc.Member {
	out := make([]gc.Member, len(ps))
	for i, p := range ps {
		out[i] = gc.Member{Peer: p, Kinds: []string{testKind}, Live: true}
	}
	return out
}

// testStore is a memory store that counts what it commits, and fails commits while fail
// is set (applying nothing).
type testStore struct {
	*memory.Store
	fail                                 error
	commits                              int
	snapshots, snapshotBytes, entryBytes int
}

func newTestStore(name string) *testStore {
	return &testStore{Store: memory.New(storage.Identity{Node: name, Incarnation: "1"})}
}

func (s *testStore) Commit(b *storage.Batch) error {
	if s.fail != nil {
		return s.fail
	}
	s.commits++
	for _, op := range b.Ops() {
		switch op.Kind {
		case storage.OpPutSnapshot:
			s.snapshots++
			s.snapshotBytes += len(op.Data)
		case storage.OpPutDelta:
			s.entryBytes += len(op.Data)
		}
	}
	return s.Store.Commit(b)
}

// cluster is the harness: peers, each a node with a store, a membership view and at most
// one replica of the partition; the messages in flight between them; the time; and the
// rendering of everything that happens.
type cluster struct {
	t     testing.TB
	now   time.Time
	nodes map[string]*node
	names []string  // sorted
	net   []message // in flight, oldest first
	out   strings.Builder
	depth int  // indentation of the lines printed
	quiet bool // print only replies and lifecycle changes
	// deleters are the callers of deletes (their answers have no output to print).
	deleters map[string]bool
}

// message is a replication message in flight.
type message struct {
	from, to string
	msg      *wire.Replicate
}

func newCluster(t testing.TB) *cluster {
	return &cluster{t: t, now: epoch, nodes: map[string]*node{}}
}

// node is one peer: its store, view and replica, and what its shell keeps (the timers it
// armed, the replies it sent).
type node struct {
	c     *cluster
	name  string
	peer  lattice.Peer
	cfg   Config
	env   *fakeEnv
	store *testStore
	r     *Replica // nil: not active
	down  bool     // crashed, not restarted
	life  Life     // as last printed
	armed map[TimerKind]bool
	// syncGen is the generation of the last sync timer armed: the shell keeps only that
	// one (shard.arm stops the previous).
	syncGen uint64
	// replies holds every reply the shell sent, in order; repropose the renegades of the
	// last re-proposal round asked for; drained, how often Drained was reported.
	replies   []Reply
	repropose []lattice.Entry[[]byte]
	drained   int
	forks     int
}

// peerOf names the peer of a node: a~1 for a.
func peerOf(name string) lattice.Peer { return lattice.Peer(name + "~1") }

// short names a peer for printing: a for a~1.
func short(p lattice.Peer) string { return strings.TrimSuffix(string(p), "~1") }

// add declares nodes; then the view of every node lists every node declared, live.
func (c *cluster) add(names ...string) {
	for _, name := range names {
		if _, ok := c.nodes[name]; ok {
			continue
		}
		p := peerOf(name)
		n := &node{c: c, name: name, peer: p, cfg: testConfig(p), store: newTestStore(name), armed: map[TimerKind]bool{}}
		n.env = &fakeEnv{r: n.cfg.GC.ReplicationFactor, maxHandoffs: n.cfg.GC.MaxHandoffs}
		c.nodes[name] = n
		c.names = append(c.names, name)
	}
	slices.Sort(c.names)
	var all []lattice.Peer
	for _, m := range c.names {
		all = append(all, peerOf(m))
	}
	for _, n := range c.nodes {
		n.env.members = liveMembers(all...)
	}
}

func (c *cluster) node(name string) *node {
	n, ok := c.nodes[name]
	if !ok {
		c.t.Fatalf("no peer %q", name)
	}
	return n
}

// line prints one line at the current depth (unless quiet).
func (c *cluster) line(format string, args ...any) {
	if !c.quiet {
		c.print(format, args...)
	}
}

// key prints a line even when quiet: a reply, a lifecycle change.
func (c *cluster) key(format string, args ...any) { c.print(format, args...) }

func (c *cluster) print(format string, args ...any) {
	if !c.quiet { // quiet lines lose their context: no indentation
		c.out.WriteString(strings.Repeat("  ", c.depth))
	}
	fmt.Fprintf(&c.out, format, args...)
	c.out.WriteByte('\n')
}

// lines prints detail lines one level deeper.
func (c *cluster) lines(ls []string) {
	c.depth++
	for _, l := range ls {
		c.line("%s", l)
	}
	c.depth--
}

// take returns what was printed since the last take.
func (c *cluster) take() string {
	s := c.out.String()
	c.out.Reset()
	return s
}

// activate returns the node's replica, loading it from the store if it is not active, as
// shard.activate does.
func (n *node) activate() *Replica {
	for i := 0; n.r == nil; i++ {
		if i == 3 {
			n.c.t.Fatalf("%s: the replica goes as soon as it is loaded, again and again", n.name)
		}
		r := New(&n.cfg, n.env, testKind, testKey, newFoldOf(n.peer))
		rec, found, err := n.store.Load(testPart)
		n.c.line("%s: activated: %s", n.name, n.c.describeStored(rec, found, err))
		n.r, n.life = r, Loading
		n.step(r.Start(n.c.now, rec, found, err))
	}
	return n.r
}

// step performs the effects of one of the replica's steps, and removes it if it decided
// to go (shard.step).
func (n *node) step(eff *Effects) {
	mark := n.c.out.Len()
	n.perform(eff)
	if n.r == nil {
		return
	}
	if l := n.r.Life(); l != n.life {
		n.c.key("%s: %s -> %s", n.name, n.life, l)
		n.life = l
	}
	if n.r.Life().Gone() {
		n.remove()
	}
	if n.c.out.Len() == mark {
		n.c.line("%s: nothing", n.name)
	}
	if n.env.underflow > 0 {
		n.c.t.Errorf("%s: a handoff released that was not taken", n.name)
	}
}

// perform does what a step asked (shard.perform): replies and sends leave, timers are
// armed, a synchronous write is committed and its completion stepped.
func (n *node) perform(eff *Effects) {
	c := n.c
	for _, l := range eff.Logs {
		c.line("%s: log %s: %s%s", n.name, levelName(l.Level), l.Msg, renderArgs(l.Args))
	}
	for _, r := range eff.Replies {
		n.replies = append(n.replies, r)
		line := renderReply(r)
		if m, ok := r.Msg.(*wire.CallReply); ok && c.deleters[fmt.Sprint(r.To)] && m.GetError() == nil {
			line = strings.Replace(line, "ok 0", "ok", 1) // a delete has no output
		}
		c.key("%s: reply %s", n.name, line)
	}
	// One step's messages go to different peers, whose order nothing observes: they are
	// printed (and put in flight) by recipient.
	sends := slices.Clone(eff.Sends)
	slices.SortStableFunc(sends, func(a, b Send) int { return strings.Compare(string(a.To), string(b.To)) })
	for _, s := range sends {
		if s.Msg.GetFrom() != string(n.peer) || s.Msg.GetTo().GetPeer() != string(s.To) ||
			s.Msg.GetTo().GetKind() != testKind || s.Msg.GetTo().GetKey() != testKey {
			c.t.Errorf("%s: misaddressed message to %s: %v", n.name, s.To, s.Msg)
		}
		c.net = append(c.net, message{from: n.name, to: short(s.To), msg: s.Msg})
		head, detail := renderReplicate(s.Msg)
		c.line("%s -> %s: %s", n.name, short(s.To), head)
		c.lines(detail)
	}
	for _, t := range eff.Timers {
		n.armed[t.Kind] = true
		gen := ""
		if t.Kind == SyncTimer {
			n.syncGen = t.Gen
			gen = fmt.Sprintf(" (generation %d)", t.Gen)
		}
		c.line("%s: timer %s in %s%s", n.name, timerName(t.Kind), t.After, gen)
	}
	if eff.Forks > 0 {
		n.forks += eff.Forks
		c.line("%s: forks %d", n.name, eff.Forks)
	}
	if eff.Report != nil {
		c.line("%s: gc report: %s", n.name, renderReport(eff.Report))
	}
	if eff.Drained {
		n.drained++
		c.key("%s: drained", n.name)
	}
	if len(eff.Repropose) > 0 {
		n.repropose = slices.Clone(eff.Repropose)
		var reqs []string
		for _, e := range eff.Repropose {
			reqs = append(reqs, e.Delta.Req)
		}
		c.line("%s: repropose %s", n.name, strings.Join(reqs, ", "))
	}
	if eff.Flush {
		c.line("%s: flush queued", n.name)
	}
	if eff.Write != nil {
		c.line("%s: write", n.name)
		c.lines(c.renderOps(eff.Write))
		err := n.commit(eff.Write)
		c.line("%s: %s", n.name, commitOutcome(err))
		n.perform(n.r.Written(c.now, err))
	}
}

// commit commits b, as the node does (an empty batch is not committed).
func (n *node) commit(b *storage.Batch) error {
	if b.Empty() {
		return nil
	}
	return n.store.Commit(b)
}

func commitOutcome(err error) string {
	if err != nil {
		return "commit failed: " + err.Error()
	}
	return "committed"
}

// flushMode says what happens to a flush's commit.
type flushMode uint8

const (
	commitOK    flushMode = iota
	commitFails           // the store fails the commit
	crashBefore           // the node crashes before the commit: its replica is lost
)

// errDisk is the failure of a failing commit.
var errDisk = errors.New("disk on fire")

// flush flushes the replica if it asked for it, as shard.flush does: Ready stages its
// writes, the batch is committed, then Advance with the outcome.
func (n *node) flush(mode flushMode) {
	c := n.c
	if n.r == nil || !n.r.Dirty() {
		c.line("%s: nothing to flush", n.name)
		return
	}
	var b storage.Batch
	rd := n.r.Ready(c.now, &b)
	if b.Empty() {
		c.line("%s: ready: nothing to write", n.name)
	} else {
		c.line("%s: ready: write", n.name)
		c.lines(c.renderOps(&b))
	}
	var err error
	switch mode {
	case commitOK:
		err = n.commit(&b)
	case commitFails:
		err = errDisk
	case crashBefore:
		n.crash()
		return
	}
	c.line("%s: %s", n.name, commitOutcome(err))
	n.step(n.r.Advance(c.now, rd, err))
}

// remove writes what the replica holds, unless it discarded its copy, and forgets it
// (shard.remove).
func (n *node) remove() {
	var b storage.Batch
	r := n.r
	if r.Final(&b) && n.commit(&b) == nil {
		r.Committed()
	}
	r.Release()
	n.r = nil
	clear(n.armed)
	if b.Empty() {
		n.c.line("%s: removed", n.name)
		return
	}
	n.c.line("%s: removed, writing", n.name)
	n.c.lines(n.c.renderOps(&b))
}

// crash loses the node's replica and whatever it held in memory; the store keeps what
// was committed. Until restart, messages to the node are lost.
func (n *node) crash() {
	if n.r != nil {
		n.r.Release()
	}
	n.r, n.down = nil, true
	clear(n.armed)
	n.c.key("%s: crashed", n.name)
}

// fire steps the replica with one of its timers, which must be armed.
func (n *node) fire(kind TimerKind) {
	if n.r == nil || !n.armed[kind] {
		n.c.t.Fatalf("%s: no %s timer armed", n.name, timerName(kind))
	}
	n.armed[kind] = false
	switch kind {
	case TickTimer:
		n.step(n.r.Tick(n.c.now))
	case GCTimer:
		n.step(n.r.GCTick(n.c.now))
	case SyncTimer:
		n.step(n.r.SyncTimeout(n.c.now, n.syncGen))
	}
}

// call steps a call from caller at the node, activating its replica if needed.
func (n *node) call(caller string, m *wire.Call) {
	if n.arrive("call", &m.To, &m.ReplicaSet) {
		n.step(n.r.Call(n.c.now, m, caller, n.c.now.UnixNano()))
	}
}

// query steps a query from caller at the node.
func (n *node) query(caller string, m *wire.Query) {
	if m.Query == nil {
		m.Query = encode(n.c.t, 0)
	}
	if n.arrive("query", &m.To, &m.ReplicaSet) {
		n.step(n.r.Query(n.c.now, m, caller))
	}
}

// arrive addresses a caller's request to the node's replica, with the replica set the
// node's placement gives unless the caller named one, and activates the replica; it
// reports false if the node is down (the request is lost).
func (n *node) arrive(what string, to **wire.Target, set *[]string) bool {
	if n.down {
		n.c.line("%s is down: the %s is lost", n.name, what)
		return false
	}
	*to = &wire.Target{Kind: testKind, Key: testKey, Peer: string(n.peer)}
	if *set == nil {
		*set = peerStrings(n.env.ReplicaSet(testKind, testKey))
	}
	n.activate()
	return true
}

// deliver delivers the messages in flight that match (nil: any), oldest first; those the
// deliveries send wait for the next deliver. It returns how many it delivered.
func (c *cluster) deliver(from, to []string, drop bool) int {
	var keep, due []message
	for _, m := range c.net {
		if (from == nil || slices.Contains(from, m.from)) && (to == nil || slices.Contains(to, m.to)) {
			due = append(due, m)
		} else {
			keep = append(keep, m)
		}
	}
	c.net = keep
	for _, m := range due {
		head, _ := renderReplicate(m.msg)
		n, ok := c.nodes[m.to]
		switch {
		case drop:
			c.line("%s <- %s: %s: dropped", m.to, m.from, head)
			continue
		case !ok:
			c.line("%s <- %s: %s: lost (no such peer)", m.to, m.from, head)
			continue
		case n.down:
			c.line("%s <- %s: %s: lost (%s is down)", m.to, m.from, head, m.to)
			continue
		}
		c.line("%s <- %s: %s", m.to, m.from, head)
		c.depth++
		r := n.activate()
		n.step(r.Replicate(c.now, m.msg))
		c.depth--
	}
	return len(due)
}

// stabilize delivers every message and flushes every dirty replica until nothing is in
// flight and nothing is dirty.
func (c *cluster) stabilize() (delivered, flushes int) {
	for round := 0; ; round++ {
		if round > 100 {
			c.t.Fatalf("no quiescence after 100 rounds")
		}
		var dirty []*node
		for _, name := range c.names {
			if n := c.nodes[name]; n.r != nil && n.r.Dirty() {
				dirty = append(dirty, n)
			}
		}
		if len(c.net) == 0 && len(dirty) == 0 {
			return delivered, flushes
		}
		for _, n := range dirty {
			n.flush(commitOK)
			flushes++
		}
		delivered += c.deliver(nil, nil, false)
	}
}

// Rendering.

func renderID(id lattice.EventID) string {
	if id.IsBottom() {
		return "⊥"
	}
	return fmt.Sprintf("%d@%s", id.Counter, short(id.Peer))
}

func renderPeers(ps []lattice.Peer) string {
	ss := make([]string, len(ps))
	for i, p := range ps {
		ss[i] = short(p)
	}
	slices.Sort(ss)
	return "(" + strings.Join(ss, ",") + ")"
}

func renderEntry(e lattice.Entry[*counter]) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", renderID(e.ID), e.Delta.Kind)
	switch e.Delta.Kind {
	case lattice.Event, lattice.Error:
		fmt.Fprintf(&b, " %+d", e.Delta.Event.GetValue())
	case lattice.Join:
		fmt.Fprintf(&b, " %s", short(e.Delta.Peer))
	case lattice.UnJoin:
		fmt.Fprintf(&b, " %s cutoff=%d", short(e.Delta.Peer), e.Delta.Cutoff)
	}
	if e.Delta.Req != "" {
		fmt.Fprintf(&b, " req=%s", e.Delta.Req)
	}
	if e.Delta.Err != "" {
		fmt.Fprintf(&b, " err=%q", e.Delta.Err)
	}
	fmt.Fprintf(&b, " acks=%s", renderPeers(e.Acks))
	return b.String()
}

var codec = ProtoCodec[*counter]()

// renderReplicate renders a replication message: a head line, and a line per entry.
func renderReplicate(m *wire.Replicate) (string, []string) {
	head, ls := renderBody(m)
	if m.GetResync() {
		head += map[bool]string{true: " (a diff will do)", false: " (answers a resync)"}[m.GetNeedFull() != nil]
	}
	return head, ls
}

func renderBody(m *wire.Replicate) (string, []string) {
	switch body := m.GetBody().(type) {
	case *wire.Replicate_NeedFull:
		return "need full state", nil
	case *wire.Replicate_Diff:
		d, err := wire.ToDiff(body.Diff, codec)
		if err != nil {
			return "diff (undecodable: " + err.Error() + ")", nil
		}
		var ls []string
		for _, e := range d.Entries {
			ls = append(ls, renderEntry(e))
		}
		for _, a := range d.Acks {
			ls = append(ls, fmt.Sprintf("ack %s %s", renderID(a.ID), renderPeers(a.Peers)))
		}
		head := "diff on base " + renderID(d.Base.ID)
		if len(ls) == 0 {
			head += ", empty"
		}
		return head, ls
	case *wire.Replicate_Snapshot:
		s, err := wire.ToSnapshot(body.Snapshot, codec, codec)
		if err != nil {
			return "full state (undecodable: " + err.Error() + ")", nil
		}
		if !body.Snapshot.GetInfimum().GetHasBase() {
			return "full state: holds nothing, places it on " + renderPeers(peersOf(body.Snapshot.GetReplicaSet())), nil
		}
		var ls []string
		for _, e := range s.Pending {
			ls = append(ls, renderEntry(e))
		}
		return "full state: " + renderInfimum(s.Infimum), ls
	}
	return fmt.Sprintf("unknown message %T", m.GetBody()), nil
}

func renderInfimum(inf lattice.Infimum[*counter]) string {
	return fmt.Sprintf("infimum %s participants=%s value=%d", renderID(inf.ID), renderPeers(inf.Participants),
		inf.Value.GetValue())
}

func renderReply(r Reply) string {
	to := fmt.Sprint(r.To)
	switch m := r.Msg.(type) {
	case *wire.CallReply:
		id := ""
		if m.GetId() != nil {
			id = " (" + renderID(wire.ToID(m.GetId())) + ")"
		}
		if m.GetError() != nil {
			return to + ": " + renderError(m.GetError()) + id
		}
		v, err := decodeValue(m.GetOutput())
		if err != nil {
			return to + ": undecodable output" + id
		}
		return fmt.Sprintf("%s: ok %d%s", to, v, id)
	case *wire.QueryReply:
		if m.GetError() != nil {
			return to + ": " + renderError(m.GetError())
		}
		v, err := decodeValue(m.GetOutput())
		if err != nil {
			return to + ": undecodable output"
		}
		return fmt.Sprintf("%s: value %d", to, v)
	}
	return fmt.Sprintf("%s: unknown reply %T", to, r.Msg)
}

// renderError names a wire error by the sentinel a caller sees (errs.FromWire), and says
// "(maybe logged)" when the caller learns that its event may have been logged.
func renderError(e *wire.Error) string {
	if e.GetMaybeLogged() {
		return renderCode(e) + " (maybe logged)"
	}
	return renderCode(e)
}

func renderCode(e *wire.Error) string {
	switch e.GetCode() {
	case wire.Code_TIMEOUT:
		return "error Unavailable"
	case wire.Code_NOT_REPLICA:
		return "error NotReplica"
	case wire.Code_OUTPUT_UNKNOWN:
		return "error OutputUnknown"
	case wire.Code_REJECTED:
		return fmt.Sprintf("error Rejected(%s)", e.GetMessage())
	case wire.Code_BAD_PAYLOAD:
		return "error BadPayload"
	}
	return fmt.Sprintf("error %s(%s)", e.GetCode(), e.GetMessage())
}

func renderReport(r *gc.Replica) string {
	s := fmt.Sprintf("participants=%s pending=%d", renderPeers(r.Participants), r.Pending)
	if len(r.Joining) > 0 {
		s += " joining=" + renderPeers(r.Joining)
	}
	if len(r.Leaving) > 0 {
		s += " leaving=" + renderPeers(r.Leaving)
	}
	if r.Retired {
		s += " retired"
	}
	return s
}

func levelName(l Level) string {
	switch l {
	case LevelDebug:
		return "debug"
	case LevelInfo:
		return "info"
	case LevelWarn:
		return "warn"
	case LevelError:
		return "error"
	}
	return fmt.Sprint(int(l))
}

func renderArgs(args []any) string {
	var b strings.Builder
	for i := 0; i+1 < len(args); i += 2 {
		fmt.Fprintf(&b, " %v=", args[i])
		switch v := args[i+1].(type) {
		case lattice.Peer:
			b.WriteString(short(v))
		case []lattice.Peer:
			b.WriteString(renderPeers(v))
		case lattice.EventID:
			b.WriteString(renderID(v))
		default:
			fmt.Fprintf(&b, "%v", v)
		}
	}
	return b.String()
}

func timerName(k TimerKind) string {
	switch k {
	case TickTimer:
		return "tick"
	case GCTimer:
		return "gc"
	case SyncTimer:
		return "sync"
	}
	return fmt.Sprint(int(k))
}

// idOfKey decodes a stored delta's key (IDKey).
func idOfKey(k []byte) lattice.EventID {
	if len(k) < 8 {
		return lattice.EventID{}
	}
	return lattice.EventID{Counter: binary.BigEndian.Uint64(k[:8]), Peer: lattice.Peer(k[8:])}
}

// renderOps renders a batch's writes.
func (c *cluster) renderOps(b *storage.Batch) []string {
	var ls []string
	for _, op := range b.Ops() {
		switch op.Kind {
		case storage.OpPutSnapshot:
			ls = append(ls, "put-snapshot "+renderStoredSnapshot(op.Data))
		case storage.OpPutDelta:
			ls = append(ls, "put-delta "+renderStoredEntry(op.Data))
		case storage.OpDeleteDelta:
			ls = append(ls, "delete-delta "+renderID(idOfKey(op.ID)))
		case storage.OpDeletePartition:
			ls = append(ls, "delete-partition")
		}
	}
	return ls
}

func renderStoredSnapshot(data []byte) string {
	var m wire.Snapshot
	if err := proto.Unmarshal(data, &m); err != nil {
		return "undecodable: " + err.Error()
	}
	s := "shell"
	if m.GetInfimum().GetHasBase() {
		inf, _, err := wire.ToInfimum(m.GetInfimum(), codec)
		if err != nil {
			return "undecodable infimum: " + err.Error()
		}
		s = renderInfimum(inf)
	}
	if len(m.GetRenegades()) > 0 {
		var reqs []string
		for _, x := range m.GetRenegades() {
			reqs = append(reqs, x.GetReq())
		}
		s += " renegades=(" + strings.Join(reqs, ",") + ")"
	}
	if len(m.GetDropped()) > 0 {
		s += fmt.Sprintf(" dropped=%d", len(m.GetDropped()))
	}
	if at := m.GetRemovedAt(); at != nil {
		s += " removed-at " + renderID(wire.ToID(at))
	}
	return s
}

func renderStoredEntry(data []byte) string {
	var m wire.Entry
	if err := proto.Unmarshal(data, &m); err != nil {
		return "undecodable: " + err.Error()
	}
	e, err := wire.ToEntry(&m, codec)
	if err != nil {
		return "undecodable: " + err.Error()
	}
	return renderEntry(e)
}

// describeStored renders what the store holds for the partition.
func (c *cluster) describeStored(rec storage.Replica, found bool, err error) string {
	switch {
	case err != nil:
		return "load failed: " + err.Error()
	case !found:
		return "nothing stored"
	}
	var parts []string
	if rec.Snapshot != nil {
		parts = append(parts, renderStoredSnapshot(rec.Snapshot))
	}
	for _, d := range rec.Deltas {
		parts = append(parts, "delta "+renderStoredEntry(d.Data))
	}
	return strings.Join(parts, "; ")
}

// renderState renders a replica: its lifecycle, fold, callers and renegades.
func (n *node) renderState() []string {
	if n.r == nil {
		rec, found, err := n.store.Load(testPart)
		state := "not active"
		if n.down {
			state = "down"
		}
		return []string{fmt.Sprintf("%s: %s; stored: %s", n.name, state, n.c.describeStored(rec, found, err))}
	}
	r := n.r
	st := latticeOf(r.fold)
	head := fmt.Sprintf("%s: %s", n.name, r.Life())
	if st.HasBase() {
		if st.Participant() {
			head += ", participant"
		} else {
			head += ", no participant"
		}
	}
	ls := []string{head}
	if st.HasBase() {
		ls = append(ls, "  "+renderInfimum(st.Infimum()))
		for _, e := range st.Pending() {
			ls = append(ls, "  pending "+renderEntry(e))
		}
		ls = append(ls, fmt.Sprintf("  projection %d", st.Projection().GetValue()))
	} else {
		ls = append(ls, "  holds nothing")
	}
	if len(r.waiters) > 0 || len(r.fast) > 0 || len(r.stash) > 0 {
		ls = append(ls, fmt.Sprintf("  callers waiting: consistent %d, fast %d, stashed %d", len(r.waiters), len(r.fast), len(r.stash)))
	}
	if len(r.renegades) > 0 {
		var reqs []string
		for _, e := range r.renegades {
			reqs = append(reqs, e.Delta.Req)
		}
		ls = append(ls, "  renegades "+strings.Join(reqs, ", "))
	}
	var armed []string
	for _, k := range []TimerKind{TickTimer, GCTimer, SyncTimer} {
		if n.armed[k] {
			armed = append(armed, timerName(k))
		}
	}
	if len(armed) > 0 {
		ls = append(ls, "  timers "+strings.Join(armed, ", "))
	}
	if len(r.outstanding) > 0 {
		ls = append(ls, "  unanswered diffs to "+renderPeers(slices.Collect(maps.Keys(r.outstanding))))
	}
	if len(r.deferred) > 0 {
		ls = append(ls, "  deferred diffs to "+renderPeers(slices.Collect(maps.Keys(r.deferred))))
	}
	if r.Dirty() {
		ls = append(ls, "  flush queued")
	}
	if n.env.handoffs > 0 {
		ls = append(ls, fmt.Sprintf("  the node's handoffs in flight: %d", n.env.handoffs))
	}
	rec, found, err := n.store.Load(testPart)
	ls = append(ls, "  stored: "+n.c.describeStored(rec, found, err))
	return ls
}
