// Package sim is a seeded, deterministic simulation of a whole Legion cluster: 3 to 7
// nodes, each running the real replica core (actor/internal/replica, with the real gc
// decisions and fold), over a simulated network that drops, duplicates, reorders and
// delays messages, with per-node membership views that split, lag and heal, crashes that
// lose everything not committed, restarts on the same store, nodes that join, clock skew,
// and clients that make fast and consistent calls, queries, and retries with the same
// request key. It plays the part of the shell (actor's shard, router and Ref) with no
// goroutine and no clock: one seed, one history.
//
// World.Run checks, after the faults heal and the cluster goes quiet: no acknowledged
// write lost, no request applied twice, every replica of a partition holding the same
// infimum with nothing pending (convergence and progress), and no renegade left to
// propose.
package sim

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor/internal/replica"
	"github.com/legion-go/legion/actor/internal/wire"
	"github.com/legion-go/legion/gc"
	"github.com/legion-go/legion/lattice"
	"github.com/legion-go/legion/storage"
	"github.com/legion-go/legion/storage/memory"
)

// The simulated kind: a partition's state is the list of the tags of the events it
// folded, so that the checks see exactly which requests applied, and how often.
const kindName = "log"

type (
	str = *wrapperspb.StringValue
	num = *wrapperspb.Int64Value
)

var spec = &replica.Spec[str, str, num]{
	Name: kindName,
	Behavior: lattice.Behavior[str, str, num]{
		Apply: func(s, e str, _ lattice.Meta) (str, num, error) {
			s.Value += e.Value + ","
			return s, wrapperspb.Int64(int64(strings.Count(s.Value, ","))), nil
		},
		Clone: func(s str) str { return proto.CloneOf(s) },
	},
	Initial: func() str { return &wrapperspb.StringValue{} },
	Query: func(s, _ str) (num, error) {
		return wrapperspb.Int64(int64(strings.Count(s.GetValue(), ","))), nil
	},
}

// Options shape a run; zero values take defaults drawn from the seed.
type Options struct {
	Seed int64
	// Nodes at the start (3 to 7 when zero); Joins more join during the run.
	Nodes, Joins int
	// Keys the clients write (contention), Ops the client operations.
	Keys, Ops int
	// Faults enables splits, crashes and restarts; Lossy, drops and duplicates.
	Faults, Lossy bool
	// Pauses adds 1 to 3 pauses (pause.go): a node frozen as by SIGSTOP (it processes
	// nothing, its timers do not fire, its clock runs on) for 1 to 9 s or 11 to 30 s
	// (EjectAfter is 10 s), which then processes, all at once, what came due meanwhile.
	// Drawn only then, so that the other histories stay as they were.
	Pauses bool
	// Deletes makes about one call in ten a delete of its partition (ref.Delete): the
	// checks then follow the log's order across each delete (check).
	Deletes bool
	// Lookups is how many queries the clients make of keys that no call writes (each of
	// its own key), on top of Ops; zero draws nothing, so that histories stay as they were.
	Lookups int
	// Leaves is how many nodes leave for good during the run, by a planned departure
	// (Node.Stop's handover), never more than would leave fewer than three.
	Leaves int
	// Trace, when set, receives every line of the history as it happens.
	Trace func(string)
	// Drop, when set, drops every message it reports true for: a gray failure that neither
	// membership nor the links (and so no check's notion of "live") see.
	Drop func(at time.Duration, from, to lattice.Peer) bool
	// Watch, when set, sees every replica after each step of its core, before the shell
	// performs the step's effects: a debugging aid (for example, to print when an event
	// enters or leaves a replica's log; docs/simulation.md).
	Watch func(at time.Duration, node lattice.Peer, r *replica.Replica)
}

// Result is what a run found.
type Result struct {
	Seed                         int64
	Nodes                        int
	Acked, Failed, Rejected      int // client calls, by outcome
	Initial                      int // queries answered from the initial state
	Events                       int // simulation events processed
	Forks                        int
	Violations                   []string
	SimTime                      time.Duration
	Crashes, Splits, JoinedNodes int
	Pauses                       int
}

// Err returns the run's violations as one error, or nil.
func (r Result) Err() error {
	if len(r.Violations) == 0 {
		return nil
	}
	return fmt.Errorf("seed %d: %d violations:\n  %s", r.Seed, len(r.Violations), strings.Join(r.Violations, "\n  "))
}

// The replicas' timing, as the node's defaults.
var timing = replica.Config{
	AttemptTimeout:      2 * time.Second,
	AntiEntropyInterval: 200 * time.Millisecond,
	GCInterval:          time.Second,
	PassivateAfter:      time.Minute,
	GC:                  gc.Config{ReplicationFactor: 3, EjectAfter: 10 * time.Second, MaxHandoffs: 8, TombstoneTTL: 10 * time.Minute},
	HandoverHandoffs:    64,
}

// World is one simulated cluster.
type World struct {
	opt    Options
	rng    *rand.Rand
	now    time.Time
	events eventQueue
	seq    uint64
	nodes  []*Node
	byPeer map[lattice.Peer]*Node
	group  map[*Node]int // split: nodes in different groups cannot talk, nor see each other
	// departing: the peers that announced a planned departure (each node's Members lists
	// them hosting nothing, as actor's departures do)
	departing map[lattice.Peer]bool
	// healed: every fault has ended (a node that stops undrained now is restarted by
	// its drain, not by the heal)
	healed bool
	ops    []*op
	res    Result
	// The pending bound (bounded.go): the cluster is calm from calmFrom on; calls are
	// the times of the calls made on each key.
	calmFrom    time.Time
	calls       map[string][]time.Time
	pendingOver bool
	trace       []string // the last lines of the history, for a failure report
}

type event struct {
	at  time.Time
	seq uint64
	fn  func()
}

type eventQueue []event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// after schedules fn at now+d.
func (w *World) after(d time.Duration, fn func()) {
	w.seq++
	heap.Push(&w.events, event{at: w.now.Add(d), seq: w.seq, fn: fn})
}

func (w *World) logf(format string, args ...any) {
	line := fmt.Sprintf("%9.3fs ", w.now.Sub(epoch).Seconds()) + fmt.Sprintf(format, args...)
	if w.opt.Trace != nil {
		w.opt.Trace(line)
	}
	if len(w.trace) >= 400 {
		copy(w.trace, w.trace[1:])
		w.trace = w.trace[:len(w.trace)-1]
	}
	w.trace = append(w.trace, line)
}

// Trace returns the last lines of the history.
func (w *World) Trace() []string { return w.trace }

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// New makes a world from opt.
func New(opt Options) *World {
	rng := rand.New(rand.NewPCG(uint64(opt.Seed), 0x5eed))
	if opt.Nodes == 0 {
		opt.Nodes = 3 + rng.IntN(5)
	}
	if opt.Keys == 0 {
		opt.Keys = 1 + rng.IntN(6)
	}
	if opt.Ops == 0 {
		opt.Ops = 40 + rng.IntN(80)
	}
	w := &World{opt: opt, rng: rng, now: epoch, byPeer: map[lattice.Peer]*Node{}, group: map[*Node]int{},
		departing: map[lattice.Peer]bool{}}
	w.res.Seed, w.res.Nodes = opt.Seed, opt.Nodes
	return w
}

// Run plays the whole history: the nodes start, the clients call through the faults,
// everything heals, the cluster goes quiet, and the checks run.
func (w *World) Run() Result {
	for range w.opt.Nodes {
		w.addNode()
	}
	for _, n := range w.nodes {
		n.start()
	}
	w.membershipChanged(0)
	active := 60 * time.Second // clients and faults
	for i := range w.opt.Ops {
		o := &op{id: i, key: fmt.Sprint("k", w.rng.IntN(w.opt.Keys)), tag: fmt.Sprint("t", i)}
		o.consistent = w.rng.IntN(3) == 0
		o.query = w.rng.IntN(8) == 0
		if w.opt.Deletes { // drawn only then: the histories of the other runs stay as they were
			o.delete = !o.query && w.rng.IntN(10) == 0
		}
		w.ops = append(w.ops, o)
		at := time.Duration(w.rng.Int64N(int64(active)))
		w.after(at+time.Second, func() { w.startOp(o) })
	}
	for i := range w.opt.Lookups {
		o := &op{id: w.opt.Ops + i, key: fmt.Sprint("u", i), query: true}
		w.ops = append(w.ops, o)
		at := time.Duration(w.rng.Int64N(int64(active)))
		w.after(at+time.Second, func() { w.startOp(o) })
	}
	if w.opt.Faults {
		w.scheduleFaults(active)
	}
	if w.opt.Pauses {
		w.schedulePauses(active)
	}
	for range w.opt.Joins {
		at := time.Duration(w.rng.Int64N(int64(active)))
		w.after(at, func() {
			n := w.addNode()
			n.start()
			w.res.JoinedNodes++
			w.logf("%s joins", n.peer)
			w.membershipChanged(2 * time.Second)
		})
	}
	for range w.opt.Leaves {
		at := time.Duration(w.rng.Int64N(int64(active)))
		w.after(at, func() {
			var stay []*Node
			for _, n := range w.nodes {
				if !n.gone && !n.leaving {
					stay = append(stay, n)
				}
			}
			if len(stay) > 3 {
				n := stay[w.rng.IntN(len(stay))]
				n.run(n.leave) // a paused node's Stop runs when it resumes
			}
		})
	}
	// Heal: every fault ends, every node comes back, membership settles.
	w.after(active+5*time.Second, func() {
		w.logf("heal")
		w.healed = true
		w.group = map[*Node]int{}
		for _, n := range w.nodes {
			n.resume() // resumes only a paused node
			if !n.up && !n.gone {
				n.restart()
			}
		}
		w.membershipChanged(time.Second)
	})
	w.samplePending(w.now.Add(active + 5*time.Second + 90*time.Second))
	w.runUntil(w.now.Add(active + 5*time.Second + 90*time.Second))
	// Every stored replica wakes (passivated ones may lag: a copy that was ejected while
	// passivated learns it only on a resync), and the cluster settles again.
	for _, n := range w.nodes {
		if n.up {
			n.wakePass()
		}
	}
	w.runUntil(w.now.Add(20 * time.Second))
	w.res.SimTime = w.now.Sub(epoch)
	w.check()
	return w.res
}

// runUntil processes the events due until end.
func (w *World) runUntil(end time.Time) {
	for w.events.Len() > 0 && !w.events[0].at.After(end) {
		e := heap.Pop(&w.events).(event)
		w.now = e.at
		w.res.Events++
		e.fn()
		if w.res.Events > 5_000_000 {
			w.violate("the simulation did not go quiet: %d events", w.res.Events)
			w.events = nil
			return
		}
	}
	w.now = end
}

func (w *World) violate(format string, args ...any) {
	w.res.Violations = append(w.res.Violations, fmt.Sprintf(format, args...))
}

// scheduleFaults draws splits, crashes and restarts over the active period.
func (w *World) scheduleFaults(active time.Duration) {
	faults := 1 + w.rng.IntN(6)
	for range faults {
		at := time.Duration(w.rng.Int64N(int64(active)))
		length := time.Duration(1+w.rng.IntN(25)) * time.Second
		switch w.rng.IntN(3) {
		case 0: // a split into two groups, views and links both
			w.after(at, func() {
				w.res.Splits++
				for _, n := range w.nodes {
					w.group[n] = w.rng.IntN(2)
				}
				w.logf("split %s", w.groups())
				w.membershipChanged(3 * time.Second)
			})
			w.after(at+length, func() {
				w.group = map[*Node]int{}
				w.logf("split heals")
				w.membershipChanged(3 * time.Second)
			})
		case 1: // a crash, and a restart on the same store later
			w.after(at, func() {
				n := w.nodes[w.rng.IntN(len(w.nodes))]
				if !n.up {
					return
				}
				w.res.Crashes++
				n.crash()
				w.membershipChanged(2 * time.Second)
				w.after(length, func() {
					if !n.up && !n.gone {
						n.restart()
						w.membershipChanged(2 * time.Second)
					}
				})
			})
		case 2: // a one-sided lag: one node's view stops updating for a while
			w.after(at, func() {
				n := w.nodes[w.rng.IntN(len(w.nodes))]
				n.frozenUntil = w.now.Add(length)
				w.disturb(n.frozenUntil)
				w.logf("%s's membership lags for %s", n.peer, length)
			})
		}
	}
}

func (w *World) groups() string {
	var a, b []string
	for _, n := range w.nodes {
		if w.group[n] == 0 {
			a = append(a, string(n.peer))
		} else {
			b = append(b, string(n.peer))
		}
	}
	return fmt.Sprintf("%v | %v", a, b)
}

// linked reports whether a message from a to b can arrive.
func (w *World) linked(a, b *Node) bool {
	return a.up && b.up && w.group[a] == w.group[b]
}

// membershipChanged gives every node, after its own lag (at most lag), the view it would
// have now: the live nodes it can reach.
func (w *World) membershipChanged(lag time.Duration) {
	w.disturb(w.now.Add(lag))
	for _, n := range w.nodes {
		d := time.Duration(0)
		if lag > 0 {
			d = time.Duration(w.rng.Int64N(int64(lag)))
		}
		n.after(d, func() { n.refreshView() })
	}
}

// send carries msg from a to the node hosting peer to, through the network's faults.
func (w *World) send(from *Node, to lattice.Peer, deliver func(n *Node)) {
	dst := w.byPeer[to]
	if dst == nil || !w.linked(from, dst) {
		return
	}
	if w.opt.Lossy && w.rng.IntN(50) == 0 {
		return
	}
	if w.opt.Drop != nil && w.opt.Drop(w.now.Sub(epoch), from.peer, to) {
		return
	}
	copies := 1
	if w.opt.Lossy && w.rng.IntN(50) == 0 {
		copies = 2
	}
	life := dst.life
	for range copies {
		delay := time.Duration(1+w.rng.IntN(20)) * time.Millisecond
		w.after(delay, func() {
			if dst.up && dst.life == life && w.linked(from, dst) {
				dst.receive(life, deliver)
			}
		})
	}
}

// addNode makes a node (not started) on a store of its own.
func (w *World) addNode() *Node {
	i := len(w.nodes)
	name := fmt.Sprint("n", i)
	store := memory.New(storage.Identity{Node: name, Incarnation: "1"})
	n := &Node{w: w, name: name, store: store, peer: lattice.Peer(store.Identity().Peer()),
		skew:    time.Duration(w.rng.IntN(400)-200) * time.Millisecond,
		members: map[lattice.Peer]gc.Member{}}
	n.cfg = timing
	n.cfg.Self = n.peer
	w.nodes = append(w.nodes, n)
	w.byPeer[n.peer] = n
	return n
}

// check runs the end-of-history checks. The partition's history is that of the replica
// with the highest infimum; each of its participants must hold exactly it, with nothing
// pending. (A copy on a node that is no participant of it may lag: it was ejected, and
// is discarded once it hears so.)
func (w *World) check() {
	for _, n := range w.nodes { // a query stores nothing: every stored partition was called
		_ = n.store.Partitions(kindName, func(key string) bool {
			if len(w.calls[key]) == 0 {
				w.violate("%s: stored on %s, though only queries were made of it", key, n.peer)
			}
			return true
		})
	}
	final := map[string][]string{} // key -> tags of the folded events
	finalReqs := map[string][]*wire.Request{}
	for k := range w.opt.Keys {
		key := fmt.Sprint("k", k)
		var best *replica.Replica
		var bestOn lattice.Peer
		for _, n := range w.nodes {
			if !n.up || n.reps[key] == nil {
				continue
			}
			r := n.reps[key]
			if st := r.Fold().State(); st.HasBase && st.Participant && (best == nil || st.Base.ID.Compare(best.Fold().State().Base.ID) > 0) {
				best, bestOn = r, n.peer
			}
		}
		if best == nil {
			continue
		}
		want := best.Fold().State()
		final[key] = tagsOf(w, best)
		finalReqs[key] = recentOf(w, best)
		for _, p := range want.Participants {
			n := w.byPeer[p]
			if n == nil || !n.up {
				w.violate("%s: participant %s is not up after the heal", key, p)
				continue
			}
			r := n.reps[key]
			if r == nil {
				w.violate("%s: participant %s holds no replica", key, p)
				continue
			}
			st := r.Fold().State()
			if !st.HasBase && want.Base.ID.IsBottom() && want.Pending == 0 {
				continue // nothing to hold yet: it asks for the state when it first needs it
			}
			if st.Pending > 0 {
				w.violate("%s on %s: %d deltas still pending after the heal", key, p, st.Pending)
			}
			if len(r.Renegades()) > 0 {
				w.violate("%s on %s: %d renegades never proposed again", key, p, len(r.Renegades()))
			}
			if tags := tagsOf(w, r); st.Base != want.Base || !slices.Equal(tags, final[key]) {
				w.violate("%s: %s (%s, participant %v) and %s diverge: %v %v vs %v %v (%s)\n    %s: %s\n    %s: %s", key, bestOn, best.Life(), want.Participant, p,
					want.Base, final[key], st.Base, tags, r.Life(), bestOn, describe(best), p, describe(r))
			}
		}
		for _, n := range w.nodes {
			if r := n.reps[key]; n.up && r != nil && len(r.Renegades()) > 0 {
				w.violate("%s on %s: %d renegades never proposed again", key, n.peer, len(r.Renegades()))
			}
		}
	}
	issued := map[string]*op{}
	for _, o := range w.ops {
		if !o.query && !o.delete {
			issued[o.tag] = o
		}
	}
	for key, tags := range final {
		if folded, ok := finalReqs[key]; ok && w.hasDeletes(key) {
			w.checkDeletes(key, tags, folded)
			continue
		}
		seen := map[string]int{}
		for _, t := range tags {
			seen[t]++
			if seen[t] == 2 {
				w.violate("%s: request %s applied twice", key, t)
			}
			if o := issued[t]; o == nil || o.key != key {
				w.violate("%s: event %s was never issued to it", key, t)
			}
		}
		for _, o := range w.ops {
			if o.key == key && !o.query && o.acked && seen[o.tag] == 0 {
				w.violate("%s: acknowledged request %s (%s, op %d) lost", key, o.tag, o.level(), o.id)
			}
		}
	}
	for _, o := range w.ops {
		switch {
		case o.acked:
			w.res.Acked++
		case o.rejected:
			w.res.Rejected++
		case !o.query:
			w.res.Failed++
		}
	}
}

// recentOf returns the dedup window of r's infimum: the requests it folded, in order.
func recentOf(w *World, r *replica.Replica) []*wire.Request {
	snap, err := r.Fold().Snapshot(false)
	if err != nil {
		w.violate("%s: snapshot: %v", r.Origin(), err)
		return nil
	}
	return snap.GetInfimum().GetRecent()
}

func (w *World) hasDeletes(key string) bool {
	for _, o := range w.ops {
		if o.key == key && o.delete {
			return true
		}
	}
	return false
}

// checkDeletes checks a partition that calls deleted, by the log's order: the requests
// it folded are in its dedup window with their ids (a run's requests fit in it), the
// last delete folded is at cut, and its state (tags) must hold exactly the events that
// folded after cut, once each; every acknowledged request (a delete too) folded, and
// an acknowledged event after cut is in the state.
func (w *World) checkDeletes(key string, tags []string, folded []*wire.Request) {
	bytes := 0
	at := map[string]lattice.EventID{}
	for _, r := range folded {
		bytes += len(r.GetKey()) + len(r.GetId().GetPeer()) + 24
		at[r.GetKey()] = wire.ToID(r.GetId())
	}
	if bytes > lattice.DefaultDedupBytes*7/8 {
		w.logf("%s: the dedup window may have forgotten requests: delete checks skipped", key)
		return
	}
	var cut lattice.EventID
	byTag := map[string]*op{}
	for _, o := range w.ops {
		if o.key != key || o.query {
			continue
		}
		if !o.delete {
			byTag[o.tag] = o
		}
		if id, ok := at[o.req]; ok && o.delete && cut.Less(id) {
			cut = id
		}
	}
	seen := map[string]int{}
	for _, t := range tags {
		seen[t]++
		o := byTag[t]
		switch {
		case o == nil:
			w.violate("%s: event %s was never issued to it", key, t)
		case seen[t] == 2:
			w.violate("%s: request %s applied twice", key, t)
		case !cut.Less(at[o.req]):
			w.violate("%s: event %s (%v) outlived the delete at %v", key, t, at[o.req], cut)
		}
	}
	for _, o := range w.ops {
		if o.key != key || o.query || !o.acked {
			continue
		}
		id, ok := at[o.req]
		switch {
		case !ok:
			w.violate("%s: acknowledged request %s (%s, op %d, delete %v) never folded", key, o.req, o.level(), o.id, o.delete)
		case !o.delete && cut.Less(id) && seen[o.tag] == 0:
			w.violate("%s: acknowledged request %s (%s, op %d) after the last delete (%v, at %v) lost", key, o.tag, o.level(), o.id, id, cut)
		}
	}
}

func tagsOf(w *World, r *replica.Replica) []string {
	snap, err := r.Fold().Snapshot(false)
	if err != nil {
		w.violate("%s: snapshot: %v", r.Origin(), err)
		return nil
	}
	var s wrapperspb.StringValue
	if err := proto.Unmarshal(snap.GetInfimum().GetValue(), &s); err != nil {
		w.violate("%s: state: %v", r.Origin(), err)
		return nil
	}
	tags := strings.Split(strings.TrimSuffix(s.Value, ","), ",")
	if s.Value == "" {
		tags = nil
	}
	return tags
}

// describe summarises a replica's fold for a failure report: its infimum's participants
// and its pending entries.
func describe(r *replica.Replica) string {
	snap, err := r.Fold().Snapshot(true)
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "participants %v lineage %d pending", snap.GetInfimum().GetParticipants(), snap.GetInfimum().GetLineage())
	for _, e := range snap.GetPending() {
		fmt.Fprintf(&b, " %d@%s:%v(%s)%v", e.GetId().GetCounter(), e.GetId().GetPeer(), lattice.DeltaKind(e.GetDelta().GetKind()), e.GetDelta().GetPeer(), e.GetAcks())
	}
	return b.String()
}
